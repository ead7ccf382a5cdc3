/*
 * worker_store_batch.c - worker_store_buy: the buys waiting for one sale go
 * out as one FCALL tix_buy_many (tix_buy when alone), and each is answered
 * on its own from its element of the reply.
 *
 * A buy waits in its sale's queue until the end of the loop turn, when
 * worker_store_pollitem flushes. A sale with fewer than
 * WORKER_STORE_BATCH_FLIGHTS of its calls in flight sends everything
 * waiting at once, so a lone purchase is never held; a sale with that many
 * in flight keeps the newcomers until one answers, and they go together
 * then. That sizes a batch by what is waiting, with no timer;
 * WORKER_STORE_BATCH_MAX bounds one call and its reply. The call is an
 * ordinary one to worker_store.c: the one retry after "function not
 * found", the stall timeout and the replication gate (one WAIT covers the
 * whole batch) apply to it as to any write.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix_util.h"
#include "worker_store_priv.h"

#define S_IDLE_QUEUES_KEPT 16 /* empty queues kept for sales seen before */

typedef struct {
    worker_store_fn *fn;
    void *arg;
} s_to_t;

typedef struct s_queue s_queue_t;
typedef struct s_flight s_flight_t;

/* One call in flight: whom its answers go to, in the order sent. */
struct s_flight {
    worker_store_batches_t *batches;
    s_queue_t *queue;
    size_t n;
    s_to_t to[WORKER_STORE_BATCH_MAX];
    s_flight_t *next; /* spare-list link */
};

/* A buy waiting: its callback and its strings in the queue's text. */
typedef struct {
    s_to_t to;
    size_t user_at, request_at;
} s_waiter_t;

/* One sale's buys: waiting, and how many of its calls are in flight. */
struct s_queue {
    char sale_id[72];
    unsigned in_flight;
    s_waiter_t *waiting;
    size_t n, cap;
    char *text; /* user_id NUL request_id NUL, per waiter */
    size_t text_len, text_cap;
    s_queue_t *next;
};

struct worker_store_batches {
    s_queue_t *queues;
    size_t nqueues;
    s_flight_t *spare;
    worker_store_batch_stats_t stats;
};

/* ---- Queues --------------------------------------------------------------- */

static s_queue_t *
s_queue_get(worker_store_batches_t *b, const char *sale_id)
{
    for (s_queue_t *q = b->queues; q; q = q->next) {
        if (strcmp(q->sale_id, sale_id) == 0)
            return q;
    }
    s_queue_t *q = xcalloc(1, sizeof *q);
    snprintf(q->sale_id, sizeof q->sale_id, "%s", sale_id);
    q->next = b->queues;
    b->queues = q;
    b->nqueues++;
    return q;
}

static size_t
s_text_add(s_queue_t *q, const char *s)
{
    size_t len = strlen(s) + 1, at = q->text_len;
    if (at + len > q->text_cap) {
        q->text_cap = (at + len) * 2 > 1024 ? (at + len) * 2 : 1024;
        q->text = xrealloc(q->text, q->text_cap);
    }
    memcpy(q->text + at, s, len);
    q->text_len += len;
    return at;
}

static void
s_queue_push(s_queue_t *q, const char *user_id, const char *request_id, worker_store_fn *fn, void *arg)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 16;
        q->waiting = xrealloc(q->waiting, q->cap * sizeof *q->waiting);
    }
    s_waiter_t *w = &q->waiting[q->n++];
    w->to = (s_to_t){fn, arg};
    w->user_at = s_text_add(q, user_id);
    w->request_at = s_text_add(q, request_id ? request_id : "");
}

/* Forgets the first sent waiters (they are in flights now). */
static void
s_queue_drop_front(s_queue_t *q, size_t sent)
{
    if (sent == 0)
        return;
    size_t left = q->n - sent;
    size_t cut = left ? q->waiting[sent].user_at : q->text_len;
    memmove(q->waiting, q->waiting + sent, left * sizeof *q->waiting);
    for (size_t i = 0; i < left; i++) {
        q->waiting[i].user_at -= cut;
        q->waiting[i].request_at -= cut;
    }
    memmove(q->text, q->text + cut, q->text_len - cut);
    q->text_len -= cut;
    q->n = left;
}

static void
s_queue_free(s_queue_t *q)
{
    free(q->waiting);
    free(q->text);
    free(q);
}

/* ---- Answers -------------------------------------------------------------- */

static void
s_flight_release(s_flight_t *f)
{
    worker_store_batches_t *b = f->batches;
    f->next = b->spare;
    b->spare = f;
}

/* The call's answer: element i of a tix_buy_many reply is to[i]'s tix_buy
 * answer. A call that failed as a whole (connection lost, the gate's WAIT
 * short, an error reply) fails each of its buys the same way: they may or
 * may not have run, and a retry with the same request_id tells. */
static void
s_flight_done(void *arg, const worker_store_result_t *result)
{
    s_flight_t *f = arg;
    f->queue->in_flight--;
    if (f->n == 1 || result->err != TIX_OK) {
        for (size_t i = 0; i < f->n; i++)
            f->to[i].fn(f->to[i].arg, result);
    } else if (result->nanswers != f->n) {
        worker_store_result_t bad = *result;
        bad.err = TIX_ERR_REDIS;
        bad.detail = "unexpected reply from tix_buy_many (answer count)";
        for (size_t i = 0; i < f->n; i++)
            f->to[i].fn(f->to[i].arg, &bad);
    } else {
        const redisReply *page = result->page;
        for (size_t i = 0; i < f->n; i++) {
            worker_store_result_t one;
            worker_store_reply_parse(WORKER_STORE_OP_BUY, page->element[i], &one);
            f->to[i].fn(f->to[i].arg, &one);
        }
    }
    s_flight_release(f);
}

static void
s_count(worker_store_batch_stats_t *s, size_t n)
{
    size_t bucket = 0;
    while (bucket + 1 < TIX_ARRAY_LEN(s->sizes) && ((size_t) 2 << bucket) <= n)
        bucket++;
    s->sizes[bucket]++;
    s->calls++;
    s->buys += n;
    if (n > s->max)
        s->max = (uint32_t) n;
}

/* Sends q's waiters [from, from + n) as one call; when the store cannot
 * send, they are answered unavailable here. */
static void
s_send(worker_store_t *st, worker_store_batches_t *b, s_queue_t *q, size_t from, size_t n)
{
    s_flight_t *f = b->spare;
    if (f)
        b->spare = f->next;
    else
        f = xcalloc(1, sizeof *f);
    f->batches = b;
    f->queue = q;
    f->n = n;
    worker_store_keys_t k;
    worker_store_keys(q->sale_id, &k);
    char count[16];
    snprintf(count, sizeof count, "%zu", n);
    /* FCALL, the name, "5", 5 keys, sale_id, n; then 2 per buy. */
    const char *argv[10 + 2 * WORKER_STORE_BATCH_MAX] = {
        "FCALL", n == 1 ? "tix_buy" : "tix_buy_many", "5", k.sale, k.stock, k.buyers, k.log, k.cancels, q->sale_id};
    int argc = 9;
    if (n > 1)
        argv[argc++] = count;
    for (size_t i = 0; i < n; i++) {
        const s_waiter_t *w = &q->waiting[from + i];
        f->to[i] = w->to;
        argv[argc++] = q->text + w->user_at;
        argv[argc++] = q->text + w->request_at;
    }
    worker_store_op op = n == 1 ? WORKER_STORE_OP_BUY : WORKER_STORE_OP_BUY_MANY;
    if (worker_store_call(st, op, argc, argv, s_flight_done, f) == TIX_OK) {
        q->in_flight++;
        s_count(&b->stats, n);
        return;
    }
    worker_store_result_t down;
    worker_store_reply_parse(WORKER_STORE_OP_BUY, NULL, &down);
    down.detail = "redis unavailable";
    q->in_flight++; /* s_flight_done counts it back */
    s_flight_done(f, &down);
}

/* ---- The store's side ----------------------------------------------------- */

/* Frees empty, idle queues beyond the few kept for sales seen again. */
static void
s_trim(worker_store_batches_t *b)
{
    for (s_queue_t **qp = &b->queues; *qp && b->nqueues > S_IDLE_QUEUES_KEPT;) {
        s_queue_t *q = *qp;
        if (q->n == 0 && q->in_flight == 0) {
            *qp = q->next;
            s_queue_free(q);
            b->nqueues--;
        } else {
            qp = &q->next;
        }
    }
}

/* worker_store_batch_hook_fn: sends what waits (end of a loop turn). */
static void
s_flush(worker_store_t *self)
{
    worker_store_batches_t *b = *worker_store_batches(self);
    if (!b)
        return;
    for (s_queue_t *q = b->queues; q; q = q->next) {
        /* Fewer than WORKER_STORE_BATCH_FLIGHTS of this sale's calls in
         * flight: all of it goes now. Else only full batches; the rest
         * waits for an answer. */
        size_t sent = 0;
        while (q->n > sent && (q->in_flight < WORKER_STORE_BATCH_FLIGHTS || q->n - sent >= WORKER_STORE_BATCH_MAX)) {
            size_t n = q->n - sent < WORKER_STORE_BATCH_MAX ? q->n - sent : WORKER_STORE_BATCH_MAX;
            s_send(self, b, q, sent, n);
            sent += n;
        }
        s_queue_drop_front(q, sent);
    }
    s_trim(b);
}

/* worker_store_batch_hook_fn: answers what never went out (destroy). */
static void
s_drop(worker_store_t *self)
{
    worker_store_batches_t **bp = worker_store_batches(self);
    worker_store_batches_t *b = *bp;
    if (!b)
        return;
    worker_store_result_t down;
    worker_store_reply_parse(WORKER_STORE_OP_BUY, NULL, &down);
    down.detail = "closing";
    while (b->queues) {
        s_queue_t *q = b->queues;
        b->queues = q->next;
        assert(q->in_flight == 0); /* the connection went first */
        for (size_t i = 0; i < q->n; i++)
            q->waiting[i].to.fn(q->waiting[i].to.arg, &down);
        s_queue_free(q);
    }
    while (b->spare) {
        s_flight_t *f = b->spare;
        b->spare = f->next;
        free(f);
    }
    free(b);
    *bp = NULL;
}

tix_err
worker_store_buy(worker_store_t *self, const char *sale_id, const char *user_id, const char *request_id,
                 worker_store_fn *fn, void *arg)
{
    assert(fn && sale_id && user_id && strlen(sale_id) <= 64);
    if (!worker_store_ok(self))
        return TIX_ERR_UNAVAILABLE;
    worker_store_batches_t **bp = worker_store_batches(self);
    if (!*bp) {
        *bp = xcalloc(1, sizeof **bp);
        worker_store_batch_hooks(self, s_flush, s_drop);
    }
    s_queue_push(s_queue_get(*bp, sale_id), user_id, request_id, fn, arg);
    return TIX_OK;
}

void
worker_store_batch_stats(worker_store_t *self, worker_store_batch_stats_t *out)
{
    const worker_store_batches_t *b = *worker_store_batches(self);
    if (b)
        *out = b->stats;
    else
        memset(out, 0, sizeof *out);
}
