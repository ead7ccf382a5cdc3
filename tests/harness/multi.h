/*
 * multi.h - a local stack with several brokers: redis-server, N tix-broker
 * processes on their own free ports, and workers that each serve every
 * broker (TIX_BACKEND and TIX_EVENTS_IN as lists), for the multi-broker
 * tests (tests/test_it_fault_brokers.c).
 *
 * Clients and the persister take the lists in `frontends` and
 * `events_outs`; one broker's own endpoints are in `broker[i]`.
 * Single-threaded, like harness.h; everything stops at exit as well.
 */
#ifndef TIX_HARNESS_MULTI_H
#define TIX_HARNESS_MULTI_H

#include <stdbool.h>

#include "harness.h"

#define TH_MULTI_BROKERS 4
#define TH_MULTI_WORKERS 8
#define TH_MULTI_LIST_BYTES (TH_MULTI_BROKERS * 32)

typedef struct {
    th_proc_t proc;
    char frontend[32], backend[32], events_in[32], events_out[32];
    int starts; /* times started: each start logs to its own file */
} th_multi_broker_t;

typedef struct {
    th_redis_t redis;
    th_multi_broker_t broker[TH_MULTI_BROKERS];
    th_proc_t workers[TH_MULTI_WORKERS];
    int nbrokers, nworkers;
    int heartbeat_ms; /* workers' (200) */
    char frontends[TH_MULTI_LIST_BYTES], backends[TH_MULTI_LIST_BYTES];
    char events_ins[TH_MULTI_LIST_BYTES], events_outs[TH_MULTI_LIST_BYTES];
} th_multi_t;

/* Starts redis, nbrokers brokers and nworkers workers on every broker;
 * waits until each broker answers Health SERVING (10 s). A stack that does
 * not come up is stopped and started once more on new ports (a port picked
 * free can be taken before it is bound); each failure names its step on
 * stderr. */
bool th_multi_start(th_multi_t *m, int nbrokers, int nworkers);
/* (Re)starts broker i on its ports; its log is tix-broker-<i>-<start>.log. */
bool th_multi_broker_start(th_multi_t *m, int i);
/* Starts worker i (w<i>) on every broker. */
bool th_multi_worker_start(th_multi_t *m, int i);
/* Starts tix-persister on every broker's feed, with the jsonl sink at path. */
bool th_multi_persister_start(const th_multi_t *m, th_proc_t *p, const char *path);
/* Stops the workers, the brokers (SIGCONT first, in case) and redis. */
void th_multi_stop(th_multi_t *m);

#endif
