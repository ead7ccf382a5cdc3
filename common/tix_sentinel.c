/*
 * tix_sentinel.c - SENTINEL get-master-addr-by-name over blocking hiredis.
 */
#include "tix_sentinel.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

/* Asks one Sentinel; TIX_OK with host:port written into url. */
static tix_err
s_ask(const tix_redis_addr_t *sentinel, tix_redis_url_t *url, int timeout_ms, char *why, size_t why_size)
{
    struct timeval tv = {timeout_ms / 1000, (suseconds_t) (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(sentinel->host, sentinel->port, tv);
    if (!c || c->err) {
        snprintf(why, why_size, "sentinel %s:%d: %s", sentinel->host, sentinel->port, c ? c->errstr : "out of memory");
        redisFree(c);
        return TIX_ERR_UNAVAILABLE;
    }
    redisSetTimeout(c, tv);
    redisReply *r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", url->master_name);
    tix_err err = TIX_ERR_UNAVAILABLE;
    if (!r) {
        snprintf(why, why_size, "sentinel %s:%d: %s", sentinel->host, sentinel->port, c->errstr);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
               r->element[1]->type == REDIS_REPLY_STRING && r->element[0]->len < sizeof url->host) {
        int port = 0;
        if (sscanf(r->element[1]->str, "%d", &port) == 1 && port > 0 && port <= 65535) {
            snprintf(url->host, sizeof url->host, "%s", r->element[0]->str);
            url->port = port;
            err = TIX_OK;
        } else {
            snprintf(why, why_size, "sentinel %s:%d: bad port in its answer", sentinel->host, sentinel->port);
        }
    } else {
        snprintf(why, why_size, "sentinel %s:%d: does not know master '%s'%s%.80s", sentinel->host, sentinel->port,
                 url->master_name, r->type == REDIS_REPLY_ERROR ? ": " : "",
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    }
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return err;
}

tix_err
tix_sentinel_resolve(tix_redis_url_t *url, int timeout_ms, char *why, size_t why_size)
{
    snprintf(why, why_size, "no sentinel configured");
    for (size_t i = 0; i < url->nsentinels; i++) {
        if (s_ask(&url->sentinels[i], url, timeout_ms, why, why_size) == TIX_OK)
            return TIX_OK;
    }
    return TIX_ERR_UNAVAILABLE;
}
