"use strict";
// The Node.js client against a real stack (redis-server, tix-broker,
// tix-worker started by the repository's tests/clients/stack.py), CURVE off
// and on. TIX_BUILD_DIR names the CMake build dir; TIX_CLIENT_MODULE the
// installed package to test (default: this directory).
const { test, describe, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const readline = require("node:readline");

const tix = require(process.env.TIX_CLIENT_MODULE || "..");
const ROOT = path.resolve(__dirname, "..", "..", "..");
const BUILD = process.env.TIX_BUILD_DIR || path.join(ROOT, "build");

// A stack.py process: JSON description first, then "ok" per command.
async function startStack(curve) {
  const args = [path.join(ROOT, "tests", "clients", "stack.py"), BUILD, ...(curve ? ["--curve"] : [])];
  const proc = spawn("python3", args, { stdio: ["pipe", "pipe", "inherit"] });
  const lines = readline.createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  const next = async () => (await lines.next()).value;
  const info = JSON.parse(await next());
  return {
    ...info,
    async command(cmd) {
      proc.stdin.write(cmd + "\n");
      assert.equal(await next(), "ok");
    },
    stop() {
      proc.stdin.end();
      // stack.py exits 1 when a process did not stop cleanly (sanitizers).
      return new Promise((resolve) => proc.on("exit", (code) => { assert.equal(code, 0, "stack did not stop cleanly"); resolve(); }));
    },
  };
}

const newId = (p) => `${p}-${Math.random().toString(16).slice(2, 10)}`;

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof tix.TixError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

for (const curve of [false, true]) {
  describe(`contract, CURVE ${curve ? "on" : "off"}`, () => {
    let stack;
    const clients = [];
    const client = (who = "admin", opts = {}) => {
      const keys = curve ? tix.CurveKeys.fromFiles(stack.keys[who] + "_secret", stack.keys.broker) : false;
      const c = new tix.Client(stack.frontend, { curve: keys, ...opts });
      clients.push(c);
      return c;
    };
    before(async () => { stack = await startStack(curve); });
    after(async () => { clients.forEach((c) => c.close()); await stack.stop(); });

    test("purchase is exact by request id", async () => {
      const c = client(), sale = newId("s");
      const created = await c.createSale(sale, { total: 2 });
      assert.deepEqual([created.state, created.total, created.remaining], ["OPEN", 2, 2]);
      const first = await c.purchase(sale, "alice", { requestId: "r-1" });
      assert.equal(first.outcome, "PURCHASED");
      assert.match(first.orderId, new RegExp(`^${sale}:[0-9a-z]+:1$`));
      const again = await Promise.all([1, 2, 3].map(() => c.purchase(sale, "alice", { requestId: "r-1" })));
      for (const r of again) assert.deepEqual(r, first);
      const other = await c.purchase(sale, "alice", { requestId: "r-2" });
      assert.deepEqual([other.outcome, other.orderId], ["ALREADY_PURCHASED", first.orderId]);
      const order = await c.getOrder(sale, "alice");
      assert.deepEqual([order.orderId, order.requestId, order.userId], [first.orderId, "r-1", "alice"]);
      assert.equal((await c.purchase(sale, "bob")).outcome, "PURCHASED");
      assert.equal((await c.purchase(sale, "carol")).outcome, "SOLD_OUT");
      assert.equal((await c.getSale(sale)).state, "SOLD_OUT");
    });

    test("a sale is closed, listed and exported, and an order cancelled", async () => {
      const c = client(), sale = newId("s");
      await c.createSale(sale, { total: 2 });
      const alice = await c.purchase(sale, "alice", { requestId: "r-1" });
      await c.purchase(sale, "bob", { requestId: "b-1" });
      assert.equal((await c.purchase(sale, "carol")).outcome, "SOLD_OUT");
      const cancelled = await c.cancelOrder(sale, "alice", { reason: "payment failed" });
      assert.deepEqual([cancelled.orderId, cancelled.userId, cancelled.requestId, cancelled.cancelReason],
        [alice.orderId, "alice", "r-1", "payment failed"]);
      assert.ok(cancelled.cancelledAtMs > 0);
      assert.deepEqual(await c.cancelOrder(sale, "alice"), cancelled); // twice is once
      const retry = await c.purchase(sale, "alice", { requestId: "r-1" });
      assert.deepEqual([retry.outcome, retry.orderId], ["ORDER_CANCELLED", alice.orderId]);
      const carol = await c.purchase(sale, "carol");
      assert.equal(carol.outcome, "PURCHASED");
      assert.notEqual(carol.orderId, alice.orderId);
      await rejectsWith(c.cancelOrder(sale, "nobody"), tix.Code.NOT_FOUND);
      const log = [];
      for await (const o of c.orders(sale, { pageSize: 2 })) log.push(o);
      assert.deepEqual(log.map((o) => [o.userId, o.cancelledAtMs > 0]),
        [["alice", false], ["bob", false], ["alice", true], ["carol", false]]);
      assert.equal(log[2].cancelReason, "payment failed");
      const page = await c.listOrders(sale, { pageSize: 3 });
      assert.equal(page.orders.length, 3);
      assert.ok(page.nextPageToken);
      assert.equal((await c.closeSale(sale)).state, "CLOSED");
      assert.equal((await c.closeSale(sale)).state, "CLOSED");
      assert.equal((await c.purchase(sale, "dave")).outcome, "SALE_CLOSED");
      assert.equal((await c.listSales({ pageSize: 1 })).sales.length, 1);
      const listed = [];
      for await (const s of c.sales({ pageSize: 1 })) listed.push(s);
      assert.equal(new Set(listed.map((s) => s.saleId)).size, listed.length);
      assert.equal(listed.find((s) => s.saleId === sale).state, "CLOSED");
    });

    test("errors carry their code", async () => {
      const c = client(), sale = newId("s");
      await c.createSale(sale, { total: 1 });
      await rejectsWith(c.getSale(newId("none")), tix.Code.NOT_FOUND);
      await rejectsWith(c.getOrder(sale, "nobody"), tix.Code.NOT_FOUND);
      await rejectsWith(c.createSale(sale, { total: 1 }), tix.Code.ALREADY_EXISTS);
      await rejectsWith(c.purchase("bad id", "alice"), tix.Code.INVALID_ARGUMENT);
      await rejectsWith(c.createSale(newId("s"), { total: 0 }), tix.Code.INVALID_ARGUMENT);
    });

    test("sale not open tells when", async () => {
      const c = client(), sale = newId("s");
      const created = await c.createSale(sale, { total: 5, opensAtMs: Date.now() + 60000 });
      assert.equal(created.state, "SCHEDULED");
      const r = await c.purchase(sale, "alice", { requestId: "r" });
      assert.equal(r.outcome, "SALE_NOT_OPEN");
      assert.ok(r.retryAfterMs > 50000 && r.retryAfterMs <= 60000, String(r.retryAfterMs));
    });

    test("health", async () => {
      assert.equal(await client().health(), "SERVING");
      assert.equal(await client().health("no.such.Service"), "SERVICE_UNKNOWN");
    });

    test("rate-limit answers are retried after retry_after_ms", async () => {
      // 100 calls at once per user_id, then 10 per second: all 110 succeed.
      const c = client(), sale = newId("s");
      await c.createSale(sale, { total: 1 });
      const first = await c.purchase(sale, "rusher", { requestId: "r" });
      const t0 = Date.now();
      const all = await Promise.all(Array.from({ length: 110 }, () => c.purchase(sale, "rusher", { requestId: "r" })));
      for (const r of all) assert.deepEqual(r, first);
      assert.ok(Date.now() - t0 > 500, "they waited, as told");
    });

    test("a resend after a broker restart returns the original order", async () => {
      const c = client(), sale = newId("s");
      await c.createSale(sale, { total: 3 });
      const first = await c.purchase(sale, "alice", { requestId: "r-1" });
      await stack.command("kill-broker");
      const resent = c.purchase(sale, "alice", { requestId: "r-1", timeoutMs: 20000 });
      await new Promise((r) => setTimeout(r, 300)); // the call is under way while no broker is there
      await stack.command("start-broker");
      assert.deepEqual(await resent, first);
      assert.equal((await c.getSale(sale)).remaining, 2);
    });

    test("a call lost with its broker is resent and answered once", async () => {
      // The broker takes the call and dies before any answer (its worker is
      // paused): only a resend, after the restart, can answer it.
      const c = client(), sale = newId("s");
      await c.createSale(sale, { total: 3 });
      await stack.command("pause-worker");
      const bought = c.purchase(sale, "bob", { requestId: "r-b", timeoutMs: 20000 });
      await new Promise((r) => setTimeout(r, 300)); // the call reaches the broker
      await stack.command("kill-broker");
      await stack.command("start-broker");
      await stack.command("resume-worker");
      const r = await bought;
      assert.equal(r.outcome, "PURCHASED");
      assert.equal((await c.getOrder(sale, "bob")).orderId, r.orderId);
      assert.equal((await c.getSale(sale)).remaining, 2); // one ticket, however often sent
    });

    test("no broker is UNAVAILABLE at the deadline", async () => {
      const c = new tix.Client(`tcp://127.0.0.1:${await freePort()}`, { curve: false });
      clients.push(c);
      const t0 = Date.now();
      await rejectsWith(c.health("", { timeoutMs: 300 }), tix.Code.UNAVAILABLE);
      assert.ok(Date.now() - t0 < 2000);
    });

    if (curve) {
      test("an unlisted key is refused at once", async () => {
        const t0 = Date.now();
        await rejectsWith(client("stranger").health("", { timeoutMs: 5000 }), tix.Code.UNAUTHENTICATED);
        assert.ok(Date.now() - t0 < 3000);
      });

      test("a plain client is refused", async () => {
        const c = new tix.Client(stack.frontend, { curve: false });
        clients.push(c);
        await rejectsWith(c.health("", { timeoutMs: 5000 }), tix.Code.UNAUTHENTICATED);
      });

      test("admin methods need an admin key", async () => {
        const c = client("client");
        await rejectsWith(c.createSale(newId("s"), { total: 1 }), tix.Code.PERMISSION_DENIED);
        await rejectsWith(c.closeSale("s1"), tix.Code.PERMISSION_DENIED);
        await rejectsWith(c.listSales(), tix.Code.PERMISSION_DENIED);
        await rejectsWith(c.cancelOrder("s1", "alice"), tix.Code.PERMISSION_DENIED);
        await rejectsWith(c.listOrders("s1"), tix.Code.PERMISSION_DENIED);
      });

      test("key files: keygen format, modes, environment", () => {
        const pair = tix.loadSecretPair(stack.keys.client);
        assert.equal(pair.publicKey, tix.loadPublicKey(stack.keys.client));
        assert.equal(pair.secretKey.length, 40);
        assert.throws(() => tix.CurveKeys.fromEnv({ TIX_CURVE_SECRET: "x" }), /together/);
        assert.equal(tix.CurveKeys.fromEnv({}), null);
        fs.chmodSync(stack.keys.stranger + "_secret", 0o644);
        assert.throws(() => tix.loadSecretPair(stack.keys.stranger), /chmod 600/);
      });
    }
  });
}
