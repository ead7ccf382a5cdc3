/*
 * broker_config.h - tix-broker's configuration: the settings a broker runs
 * with, their defaults, and the flags (with TIX_* environment twins; a flag
 * wins over its variable) that set them, checked as a whole.
 *
 * Used by main.c (and tests, which fill a broker_config_t directly after
 * broker_config_defaults). Strings are borrowed from argv, the environment
 * or static defaults. Single-threaded (call from main).
 */
#ifndef BROKER_CONFIG_H
#define BROKER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "broker_zap.h"
#include "tix_err.h"

#define BROKER_DEFAULT_FRONTEND "tcp://*:5555"
#define BROKER_DEFAULT_BACKEND "tcp://*:5556"
#define BROKER_DEFAULT_EVENTS_IN "tcp://*:5557"
#define BROKER_DEFAULT_EVENTS_OUT "tcp://*:5558"
#define BROKER_QUEUE_LIMIT 10000       /* default calls waiting for credit */
#define BROKER_DEFAULT_TIMEOUT_MS 5000 /* for calls with timeout_ms == 0 */
#define BROKER_MAX_TIMEOUT_MS 60000    /* larger timeouts are clamped */
#define BROKER_DRAIN_MS 3000           /* shutdown: time left to workers */
#define BROKER_NO_WORKER_RETRY_MS 500  /* retry_after_ms when no worker lives */

typedef struct {
    const char *frontend;   /* bind endpoint(s) for clients, comma-separated */
    const char *backend;    /* bind endpoint(s) for workers */
    const char *events_in;  /* XSUB bind endpoint(s) for worker PUBs */
    const char *events_out; /* XPUB bind endpoint(s) for subscribers */
    uint32_t queue_limit;   /* max calls waiting for a worker */
    uint32_t default_timeout_ms;
    uint32_t max_timeout_ms;
    uint32_t max_message_bytes; /* ZMQ_MAXMSGSIZE on every socket */
    uint32_t drain_ms;
    double user_rate_per_s;    /* per-user refill; 0 = no rate limiting */
    uint32_t user_burst;       /* per-user calls at once */
    double client_rate_per_s;  /* per-client refill, every method; 0 = no per-client rate limiting */
    uint32_t client_burst;     /* per-client calls at once */
    const char *http;          /* --http HOST:PORT for /metrics, /healthz, /readyz; NULL = off */
    broker_zap_curve_t *curve; /* CURVE keys and allow-lists (broker_zap.h); NULL: CURVE off. Borrowed */
} broker_config_t;

/* Fills config with the defaults above. */
void broker_config_defaults(broker_config_t *config);

/* Parses argv and the environment into config and sets the log level. On
 * --help prints usage and sets *help. With --curve, loads the keys into
 * config->curve: the caller's, to free with broker_zap_curve_destroy. On bad
 * configuration prints the one line "tix-broker: reason" (naming the flag)
 * on stderr and returns TIX_ERR_CONFIG. */
tix_err broker_config_parse(broker_config_t *config, int argc, char **argv, bool *help);

#endif
