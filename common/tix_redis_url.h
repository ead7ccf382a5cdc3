/*
 * tix_redis_url.h - TIX_REDIS_URL, as every tix binary that talks to Redis
 * (tix-worker, tix-persister) reads it: redis://[[user]:password@]host[:port][/db]
 * or, with Sentinel finding the primary,
 * redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/MASTER_NAME
 *
 * Pure parsing: no hiredis, no I/O. Thread-safe (no state).
 */
#ifndef TIX_REDIS_URL_H
#define TIX_REDIS_URL_H

#include <stddef.h>

#include "tix_err.h"

#define TIX_REDIS_DEFAULT_URL "redis://127.0.0.1:6379"
#define TIX_REDIS_DEFAULT_PORT 6379
#define TIX_REDIS_SENTINEL_PORT 26379 /* a Sentinel's port when omitted */
#define TIX_REDIS_SENTINELS_MAX 8

/* One Sentinel's address. */
typedef struct {
    char host[256];
    int port;
} tix_redis_addr_t;

/* A parsed URL. For redis-sentinel:// host is empty and port 0 until the
 * caller has asked the Sentinels for the primary (tix_sentinel.h) and
 * written the answer there; user and password are the data nodes' (the
 * Sentinels are asked without AUTH). */
typedef struct {
    char host[256];                                      /* name, IPv4 or IPv6 (given in brackets in the URL) */
    int port;                                            /* 1..65535; TIX_REDIS_DEFAULT_PORT when omitted */
    char user[128];                                      /* ACL user; empty = AUTH with the password alone */
    char password[256];                                  /* empty = no AUTH */
    int db;                                              /* SELECTed when not 0 (always 0 with Sentinel) */
    char master_name[128];                               /* non-empty: redis-sentinel:// */
    size_t nsentinels;                                   /* 1..TIX_REDIS_SENTINELS_MAX with a master_name */
    tix_redis_addr_t sentinels[TIX_REDIS_SENTINELS_MAX]; /* in the URL's order */
} tix_redis_url_t;

/* Parses text into *url. On TIX_ERR_CONFIG writes a one-line reason into why
 * (which never repeats the URL: it may hold a password). user and password
 * may be percent-encoded (%40 for '@'). rediss:// (TLS) is refused: hiredis
 * 0.14 has no TLS. */
tix_err tix_redis_url_parse(const char *text, tix_redis_url_t *url, char *why, size_t why_size);

/* True when url names Sentinels and a master name (redis-sentinel://). */
static inline int
tix_redis_url_is_sentinel(const tix_redis_url_t *url)
{
    return url->master_name[0] != '\0';
}

#endif
