/*
 * persister_config.c - the flag table and the checks across flags.
 */
#include "persister_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix_endpoint.h"
#include "tix_http.h"
#include "tix_log.h"
#include "tix_opts.h"
#include "tix_redis_url.h"
#include "tix_util.h"

static const char s_usage[] = "usage: tix-persister [options]\n"
                              "\n"
                              "The tix persister: subscribes to order events (order.*), writes every sold\n"
                              "order exactly once to MongoDB (or, with --sink jsonl:PATH, to an Extended JSON\n"
                              "lines file), and catches up from each sale's order log in Redis so that no\n"
                              "order is ever lost, whatever the event feed drops.\n"
                              "\n"
                              "options:\n";

void
persister_config_defaults(persister_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->events_out = PERSISTER_DEFAULT_EVENTS_OUT;
    c->redis_url = PERSISTER_DEFAULT_REDIS_URL;
    c->sink = PERSISTER_SINK_MONGODB;
    c->database = PERSISTER_DEFAULT_DATABASE;
    c->write_w = PERSISTER_W_MAJORITY;
    c->wtimeout_ms = PERSISTER_WTIMEOUT_MS;
    c->batch_max = PERSISTER_BATCH_MAX;
    c->batch_ms = PERSISTER_BATCH_MS;
    c->catchup_ms = PERSISTER_CATCHUP_MS;
    c->sweep_ms = PERSISTER_SWEEP_MS;
    c->buffer_max = PERSISTER_BUFFER_MAX;
    c->events_hwm = PERSISTER_EVENTS_HWM;
    c->drain_ms = PERSISTER_DRAIN_MS;
    c->backoff_min_ms = PERSISTER_BACKOFF_MIN_MS;
    c->backoff_max_ms = PERSISTER_BACKOFF_MAX_MS;
    c->redis_timeout_ms = PERSISTER_REDIS_TIMEOUT_MS;
}

tix_err
persister_config_set_sink(persister_config_t *c, const char *spec, char *why, size_t why_size)
{
    if (strcmp(spec, "mongodb") == 0) {
        c->sink = PERSISTER_SINK_MONGODB;
        return TIX_OK;
    }
    const char jsonl[] = "jsonl:";
    size_t prefix = sizeof jsonl - 1;
    if (strncmp(spec, jsonl, prefix) == 0 && spec[prefix] != '\0') {
        c->sink = PERSISTER_SINK_JSONL;
        c->jsonl_path = spec + prefix;
        return TIX_OK;
    }
    snprintf(why, why_size, "--sink: expected 'mongodb' or 'jsonl:PATH', got '%s'", spec);
    return TIX_ERR_CONFIG;
}

tix_err
persister_config_set_write_concern(persister_config_t *c, const char *spec, char *why, size_t why_size)
{
    if (strcmp(spec, "majority") == 0) {
        c->write_w = PERSISTER_W_MAJORITY;
        return TIX_OK;
    }
    char *end;
    errno = 0;
    long w = strtol(spec, &end, 10);
    if (errno || end == spec || *end != '\0' || w < 0 || w > 50) {
        snprintf(why, why_size, "--write-concern: expected 'majority' or a number of nodes 1..50, got '%s'", spec);
        return TIX_ERR_CONFIG;
    }
    if (w == 0) {
        /* Unacknowledged writes would let the cursor pass orders that may
         * never have reached the database. */
        snprintf(why, why_size, "--write-concern: 0 (unacknowledged) cannot guarantee that an order is written");
        return TIX_ERR_CONFIG;
    }
    c->write_w = (int) w;
    return TIX_OK;
}

/* A MongoDB database name: what mongod accepts, minus surprises. */
static bool
s_database_ok(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && len < 64 && strpbrk(name, "/\\. \"$*<>:|?") == NULL;
}

tix_err
persister_config_check(const persister_config_t *c, char *why, size_t why_size)
{
    bool has_uri = c->mongo_uri && c->mongo_uri[0];
    if (c->sink == PERSISTER_SINK_MONGODB && !has_uri) {
        snprintf(why, why_size,
                 "no sink: set --mongo-uri (TIX_MONGO_URI) for MongoDB, or --sink jsonl:PATH (TIX_SINK) for a file");
        return TIX_ERR_CONFIG;
    }
    if (c->sink == PERSISTER_SINK_JSONL && (!c->jsonl_path || !c->jsonl_path[0])) {
        snprintf(why, why_size, "--sink jsonl:PATH needs a path");
        return TIX_ERR_CONFIG;
    }
    if (c->sink == PERSISTER_SINK_MONGODB && !s_database_ok(c->database)) {
        snprintf(why, why_size, "--database: '%s' is not a usable MongoDB database name", c->database);
        return TIX_ERR_CONFIG;
    }
    if (c->batch_max > c->buffer_max) {
        snprintf(why, why_size, "--batch-max (%zu) cannot exceed --buffer-max (%zu)", c->batch_max, c->buffer_max);
        return TIX_ERR_CONFIG;
    }
    if (c->backoff_min_ms > c->backoff_max_ms) {
        snprintf(why, why_size, "--backoff-min-ms cannot exceed --backoff-max-ms");
        return TIX_ERR_CONFIG;
    }
    char detail[400];
    if (tix_endpoints_check(c->events_out, false, detail, sizeof detail) != TIX_OK) {
        snprintf(why, why_size, "--events-out: %s", detail);
        return TIX_ERR_CONFIG;
    }
    tix_redis_url_t url;
    if (tix_redis_url_parse(c->redis_url ? c->redis_url : "", &url, detail, sizeof detail) != TIX_OK) {
        snprintf(why, why_size, "--redis-url: %s", detail);
        return TIX_ERR_CONFIG;
    }
    return TIX_OK;
}

/* Flag values as parsed, before they are checked and converted. */
typedef struct {
    const char *sink, *wc, *log_level, *curve_secret, *curve_server;
    long batch_max, batch_ms, catchup_ms, sweep_ms, buffer_max, hwm, wtimeout, drain_ms, backoff_max, min_replicas;
} s_raw_t;

/* The flag values that need more than a table entry, then the checks. */
static tix_err
s_finish(persister_config_t *c, const s_raw_t *raw, char *why, size_t why_size)
{
    c->batch_max = (size_t) raw->batch_max;
    c->batch_ms = (int) raw->batch_ms;
    c->catchup_ms = (int) raw->catchup_ms;
    c->sweep_ms = (int) raw->sweep_ms;
    c->buffer_max = (size_t) raw->buffer_max;
    c->events_hwm = (int) raw->hwm;
    c->wtimeout_ms = (int) raw->wtimeout;
    c->drain_ms = (int) raw->drain_ms;
    c->min_replicas = (int) raw->min_replicas;
    c->backoff_max_ms = (int) raw->backoff_max;
    if (tix_opts_log_level(raw->log_level, why, why_size) != TIX_OK)
        return TIX_ERR_CONFIG;
    if (c->health_file && !c->health_file[0])
        c->health_file = NULL;
    if (c->http && !c->http[0])
        c->http = NULL;
    char detail[256];
    if (c->http && tix_http_check(c->http, detail, sizeof detail) != TIX_OK) {
        snprintf(why, why_size, "--http: %s", detail);
        return TIX_ERR_CONFIG;
    }
    tix_err err = persister_config_set_write_concern(c, raw->wc, why, why_size);
    if (err == TIX_OK && raw->sink && raw->sink[0])
        err = persister_config_set_sink(c, raw->sink, why, why_size);
    else if (err == TIX_OK)
        c->sink = PERSISTER_SINK_MONGODB; /* the default when a URI is set */
    return err == TIX_OK ? persister_config_check(c, why, why_size) : err;
}

/* What follows a parse that was not --help: positionals refused, CURVE
 * keys loaded, s_finish's checks. */
static tix_err
s_after_parse(persister_config_t *c, const s_raw_t *raw, const tix_opts_result_t *parsed)
{
    if (parsed->npos > 0) {
        fprintf(stderr, "tix-persister: unexpected argument '%s' (try --help)\n", parsed->pos[0]);
        return TIX_ERR_CONFIG;
    }
    char why[512];
    static tix_curve_client_t keys; /* lives as long as the process, like argv */
    if (tix_curve_client_config(raw->curve_secret, raw->curve_server, &keys, &c->curve, why, sizeof why) != TIX_OK ||
        s_finish(c, raw, why, sizeof why) != TIX_OK) {
        fprintf(stderr, "tix-persister: %s\n", why);
        return TIX_ERR_CONFIG;
    }
    return TIX_OK;
}

tix_err
persister_config_parse(persister_config_t *c, int argc, char **argv, bool *help)
{
    s_raw_t r = {0};
    const tix_opt_t opts[] = {
        {"events-out", "TIX_EVENTS_OUT", TIX_OPT_STRING, &c->events_out, PERSISTER_DEFAULT_EVENTS_OUT, 0, 0,
         "broker event feed (XPUB) to connect to, comma-separated"},
        {"redis-url", "TIX_REDIS_URL", TIX_OPT_STRING, &c->redis_url, PERSISTER_DEFAULT_REDIS_URL, 0, 0,
         "the order logs' Redis: redis://[[user]:password@]host:port[/db] or redis-sentinel://h:p[,h:p...]/NAME"},
        {"redis-min-replicas", "TIX_REDIS_MIN_REPLICAS", TIX_OPT_INT, &r.min_replicas, "0", 0, 16,
         "replicas that must hold what is read of an order log before it is written (0 = no check)"},
        {"mongo-uri", "TIX_MONGO_URI", TIX_OPT_STRING, &c->mongo_uri, NULL, 0, 0, "MongoDB connection string"},
        {"sink", "TIX_SINK", TIX_OPT_STRING, &r.sink, NULL, 0, 0,
         "'mongodb' or 'jsonl:PATH' (default: mongodb when a MongoDB URI is set)"},
        {"database", "TIX_MONGO_DB", TIX_OPT_STRING, &c->database, PERSISTER_DEFAULT_DATABASE, 0, 0,
         "MongoDB database (collections orders and cursors)"},
        {"write-concern", "TIX_WRITE_CONCERN", TIX_OPT_STRING, &r.wc, "majority", 0, 0,
         "MongoDB write concern w: 'majority' or a number of nodes"},
        {"wtimeout-ms", "TIX_WTIMEOUT_MS", TIX_OPT_INT, &r.wtimeout, "5000", 0, 3600000,
         "write concern timeout (0 = none); a timeout is retried"},
        {"batch-max", "TIX_BATCH_MAX", TIX_OPT_INT, &r.batch_max, "500", 1, 100000, "orders per bulk write"},
        {"batch-ms", "TIX_BATCH_MS", TIX_OPT_INT, &r.batch_ms, "20", 0, 60000,
         "an order waits at most this long for its batch to fill"},
        {"catchup-ms", "TIX_CATCHUP_MS", TIX_OPT_INT, &r.catchup_ms, "1000", 10, 3600000,
         "interval between catch-ups from the order logs"},
        {"sweep-ms", "TIX_SWEEP_MS", TIX_OPT_INT, &r.sweep_ms, "10000", 100, 3600000,
         "each sold-out or closed sale's log is checked for new orders about this often"},
        {"buffer-max", "TIX_BUFFER_MAX", TIX_OPT_INT, &r.buffer_max, "50000", 1, 10000000,
         "orders held in memory; beyond, no more of the order logs is read until written"},
        {"events-hwm", "TIX_EVENTS_HWM", TIX_OPT_INT, &r.hwm, "100000", 1, 10000000,
         "receive high-water mark of the event subscription, messages"},
        {"backoff-max-ms", "TIX_BACKOFF_MAX_MS", TIX_OPT_INT, &r.backoff_max, "5000", 50, 600000,
         "cap of the retry delay after a sink failure (exponential, jittered)"},
        {"drain-ms", "TIX_DRAIN_MS", TIX_OPT_INT, &r.drain_ms, "10000", 0, 600000,
         "on SIGINT/SIGTERM, time allowed to write what is held"},
        {"health-file", "TIX_HEALTH_FILE", TIX_OPT_STRING, &c->health_file, NULL, 0, 0,
         "rewritten every second while subscribed and the sink answers (probes read its mtime)"},
        {"http", "TIX_HTTP", TIX_OPT_STRING, &c->http, NULL, 0, 0,
         "HOST:PORT to serve /metrics, /healthz and /readyz on (off when unset)"},
        {"curve-server-key", "TIX_CURVE_SERVER_KEY", TIX_OPT_STRING, &r.curve_server, NULL, 0, 0,
         "the broker's public certificate: with --curve-secret, CURVE to the event feed"},
        {"curve-secret", "TIX_CURVE_SECRET", TIX_OPT_STRING, &r.curve_secret, NULL, 0, 0,
         "this persister's certificate (NAME_secret from tix keygen; mode 0600)"},
        TIX_OPT_LOG_LEVEL(&r.log_level, "info"),
    };
    tix_opts_result_t parsed;
    *help = false;
    if (tix_opts_parse(opts, TIX_ARRAY_LEN(opts), argc, argv, s_usage, &parsed) != TIX_OK)
        return TIX_ERR_CONFIG;
    *help = parsed.help;
    return parsed.help ? TIX_OK : s_after_parse(c, &r, &parsed);
}
