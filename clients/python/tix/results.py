"""Typed answers. Enums are str-valued: r.outcome == "PURCHASED" works too."""
import enum
from dataclasses import dataclass


class Outcome(str, enum.Enum):
    OUTCOME_UNSPECIFIED = "OUTCOME_UNSPECIFIED"
    PURCHASED = "PURCHASED"
    SOLD_OUT = "SOLD_OUT"
    ALREADY_PURCHASED = "ALREADY_PURCHASED"
    SALE_NOT_OPEN = "SALE_NOT_OPEN"
    SALE_CLOSED = "SALE_CLOSED"
    ORDER_CANCELLED = "ORDER_CANCELLED"  # this request's order was cancelled (CancelOrder)

    def __str__(self):
        return self.value


class SaleState(str, enum.Enum):
    STATE_UNSPECIFIED = "STATE_UNSPECIFIED"
    SCHEDULED = "SCHEDULED"
    OPEN = "OPEN"
    SOLD_OUT = "SOLD_OUT"
    CLOSED = "CLOSED"

    def __str__(self):
        return self.value


class ServingStatus(str, enum.Enum):
    UNKNOWN = "UNKNOWN"
    SERVING = "SERVING"
    NOT_SERVING = "NOT_SERVING"
    SERVICE_UNKNOWN = "SERVICE_UNKNOWN"

    def __str__(self):
        return self.value


def _enum(cls, pb_enum, number):
    try:
        return cls(pb_enum.Name(number))
    except ValueError:  # a value newer than this client
        return list(cls)[0]


@dataclass(frozen=True)
class PurchaseResult:
    """A Purchase answer (code OK). retry_after_ms: with SALE_NOT_OPEN, the
    time until the sale opens."""
    outcome: Outcome
    order_id: str
    purchased_at_ms: int
    remaining: int
    retry_after_ms: int = 0

    @classmethod
    def from_pb(cls, m, retry_after_ms):
        return cls(_enum(Outcome, type(m).Outcome, m.outcome), m.order_id, m.purchased_at_ms, m.remaining,
                   retry_after_ms)


@dataclass(frozen=True)
class Sale:
    sale_id: str
    total: int
    remaining: int
    opens_at_ms: int
    closes_at_ms: int
    state: SaleState

    @classmethod
    def from_pb(cls, m, retry_after_ms=0):
        return cls(m.sale_id, m.total, m.remaining, m.opens_at_ms, m.closes_at_ms,
                   _enum(SaleState, type(m).State, m.state))


@dataclass(frozen=True)
class Order:
    """An order; cancelled_at_ms is 0 while it is live. In an order log
    (list_orders) a cancellation is an Order with cancelled_at_ms set."""
    order_id: str
    sale_id: str
    user_id: str
    request_id: str
    purchased_at_ms: int
    cancelled_at_ms: int = 0
    cancel_reason: str = ""

    @classmethod
    def from_pb(cls, m, retry_after_ms=0):
        return cls(m.order_id, m.sale_id, m.user_id, m.request_id, m.purchased_at_ms, m.cancelled_at_ms,
                   m.cancel_reason)


@dataclass(frozen=True)
class SalesPage:
    """One ListSales answer; next_page_token "" after the last page."""
    sales: list
    next_page_token: str

    @classmethod
    def from_pb(cls, m, retry_after_ms=0):
        return cls([Sale.from_pb(s) for s in m.sales], m.next_page_token)


@dataclass(frozen=True)
class OrdersPage:
    """One ListOrders answer: a page of the sale's order log, in log order."""
    orders: list
    next_page_token: str

    @classmethod
    def from_pb(cls, m, retry_after_ms=0):
        return cls([Order.from_pb(o) for o in m.orders], m.next_page_token)
