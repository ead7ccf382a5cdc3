/*
 * worker_store_connect.c - the store's connection setup: a new hiredis
 * context hooked to the caller's poll loop, AUTH/SELECT, the checks the
 * node must pass (durability, ROLE under Sentinel, the replication gate's
 * configuration) and FUNCTION LOAD of the tix library.
 *
 * The layer below worker_store.c, which it never calls: what must happen
 * when a context goes away (completing the calls in flight) is
 * worker_store.c's cleanup hook, handed to worker_store_connect.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>

#include "tix_log.h"
#include "tix_sentinel.h"
#include "tix_util.h"
#include "worker_store_priv.h"

extern const char tix_lua_source[];
extern const size_t tix_lua_source_len;

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
void
worker_store_connect_note_problem(worker_store_t *self, const char *reason)
{
    if (strcmp(reason, self->last_problem) != 0) {
        tix_warn("redis unavailable\taddr=%s:%d reason=\"%s\" retry_ms=%d", self->url.host, self->url.port, reason,
                 self->backoff_ms);
        snprintf(self->last_problem, sizeof self->last_problem, "%s", reason);
    } else {
        tix_debug("redis still unavailable\treason=\"%s\" retry_ms=%d", reason, self->backoff_ms);
    }
}

void
worker_store_connect_schedule_retry(worker_store_t *self)
{
    self->state = WORKER_STORE_DOWN;
    /* Jitter keeps a fleet of workers from reconnecting in lockstep. */
    self->deadline_ms = tix_now_ms() + self->backoff_ms + tix_rand_below((uint32_t) self->backoff_ms / 4 + 1);
    self->backoff_ms *= 2;
    if (self->backoff_ms > WORKER_STORE_BACKOFF_MAX_MS)
        self->backoff_ms = WORKER_STORE_BACKOFF_MAX_MS;
}

/* Drops the connection on the store's own initiative (timeouts, a failed
 * AUTH/SELECT/LOAD). Safe inside a hiredis callback: hiredis then frees the
 * context once the callback returns. */
void
worker_store_connect_drop(worker_store_t *self, const char *reason)
{
    if (!self->ac)
        return;
    snprintf(self->drop_reason, sizeof self->drop_reason, "%s", reason);
    redisAsyncFree(self->ac);
}

/* ---- Connecting ----------------------------------------------------------- */
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
        if (self->state == WORKER_STORE_CONNECTING)
            worker_store_connect_drop(self, reason); /* e.g. LOADING: logged once, retried with backoff */
        else
            tix_error("redis refused the tix library\treason=\"%s\"", reply->str);
        return;
    }
    if (self->state == WORKER_STORE_CONNECTING) {
        self->state = WORKER_STORE_READY;
        self->announced = true;
        self->backoff_ms = WORKER_STORE_BACKOFF_MIN_MS;
        self->last_problem[0] = '\0';
        tix_info("redis connected\taddr=%s:%d db=%d", self->url.host, self->url.port, self->url.db);
    }
}

void
worker_store_connect_send_load(worker_store_t *self)
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
        worker_store_connect_drop(self, reason);
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
    worker_store_connect_drop(self, n > 0 ? "not durable" : "");
}

/* ROLE answered (Sentinel only): the node Sentinel named must be the
 * primary now; a failover under way may have made it a replica. */
static void
s_on_role(redisAsyncContext *ac, void *r, void *privdata)
{
    (void) ac;
    worker_store_t *self = privdata;
    const redisReply *reply = r;
    if (!reply)
        return;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 && reply->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(reply->element[0]->str, "master") == 0)
        return;
    worker_store_connect_drop(self, "the node sentinel named is not the primary (failover under way?)");
}

/* With the gate on, the primary must refuse writes no replica receives
 * (min-replicas-to-write >= 1) and notice a lost replica soon
 * (min-replicas-max-lag <= WORKER_STORE_MAX_LAG_S): else a write the gate
 * refuses still piles up where a failover loses it. privdata: 0 or 1. */
static void
// cppcheck-suppress constParameter ; hiredis's callback type fixes the signature
s_on_repl_config(redisAsyncContext *ac, void *r, void *privdata)
{
    worker_store_t *self = ac->data;
    const redisReply *reply = r;
    bool lag = privdata != NULL;
    if (!reply || self->refusal[0])
        return;
    long v = -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 && reply->element[1]->type == REDIS_REPLY_STRING)
        v = strtol(reply->element[1]->str, NULL, 10);
    if (lag ? (v >= 1 && v <= WORKER_STORE_MAX_LAG_S) : v >= 1)
        return;
    char problem[200];
    snprintf(problem, sizeof problem, "%s is %ld, need %s with --redis-min-replicas %d",
             lag ? "min-replicas-max-lag" : "min-replicas-to-write", v, lag ? "1..10" : ">= 1", self->min_replicas);
    if (self->allow_unsafe) {
        tix_warn("UNSAFE: redis may lose acknowledged orders in a failover; used anyway\taddr=%s:%d problem=\"%s\"",
                 self->url.host, self->url.port, problem);
        return;
    }
    snprintf(self->refusal, sizeof self->refusal,
             "--redis-url: redis at %s:%d does not match the replication gate: %s (fix its configuration)",
             self->url.host, self->url.port, problem);
    worker_store_connect_drop(self, "replication not configured");
}

/* With Sentinel: where the primary is now, into self->url. */
static bool
s_resolve(worker_store_t *self)
{
    char why[300];
    if (!tix_redis_url_is_sentinel(&self->url))
        return true;
    if (tix_sentinel_resolve(&self->url, WORKER_STORE_SENTINEL_TIMEOUT_MS, why, sizeof why) == TIX_OK)
        return true;
    worker_store_connect_note_problem(self, why);
    worker_store_connect_schedule_retry(self);
    return false;
}

/* Pipelined after AUTH/SELECT: the checks the node must pass. */
static void
s_send_checks(worker_store_t *self)
{
    redisAsyncContext *ac = self->ac;
    if (tix_redis_url_is_sentinel(&self->url))
        redisAsyncCommand(ac, s_on_role, self, "ROLE");
    for (size_t i = 0; i < sizeof s_durable / sizeof s_durable[0]; i++)
        redisAsyncCommand(ac, s_on_config, (void *) (uintptr_t) i, "CONFIG GET %s", s_durable[i][0]);
    if (self->min_replicas > 0) {
        redisAsyncCommand(ac, s_on_repl_config, NULL, "CONFIG GET min-replicas-to-write");
        redisAsyncCommand(ac, s_on_repl_config, (void *) 1, "CONFIG GET min-replicas-max-lag");
    }
}

void
worker_store_connect(worker_store_t *self, worker_store_gone_fn *gone)
{
    if (!s_resolve(self))
        return;
    redisAsyncContext *ac = redisAsyncConnect(self->url.host, self->url.port);
    if (!ac || ac->err) {
        worker_store_connect_note_problem(self, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        worker_store_connect_schedule_retry(self);
        return;
    }
    ac->data = self;
    worker_store_arena_attach(self->arena, ac->c.reader); /* before anything is read */
    ac->ev.data = self;
    ac->ev.addRead = s_add_read;
    ac->ev.delRead = s_del_read;
    ac->ev.addWrite = s_add_write;
    ac->ev.delWrite = s_del_write;
    ac->ev.cleanup = gone;
    self->ac = ac;
    self->state = WORKER_STORE_CONNECTING;
    self->deadline_ms = tix_now_ms() + self->connect_timeout_ms;
    /* Pipelined: Redis answers in order, so the library is loaded under the
     * right user and database before anything else runs. */
    if (self->url.password[0] && self->url.user[0])
        redisAsyncCommand(ac, s_on_setup, self, "AUTH %s %s", self->url.user, self->url.password);
    else if (self->url.password[0])
        redisAsyncCommand(ac, s_on_setup, self, "AUTH %s", self->url.password);
    if (self->url.db != 0)
        redisAsyncCommand(ac, s_on_setup, self, "SELECT %d", self->url.db);
    s_send_checks(self);
    worker_store_connect_send_load(self);
}
