/*
 * tix_sentinel.h - asks Redis Sentinels where the primary is
 * (SENTINEL get-master-addr-by-name), for the binaries that talk to Redis
 * through a redis-sentinel:// URL (tix-worker, tix-persister).
 *
 * Blocking (synchronous hiredis), bounded by a timeout per Sentinel: it runs
 * only while a connection to the primary is being (re)made, when the
 * caller has nothing else to do with Redis. Built as its own library
 * (tix_sentinel) so that tix_common, which the broker links, never needs
 * hiredis. Thread-safe (no state).
 */
#ifndef TIX_SENTINEL_H
#define TIX_SENTINEL_H

#include <stddef.h>

#include "tix_err.h"
#include "tix_redis_url.h"

/* Asks url's Sentinels, in the URL's order, for url->master_name; the
 * first one that names an address wins and it is written into url->host
 * and url->port. Each Sentinel gets timeout_ms to connect and answer.
 * TIX_ERR_UNAVAILABLE when none did (why says what the last one said).
 * The address is what Sentinel believes: the caller still checks ROLE on
 * the node itself (a failover may be under way). */
tix_err tix_sentinel_resolve(tix_redis_url_t *url, int timeout_ms, char *why, size_t why_size);

#endif
