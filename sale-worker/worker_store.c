/*
 * worker_store.c - one hiredis async connection driven by the caller's
 * zmq_poll loop, and the calls of the tix library over it.
 *
 * The event "adapter" is four flags: hiredis's ev hooks record whether it
 * wants to read or write, worker_store_pollitem turns them into poll events
 * and worker_store_handle calls redisAsyncHandleRead/Write back. hiredis's
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

extern const char tix_lua_source[];
extern const size_t tix_lua_source_len;

typedef enum {
    S_DOWN,       /* no connection; the next attempt is due at deadline_ms */
    S_CONNECTING, /* connecting, AUTH/SELECT/FUNCTION LOAD under way until deadline_ms */
    S_READY,      /* the library is loaded: calls go out */
} s_state;

typedef struct s_call s_call_t;
struct s_call {
    worker_store_t *store;
    worker_store_op op;    /* which function answers: how to read the reply */
    worker_store_fn *fn;   /* completion callback */
    void *arg;             /* its argument */
    char *cmd;             /* the FCALL, RESP-encoded: kept for the one retry */
    size_t cmd_len;        /* bytes used in cmd */
    size_t cmd_cap;        /* bytes allocated; reused by the next call */
    bool retried;          /* already sent again after "function not found" */
    uint64_t loads_seen;   /* store->loads when sent */
    int64_t sent_ms;       /* when sent, for the stall timeout */
    s_call_t *prev, *next; /* in-flight list, oldest first; next links spares too */
};

struct worker_store {
    tix_redis_url_t url;    /* where and how to connect */
    int connect_timeout_ms; /* connect + AUTH/SELECT/LOAD must finish in this */
    int stall_ms;           /* the oldest call may wait this long */
    redisAsyncContext *ac;  /* NULL while down */
    bool want_read;         /* hiredis asked to be told when readable */
    bool want_write;        /* ... and when writable */
    s_state state;          /* see s_state */
    bool announced;         /* "redis connected" was logged; loss will be */
    int64_t deadline_ms;    /* S_DOWN: next attempt; S_CONNECTING: give up */
    int backoff_ms;         /* delay before the next attempt */
    uint64_t loads;         /* FUNCTION LOADs sent on this connection */
    s_call_t *head, *tail;  /* calls in flight, oldest first */
    size_t in_flight;       /* length of that list */
    s_call_t *spare;        /* completed calls, kept for reuse */
    bool destroying;        /* no reconnect: worker_store_destroy runs */
    bool allow_unsafe;      /* a Redis that may lose acknowledged writes is used anyway */
    char refusal[640];      /* set when Redis was refused for good (not durable) */
    char drop_reason[160];  /* why the store itself dropped the connection */
    char last_problem[160]; /* the last connect failure logged at warn */
};

/* ---- Event adapter ------------------------------------------------------- */

static void
s_add_read(void *p)
{
    ((worker_store_t *) p)->want_read = true;
}

static void
s_del_read(void *p)
{
    ((worker_store_t *) p)->want_read = false;
}

static void
s_add_write(void *p)
{
    ((worker_store_t *) p)->want_write = true;
}

static void
s_del_write(void *p)
{
    ((worker_store_t *) p)->want_write = false;
}

/* Logs a connect failure at warn once; the same failure again at debug, so
 * that a Redis that stays away does not flood the log. */
static void
s_note_problem(worker_store_t *self, const char *reason)
{
    if (strcmp(reason, self->last_problem) != 0) {
        tix_warn("redis unavailable\taddr=%s:%d reason=\"%s\" retry_ms=%d", self->url.host, self->url.port, reason,
                 self->backoff_ms);
        snprintf(self->last_problem, sizeof self->last_problem, "%s", reason);
    } else {
        tix_debug("redis still unavailable\treason=\"%s\" retry_ms=%d", reason, self->backoff_ms);
    }
}

static void
s_schedule_retry(worker_store_t *self)
{
    self->state = S_DOWN;
    /* Jitter keeps a fleet of workers from reconnecting in lockstep. */
    self->deadline_ms = tix_now_ms() + self->backoff_ms + tix_rand_below((uint32_t) self->backoff_ms / 4 + 1);
    self->backoff_ms *= 2;
    if (self->backoff_ms > WORKER_STORE_BACKOFF_MAX_MS)
        self->backoff_ms = WORKER_STORE_BACKOFF_MAX_MS;
}

/* hiredis's cleanup hook: the context is going away and every pending call
 * has been completed. It is still readable here, freed right after. */
static void
s_on_gone(void *p)
{
    worker_store_t *self = p;
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
        s_note_problem(self, reason);
    self->ac = NULL;
    self->want_read = self->want_write = false;
    self->announced = false;
    self->loads = 0;
    self->drop_reason[0] = '\0';
    self->state = S_DOWN;
    if (!self->destroying && !self->refusal[0])
        s_schedule_retry(self);
}

/* Drops the connection on the store's own initiative (timeouts, a failed
 * AUTH/SELECT/LOAD). Safe inside a hiredis callback: hiredis then frees the
 * context once the callback returns. */
static void
s_drop(worker_store_t *self, const char *reason)
{
    if (!self->ac)
        return;
    snprintf(self->drop_reason, sizeof self->drop_reason, "%s", reason);
    redisAsyncFree(self->ac);
}

/* ---- Connecting ----------------------------------------------------------- */

static void s_on_reply(redisAsyncContext *ac, void *r, void *privdata);

static void
s_on_load(redisAsyncContext *ac, void *r, void *privdata)
{
    (void) ac;
    worker_store_t *self = privdata;
    const redisReply *reply = r;
    if (!reply)
        return; /* the connection is going away; s_on_gone says why */
    if (reply->type == REDIS_REPLY_ERROR) {
        char reason[160];
        snprintf(reason, sizeof reason, "FUNCTION LOAD refused: %s", reply->str);
        if (self->state == S_CONNECTING)
            s_drop(self, reason); /* e.g. LOADING: logged once, retried with backoff */
        else
            tix_error("redis refused the tix library\treason=\"%s\"", reply->str);
        return;
    }
    if (self->state == S_CONNECTING) {
        self->state = S_READY;
        self->announced = true;
        self->backoff_ms = WORKER_STORE_BACKOFF_MIN_MS;
        self->last_problem[0] = '\0';
        tix_info("redis connected\taddr=%s:%d db=%d", self->url.host, self->url.port, self->url.db);
    }
}

static void
s_send_load(worker_store_t *self)
{
    if (redisAsyncCommand(self->ac, s_on_load, self, "FUNCTION LOAD REPLACE %b", tix_lua_source, tix_lua_source_len) ==
        REDIS_OK)
        self->loads++;
}

/* AUTH or SELECT answered: an error ends this connection attempt. */
static void
s_on_setup(redisAsyncContext *ac, void *r, void *privdata)
{
    (void) ac;
    worker_store_t *self = privdata;
    const redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        char reason[160];
        snprintf(reason, sizeof reason, "connection setup refused: %s", reply->str);
        s_drop(self, reason);
    }
}

/* What a Redis must say for an acknowledged order to survive a crash or a
 * full memory: every write fsynced before the answer, nothing evicted. */
static const char *const s_durable[][2] = {
    {"appendonly", "yes"}, {"appendfsync", "always"}, {"maxmemory-policy", "noeviction"}};

/* One CONFIG GET answered (privdata: the index in s_durable). A Redis that
 * is not durable, or will not say (CONFIG renamed or not permitted), is
 * refused for good unless allow_unsafe: then it is used, with a warning. */
static void
s_on_config(redisAsyncContext *ac, void *r, void *privdata)
{
    worker_store_t *self = ac->data;
    const redisReply *reply = r;
    size_t i = (size_t) (uintptr_t) privdata;
    if (!reply || self->refusal[0])
        return; /* going away: s_on_gone says why */
    char problem[200];
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 && reply->element[1]->type == REDIS_REPLY_STRING) {
        if (strcmp(reply->element[1]->str, s_durable[i][1]) == 0)
            return;
        snprintf(problem, sizeof problem, "%s is '%.40s', need '%s'", s_durable[i][0], reply->element[1]->str,
                 s_durable[i][1]);
    } else {
        snprintf(problem, sizeof problem, "CONFIG GET %s refused (%.80s): durability cannot be checked",
                 s_durable[i][0], reply->type == REDIS_REPLY_ERROR ? reply->str : "no such parameter");
    }
    if (self->allow_unsafe) {
        tix_warn("UNSAFE: redis may lose acknowledged orders; used anyway (--allow-unsafe-redis)\taddr=%s:%d "
                 "problem=\"%s\"",
                 self->url.host, self->url.port, problem);
        return;
    }
    int n = snprintf(self->refusal, sizeof self->refusal,
                     "--redis-url: redis at %s:%d is not durable: %s (fix its configuration; "
                     "--allow-unsafe-redis for development only)",
                     self->url.host, self->url.port, problem);
    s_drop(self, n > 0 ? "not durable" : "");
}

static void
s_connect(worker_store_t *self)
{
    redisAsyncContext *ac = redisAsyncConnect(self->url.host, self->url.port);
    if (!ac || ac->err) {
        s_note_problem(self, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        s_schedule_retry(self);
        return;
    }
    ac->data = self;
    ac->ev.data = self;
    ac->ev.addRead = s_add_read;
    ac->ev.delRead = s_del_read;
    ac->ev.addWrite = s_add_write;
    ac->ev.delWrite = s_del_write;
    ac->ev.cleanup = s_on_gone;
    self->ac = ac;
    self->state = S_CONNECTING;
    self->deadline_ms = tix_now_ms() + self->connect_timeout_ms;
    /* Pipelined: Redis answers in order, so the library is loaded under the
     * right user and database before anything else runs. */
    if (self->url.password[0] && self->url.user[0])
        redisAsyncCommand(ac, s_on_setup, self, "AUTH %s %s", self->url.user, self->url.password);
    else if (self->url.password[0])
        redisAsyncCommand(ac, s_on_setup, self, "AUTH %s", self->url.password);
    if (self->url.db != 0)
        redisAsyncCommand(ac, s_on_setup, self, "SELECT %d", self->url.db);
    for (size_t i = 0; i < sizeof s_durable / sizeof s_durable[0]; i++)
        redisAsyncCommand(ac, s_on_config, (void *) (uintptr_t) i, "CONFIG GET %s", s_durable[i][0]);
    s_send_load(self);
}

/* ---- Lifecycle ------------------------------------------------------------ */

worker_store_t *
worker_store_new(const tix_redis_url_t *url, const worker_store_opts_t *opts)
{
    assert(url && url->host[0] && url->port > 0);
    worker_store_t *self = xcalloc(1, sizeof *self);
    self->url = *url;
    self->connect_timeout_ms =
        opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : WORKER_STORE_CONNECT_TIMEOUT_MS;
    self->stall_ms = opts && opts->stall_ms > 0 ? opts->stall_ms : WORKER_STORE_STALL_MS;
    self->allow_unsafe = opts && opts->allow_unsafe;
    self->backoff_ms = WORKER_STORE_BACKOFF_MIN_MS;
    s_connect(self);
    return self;
}

void
worker_store_destroy(worker_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    worker_store_t *self = *self_p;
    self->destroying = true;
    s_drop(self, "closing"); /* completes pending calls, then s_on_gone */
    assert(self->ac == NULL && self->head == NULL);
    while (self->spare) {
        s_call_t *call = self->spare;
        self->spare = call->next;
        free(call->cmd);
        free(call);
    }
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
    return self->state == S_READY;
}

size_t
worker_store_in_flight(const worker_store_t *self)
{
    return self->in_flight;
}

/* ---- Poll-loop integration ------------------------------------------------ */

bool
worker_store_pollitem(const worker_store_t *self, zmq_pollitem_t *item)
{
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
    if (self->state == S_READY) {
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
    if (self->state == S_DOWN && !self->ac && now >= self->deadline_ms) {
        s_connect(self);
    } else if (self->state == S_CONNECTING && now >= self->deadline_ms) {
        snprintf(reason, sizeof reason, "no answer within %d ms of connecting", self->connect_timeout_ms);
        s_drop(self, reason);
    } else if (self->state == S_READY && self->head && now - self->head->sent_ms >= self->stall_ms) {
        /* Redis is stuck (or the network ate the connection): calls must
         * not wait forever. They complete as unavailable; Purchase is
         * idempotent, so a retry gets the true outcome. */
        snprintf(reason, sizeof reason, "no reply for %d ms", self->stall_ms);
        s_drop(self, reason);
    }
}

/* ---- Calls ---------------------------------------------------------------- */

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
    call->loads_seen = self->loads;
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
        s_send_load(self);
    }
    return s_send(self, call) == TIX_OK;
}

static void
s_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    (void) ac;
    s_call_t *call = privdata;
    worker_store_t *self = call->store;
    const redisReply *reply = r;
    s_unlink(self, call);
    if (!reply)
        self->state = S_DOWN; /* going away: refuse new calls from callbacks */
    else if (!call->retried && worker_store_reply_function_missing(reply) && s_retry(self, call))
        return;
    worker_store_result_t result;
    worker_store_reply_parse(call->op, reply, &result);
    worker_store_fn *fn = call->fn;
    void *arg = call->arg;
    call->next = self->spare;
    self->spare = call;
    fn(arg, &result);
}

static tix_err
s_call(worker_store_t *self, worker_store_op op, int argc, const char *const argv[], worker_store_fn *fn, void *arg)
{
    assert(fn);
    if (self->state != S_READY)
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
    s_format(call, argc, argv);
    if (s_send(self, call) != TIX_OK) {
        call->next = self->spare;
        self->spare = call;
        return TIX_ERR_UNAVAILABLE;
    }
    return TIX_OK;
}

/* The sale's keys, hash-tagged so that they share one cluster slot. */
typedef struct {
    char sale[96];   /* tix:{S}:sale */
    char stock[96];  /* tix:{S}:stock */
    char buyers[96]; /* tix:{S}:buyers */
    char log[96];    /* tix:{S}:log */
} s_keys_t;

static void
s_keys(const char *sale_id, s_keys_t *k)
{
    assert(strlen(sale_id) <= 64);
    snprintf(k->sale, sizeof k->sale, "tix:{%s}:sale", sale_id);
    snprintf(k->stock, sizeof k->stock, "tix:{%s}:stock", sale_id);
    snprintf(k->buyers, sizeof k->buyers, "tix:{%s}:buyers", sale_id);
    snprintf(k->log, sizeof k->log, "tix:{%s}:log", sale_id);
}

tix_err
worker_store_create(worker_store_t *self, const char *sale_id, uint32_t total, int64_t opens_at_ms,
                    int64_t closes_at_ms, worker_store_fn *fn, void *arg)
{
    s_keys_t k;
    s_keys(sale_id, &k);
    char t[16], o[24], c[24];
    snprintf(t, sizeof t, "%u", total);
    snprintf(o, sizeof o, "%lld", (long long) opens_at_ms);
    snprintf(c, sizeof c, "%lld", (long long) closes_at_ms);
    const char *argv[] = {"FCALL", "tix_create", "5", k.sale, k.stock, k.buyers, k.log, "tix:sales", sale_id, t, o, c};
    return s_call(self, WORKER_STORE_OP_CREATE, 12, argv, fn, arg);
}

tix_err
worker_store_buy(worker_store_t *self, const char *sale_id, const char *user_id, const char *request_id,
                 worker_store_fn *fn, void *arg)
{
    s_keys_t k;
    s_keys(sale_id, &k);
    const char *argv[] = {"FCALL",  "tix_buy", "4",     k.sale,  k.stock,
                          k.buyers, k.log,     sale_id, user_id, request_id ? request_id : ""};
    return s_call(self, WORKER_STORE_OP_BUY, 10, argv, fn, arg);
}

tix_err
worker_store_buyers(worker_store_t *self, const char *sale_id, const char *cursor, worker_store_fn *fn, void *arg)
{
    s_keys_t k;
    s_keys(sale_id, &k);
    const char *argv[] = {"FCALL_RO", "tix_buyers",         "4", k.sale, k.stock, k.buyers, k.log,
                          sale_id,    cursor ? cursor : "0"};
    return s_call(self, WORKER_STORE_OP_BUYERS, 9, argv, fn, arg);
}

tix_err
worker_store_get_sale(worker_store_t *self, const char *sale_id, worker_store_fn *fn, void *arg)
{
    s_keys_t k;
    s_keys(sale_id, &k);
    const char *argv[] = {"FCALL_RO", "tix_get_sale", "2", k.sale, k.stock, sale_id};
    return s_call(self, WORKER_STORE_OP_GET_SALE, 6, argv, fn, arg);
}

tix_err
worker_store_get_order(worker_store_t *self, const char *sale_id, const char *user_id, worker_store_fn *fn, void *arg)
{
    s_keys_t k;
    s_keys(sale_id, &k);
    const char *argv[] = {"FCALL_RO", "tix_get_order", "2", k.sale, k.buyers, sale_id, user_id};
    return s_call(self, WORKER_STORE_OP_GET_ORDER, 7, argv, fn, arg);
}
