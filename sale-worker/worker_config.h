/*
 * worker_config.h - tix-worker's configuration: flags with TIX_*
 * environment twins (a flag wins over its variable), checked as a whole.
 *
 * Used by main.c (worker_config_parse), worker.c (worker_config_check, on
 * every worker_new) and tests, which fill a worker_config_t directly. The
 * strings are borrowed from argv, the environment, static defaults or
 * this module (the default worker id, the CURVE keys). Single-threaded:
 * call worker_config_parse once, from main.
 */
#ifndef WORKER_CONFIG_H
#define WORKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tix_curve.h"
#include "tix_err.h"
#include "tix_redis_url.h"
#include "worker_store.h"

#define WORKER_DEFAULT_BACKEND "tcp://127.0.0.1:5556"
#define WORKER_DEFAULT_EVENTS_IN "tcp://127.0.0.1:5557"
#define WORKER_DEFAULT_CAPACITY 256
#define WORKER_CAPACITY_MAX 65536
#define WORKER_DEFAULT_HEARTBEAT_MS 1000
#define WORKER_HEARTBEAT_MIN_MS 50
#define WORKER_HEARTBEAT_MAX_MS 60000
#define WORKER_ID_MAX_BYTES 128
#define WORKER_BROKERS_MAX 16 /* brokers one worker serves: items of backend */

typedef struct {
    const char *backend;   /* broker backend endpoints, comma-separated (a DEALER each); borrowed */
    const char *events_in; /* broker event intake endpoints, comma-separated (the PUB connects to all); borrowed */
    const char *worker_id; /* 1..WORKER_ID_MAX_BYTES, no control characters; borrowed */
    uint32_t capacity;     /* jobs in flight granted to the broker: 1..WORKER_CAPACITY_MAX */
    uint32_t heartbeat_ms; /* WORKER_HEARTBEAT_MIN_MS..WORKER_HEARTBEAT_MAX_MS */
    tix_redis_url_t redis; /* copied */
    worker_store_opts_t store_opts;  /* zeros = defaults */
    const char *health_file;         /* rewritten every second while healthy, or NULL; borrowed */
    const char *http;                /* --http HOST:PORT for /metrics, /healthz, /readyz; NULL = off; borrowed */
    const tix_curve_client_t *curve; /* CURVE keys for both broker sockets, or NULL (plain); borrowed */
} worker_config_t;

/* Parses argv and the environment into config and sets the log level. On
 * --help prints the usage and sets *help. On bad configuration prints
 * "tix-worker: reason" on stderr and returns TIX_ERR_CONFIG. The worker id
 * defaults to hostname-pid. */
tix_err worker_config_parse(worker_config_t *config, int argc, char **argv, bool *help);

/* Checks the values worker_new relies on (worker id, capacity, heartbeat,
 * endpoints and Redis set, at most WORKER_BROKERS_MAX backends). TIX_ERR_CONFIG with the reason in why. */
tix_err worker_config_check(const worker_config_t *config, char *why, size_t why_size);

#endif
