/*
 * tix_redis_url.h - TIX_REDIS_URL, as every tix binary that talks to Redis
 * (tix-worker, tix-persister) reads it: redis://[[user]:password@]host[:port][/db]
 *
 * Pure parsing: no hiredis, no I/O. Thread-safe (no state).
 */
#ifndef TIX_REDIS_URL_H
#define TIX_REDIS_URL_H

#include <stddef.h>

#include "tix_err.h"

#define TIX_REDIS_DEFAULT_URL "redis://127.0.0.1:6379"
#define TIX_REDIS_DEFAULT_PORT 6379

/* A parsed redis://[[user]:password@]host[:port][/db] URL. */
typedef struct {
    char host[256];     /* name, IPv4 or IPv6 (given in brackets in the URL) */
    int port;           /* 1..65535; TIX_REDIS_DEFAULT_PORT when omitted */
    char user[128];     /* ACL user; empty = AUTH with the password alone */
    char password[256]; /* empty = no AUTH */
    int db;             /* SELECTed when not 0 */
} tix_redis_url_t;

/* Parses text into *url. On TIX_ERR_CONFIG writes a one-line reason into why
 * (which never repeats the URL: it may hold a password). user and password
 * may be percent-encoded (%40 for '@'). rediss:// (TLS) is refused: hiredis
 * 0.14 has no TLS. */
tix_err tix_redis_url_parse(const char *text, tix_redis_url_t *url, char *why, size_t why_size);

#endif
