/*
 * rush_run.c - the poll loop: start users, send, read answers, retry,
 * enforce deadlines.
 *
 * Each turn of the loop reads what the sockets hold (at most RUSH_RECV_BATCH
 * replies per connection, so that freed slots are refilled promptly), moves
 * due retries and newly arrived users to the ready ring, sends from the
 * ring until it is empty or every socket is full, and then sleeps in
 * zmq_poll until a socket is readable (or writable again), a retry or an
 * arrival is due, or a periodic task (deadline sweep, progress) must run.
 */
#include "rush_run.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "rush_flight.h"
#include "tix_log.h"
#include "tix_util.h"

#define ID_MAX_BYTES (RUSH_USER_PREFIX_MAX_BYTES + 12) /* prefix + up to 10 digits + NUL */
#define POLL_MAX_MS 100                                /* longest sleep: keeps timers and signals prompt */
#define REPLY_ARENA_BYTES 512                          /* a PurchaseReply unpacks here (bigger: the heap) */

struct rush_run {
    const rush_config_t *cfg;                             /* borrowed */
    tix_client_t *clients[RUSH_MAX_CONNECTIONS];          /* one DEALER each */
    zmq_pollitem_t items[RUSH_MAX_CONNECTIONS];           /* their sockets, for zmq_poll */
    bool blocked[RUSH_MAX_CONNECTIONS];                   /* a send was refused: wait for POLLOUT */
    unsigned nclients;                                    /* cfg->connections */
    unsigned next_conn;                                   /* round-robin cursor */
    rush_flight_t *flight;                                /* users in progress */
    rush_tally_t *tally;                                  /* borrowed during go */
    rush_hist_t *hist;                                    /* borrowed during go */
    uint32_t next_user;                                   /* users started so far */
    int64_t start_us, last_answer_us;                     /* first send; last final answer */
    int64_t next_sweep_us, next_progress_us;              /* periodic tasks */
    char user_id[ID_MAX_BYTES], request_id[ID_MAX_BYTES]; /* reused for every call */
    size_t prefix_len;                                    /* bytes of cfg->user_prefix in user_id */
};

static int64_t
s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Writes v in decimal at dest and NUL-terminates; snprintf is measurably
 * slower in a loop that runs once per call. */
static void
s_utoa(char *dest, uint32_t v)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *dest++ = tmp[--n];
    *dest = '\0';
}

/* A Health answer (any code) proves the connection is up. */
static bool
s_connected(tix_client_t *c, uint32_t timeout_ms, char *why, size_t why_size)
{
    tix_result_t r;
    tix_err err = tix_health_check(c, "", timeout_ms, &r);
    tix_result_clear(&r);
    if (err != TIX_OK)
        snprintf(why, why_size, "no answer from the broker (%s)", tix_strerror(err));
    return err == TIX_OK;
}

rush_run_t *
rush_run_new(const rush_config_t *cfg, char *why, size_t why_size)
{
    rush_run_t *self = xcalloc(1, sizeof *self);
    self->cfg = cfg;
    self->nclients = cfg->connections;
    for (unsigned i = 0; i < self->nclients; i++) {
        self->clients[i] = tix_client_new_curve(cfg->frontend, cfg->curve_secret, cfg->curve_server);
        if (!self->clients[i]) {
            snprintf(why, why_size, "cannot connect to '%s' (bad --frontend or CURVE keys: see the log)",
                     cfg->frontend);
            goto out_destroy;
        }
        if (!s_connected(self->clients[i], cfg->timeout_ms, why, why_size))
            goto out_destroy;
        self->items[i] = (zmq_pollitem_t){tix_client_socket(self->clients[i]), 0, ZMQ_POLLIN, 0};
    }
    self->flight = rush_flight_new(cfg->in_flight);
    self->prefix_len = strlen(cfg->user_prefix);
    memcpy(self->user_id, cfg->user_prefix, self->prefix_len);
    self->request_id[0] = 'r';
    return self;
out_destroy:
    rush_run_destroy(&self);
    return NULL;
}

void
rush_run_destroy(rush_run_t **self)
{
    if (!self || !*self)
        return;
    for (unsigned i = 0; i < (*self)->nclients; i++)
        tix_client_destroy(&(*self)->clients[i]);
    rush_flight_destroy(&(*self)->flight);
    free(*self);
    *self = NULL;
}

tix_client_t *
rush_run_client(rush_run_t *self)
{
    return self->clients[0];
}

int64_t
rush_run_wall_us(const rush_run_t *self)
{
    return self->last_answer_us > self->start_us ? self->last_answer_us - self->start_us : 0;
}

uint32_t
rush_run_in_progress(const rush_run_t *self)
{
    return self->flight ? rush_flight_used(self->flight) : 0;
}

/* ---- Answers ---------------------------------------------------------------- */

/* The user of slot i is done: record its answer and free the slot. */
static void
s_final(rush_run_t *self, uint32_t i, tix_code code, const Tix__V1__PurchaseReply *reply, bool client_timeout,
        int64_t now)
{
    rush_slot_t *s = rush_flight_slot(self->flight, i);
    rush_tally_final(self->tally, s->user, code, reply, client_timeout, now - self->start_us);
    rush_hist_record(self->hist, (uint64_t) (now > s->t0_us ? now - s->t0_us : 0));
    self->last_answer_us = now;
    rush_flight_finish(self->flight, i);
}

/* How long a call may go unanswered before it is resent: the broker it
 * went to may be dead or hung. TIX_RETRY_SILENCE_MS, doubling per attempt
 * up to 8 times that. */
static int64_t
s_silence_us(unsigned attempts)
{
    unsigned shift = attempts > 1 ? attempts - 1 : 0;
    return ((int64_t) TIX_RETRY_SILENCE_MS << (shift < 3 ? shift : 3)) * 1000;
}

/* How long a user told "not now" waits: the broker's retry_after_ms, or a
 * doubling backoff when it gave none, plus 0-50% jitter so that a crowd
 * told the same thing does not come back in step. */
static int64_t
s_retry_wait_us(uint32_t retry_after_ms, unsigned attempts)
{
    int64_t ms = retry_after_ms;
    if (ms == 0) {
        ms = TIX_RETRY_BACKOFF_MIN_MS;
        for (unsigned a = 1; a < attempts && ms < TIX_RETRY_BACKOFF_MAX_MS; a++)
            ms *= 2;
        if (ms > TIX_RETRY_BACKOFF_MAX_MS)
            ms = TIX_RETRY_BACKOFF_MAX_MS;
    }
    int64_t us = ms * 1000;
    return us + (int64_t) tix_rand_below((uint32_t) (us / 2 + 1));
}

static void
s_on_answer(rush_run_t *self, uint8_t conn, const tix_result_t *r, int64_t now)
{
    int64_t found = rush_flight_take(self->flight, conn, r->call_id);
    if (found < 0)
        return; /* libtix drops replies to calls it does not know; nothing else can come */
    uint32_t i = (uint32_t) found;
    rush_slot_t *s = rush_flight_slot(self->flight, i);
    if (r->code == TIX__V1__CODE__UNAVAILABLE || r->code == TIX__V1__CODE__RESOURCE_EXHAUSTED) {
        rush_tally_retry(self->tally, r->code);
        int64_t due = now + s_retry_wait_us(r->retry_after_ms, s->attempts);
        if (due < s->t0_us + (int64_t) self->cfg->timeout_ms * 1000) {
            rush_flight_defer(self->flight, i, due);
            return;
        }
        /* The wait would outlast the user's deadline: this answer is final. */
    }
    s_final(self, i, r->code, (const Tix__V1__PurchaseReply *) r->reply, false, now);
}

/* One reply off conn. Its body is unpacked into arena (no heap allocation
 * per answer): *reply is valid until the arena's reset. A body that does
 * not unpack is answered INTERNAL, as tix_client_recv would. */
static tix_err
s_recv_one(rush_run_t *self, uint8_t conn, tix_arena_t *arena, tix_result_t *r, Tix__V1__PurchaseReply **reply)
{
    const void *body;
    size_t size;
    *reply = NULL;
    tix_err err = tix_client_recv_packed(self->clients[conn], 0, r, &body, &size);
    if (err != TIX_OK || r->code != TIX__V1__CODE__OK)
        return err;
    *reply = tix__v1__purchase_reply__unpack(&arena->allocator, size, body);
    if (*reply)
        return TIX_OK;
    r->code = TIX__V1__CODE__INTERNAL;
    tix_warn("tix-rush: undecodable reply body\tcall_id=%llu", (unsigned long long) r->call_id);
    return TIX_ERR_PROTOCOL;
}

/* Reads up to RUSH_RECV_BATCH queued replies from connection conn. */
static tix_err
s_drain(rush_run_t *self, uint8_t conn)
{
    _Alignas(16) uint8_t buf[REPLY_ARENA_BYTES];
    tix_arena_t arena;
    tix_arena_init(&arena, buf, sizeof buf);
    for (int n = 0; n < RUSH_RECV_BATCH; n++) {
        tix_result_t r;
        Tix__V1__PurchaseReply *reply;
        tix_err err = s_recv_one(self, conn, &arena, &r, &reply);
        if (err == TIX_ERR_TIMEOUT)
            return TIX_OK;
        r.reply = reply;
        if (err == TIX_OK || (err == TIX_ERR_PROTOCOL && r.call_id != 0))
            s_on_answer(self, conn, &r, s_now_us()); /* an undecodable body comes as code INTERNAL */
        else if (err == TIX_ERR_PROTOCOL)
            rush_tally_malformed(self->tally);
        if (reply) /* returns to the heap what spilled out of the arena */
            tix__v1__purchase_reply__free_unpacked(reply, &arena.allocator);
        tix_arena_reset(&arena);
        if (err != TIX_OK && err != TIX_ERR_PROTOCOL)
            return err;
    }
    return TIX_OK;
}

/* ---- Starting and sending ---------------------------------------------------- */

/* Moves users whose time has come into free slots: all the slots can hold
 * in closed loop; those whose scheduled arrival has passed in open loop. */
static void
s_admit(rush_run_t *self, int64_t now)
{
    const rush_config_t *cfg = self->cfg;
    while (self->next_user < cfg->users) {
        int64_t t0 = now;
        if (cfg->rate > 0) {
            t0 = self->start_us + (int64_t) ((double) self->next_user * 1e6 / cfg->rate);
            if (t0 > now)
                return;
        }
        if (!rush_flight_start(self->flight, self->next_user, t0))
            return;
        self->next_user++;
    }
}

/* The next connection that can take a call, round-robin; -1 when all are
 * full. */
static int
s_pick_conn(rush_run_t *self)
{
    for (unsigned k = 0; k < self->nclients; k++) {
        unsigned c = (self->next_conn + k) % self->nclients;
        if (!self->blocked[c]) {
            self->next_conn = (c + 1) % self->nclients;
            return (int) c;
        }
    }
    return -1;
}

/* Sends slot i's Purchase on conn. TIX_ERR_UNAVAILABLE: that socket is full. */
static tix_err
s_send_one(rush_run_t *self, uint32_t i, int conn, int64_t left_us)
{
    rush_slot_t *s = rush_flight_slot(self->flight, i);
    s_utoa(self->user_id + self->prefix_len, s->user);
    s_utoa(self->request_id + 1, s->user);
    Tix__V1__PurchaseRequest req = TIX__V1__PURCHASE_REQUEST__INIT;
    req.sale_id = (char *) self->cfg->sale_id;
    req.user_id = self->user_id;
    req.request_id = self->request_id;
    uint32_t timeout_ms = (uint32_t) ((left_us + 999) / 1000);
    uint64_t call_id;
    tix_err err = tix_client_send(self->clients[conn], TIX_METHOD_PURCHASE, &req.base, timeout_ms, &call_id);
    if (err == TIX_OK) {
        rush_flight_sent(self->flight, (uint8_t) conn, call_id);
        rush_tally_call(self->tally);
        s->due_us = s_now_us() + s_silence_us(s->attempts);
    }
    return err;
}

/* Sends from the ready ring until it is empty or every socket is full. */
static tix_err
s_send_ready(rush_run_t *self, int64_t now)
{
    int64_t i;
    while ((i = rush_flight_ready_peek(self->flight)) >= 0) {
        rush_slot_t *s = rush_flight_slot(self->flight, (uint32_t) i);
        int64_t left = s->t0_us + (int64_t) self->cfg->timeout_ms * 1000 - now;
        if (left <= 0) { /* waited past its deadline before it could be sent */
            rush_flight_ready_pop(self->flight);
            s_final(self, (uint32_t) i, TIX__V1__CODE__DEADLINE_EXCEEDED, NULL, true, now);
            continue;
        }
        int conn = s_pick_conn(self);
        if (conn < 0)
            return TIX_OK;
        tix_err err = s_send_one(self, (uint32_t) i, conn, left);
        if (err == TIX_ERR_UNAVAILABLE) {
            self->blocked[conn] = true;
            self->items[conn].events = ZMQ_POLLIN | ZMQ_POLLOUT;
        } else if (err != TIX_OK) {
            return err;
        }
    }
    return TIX_OK;
}

/* ---- Deadlines and the loop ------------------------------------------------- */

/* Gives up on calls unanswered RUSH_GRACE_MS past their user's deadline;
 * resends, same request, those silent past their due_us while the user
 * still has time (their broker died or hung: the resend takes another). */
static void
s_sweep(rush_run_t *self, int64_t now)
{
    int64_t deadline_us = (int64_t) self->cfg->timeout_ms * 1000;
    int64_t limit_us = deadline_us + (int64_t) RUSH_GRACE_MS * 1000;
    uint32_t cap = rush_flight_capacity(self->flight);
    for (uint32_t i = 0; i < cap; i++) {
        rush_slot_t *s = rush_flight_slot(self->flight, i);
        if (s->state != RUSH_SLOT_SENT)
            continue;
        bool over = now - s->t0_us >= limit_us;
        bool resend = !over && now >= s->due_us && now - s->t0_us < deadline_us;
        if (!over && !resend)
            continue;
        tix_client_forget(self->clients[s->conn], s->call_id);
        rush_flight_take(self->flight, s->conn, s->call_id);
        if (over) {
            s_final(self, i, TIX__V1__CODE__DEADLINE_EXCEEDED, NULL, true, now);
        } else {
            rush_tally_resent(self->tally);
            rush_flight_defer(self->flight, i, now); /* to the ready ring at the next promote */
        }
    }
}

/* How long zmq_poll may sleep: until the next timer, at most POLL_MAX_MS;
 * not at all when calls are ready and a socket can take them. */
static long
s_poll_timeout_ms(rush_run_t *self, int64_t now)
{
    if (rush_flight_ready_peek(self->flight) >= 0) {
        for (unsigned c = 0; c < self->nclients; c++) {
            if (!self->blocked[c])
                return 0;
        }
    }
    int64_t wake = rush_flight_next_due(self->flight);
    if (self->cfg->rate > 0 && self->next_user < self->cfg->users) {
        int64_t arrival = self->start_us + (int64_t) ((double) self->next_user * 1e6 / self->cfg->rate);
        if (arrival < wake)
            wake = arrival;
    }
    if (self->next_sweep_us < wake)
        wake = self->next_sweep_us;
    if (self->next_progress_us < wake)
        wake = self->next_progress_us;
    int64_t ms = (wake - now + 999) / 1000;
    return ms < 0 ? 0 : ms > POLL_MAX_MS ? POLL_MAX_MS : (long) ms;
}

/* Waits for the sockets; reads what came; unblocks writable ones. */
static tix_err
s_poll_and_read(rush_run_t *self, long timeout_ms)
{
    int rc = zmq_poll(self->items, (int) self->nclients, timeout_ms);
    if (rc < 0 && zmq_errno() != EINTR) {
        tix_error("rush: zmq_poll failed\terr=\"%s\"", zmq_strerror(zmq_errno()));
        return TIX_ERR_IO;
    }
    for (unsigned c = 0; rc > 0 && c < self->nclients; c++) {
        if (self->items[c].revents & ZMQ_POLLOUT) {
            self->blocked[c] = false;
            self->items[c].events = ZMQ_POLLIN;
        }
        if (self->items[c].revents & ZMQ_POLLIN) {
            tix_err err = s_drain(self, (uint8_t) c);
            if (err != TIX_OK)
                return err;
        }
    }
    return TIX_OK;
}

/* Runs the periodic tasks that are due. */
static void
s_timers(rush_run_t *self, int64_t now, rush_progress_fn *progress, void *arg)
{
    if (now >= self->next_sweep_us) {
        s_sweep(self, now);
        self->next_sweep_us = now + (int64_t) RUSH_SWEEP_MS * 1000;
    }
    if (now >= self->next_progress_us) {
        if (progress)
            progress(rush_tally_counts(self->tally), rush_flight_used(self->flight), now - self->start_us, arg);
        self->next_progress_us = now + (int64_t) RUSH_PROGRESS_MS * 1000;
    }
}

tix_err
rush_run_go(rush_run_t *self, rush_tally_t *tally, rush_hist_t *hist, rush_progress_fn *progress, void *arg)
{
    self->tally = tally;
    self->hist = hist;
    self->start_us = self->last_answer_us = s_now_us();
    self->next_sweep_us = self->start_us + (int64_t) RUSH_SWEEP_MS * 1000;
    self->next_progress_us = self->start_us + (int64_t) RUSH_PROGRESS_MS * 1000;
    const rush_counts_t *counts = rush_tally_counts(tally);
    tix_err err = TIX_OK;
    while (err == TIX_OK && counts->answered < self->cfg->users) {
        if (tix_stopping())
            return TIX_ERR_INTERRUPTED;
        int64_t now = s_now_us();
        s_admit(self, now);
        rush_flight_promote(self->flight, now);
        err = s_send_ready(self, now);
        if (err == TIX_OK)
            err = s_poll_and_read(self, s_poll_timeout_ms(self, s_now_us()));
        s_timers(self, s_now_us(), progress, arg);
    }
    if (progress && err == TIX_OK)
        progress(counts, rush_flight_used(self->flight), s_now_us() - self->start_us, arg);
    return err;
}
