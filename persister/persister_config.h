/*
 * persister_config.h - tix-persister's configuration: flags with TIX_*
 * environment twins (a flag wins over its variable), checked as a whole.
 *
 * Used by main.c (and tests, which fill a persister_config_t directly
 * after persister_config_defaults). Strings are borrowed from argv, the
 * environment or static defaults. Single-threaded (call from main).
 */
#ifndef PERSISTER_CONFIG_H
#define PERSISTER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "tix_curve.h"
#include "tix_err.h"

#define PERSISTER_DEFAULT_EVENTS_OUT "tcp://127.0.0.1:5558"
#define PERSISTER_DEFAULT_REDIS_URL "redis://127.0.0.1:6379"
#define PERSISTER_DEFAULT_DATABASE "tix"
#define PERSISTER_BATCH_MAX 500         /* orders per sink write */
#define PERSISTER_BATCH_MS 20           /* oldest held order waits at most this */
#define PERSISTER_CATCHUP_MS 1000       /* order-log catch-up interval */
#define PERSISTER_SWEEP_MS 10000        /* every retired sale's log checked for news about this often */
#define PERSISTER_BUFFER_MAX 50000      /* orders held; beyond, no more of the log is read */
#define PERSISTER_EVENTS_HWM 100000     /* SUB receive high-water mark, messages */
#define PERSISTER_WTIMEOUT_MS 5000      /* write concern wtimeout */
#define PERSISTER_BACKOFF_MIN_MS 50     /* first retry delay after a sink failure */
#define PERSISTER_BACKOFF_MAX_MS 5000   /* retry delay cap */
#define PERSISTER_DRAIN_MS 10000        /* SIGTERM: time to flush what is held */
#define PERSISTER_REDIS_TIMEOUT_MS 2000 /* connect and command timeout */
#define PERSISTER_W_MAJORITY (-1)       /* write_w: w "majority" */

typedef enum {
    PERSISTER_SINK_MONGODB, /* libmongoc, to mongo_uri / database */
    PERSISTER_SINK_JSONL,   /* Extended JSON lines appended to jsonl_path */
} persister_sink_kind_t;

typedef struct {
    const char *events_out;     /* broker XPUB endpoint(s) to connect */
    const char *redis_url;      /* the order log's Redis */
    const char *mongo_uri;      /* NULL or "" when unset */
    persister_sink_kind_t sink; /* chosen from --sink, else from mongo_uri */
    const char *jsonl_path;     /* with PERSISTER_SINK_JSONL */
    const char *database;       /* MongoDB database name */
    int write_w;                /* PERSISTER_W_MAJORITY or a node count >= 1 */
    int wtimeout_ms;            /* write concern wtimeout; 0 = none */
    size_t batch_max;
    int batch_ms;
    int catchup_ms;
    int sweep_ms;
    size_t buffer_max;
    int events_hwm;
    const char *health_file; /* NULL: none */
    const char *http;        /* --http HOST:PORT for /metrics, /healthz, /readyz; NULL = off */
    int drain_ms;
    int backoff_min_ms;
    int backoff_max_ms;
    int redis_timeout_ms;
    int min_replicas;                /* replicas that must hold what is read of a log before it is written */
    const tix_curve_client_t *curve; /* CURVE keys for the event feed, or NULL (plain); borrowed */
} persister_config_t;

/* Fills config with the defaults above (sink MONGODB, no URI). */
void persister_config_defaults(persister_config_t *config);

/* Parses argv and the environment into config. On --help prints usage and
 * sets *help. On bad configuration prints "tix-persister: reason" on stderr
 * and returns TIX_ERR_CONFIG. Also sets the log level. */
tix_err persister_config_parse(persister_config_t *config, int argc, char **argv, bool *help);

/* Parses a --sink value ("mongodb" or "jsonl:PATH") into config. */
tix_err persister_config_set_sink(persister_config_t *config, const char *spec, char *why, size_t why_size);
/* Parses a --write-concern value ("majority" or an integer >= 1). */
tix_err persister_config_set_write_concern(persister_config_t *config, const char *spec, char *why, size_t why_size);
/* Checks the whole (e.g. a sink is chosen and has what it needs). */
tix_err persister_config_check(const persister_config_t *config, char *why, size_t why_size);

#endif
