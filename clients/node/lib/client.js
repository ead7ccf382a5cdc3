"use strict";
// The async client: one DEALER socket, many calls in flight, exact retries.
//
// A call encodes its request once; every attempt sends those very bytes
// under a new call_id with the time left as timeout_ms. RESOURCE_EXHAUSTED
// and UNAVAILABLE are resent after the broker's retry_after_ms (or a
// doubling backoff when it is 0) plus up to 50% jitter, while the deadline
// allows; when the wait would pass the deadline that answer is thrown at
// once. Methods whose repetition is harmless (all but CreateSale) are also
// resent after a silence of 1 s, doubling: that covers a broker restart. A
// late answer to an earlier attempt answers the same bytes, so a final one
// is taken. The socket's events tell a refused CURVE handshake
// (UNAUTHENTICATED, at once) from a broker that is not there (UNAVAILABLE
// at the deadline).
const zmq = require("zeromq");
const pb = require("./proto");
const { Code, TixError } = require("./errors");
const { CurveKeys } = require("./keys");

const SIGNATURE = Buffer.from("TIX1");
const EMPTY = Buffer.alloc(0);
const MAX_MESSAGE_BYTES = 65536;
const DEFAULT_FRONTEND = "tcp://127.0.0.1:5555";
const SILENCE_MS = 1000;
const BACKOFF_MIN_MS = 20;
const BACKOFF_MAX_MS = 1000;
const HANGUPS_REFUSED = 3; // disconnects in a row with no handshake: the broker refuses us
const RETRYABLE = new Set([Code.RESOURCE_EXHAUSTED, Code.UNAVAILABLE]);
const OBJECT = { longs: Number, enums: String, defaults: true };

class Client {
  // endpoints: "tcp://host:port", a comma-separated list or an array;
  // default $TIX_FRONTEND, else tcp://127.0.0.1:5555. options.curve: a
  // CurveKeys, false for plain; default from $TIX_CURVE_SECRET and
  // $TIX_CURVE_SERVER_KEY. options.timeoutMs: each call's default deadline.
  constructor(endpoints, options = {}) {
    endpoints = endpoints || process.env.TIX_FRONTEND || DEFAULT_FRONTEND;
    if (typeof endpoints === "string") endpoints = endpoints.split(",").map((e) => e.trim()).filter(Boolean);
    if (!endpoints.length) throw new Error("no endpoint");
    const curve = options.curve === undefined ? CurveKeys.fromEnv() : options.curve;
    this.endpoints = endpoints;
    this.timeoutMs = options.timeoutMs || 5000;
    this._sock = new zmq.Dealer({
      linger: 0,
      maxMessageSize: MAX_MESSAGE_BYTES,
      sendHighWaterMark: 100000,
      receiveHighWaterMark: 100000,
      immediate: endpoints.length > 1, // keep calls off brokers that are down
      ...(curve ? { curveServerKey: curve.serverKey, curvePublicKey: curve.publicKey, curveSecretKey: curve.secretKey } : {}),
    });
    this._peers = new Map(endpoints.map((e) => [e, { connected: false, hangups: 0, refused: null }]));
    this._watch();
    for (const e of endpoints) this._sock.connect(e);
    this._calls = new Map(); // call_id -> _Call, every attempt of every call in flight
    this._nextId = Math.floor(Math.random() * 2 ** 40) + 1;
    this._sending = Promise.resolve();
    this._read();
  }

  close() {
    if (this._sock.closed) return;
    for (const call of new Set(this._calls.values())) call.fail(new TixError(Code.CANCELLED, "client closed"));
    this._sock.close();
  }

  // ---- the contract's methods --------------------------------------------

  // Buys one ticket: { outcome, orderId, purchasedAtMs, remaining, retryAfterMs }.
  // The same requestId always answers the same order.
  purchase(saleId, userId, { requestId = "", timeoutMs } = {}) {
    const req = pb.PurchaseRequest.create({ saleId, userId, requestId });
    return this._call("tix.v1.TicketService/Purchase", pb.PurchaseRequest.encode(req).finish(), pb.PurchaseReply,
      timeoutMs, true).then(([m, h]) => ({ ...m, retryAfterMs: h.retryAfterMs }));
  }

  getSale(saleId, { timeoutMs } = {}) {
    const body = pb.GetSaleRequest.encode({ saleId }).finish();
    return this._call("tix.v1.TicketService/GetSale", body, pb.Sale, timeoutMs, true).then(([m]) => m);
  }

  getOrder(saleId, userId, { timeoutMs } = {}) {
    const body = pb.GetOrderRequest.encode({ saleId, userId }).finish();
    return this._call("tix.v1.TicketService/GetOrder", body, pb.Order, timeoutMs, true).then(([m]) => m);
  }

  // Never resent on silence: ALREADY_EXISTS would hide that the first
  // attempt created the sale.
  createSale(saleId, { total, opensAtMs = 0, closesAtMs = 0, timeoutMs } = {}) {
    const body = pb.CreateSaleRequest.encode({ saleId, total, opensAtMs, closesAtMs }).finish();
    return this._call("tix.v1.AdminService/CreateSale", body, pb.Sale, timeoutMs, false).then(([m]) => m);
  }

  // The broker's serving status: "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN".
  health(service = "", { timeoutMs } = {}) {
    const body = pb.HealthCheckRequest.encode({ service }).finish();
    return this._call("tix.v1.Health/Check", body, pb.HealthCheckResponse, timeoutMs, true).then(([m]) => m.status);
  }

  // ---- a sale's life: close, list, cancel, export --------------------------

  // Closes the sale now (later purchases answer SALE_CLOSED); closing twice
  // is closing once. Resolves to the Sale.
  closeSale(saleId, { timeoutMs } = {}) {
    const body = pb.CloseSaleRequest.encode({ saleId }).finish();
    return this._call("tix.v1.AdminService/CloseSale", body, pb.Sale, timeoutMs, true).then(([m]) => m);
  }

  // One page of every sale: { sales, nextPageToken } (pageSize 0 = the
  // server's default, 100). sales() follows the pages.
  listSales({ pageSize = 0, pageToken = "", timeoutMs } = {}) {
    const body = pb.ListSalesRequest.encode({ pageSize, pageToken }).finish();
    return this._call("tix.v1.AdminService/ListSales", body, pb.ListSalesReply, timeoutMs, true).then(([m]) => m);
  }

  // Every sale, page after page: `for await (const sale of client.sales())`.
  sales({ pageSize = 0, timeoutMs } = {}) {
    return _pages((pageToken) => this.listSales({ pageSize, pageToken, timeoutMs }), "sales");
  }

  // Gives the user's ticket back to the sale; resolves to the cancelled
  // Order (cancelledAtMs, cancelReason). Cancelling twice returns the same.
  cancelOrder(saleId, userId, { reason = "", timeoutMs } = {}) {
    const body = pb.CancelOrderRequest.encode({ saleId, userId, reason }).finish();
    return this._call("tix.v1.AdminService/CancelOrder", body, pb.Order, timeoutMs, true).then(([m]) => m);
  }

  // One page of the sale's order log: { orders, nextPageToken }, purchases
  // and cancellations (cancelledAtMs set) in log order.
  listOrders(saleId, { pageSize = 0, pageToken = "", timeoutMs } = {}) {
    const body = pb.ListOrdersRequest.encode({ saleId, pageSize, pageToken }).finish();
    return this._call("tix.v1.AdminService/ListOrders", body, pb.ListOrdersReply, timeoutMs, true).then(([m]) => m);
  }

  // The sale's whole order log, page after page, never all in memory:
  // `for await (const order of client.orders(saleId))`.
  orders(saleId, { pageSize = 0, timeoutMs } = {}) {
    return _pages((pageToken) => this.listOrders(saleId, { pageSize, pageToken, timeoutMs }), "orders");
  }

  // ---- calls ---------------------------------------------------------------

  async _call(method, body, replyType, timeoutMs, resendOnSilence) {
    if (this._sock.closed) throw new Error("client is closed");
    this._checkRefused();
    const call = new _Call(this, method, Buffer.from(body), timeoutMs || this.timeoutMs, resendOnSilence);
    const [header, reply] = await call.run();
    if (header.code !== Code.OK) throw new TixError(header.code, header.message, header.retryAfterMs);
    if (!replyType) throw new TixError(Code.INTERNAL, `${method} answered OK, which this client cannot decode`);
    let m;
    try {
      m = replyType.toObject(replyType.decode(reply), OBJECT);
    } catch (e) {
      throw new TixError(Code.INTERNAL, `undecodable ${replyType.name}: ${e.message}`);
    }
    return [m, header];
  }

  _newCallId() {
    this._nextId = this._nextId + 1 > Number.MAX_SAFE_INTEGER ? 1 : this._nextId + 1;
    return this._nextId;
  }

  // zeromq allows one send at a time on a socket: sends are chained.
  _send(frames) {
    this._sending = this._sending.then(() => this._sock.send(frames)).catch(() => {});
    return this._sending;
  }

  async _read() {
    try {
      for await (const frames of this._sock) this._onReply(frames);
    } catch (e) {
      if (!this._sock.closed) throw e;
    }
  }

  _onReply(frames) {
    if (frames.length !== 4 || frames[0].length !== 0 || !frames[1].equals(SIGNATURE)) return;
    let h;
    try {
      h = pb.ReplyHeader.toObject(pb.ReplyHeader.decode(frames[2]), { longs: Number, defaults: true });
    } catch (e) {
      return; // a malformed reply is no answer
    }
    const call = this._calls.get(h.callId);
    if (call) call.onReply(h, frames[3]);
  }

  _watch() {
    const ev = this._sock.events;
    const peer = (e) => this._peers.get(e.address);
    ev.on("handshake", (e) => { const p = peer(e); if (p) { p.connected = true; p.hangups = 0; } });
    ev.on("connect", (e) => { const p = peer(e); if (p) p.connected = true; });
    ev.on("handshake:error:auth", (e) => this._refuse(e, `the broker refused this key (${e.address} answered ${e.error && e.error.status}: not on its allow-list)`));
    ev.on("handshake:error:protocol", (e) => this._refuse(e, `the broker at ${e.address} uses another mechanism: CURVE on one side only (set TIX_CURVE_SECRET and TIX_CURVE_SERVER_KEY, or unset them)`));
    ev.on("disconnect", (e) => {
      const p = peer(e);
      if (p && ++p.hangups >= HANGUPS_REFUSED) {
        this._refuse(e, `the broker at ${e.address} hung up ${p.hangups} times without a handshake: is the server key its public key, and does it use CURVE?`);
      }
    });
  }

  _refuse(e, why) {
    const p = this._peers.get(e.address);
    if (!p) return;
    p.refused = why;
    const err = this._refusedError();
    if (err) for (const call of new Set(this._calls.values())) call.fail(err);
  }

  _refusedError() {
    const peers = [...this._peers.values()];
    if (!peers.every((p) => p.refused)) return null;
    return new TixError(Code.UNAUTHENTICATED, peers.map((p) => p.refused).join("; "));
  }

  _checkRefused() {
    const err = this._refusedError();
    if (err) throw err;
  }

  _noAnswer(method) {
    if ([...this._peers.values()].some((p) => p.connected)) {
      return new TixError(Code.DEADLINE_EXCEEDED, `${method}: no answer by the deadline`);
    }
    return new TixError(Code.UNAVAILABLE, `no broker answered at ${this.endpoints.join(",")}: could not connect`);
  }
}

// The items of every page fetch(token) resolves to, one page at a time.
async function* _pages(fetch, field) {
  let token = "";
  for (;;) {
    const page = await fetch(token);
    yield* page[field];
    if (!page.nextPageToken) return;
    if (page.nextPageToken === token) throw new TixError(Code.INTERNAL, "the server answered the same page token twice");
    token = page.nextPageToken;
  }
}

// One call: its attempts, its timers, its deadline.
class _Call {
  constructor(client, method, body, timeoutMs, resendOnSilence) {
    Object.assign(this, { client, method, body, resendOnSilence });
    this.deadline = Date.now() + timeoutMs;
    this.attempts = [];
    this.silenceMs = SILENCE_MS;
    this.backoffMs = BACKOFF_MIN_MS;
    this.timer = null;
  }

  run() {
    return new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.deadlineTimer = setTimeout(() => this.fail(this.client._noAnswer(this.method)), this.deadline - Date.now());
      this.send();
    });
  }

  send() {
    const left = Math.max(1, this.deadline - Date.now());
    const callId = this.client._newCallId();
    const header = pb.CallHeader.encode({ method: this.method, callId, timeoutMs: left }).finish();
    this.attempts.push(callId);
    this.client._calls.set(callId, this);
    this.client._send([EMPTY, SIGNATURE, header, this.body]);
    clearTimeout(this.timer);
    if (this.resendOnSilence) {
      this.timer = setTimeout(() => this.send(), Math.min(this.silenceMs, left));
      this.silenceMs *= 2;
    }
  }

  onReply(h, body) {
    if (!RETRYABLE.has(h.code)) return this.finish(() => this.resolve([h, body]));
    if (h.callId !== this.attempts[this.attempts.length - 1]) return; // a later attempt is under way
    const wait = (h.retryAfterMs || this.backoffMs) * (1 + Math.random() * 0.5);
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    if (Date.now() + wait >= this.deadline) return this.finish(() => this.resolve([h, body]));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.send(), wait);
  }

  fail(err) {
    this.finish(() => this.reject(err));
  }

  finish(settle) {
    clearTimeout(this.timer);
    clearTimeout(this.deadlineTimer);
    for (const id of this.attempts) this.client._calls.delete(id);
    settle();
  }
}

module.exports = { Client };
