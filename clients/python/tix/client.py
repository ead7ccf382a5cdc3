"""The blocking client: one DEALER socket, exact retries within a deadline.

A call packs its request once; every attempt sends those very bytes under a
new call_id with the time left as timeout_ms. RESOURCE_EXHAUSTED and
UNAVAILABLE are resent after the broker's retry_after_ms (or a doubling
backoff when it is 0), plus up to 50% jitter, while the deadline allows;
when the wait would pass the deadline that answer is raised at once.
Methods whose repetition is harmless (all but CreateSale) are also resent
after a silence of 1 s, doubling: that covers a broker restart or a lost
connection. A late answer to an earlier attempt answers the same bytes, so
a final one is taken. A socket monitor tells a refused CURVE handshake
(UNAUTHENTICATED, at once) from a broker that is not there (UNAVAILABLE at
the deadline). One thread at a time per Client.
"""
import os
import random
import time

import zmq
from zmq.utils.monitor import parse_monitor_message

from . import tix_pb2 as pb
from .errors import RETRYABLE, Code, TixError
from .keys import CurveKeys
from .results import Order, OrdersPage, PurchaseResult, Sale, SalesPage, ServingStatus, _enum

SIGNATURE = b"TIX1"
MAX_MESSAGE_BYTES = 65536
DEFAULT_FRONTEND = "tcp://127.0.0.1:5555"
DEFAULT_TIMEOUT_MS = 5000
SILENCE_MS = 1000
BACKOFF_MIN_MS, BACKOFF_MAX_MS = 20, 1000
HANGUPS_REFUSED = 3  # disconnects in a row with no handshake: the broker refuses us

_MONITOR_EVENTS = (zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED
                   | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                   | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)


def _now_ms():
    return time.monotonic() * 1000.0


class _Peer:
    """What the monitor has seen of one endpoint."""

    def __init__(self):
        self.connected = False
        self.hangups = 0
        self.refused = None  # the reason, once the broker refused this client


class Client:
    """A tix client.

    endpoints: "tcp://host:port", a comma-separated list, or a list; default
    $TIX_FRONTEND, else tcp://127.0.0.1:5555. curve: a CurveKeys; default
    from $TIX_CURVE_SECRET and $TIX_CURVE_SERVER_KEY (both or neither);
    curve=False forces a plain socket. timeout_ms: the default deadline of
    each call, retries included.
    """

    def __init__(self, endpoints=None, *, curve=None, timeout_ms=DEFAULT_TIMEOUT_MS):
        if endpoints is None:
            endpoints = os.environ.get("TIX_FRONTEND") or DEFAULT_FRONTEND
        if isinstance(endpoints, str):
            endpoints = [e.strip() for e in endpoints.split(",") if e.strip()]
        if not endpoints:
            raise ValueError("no endpoint")
        if curve is None:
            curve = CurveKeys.from_env()
        self.endpoints = list(endpoints)
        self.timeout_ms = timeout_ms
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        if len(self.endpoints) > 1:
            self._sock.setsockopt(zmq.IMMEDIATE, 1)  # keep calls off brokers that are down
        if curve:
            self._sock.curve_serverkey = curve.server
            self._sock.curve_publickey = curve.public
            self._sock.curve_secretkey = curve.secret
        self._monitor = self._sock.get_monitor_socket(_MONITOR_EVENTS)
        self._peers = {e: _Peer() for e in self.endpoints}
        for e in self.endpoints:
            self._sock.connect(e)
        self._next_id = random.getrandbits(48) + 1

    # ---- lifecycle -----------------------------------------------------

    def close(self):
        if self._sock is not None:
            self._sock.disable_monitor()
            self._monitor.close(0)
            self._sock.close(0)
            self._ctx.term()
            self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- the contract's methods ------------------------------------------

    def purchase(self, sale_id, user_id, request_id="", *, timeout_ms=None):
        """Buys one ticket. Returns a PurchaseResult (outcome PURCHASED,
        ALREADY_PURCHASED, SOLD_OUT, SALE_NOT_OPEN, SALE_CLOSED, or
        ORDER_CANCELLED when this request_id's order was cancelled); the same
        request_id always answers the same order."""
        req = pb.PurchaseRequest(sale_id=sale_id, user_id=user_id, request_id=request_id)
        return self._call("tix.v1.TicketService/Purchase", req, pb.PurchaseReply, PurchaseResult.from_pb, timeout_ms)

    def get_sale(self, sale_id, *, timeout_ms=None):
        return self._call("tix.v1.TicketService/GetSale", pb.GetSaleRequest(sale_id=sale_id), pb.Sale, Sale.from_pb,
                          timeout_ms)

    def get_order(self, sale_id, user_id, *, timeout_ms=None):
        req = pb.GetOrderRequest(sale_id=sale_id, user_id=user_id)
        return self._call("tix.v1.TicketService/GetOrder", req, pb.Order, Order.from_pb, timeout_ms)

    def create_sale(self, sale_id, total, opens_at_ms=0, closes_at_ms=0, *, timeout_ms=None):
        """Creates a sale (never resent on silence: ALREADY_EXISTS would hide
        that the first attempt created it)."""
        req = pb.CreateSaleRequest(sale_id=sale_id, total=total, opens_at_ms=opens_at_ms, closes_at_ms=closes_at_ms)
        return self._call("tix.v1.AdminService/CreateSale", req, pb.Sale, Sale.from_pb, timeout_ms, resend_on_silence=False)

    def health(self, service="", *, timeout_ms=None):
        """The broker's ServingStatus for service ("" = the whole broker)."""
        req = pb.HealthCheckRequest(service=service)

        def status(m, retry_after_ms):
            return _enum(ServingStatus, type(m).ServingStatus, m.status)
        return self._call("tix.v1.Health/Check", req, pb.HealthCheckResponse, status, timeout_ms)

    # ---- a sale's life: close, list, cancel, export ------------------------

    def close_sale(self, sale_id, *, timeout_ms=None):
        """Closes the sale now (later purchases answer SALE_CLOSED); closing
        twice is closing once. Returns the Sale."""
        return self._call("tix.v1.AdminService/CloseSale", pb.CloseSaleRequest(sale_id=sale_id), pb.Sale, Sale.from_pb,
                          timeout_ms)

    def list_sales(self, page_size=0, page_token="", *, timeout_ms=None):
        """One page of every sale: a SalesPage (page_size 0 = the server's
        default, 100). iter_sales follows the pages."""
        req = pb.ListSalesRequest(page_size=page_size, page_token=page_token)
        return self._call("tix.v1.AdminService/ListSales", req, pb.ListSalesReply, SalesPage.from_pb, timeout_ms)

    def iter_sales(self, page_size=0, *, timeout_ms=None):
        """Every sale, page after page (one call per page, as it is read)."""
        return self._pages(lambda token: self.list_sales(page_size, token, timeout_ms=timeout_ms), "sales")

    def cancel_order(self, sale_id, user_id, reason="", *, timeout_ms=None):
        """Gives the user's ticket back to the sale. Returns the cancelled
        Order; cancelling twice returns the same one."""
        req = pb.CancelOrderRequest(sale_id=sale_id, user_id=user_id, reason=reason)
        return self._call("tix.v1.AdminService/CancelOrder", req, pb.Order, Order.from_pb, timeout_ms)

    def list_orders(self, sale_id, page_size=0, page_token="", *, timeout_ms=None):
        """One page of the sale's order log: an OrdersPage, purchases and
        cancellations (cancelled_at_ms set) in log order."""
        req = pb.ListOrdersRequest(sale_id=sale_id, page_size=page_size, page_token=page_token)
        return self._call("tix.v1.AdminService/ListOrders", req, pb.ListOrdersReply, OrdersPage.from_pb, timeout_ms)

    def iter_orders(self, sale_id, page_size=0, *, timeout_ms=None):
        """The sale's whole order log, page after page: never all of it in
        memory."""
        return self._pages(lambda token: self.list_orders(sale_id, page_size, token, timeout_ms=timeout_ms), "orders")

    @staticmethod
    def _pages(fetch, field):
        token = ""
        while True:
            page = fetch(token)
            yield from getattr(page, field)
            if not page.next_page_token:
                return
            if page.next_page_token == token:
                raise TixError(Code.INTERNAL, "the server answered the same page token twice")
            token = page.next_page_token

    # ---- the call ---------------------------------------------------------

    def call(self, method, request, reply_type, *, timeout_ms=None, resend_on_silence=True):
        """Any method: request a protobuf message (or None for an empty
        body); returns the decoded reply_type message."""
        return self._call(method, request, reply_type, lambda m, _: m, timeout_ms, resend_on_silence)

    def _call(self, method, request, reply_type, make, timeout_ms, resend_on_silence=True):
        if self._sock is None:
            raise ValueError("client is closed")
        body = request.SerializeToString() if request is not None else b""
        call = _Call(self, method, body, timeout_ms or self.timeout_ms, resend_on_silence)
        header, reply = call.run()
        if header.code != Code.OK:
            raise TixError(header.code, header.message, header.retry_after_ms)
        if reply_type is None:
            raise TixError(Code.INTERNAL, "%s answered OK, which this client cannot decode" % method)
        try:
            msg = reply_type.FromString(reply)
        except Exception as e:  # a broken reply is not an answer of this method
            raise TixError(Code.INTERNAL, "undecodable %s: %s" % (reply_type.DESCRIPTOR.name, e))
        return make(msg, header.retry_after_ms)

    def _new_call_id(self):
        self._next_id = (self._next_id + 1) & 0xFFFFFFFFFFFFFFFF or 1
        return self._next_id

    def _watch(self):
        """Reads the monitor; raises UNAUTHENTICATED once every endpoint refused us."""
        while self._monitor.poll(0):
            ev = parse_monitor_message(self._monitor.recv_multipart())
            addr = ev["endpoint"].decode() if isinstance(ev["endpoint"], bytes) else ev["endpoint"]
            peer = self._peers.get(addr)
            if peer is None:
                continue
            e = ev["event"]
            if e == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                peer.connected, peer.hangups = True, 0
            elif e == zmq.EVENT_CONNECTED:
                peer.connected = True
            elif e == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                peer.refused = "the broker refused this key (%s answered %d: not on its allow-list)" % (
                    addr, ev["value"])
            elif e == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
                peer.refused = ("the broker at %s uses another mechanism: CURVE on one side only "
                                "(set TIX_CURVE_SECRET and TIX_CURVE_SERVER_KEY, or unset them)" % addr)
            elif e == zmq.EVENT_DISCONNECTED:
                peer.hangups += 1
                if peer.hangups >= HANGUPS_REFUSED:
                    peer.refused = ("the broker at %s hung up %d times without a handshake: is the server key "
                                    "its public key, and does it use CURVE?" % (addr, peer.hangups))
        if all(p.refused for p in self._peers.values()):
            raise TixError(Code.UNAUTHENTICATED, "; ".join(p.refused for p in self._peers.values()))

    def _no_answer(self, method):
        if any(p.connected for p in self._peers.values()):
            return TixError(Code.DEADLINE_EXCEEDED, "%s: no answer by the deadline" % method)
        return TixError(Code.UNAVAILABLE, "no broker answered at %s: could not connect" % ",".join(self.endpoints))


class _Call:
    """One blocking call: its attempts, its deadline."""

    def __init__(self, client, method, body, timeout_ms, resend_on_silence):
        self.c = client
        self.method = method.encode()
        self.body = body
        self.deadline = _now_ms() + timeout_ms
        self.resend_on_silence = resend_on_silence
        self.attempts = []  # call_ids, the current one last
        self.silence_ms = SILENCE_MS
        self.backoff_ms = BACKOFF_MIN_MS

    def send(self):
        call_id = self.c._new_call_id()
        left = max(1, int(self.deadline - _now_ms()))
        header = pb.CallHeader(method=self.method.decode(), call_id=call_id, timeout_ms=left)
        self.c._sock.send_multipart([b"", SIGNATURE, header.SerializeToString(), self.body])
        self.attempts.append(call_id)
        self.resend_at = _now_ms() + min(self.silence_ms, left)
        self.silence_ms *= 2

    def receive(self):
        """A (header, body) for one of this call's attempts, or None."""
        frames = self.c._sock.recv_multipart()
        if len(frames) != 4 or frames[0] != b"" or frames[1] != SIGNATURE:
            return None
        try:
            header = pb.ReplyHeader.FromString(frames[2])
        except Exception:
            return None
        return (header, frames[3]) if header.call_id in self.attempts else None

    def run(self):
        self.c._watch()
        self.send()
        poller = zmq.Poller()
        poller.register(self.c._sock, zmq.POLLIN)
        poller.register(self.c._monitor, zmq.POLLIN)
        while True:
            now = _now_ms()
            if now >= self.deadline:
                raise self.c._no_answer(self.method.decode())
            until = self.resend_at if self.resend_on_silence else self.deadline
            ready = dict(poller.poll(max(0, min(until, self.deadline) - now)))
            self.c._watch()
            if self.c._sock in ready:
                got = self.receive()
                if got and self.answered(*got):
                    return got
            elif self.resend_on_silence and _now_ms() >= self.resend_at and _now_ms() < self.deadline:
                self.send()

    def answered(self, header, body):
        """True when this reply ends the call; else waits and resends as needed."""
        if header.code not in RETRYABLE:
            return True
        if header.call_id != self.attempts[-1]:
            return False  # an earlier attempt's; a later one is under way
        wait = header.retry_after_ms or self.backoff_ms
        self.backoff_ms = min(self.backoff_ms * 2, BACKOFF_MAX_MS)
        wait *= 1 + random.random() * 0.5
        if _now_ms() + wait >= self.deadline:
            return True  # it cannot be retried in time: the answer stands
        time.sleep(wait / 1000.0)
        self.send()
        return False
