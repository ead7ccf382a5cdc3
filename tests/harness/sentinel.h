/*
 * sentinel.h - a replicated Redis for tests: one primary, two replicas and
 * three Sentinels (redis-server --sentinel), each on a free loopback port
 * in its own directory under the test's temp directory, and tix workers
 * and a persister that find the primary through the Sentinels.
 *
 * Every node runs with appendonly yes, appendfsync always, noeviction,
 * min-replicas-to-write 1 and min-replicas-max-lag TH_REPL_MAX_LAG_S
 * (a replica promoted keeps them). The Sentinels watch master "tix" with
 * quorum 2 and down-after-milliseconds 1000. Single-threaded.
 */
#ifndef TIX_HARNESS_SENTINEL_H
#define TIX_HARNESS_SENTINEL_H

#include <stdbool.h>

#include "harness.h"

#define TH_REPL_NODES 3
#define TH_REPL_SENTINELS 3
#define TH_REPL_MAX_LAG_S 2
#define TH_REPL_MASTER "tix"

typedef struct {
    th_redis_t nodes[TH_REPL_NODES];         /* nodes[0] is the first primary */
    th_redis_t sentinels[TH_REPL_SENTINELS]; /* dir holds sentinel.conf */
    char url[256];                           /* redis-sentinel://127.0.0.1:P,...,/tix */
} th_repl_t;

/* Starts the nodes and the Sentinels; waits until the primary has both
 * replicas online and every Sentinel knows it. */
bool th_repl_start(th_repl_t *r);
/* The nodes alone, no Sentinel: waits until both replicas are online. */
bool th_repl_start_nodes(th_repl_t *r);
/* Stops everything still running. */
void th_repl_stop(th_repl_t *r);
/* The node every answering Sentinel names as the primary, which also says
 * ROLE master; -1 when there is none (failover under way). */
int th_repl_primary(const th_repl_t *r);
/* Waits until a node other than old is primary with at least replicas
 * replicas online (timeout_ms); returns its index or -1. */
int th_repl_wait_primary(const th_repl_t *r, int old, int replicas, int timeout_ms);
/* Starts (or restarts) node i with its configuration; replicaof: the port
 * of the primary to follow, 0 for none. */
bool th_repl_node_start(th_repl_t *r, int i, int replicaof);
/* Starts Sentinel i again on its port and directory. */
bool th_repl_sentinel_start(th_repl_t *r, int i);

/* Starts worker i of s on r's Sentinel URL with TIX_REDIS_MIN_REPLICAS =
 * min_replicas (s from th_stack_start with 0 workers). */
bool th_repl_worker_start(th_stack_t *s, int i, const th_repl_t *r, int min_replicas);
/* Starts tix-persister on s's events with the jsonl sink at path, reading
 * r's order logs through the Sentinels with TIX_REDIS_MIN_REPLICAS. */
bool th_repl_persister_start(th_proc_t *p, const th_stack_t *s, const th_repl_t *r, int min_replicas, const char *path);

#endif
