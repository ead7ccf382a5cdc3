/*
 * worker_store.c - one hiredis async connection driven by the caller's
 * zmq_poll loop, and the calls of the tix library over it.
 *
 * The event "adapter" is four flags: hiredis's ev hooks (installed with the
 * connection, worker_store_connect.c) record whether it wants to read or
 * write, worker_store_pollitem turns them into poll events and
 * worker_store_handle calls redisAsyncHandleRead/Write back. hiredis's
 * cleanup hook runs whenever a context goes away - error, timeout or
 * destroy - after it has completed every pending call with a NULL reply:
 * that is where the store falls back to "down" and schedules a reconnect.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>

#include "tix_log.h"
#include "tix_util.h"
#include "worker_store_priv.h"

typedef struct worker_store_pending s_call_t;
struct worker_store_pending {
    worker_store_t *store;
    worker_store_op op;    /* which function answers: how to read the reply */
    worker_store_fn *fn;   /* completion callback */
    void *arg;             /* its argument */
    char *cmd;             /* the FCALL, RESP-encoded: kept for the one retry */
    size_t cmd_len;        /* bytes used in cmd */
    size_t cmd_cap;        /* bytes allocated; reused by the next call */
    bool retried;          /* already sent again after "function not found" */
    bool gated;            /* a write: its reply waits for the replication gate */
    redisReply *held;      /* its reply (a copy), held until a WAIT after it answers */
    uint64_t loads_seen;   /* store->loads when sent */
    int64_t sent_ms;       /* when sent, for the stall timeout */
    int64_t sent_ns;       /* the same, finer: tix_redis_call_duration_seconds */
    s_call_t *prev, *next; /* in-flight list, oldest first; next links spares too */
};

_Static_assert(WORKER_STORE_FUNCTIONS == WORKER_STORE_OP_COUNT, "one metrics row per function");

/* ---- Connection loss ------------------------------------------------------ */

/* hiredis's cleanup hook: the context is going away and every pending call
 * has been completed. It is still readable here, freed right after. */
static void s_release(worker_store_t *self, const char *unavailable);

static void
s_on_gone(void *p)
{
    worker_store_t *self = p;
    s_release(self, "connection to redis lost before the replicas confirmed");
    assert(self->head == NULL && self->in_flight == 0);
    const char *reason = "connection closed";
    if (self->drop_reason[0])
        reason = self->drop_reason;
    else if (self->ac && self->ac->err)
        reason = self->ac->errstr;
    if (self->destroying || self->refusal[0])
        tix_debug("redis connection closed");
    else if (self->announced)
        tix_warn("redis connection lost\taddr=%s:%d reason=\"%s\"", self->url.host, self->url.port, reason);
    else
        worker_store_connect_note_problem(self, reason);
    self->ac = NULL;
    self->want_read = self->want_write = false;
    self->announced = false;
    self->loads = 0;
    self->unwaited = 0;
    self->wait_out = false;
    self->drop_reason[0] = '\0';
    self->state = WORKER_STORE_DOWN;
    if (!self->destroying && !self->refusal[0])
        worker_store_connect_schedule_retry(self);
}

/* ---- Lifecycle ------------------------------------------------------------ */

worker_store_t *
worker_store_new(const tix_redis_url_t *url, const worker_store_opts_t *opts)
{
    assert(url && ((url->host[0] && url->port > 0) || tix_redis_url_is_sentinel(url)));
    worker_store_t *self = xcalloc(1, sizeof *self);
    self->url = *url;
    self->connect_timeout_ms =
        opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : WORKER_STORE_CONNECT_TIMEOUT_MS;
    self->stall_ms = opts && opts->stall_ms > 0 ? opts->stall_ms : WORKER_STORE_STALL_MS;
    self->allow_unsafe = opts && opts->allow_unsafe;
    self->min_replicas = opts ? opts->min_replicas : 0;
    self->wait_ms = opts && opts->wait_ms > 0 ? opts->wait_ms : WORKER_STORE_WAIT_MS;
    self->backoff_ms = WORKER_STORE_BACKOFF_MIN_MS;
    self->arena = worker_store_arena_new();
    worker_store_connect(self, s_on_gone);
    return self;
}

void
worker_store_destroy(worker_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    worker_store_t *self = *self_p;
    self->destroying = true;
    worker_store_connect_drop(self, "closing"); /* completes pending calls, then s_on_gone */
    /* Then the buys that never went out. */
    if (self->batch_drop)
        self->batch_drop(self);
    assert(self->ac == NULL && self->head == NULL);
    while (self->spare) {
        s_call_t *call = self->spare;
        self->spare = call->next;
        free(call->cmd);
        free(call);
    }
    worker_store_arena_destroy(&self->arena); /* after the context: it read its last reply there */
    free(self);
    *self_p = NULL;
}

const char *
worker_store_refusal(const worker_store_t *self)
{
    return self->refusal[0] ? self->refusal : NULL;
}

bool
worker_store_ok(const worker_store_t *self)
{
    return self->state == WORKER_STORE_READY;
}

worker_store_batches_t **
worker_store_batches(worker_store_t *self)
{
    return &self->batches;
}

void
worker_store_batch_hooks(worker_store_t *self, worker_store_batch_hook_fn *flush, worker_store_batch_hook_fn *drop)
{
    self->batch_flush = flush;
    self->batch_drop = drop;
}

size_t
worker_store_in_flight(const worker_store_t *self)
{
    return self->in_flight;
}

/* ---- Poll-loop integration ------------------------------------------------ */

static void s_send_wait(worker_store_t *self);

bool
worker_store_pollitem(worker_store_t *self, zmq_pollitem_t *item)
{
    /* The buys of this loop turn go out now, batched per sale; every write
     * of the turn is then out: one WAIT behind them all covers them
     * (replies come back in order). */
    if (self->batch_flush)
        self->batch_flush(self);
    s_send_wait(self);
    if (!self->ac)
        return false;
    item->socket = NULL;
    item->fd = self->ac->c.fd;
    item->events = (short) ((self->want_read ? ZMQ_POLLIN : 0) | (self->want_write ? ZMQ_POLLOUT : 0));
    item->revents = 0;
    return true;
}

void
worker_store_handle(worker_store_t *self, short revents)
{
    /* An error or hang-up is seen by reading (EOF) or, while the connect is
     * still under way, by hiredis's connect check on write. */
    if (self->ac && (revents & ZMQ_POLLERR) && !self->want_read)
        revents |= ZMQ_POLLOUT;
    if (self->ac && (revents & (ZMQ_POLLIN | ZMQ_POLLERR)) && self->want_read)
        redisAsyncHandleRead(self->ac);
    /* The read may have lost the connection: self->ac is then NULL. */
    if (self->ac && (revents & ZMQ_POLLOUT))
        redisAsyncHandleWrite(self->ac);
}

int
worker_store_timeout_ms(const worker_store_t *self)
{
    int64_t due;
    if (self->refusal[0])
        return -1;
    if (self->state == WORKER_STORE_READY) {
        if (!self->head)
            return -1;
        due = self->head->sent_ms + self->stall_ms;
    } else {
        due = self->deadline_ms;
    }
    int64_t left = due - tix_now_ms();
    return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int) left;
}

void
worker_store_tick(worker_store_t *self)
{
    int64_t now = tix_now_ms();
    char reason[80];
    if (self->refusal[0])
        return; /* refused for good: no reconnect */
    if (self->state == WORKER_STORE_DOWN && !self->ac && now >= self->deadline_ms) {
        worker_store_connect(self, s_on_gone);
    } else if (self->state == WORKER_STORE_CONNECTING && now >= self->deadline_ms) {
        snprintf(reason, sizeof reason, "no answer within %d ms of connecting", self->connect_timeout_ms);
        worker_store_connect_drop(self, reason);
    } else if (self->state == WORKER_STORE_READY && self->head && now - self->head->sent_ms >= self->stall_ms) {
        /* Redis is stuck (or the network ate the connection): calls must
         * not wait forever. They complete as unavailable; Purchase is
         * idempotent, so a retry gets the true outcome. */
        snprintf(reason, sizeof reason, "no reply for %d ms", self->stall_ms);
        worker_store_connect_drop(self, reason);
    }
}

/* ---- Calls ---------------------------------------------------------------- */

static void s_on_reply(redisAsyncContext *ac, void *r, void *privdata);

static void
s_unlink(worker_store_t *self, s_call_t *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        self->head = call->next;
    if (call->next)
        call->next->prev = call->prev;
    else
        self->tail = call->prev;
    call->prev = call->next = NULL;
    self->in_flight--;
}

static void
s_link(worker_store_t *self, s_call_t *call)
{
    call->prev = self->tail;
    call->next = NULL;
    if (self->tail)
        self->tail->next = call;
    else
        self->head = call;
    self->tail = call;
    self->in_flight++;
}

/* Encodes argv as one RESP command into call->cmd, growing it if needed. */
static void
s_format(s_call_t *call, int argc, const char *const argv[])
{
    size_t need = 16;
    for (int i = 0; i < argc; i++)
        need += strlen(argv[i]) + 24;
    if (need > call->cmd_cap) {
        call->cmd = xrealloc(call->cmd, need);
        call->cmd_cap = need;
    }
    size_t n = (size_t) snprintf(call->cmd, call->cmd_cap, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        size_t len = strlen(argv[i]);
        n += (size_t) snprintf(call->cmd + n, call->cmd_cap - n, "$%zu\r\n", len);
        memcpy(call->cmd + n, argv[i], len);
        memcpy(call->cmd + n + len, "\r\n", 2);
        n += len + 2;
    }
    call->cmd_len = n;
}

static tix_err
s_send(worker_store_t *self, s_call_t *call)
{
    if (!self->ac || redisAsyncFormattedCommand(self->ac, s_on_reply, call, call->cmd, call->cmd_len) != REDIS_OK)
        return TIX_ERR_UNAVAILABLE;
    call->sent_ms = tix_now_ms();
    call->sent_ns = tix_metrics_now_ns();
    call->loads_seen = self->loads;
    if (call->gated)
        self->unwaited++;
    s_link(self, call);
    return TIX_OK;
}

/* "Function not found": load the library again unless a load already went
 * out after this call (then it is ahead of the retry on the connection),
 * and send the call once more. */
static bool
s_retry(worker_store_t *self, s_call_t *call)
{
    call->retried = true;
    if (!self->ac)
        return false;
    if (self->loads == call->loads_seen) {
        tix_warn("redis lost the tix library; loading it again\taddr=%s:%d", self->url.host, self->url.port);
        worker_store_connect_send_load(self);
    }
    return s_send(self, call) == TIX_OK;
}

/* Completes call (in flight) with reply, or as unavailable for the reason
 * given (reply is then ignored). */
static void
s_complete(worker_store_t *self, s_call_t *call, const redisReply *reply, const char *unavailable)
{
    s_unlink(self, call);
    worker_store_result_t result;
    worker_store_reply_parse(call->op, unavailable ? NULL : reply, &result);
    if (unavailable)
        result.detail = unavailable;
    worker_store_call_status st = result.err == TIX_OK          ? WORKER_STORE_CALL_OK
                                  : result.err == TIX_ERR_REDIS ? WORKER_STORE_CALL_ERROR
                                                                : WORKER_STORE_CALL_UNAVAILABLE;
    self->metrics.calls[call->op][st]++;
    tix_hist_observe(&self->metrics.duration, (double) (tix_metrics_now_ns() - call->sent_ns) / 1e9);
    worker_store_fn *fn = call->fn;
    void *arg = call->arg;
    redisReply *held = call->held;
    call->held = NULL;
    call->next = self->spare;
    self->spare = call;
    fn(arg, &result);
    if (held)
        freeReplyObject(held);
}

/* A WAIT answered (or was lost): every held reply came before it on the
 * connection, so it covers them all. unavailable: why they cannot be
 * told (too few replicas), or NULL to let them out. */
static void
s_release(worker_store_t *self, const char *unavailable)
{
    s_call_t *next;
    for (s_call_t *call = self->head; call; call = next) {
        next = call->next;
        if (call->held)
            s_complete(self, call, call->held, unavailable);
    }
}

/* With Sentinel, an answer that says this node is not (or no longer) a
 * primary that can take writes ends the connection: the reconnect asks
 * the Sentinels again. */
static void
s_check_primary(worker_store_t *self, const redisReply *reply)
{
    if (tix_redis_url_is_sentinel(&self->url) && worker_store_reply_wrong_primary(reply))
        worker_store_connect_drop(self, reply->str);
}

static void
s_on_wait(redisAsyncContext *ac, void *r, void *privdata)
{
    (void) privdata;
    worker_store_t *self = ac->data;
    const redisReply *reply = r;
    char why[160];
    const char *unavailable = why;
    self->wait_out = false;
    if (!reply)
        unavailable = "connection to redis lost before the replicas confirmed";
    else if (reply->type != REDIS_REPLY_INTEGER)
        snprintf(why, sizeof why, "WAIT refused: %.100s", reply->str ? reply->str : "?");
    else if (reply->integer < self->min_replicas)
        snprintf(why, sizeof why, "only %lld of %d replicas confirmed the write within %d ms", reply->integer,
                 self->min_replicas, self->wait_ms);
    else
        unavailable = NULL;
    s_release(self, unavailable);
    if (!reply)
        return;
    s_check_primary(self, reply);
    s_send_wait(self); /* writes sent while this WAIT was out */
}

static void
s_send_wait(worker_store_t *self)
{
    if (!self->ac || self->state != WORKER_STORE_READY || self->wait_out || self->unwaited == 0)
        return;
    if (redisAsyncCommand(self->ac, s_on_wait, NULL, "WAIT %d %d", self->min_replicas, self->wait_ms) == REDIS_OK) {
        self->wait_out = true;
        self->unwaited = 0;
    }
}

static void
s_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    (void) ac;
    s_call_t *call = privdata;
    worker_store_t *self = call->store;
    const redisReply *reply = r;
    if (!reply) {
        self->state = WORKER_STORE_DOWN; /* going away: refuse new calls from callbacks */
    } else if (!call->retried && worker_store_reply_function_missing(reply)) {
        s_unlink(self, call);
        if (s_retry(self, call))
            return;
        s_link(self, call); /* s_complete unlinks it */
    } else if (call->gated && reply->type != REDIS_REPLY_ERROR) {
        call->held = worker_store_reply_dup(reply); /* out with the next WAIT's answer */
        return;
    }
    s_complete(self, call, reply, NULL);
    if (reply)
        s_check_primary(self, reply);
}

tix_err
worker_store_call(worker_store_t *self, worker_store_op op, int argc, const char *const argv[], worker_store_fn *fn,
                  void *arg)
{
    assert(fn);
    if (self->state != WORKER_STORE_READY)
        return TIX_ERR_UNAVAILABLE;
    s_call_t *call = self->spare;
    if (call)
        self->spare = call->next;
    else
        call = xcalloc(1, sizeof *call);
    call->store = self;
    call->op = op;
    call->fn = fn;
    call->arg = arg;
    call->retried = false;
    call->gated = self->min_replicas > 0 &&
                  (op == WORKER_STORE_OP_CREATE || op == WORKER_STORE_OP_BUY || op == WORKER_STORE_OP_BUY_MANY ||
                   op == WORKER_STORE_OP_CLOSE || op == WORKER_STORE_OP_CANCEL);
    call->held = NULL;
    s_format(call, argc, argv);
    if (s_send(self, call) != TIX_OK) {
        call->next = self->spare;
        self->spare = call;
        return TIX_ERR_UNAVAILABLE;
    }
    return TIX_OK;
}

const worker_store_metrics_t *
worker_store_metrics(const worker_store_t *self)
{
    return &self->metrics;
}
