"""The Python client against a real stack (redis-server, tix-broker, tix-worker).

Needs TIX_BUILD_DIR (the CMake build dir with the binaries) and the tix
repository's tests/clients/stack.py; run by tests/clients/run_python.sh.
"""
import os
import sys
import threading
import time
import unittest
import uuid

import tix

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "clients"))
import stack  # noqa: E402

BUILD = os.environ.get("TIX_BUILD_DIR", os.path.join(ROOT, "build"))


def new_id(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


class Keys(unittest.TestCase):
    def test_reads_keygen_files(self):
        s = stack.Stack(BUILD, curve=True)
        s._make_keys()
        self.addCleanup(s.stop)
        public = tix.load_public_key(s.key("client"))
        pair = tix.load_secret_pair(s.key("client"))
        self.assertEqual(len(public), 40)
        self.assertEqual(pair[0], public)
        self.assertEqual(len(pair[1]), 40)
        keys = tix.CurveKeys.from_files(s.key("client") + "_secret", s.key("broker"))
        self.assertEqual(keys.server, tix.load_public_key(s.key("broker")))

    def test_refuses_a_readable_secret_file(self):
        s = stack.Stack(BUILD, curve=True)
        s._make_keys()
        self.addCleanup(s.stop)
        os.chmod(s.key("client") + "_secret", 0o644)
        with self.assertRaisesRegex(ValueError, "chmod 600"):
            tix.load_secret_pair(s.key("client"))

    def test_one_curve_variable_without_the_other(self):
        with self.assertRaisesRegex(ValueError, "together"):
            tix.CurveKeys.from_env({"TIX_CURVE_SECRET": "x"})
        self.assertIsNone(tix.CurveKeys.from_env({}))


class Contract:
    """The same tests with CURVE off and on; subclasses set CURVE."""
    CURVE = False

    @classmethod
    def setUpClass(cls):
        cls.stack = stack.Stack(BUILD, curve=cls.CURVE).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        assert not cls.stack.bad_exits, "did not stop cleanly: %s" % cls.stack.bad_exits

    def client(self, who="admin", **kw):
        curve = None
        if self.CURVE:
            curve = tix.CurveKeys.from_files(self.stack.key(who) + "_secret", self.stack.key("broker"))
        c = tix.Client(self.stack.frontend, curve=curve or False, **kw)
        self.addCleanup(c.close)
        return c

    def test_purchase_is_exact_by_request_id(self):
        c, sale = self.client(), new_id("s")
        created = c.create_sale(sale, total=2)
        self.assertEqual((created.state, created.total, created.remaining), (tix.SaleState.OPEN, 2, 2))
        first = c.purchase(sale, "alice", request_id="r-1")
        self.assertEqual(first.outcome, tix.Outcome.PURCHASED)
        self.assertRegex(first.order_id, "^%s:[0-9a-z]+:1$" % sale)
        self.assertEqual(c.purchase(sale, "alice", request_id="r-1"), first)
        other = c.purchase(sale, "alice", request_id="r-2")
        self.assertEqual((other.outcome, other.order_id), ("ALREADY_PURCHASED", first.order_id))
        order = c.get_order(sale, "alice")
        self.assertEqual((order.order_id, order.request_id, order.user_id), (first.order_id, "r-1", "alice"))
        self.assertEqual(c.purchase(sale, "bob", request_id="b").outcome, tix.Outcome.PURCHASED)
        self.assertEqual(c.purchase(sale, "carol").outcome, tix.Outcome.SOLD_OUT)
        self.assertEqual(c.get_sale(sale).state, tix.SaleState.SOLD_OUT)

    def test_errors_carry_their_code(self):
        c, sale = self.client(), new_id("s")
        c.create_sale(sale, total=1)
        cases = [
            (lambda: c.get_sale(new_id("none")), tix.Code.NOT_FOUND),
            (lambda: c.get_order(sale, "nobody"), tix.Code.NOT_FOUND),
            (lambda: c.create_sale(sale, total=1), tix.Code.ALREADY_EXISTS),
            (lambda: c.purchase("bad id", "alice"), tix.Code.INVALID_ARGUMENT),
            (lambda: c.create_sale(new_id("s"), total=0), tix.Code.INVALID_ARGUMENT),
        ]
        for fn, code in cases:
            with self.assertRaises(tix.TixError) as cm:
                fn()
            self.assertEqual(cm.exception.code, code, cm.exception)
            self.assertTrue(cm.exception.message)

    def test_a_sale_is_closed_listed_and_exported_and_an_order_cancelled(self):
        c, sale = self.client(), new_id("s")
        c.create_sale(sale, total=2)
        alice = c.purchase(sale, "alice", request_id="r-1")
        c.purchase(sale, "bob", request_id="b-1")
        self.assertEqual(c.purchase(sale, "carol").outcome, tix.Outcome.SOLD_OUT)
        cancelled = c.cancel_order(sale, "alice", reason="payment failed")
        self.assertEqual((cancelled.order_id, cancelled.user_id, cancelled.request_id, cancelled.cancel_reason),
                         (alice.order_id, "alice", "r-1", "payment failed"))
        self.assertGreater(cancelled.cancelled_at_ms, 0)
        self.assertEqual(c.cancel_order(sale, "alice"), cancelled)  # twice is once
        retry = c.purchase(sale, "alice", request_id="r-1")
        self.assertEqual((retry.outcome, retry.order_id), (tix.Outcome.ORDER_CANCELLED, alice.order_id))
        carol = c.purchase(sale, "carol")
        self.assertEqual(carol.outcome, tix.Outcome.PURCHASED)
        self.assertNotEqual(carol.order_id, alice.order_id)
        with self.assertRaises(tix.TixError) as cm:
            c.cancel_order(sale, "nobody")
        self.assertEqual(cm.exception.code, tix.Code.NOT_FOUND)
        log = list(c.iter_orders(sale, page_size=2))
        self.assertEqual([(o.user_id, o.cancelled_at_ms > 0) for o in log],
                         [("alice", False), ("bob", False), ("alice", True), ("carol", False)])
        self.assertEqual((log[2].order_id, log[2].cancel_reason), (alice.order_id, "payment failed"))
        page = c.list_orders(sale, page_size=3)
        self.assertEqual(len(page.orders), 3)
        self.assertTrue(page.next_page_token)
        self.assertEqual(c.close_sale(sale).state, tix.SaleState.CLOSED)
        self.assertEqual(c.close_sale(sale).state, tix.SaleState.CLOSED)
        self.assertEqual(c.purchase(sale, "dave").outcome, tix.Outcome.SALE_CLOSED)
        first = c.list_sales(page_size=1)
        self.assertEqual(len(first.sales), 1)
        listed = [s.sale_id for s in c.iter_sales(page_size=1)]
        self.assertEqual(len(listed), len(set(listed)))
        self.assertIn(sale, listed)
        self.assertEqual({s.sale_id: s for s in c.iter_sales()}[sale].state, tix.SaleState.CLOSED)

    def test_sale_not_open_tells_when(self):
        c, sale = self.client(), new_id("s")
        opens = int(time.time() * 1000) + 60000
        self.assertEqual(c.create_sale(sale, total=5, opens_at_ms=opens).state, tix.SaleState.SCHEDULED)
        r = c.purchase(sale, "alice", request_id="r")
        self.assertEqual(r.outcome, tix.Outcome.SALE_NOT_OPEN)
        self.assertGreater(r.retry_after_ms, 50000)
        self.assertLessEqual(r.retry_after_ms, 60000)

    def test_health(self):
        c = self.client()
        self.assertEqual(c.health(), tix.ServingStatus.SERVING)
        self.assertEqual(c.health("no.such.Service"), tix.ServingStatus.SERVICE_UNKNOWN)

    def test_rate_limit_answers_are_retried_after_retry_after_ms(self):
        # A user_id may make 100 calls at once, then 10 per second: the
        # 110 calls below meet RESOURCE_EXHAUSTED and must all succeed.
        c, sale = self.client(), new_id("s")
        c.create_sale(sale, total=1)
        first = c.purchase(sale, "rusher", request_id="r")
        t0 = time.monotonic()
        for _ in range(110):
            self.assertEqual(c.purchase(sale, "rusher", request_id="r"), first)
        self.assertGreater(time.monotonic() - t0, 0.5)  # they waited, as told

    def test_resend_after_a_broker_restart_returns_the_original_order(self):
        c, sale = self.client(), new_id("s")
        c.create_sale(sale, total=3)
        first = c.purchase(sale, "alice", request_id="r-1")
        self.stack.kill_broker()
        got = {}

        def resend():
            try:
                got["r"] = c.purchase(sale, "alice", request_id="r-1", timeout_ms=20000)
            except tix.TixError as e:
                got["r"] = e
        t = threading.Thread(target=resend)
        t.start()
        time.sleep(0.3)  # the call is under way while no broker is there
        self.stack.start_broker()
        t.join(30)
        self.assertEqual(got.get("r"), first)
        self.assertEqual(c.get_sale(sale).remaining, 2)

    def test_a_call_lost_with_its_broker_is_resent_and_answered_once(self):
        # The broker takes the call and dies before any answer (its worker
        # is paused); only a resend, after the restart, can answer it.
        c, sale = self.client(), new_id("s")
        c.create_sale(sale, total=3)
        self.stack.pause_worker()
        got = {}

        def buy():
            try:
                got["r"] = c.purchase(sale, "bob", request_id="r-b", timeout_ms=20000)
            except tix.TixError as e:
                got["r"] = e
        t = threading.Thread(target=buy)
        t.start()
        time.sleep(0.3)  # the call reaches the broker, which queues or dispatches it
        self.stack.kill_broker()
        self.stack.start_broker()
        self.stack.pause_worker(False)
        t.join(30)
        r = got.get("r")
        self.assertIsInstance(r, tix.PurchaseResult, r)
        self.assertEqual(r.outcome, tix.Outcome.PURCHASED)
        self.assertEqual(c.get_order(sale, "bob").order_id, r.order_id)
        self.assertEqual(c.get_sale(sale).remaining, 2)  # one ticket, however often sent

    def test_no_broker_is_unavailable_at_the_deadline(self):
        c = tix.Client("tcp://127.0.0.1:%d" % stack.free_port(), curve=False)
        self.addCleanup(c.close)
        t0 = time.monotonic()
        with self.assertRaises(tix.TixError) as cm:
            c.health(timeout_ms=300)
        self.assertEqual(cm.exception.code, tix.Code.UNAVAILABLE)
        self.assertLess(time.monotonic() - t0, 2)


class PlainStack(Contract, unittest.TestCase):
    CURVE = False

    def test_environment_configures_the_client(self):
        os.environ["TIX_FRONTEND"] = self.stack.frontend
        self.addCleanup(os.environ.pop, "TIX_FRONTEND")
        with tix.Client() as c:
            self.assertEqual(c.health(), tix.ServingStatus.SERVING)


class CurveStack(Contract, unittest.TestCase):
    CURVE = True

    def refused(self, client):
        t0 = time.monotonic()
        with self.assertRaises(tix.TixError) as cm:
            client.health(timeout_ms=5000)
        self.assertEqual(cm.exception.code, tix.Code.UNAUTHENTICATED, cm.exception)
        self.assertLess(time.monotonic() - t0, 3)  # at once, not at the deadline
        return cm.exception

    def test_unlisted_key_is_refused_at_once(self):
        e = self.refused(self.client("stranger"))
        self.assertIn("refused this key", e.message)

    def test_plain_client_is_refused(self):
        c = tix.Client(self.stack.frontend, curve=False)
        self.addCleanup(c.close)
        self.refused(c)

    def test_admin_methods_need_an_admin_key(self):
        c = self.client("client")
        for fn in (lambda: c.create_sale(new_id("s"), total=1), lambda: c.close_sale("s1"), lambda: c.list_sales(),
                   lambda: c.cancel_order("s1", "alice"), lambda: c.list_orders("s1")):
            with self.assertRaises(tix.TixError) as cm:
                fn()
            self.assertEqual(cm.exception.code, tix.Code.PERMISSION_DENIED)

    def test_environment_configures_curve(self):
        env = self.stack.client_env("client")
        for k in ("TIX_FRONTEND", "TIX_CURVE_SECRET", "TIX_CURVE_SERVER_KEY"):
            os.environ[k] = env[k]
            self.addCleanup(os.environ.pop, k)
        with tix.Client() as c:
            self.assertEqual(c.health(), tix.ServingStatus.SERVING)


if __name__ == "__main__":
    unittest.main(verbosity=2)
