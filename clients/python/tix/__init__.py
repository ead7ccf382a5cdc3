"""tix: a Python client for the tix flash-sale ticketing service.

    import tix
    client = tix.Client()                    # TIX_FRONTEND, TIX_CURVE_* from the environment
    r = client.purchase("s1", "alice", request_id="r-1")
    print(r.outcome, r.order_id)

Calls block, retry exactly (the same request bytes, so a Purchase resent
with the same request_id returns the same order) within one deadline, and
raise TixError carrying the protocol code. docs/PROTOCOL.md in the tix
repository is the contract.
"""
from .errors import Code, TixError
from .keys import CurveKeys, load_public_key, load_secret_pair
from .results import Order, OrdersPage, Outcome, PurchaseResult, Sale, SalesPage, SaleState, ServingStatus
from .client import Client

__all__ = ["Client", "Code", "TixError", "CurveKeys", "load_public_key", "load_secret_pair", "Order", "OrdersPage",
           "Outcome", "PurchaseResult", "Sale", "SalesPage", "SaleState", "ServingStatus"]
