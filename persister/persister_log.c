/*
 * persister_log.c - SSCAN tix:sales and XRANGE tix:{S}:log over a
 * synchronous hiredis connection with timeouts.
 */
#include "persister_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "tix_codec.h"
#include "tix_log.h"
#include "tix_sentinel.h"
#include "tix_util.h"

#define LOG_ERROR_EVERY_MS 10000 /* repeated connection errors: one line per this */
#define LOG_WAIT_MAX_MS 1000     /* the replication WAIT after a read, at most */

struct persister_log {
    tix_redis_url_t url;
    int timeout_ms;
    int min_replicas;     /* WAIT for this many after each read (0: none) */
    redisContext *ctx;    /* NULL until connected, and after an I/O error */
    int64_t next_warn_ms; /* rate limit for repeated failures */
};

persister_log_t *
persister_log_new(const char *url, int timeout_ms, int min_replicas, char *why, size_t why_size)
{
    persister_log_t *self = xcalloc(1, sizeof *self);
    if (tix_redis_url_parse(url, &self->url, why, why_size) != TIX_OK) {
        free(self);
        return NULL;
    }
    self->timeout_ms = timeout_ms;
    self->min_replicas = min_replicas;
    return self;
}

void
persister_log_destroy(persister_log_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    persister_log_t *self = *self_p;
    if (self->ctx)
        redisFree(self->ctx);
    memset(&self->url, 0, sizeof self->url); /* no password left in freed memory */
    free(self);
    *self_p = NULL;
}

/* Logs a failure at warn, then at most once per LOG_ERROR_EVERY_MS. */
static void
s_warn(persister_log_t *self, const char *what, const char *detail)
{
    int64_t now = tix_now_ms();
    if (now < self->next_warn_ms)
        return;
    self->next_warn_ms = now + LOG_ERROR_EVERY_MS;
    tix_warn("order log unavailable\twhat=%s host=%s port=%d err=\"%s\"", what, self->url.host, self->url.port, detail);
}

bool
persister_log_connected(const persister_log_t *self)
{
    return self->ctx != NULL;
}

static void
s_disconnect(persister_log_t *self)
{
    if (self->ctx) {
        redisFree(self->ctx);
        self->ctx = NULL;
    }
}

/* Runs one command on the connection; NULL (after logging, and dropping the
 * connection on an I/O error) when it failed or Redis answered an error. */
static redisReply *
s_command(persister_log_t *self, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(self->ctx, fmt, ap);
    va_end(ap);
    if (!reply) {
        s_warn(self, what, self->ctx->errstr);
        s_disconnect(self);
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        s_warn(self, what, reply->str);
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

/* With Sentinel: the primary's address into self->url, and after the
 * connection is made (s_connect) its ROLE checked. */
static tix_err
s_resolve(persister_log_t *self)
{
    char why[300];
    if (!tix_redis_url_is_sentinel(&self->url))
        return TIX_OK;
    int per = self->timeout_ms < 500 ? self->timeout_ms : 500;
    if (tix_sentinel_resolve(&self->url, per, why, sizeof why) == TIX_OK)
        return TIX_OK;
    s_warn(self, "sentinel", why);
    return TIX_ERR_UNAVAILABLE;
}

static bool
s_is_primary(persister_log_t *self)
{
    if (!tix_redis_url_is_sentinel(&self->url))
        return true;
    redisReply *r = s_command(self, "role", "ROLE");
    bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING &&
              strcmp(r->element[0]->str, "master") == 0;
    if (r && !ok)
        s_warn(self, "role", "the node sentinel named is not the primary (failover under way?)");
    if (r)
        freeReplyObject(r);
    return ok;
}

static tix_err
s_connect(persister_log_t *self)
{
    if (self->ctx)
        return TIX_OK;
    if (s_resolve(self) != TIX_OK)
        return TIX_ERR_UNAVAILABLE;
    struct timeval tv = {self->timeout_ms / 1000, (suseconds_t) (self->timeout_ms % 1000) * 1000};
    self->ctx = redisConnectWithTimeout(self->url.host, self->url.port, tv);
    if (!self->ctx || self->ctx->err) {
        s_warn(self, "connect", self->ctx ? self->ctx->errstr : "out of memory");
        s_disconnect(self);
        return TIX_ERR_UNAVAILABLE;
    }
    redisSetTimeout(self->ctx, tv);
    redisReply *r = NULL;
    if (self->url.password[0] && self->url.user[0])
        r = s_command(self, "auth", "AUTH %s %s", self->url.user, self->url.password);
    else if (self->url.password[0])
        r = s_command(self, "auth", "AUTH %s", self->url.password);
    if (self->url.password[0] && !r)
        goto fail;
    if (r)
        freeReplyObject(r);
    if (self->url.db) {
        if (!(r = s_command(self, "select", "SELECT %d", self->url.db)))
            goto fail;
        freeReplyObject(r);
    }
    if (!s_is_primary(self))
        goto fail;
    tix_debug("order log connected\thost=%s port=%d db=%d", self->url.host, self->url.port, self->url.db);
    return TIX_OK;
fail:
    s_disconnect(self);
    return TIX_ERR_UNAVAILABLE;
}

tix_err
persister_log_sales(persister_log_t *self, void (*each)(const char *sale_id, void *arg), void *arg)
{
    if (s_connect(self) != TIX_OK)
        return TIX_ERR_UNAVAILABLE;
    char cursor[32] = "0";
    do {
        redisReply *r = s_command(self, "sscan", "SSCAN tix:sales %s COUNT 1000", cursor);
        if (!r)
            return self->ctx ? TIX_ERR_REDIS : TIX_ERR_UNAVAILABLE;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            s_warn(self, "sscan", "unexpected reply shape");
            return TIX_ERR_REDIS;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const redisReply *m = r->element[1]->element[i];
            if (m->type == REDIS_REPLY_STRING && tix_valid_sale_id(m->str))
                each(m->str, arg);
            else
                tix_warn("tix:sales holds a member that is not a sale id; skipped");
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return TIX_OK;
}

tix_err
persister_log_sales_count(persister_log_t *self, long long *count)
{
    if (s_connect(self) != TIX_OK)
        return TIX_ERR_UNAVAILABLE;
    redisReply *r = s_command(self, "scard", "SCARD tix:sales");
    if (!r)
        return self->ctx ? TIX_ERR_REDIS : TIX_ERR_UNAVAILABLE;
    tix_err err = r->type == REDIS_REPLY_INTEGER ? TIX_OK : TIX_ERR_REDIS;
    *count = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return err;
}

/* An integer element of an array reply (Redis integer or decimal string). */
static bool
s_element_ll(const redisReply *r, size_t i, long long *out)
{
    if (i >= r->elements)
        return false;
    const redisReply *e = r->element[i];
    if (e->type == REDIS_REPLY_INTEGER) {
        *out = e->integer;
        return true;
    }
    char *end;
    if (e->type != REDIS_REPLY_STRING)
        return false;
    *out = strtoll(e->str, &end, 10);
    return end != e->str && *end == '\0';
}

tix_err
persister_log_sale_ended(persister_log_t *self, const char *sale_id, bool *ended)
{
    *ended = false;
    if (s_connect(self) != TIX_OK)
        return TIX_ERR_UNAVAILABLE;
    redisReply *r =
        redisCommand(self->ctx, "FCALL_RO tix_get_sale 2 tix:{%s}:sale tix:{%s}:stock %s", sale_id, sale_id, sale_id);
    if (!r) {
        s_warn(self, "tix_get_sale", self->ctx->errstr);
        s_disconnect(self);
        return TIX_ERR_UNAVAILABLE;
    }
    long long remaining, closes, now;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_STRING) {
        const char *status = r->element[0]->str;
        if (strcmp(status, "NO_SALE") == 0)
            *ended = true; /* nothing can be bought until it is created again, which the sweep sees */
        else if (strcmp(status, "FOUND") == 0 && s_element_ll(r, 2, &remaining) && s_element_ll(r, 4, &closes) &&
                 s_element_ll(r, 5, &now))
            *ended = remaining <= 0 || (closes != 0 && now >= closes);
    }
    freeReplyObject(r); /* an error reply (no library yet): the sale stays live */
    return TIX_OK;
}

tix_err
persister_log_last_ids(persister_log_t *self, const char *const *sale_ids, size_t n, persister_log_id_t *last)
{
    if (s_connect(self) != TIX_OK)
        return TIX_ERR_UNAVAILABLE;
    for (size_t i = 0; i < n; i++)
        redisAppendCommand(self->ctx, "XREVRANGE tix:{%s}:log + - COUNT 1", sale_ids[i]);
    tix_err err = TIX_OK;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(self->ctx, (void **) &r) != REDIS_OK || !r) {
            s_warn(self, "xrevrange", self->ctx->errstr);
            s_disconnect(self); /* the rest of the pipeline is lost with it */
            return TIX_ERR_UNAVAILABLE;
        }
        last[i] = (persister_log_id_t){0, 0};
        if (r->type != REDIS_REPLY_ARRAY) {
            err = TIX_ERR_REDIS;
        } else if (r->elements == 1) {
            const redisReply *e = r->element[0];
            if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 || e->element[0]->type != REDIS_REPLY_STRING ||
                !persister_log_id_parse(e->element[0]->str, &last[i]))
                err = TIX_ERR_REDIS;
        }
        freeReplyObject(r);
    }
    if (err != TIX_OK)
        s_warn(self, "xrevrange", "unexpected reply shape");
    return err;
}

/* The value of field name in a stream entry's flat field/value array. */
static const char *
s_field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING && strcmp(k->str, name) == 0)
            return v->str;
    }
    return NULL;
}

/* A non-negative decimal millisecond count. */
static bool
s_parse_ms(const char *text, long long *ms)
{
    char *end;
    *ms = strtoll(text, &end, 10);
    return end != text && *end == '\0' && *ms >= 0;
}

/* One XRANGE entry [id, [field, value, ...]] into an order, or with kind
 * "cancel" into the cancel entry of one; false when it lacks what that
 * needs. */
static bool
s_entry_order(const redisReply *e, const char *sale_id, persister_log_id_t id, persister_order_t *o)
{
    const redisReply *f = e->element[1];
    if (f->type != REDIS_REPLY_ARRAY)
        return false;
    const char *order_id = s_field(f, "order_id"), *entry_sale = s_field(f, "sale_id");
    const char *user_id = s_field(f, "user_id"), *request_id = s_field(f, "request_id");
    const char *at = s_field(f, "purchased_at_ms");
    if (!order_id || !order_id[0] || !user_id || !user_id[0] || !at)
        return false;
    if (entry_sale && strcmp(entry_sale, sale_id) != 0)
        return false;
    long long ms, cancelled_ms = 0;
    const char *kind = s_field(f, "kind"), *cancelled = s_field(f, "cancelled_at_ms");
    if (!s_parse_ms(at, &ms))
        return false;
    if (kind &&
        (strcmp(kind, "cancel") != 0 || !cancelled || !s_parse_ms(cancelled, &cancelled_ms) || cancelled_ms <= 0))
        return false; /* an entry of a kind this persister does not know is not written as a purchase */
    persister_order_init(o, order_id, sale_id, user_id, request_id ? request_id : "", ms, id);
    if (kind)
        persister_order_set_cancel(o, cancelled_ms, s_field(f, "cancel_reason"));
    return true;
}

/* WAIT min_replicas after a read: TIX_OK when that many replicas hold
 * everything the connection has seen. */
static tix_err
s_wait_replicas(persister_log_t *self)
{
    if (self->min_replicas <= 0)
        return TIX_OK;
    int wait_ms = self->timeout_ms / 2 < LOG_WAIT_MAX_MS ? self->timeout_ms / 2 : LOG_WAIT_MAX_MS;
    redisReply *r = s_command(self, "wait", "WAIT %d %d", self->min_replicas, wait_ms > 0 ? wait_ms : 1);
    if (!r)
        return TIX_ERR_UNAVAILABLE;
    tix_err err = TIX_OK;
    if (r->type != REDIS_REPLY_INTEGER || r->integer < self->min_replicas) {
        char detail[120];
        snprintf(detail, sizeof detail, "only %lld of %d replicas hold the log read; not written yet",
                 r->type == REDIS_REPLY_INTEGER ? r->integer : -1LL, self->min_replicas);
        s_warn(self, "wait", detail);
        err = TIX_ERR_UNAVAILABLE;
    }
    freeReplyObject(r);
    return err;
}

tix_err
persister_log_read(persister_log_t *self, const char *sale_id, persister_log_id_t after, size_t max,
                   persister_order_t *out, size_t *n, persister_log_id_t *last, size_t *malformed)
{
    *n = 0;
    *last = after;
    *malformed = 0;
    if (s_connect(self) != TIX_OK)
        return TIX_ERR_UNAVAILABLE;
    /* hiredis formats only %s, %b and plain integer conversions: pass text. */
    char start[PERSISTER_LOG_ID_MAX_BYTES + 1], count[24];
    start[0] = '(';
    persister_log_id_format(after, start + 1, sizeof start - 1);
    snprintf(count, sizeof count, "%zu", max);
    redisReply *r = s_command(self, "xrange", "XRANGE tix:{%s}:log %s + COUNT %s", sale_id, start, count);
    if (!r)
        return self->ctx ? TIX_ERR_REDIS : TIX_ERR_UNAVAILABLE;
    tix_err err = TIX_OK;
    if (r->type != REDIS_REPLY_ARRAY) {
        s_warn(self, "xrange", "unexpected reply shape");
        err = TIX_ERR_REDIS;
    }
    for (size_t i = 0; err == TIX_OK && i < r->elements && i < max; i++) {
        const redisReply *e = r->element[i];
        persister_log_id_t id;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
            !persister_log_id_parse(e->element[0]->str, &id)) {
            s_warn(self, "xrange", "an entry without a usable id");
            err = TIX_ERR_REDIS;
            break;
        }
        *last = id;
        if (s_entry_order(e, sale_id, id, &out[*n])) {
            (*n)++;
        } else {
            (*malformed)++;
            tix_error("order log entry is not an order; skipped\tsale=%s log_id=%s", sale_id, e->element[0]->str);
        }
    }
    freeReplyObject(r);
    if (err == TIX_OK && *n > 0)
        err = s_wait_replicas(self);
    if (err != TIX_OK) {
        for (size_t i = 0; i < *n; i++)
            persister_order_clear(&out[i]);
        *n = 0;
        *last = after;
    }
    return err;
}
