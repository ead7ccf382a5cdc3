/*
 * worker_config.c - the flag table, the conversions of what it read, and
 * the checks across values.
 */
#include "worker_config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tix_endpoint.h"
#include "tix_http.h"
#include "tix_opts.h"
#include "tix_codec.h"
#include "tix_util.h"

#define PROG "tix-worker"

static const char s_usage[] = "usage: " PROG " [options]\n\n"
                              "Runs one tix sale worker: takes jobs from the broker's backend, runs them\n"
                              "against Redis (one Function call each) and publishes order events.\n\n";

/* What the config borrows from this module: storage for one parse. */
static char s_default_id[WORKER_ID_MAX_BYTES]; /* hostname-pid */
static tix_curve_client_t s_curve;             /* CURVE keys, when configured */

/* Flag values as parsed, before they are checked and converted. */
typedef struct {
    const char *redis_url, *log_level, *worker_id, *curve_server, *curve_secret, *http;
    long capacity, heartbeat_ms, min_replicas;
} s_raw_t;

/* Prints "tix-worker: [flag: ]why" and returns TIX_ERR_CONFIG. */
static tix_err
s_refuse(const char *flag, const char *why)
{
    if (flag)
        fprintf(stderr, PROG ": %s: %s\n", flag, why);
    else
        fprintf(stderr, PROG ": %s\n", why);
    return TIX_ERR_CONFIG;
}

/* The checks and conversions, in the order tix-worker has always made them. */
static tix_err
s_finish(worker_config_t *c, const s_raw_t *raw, const tix_opts_result_t *parsed)
{
    char why[512];
    if (tix_curve_client_config(raw->curve_secret, raw->curve_server, &s_curve, &c->curve, why, sizeof why) != TIX_OK)
        return s_refuse(NULL, why);
    if (parsed->npos > 0) {
        snprintf(why, sizeof why, "unexpected argument '%s' (try --help)", parsed->pos[0]);
        return s_refuse(NULL, why);
    }
    if (tix_opts_log_level(raw->log_level, why, sizeof why) != TIX_OK)
        return s_refuse(NULL, why);
    if (tix_endpoints_check(c->backend, false, why, sizeof why) != TIX_OK)
        return s_refuse("--backend", why);
    if (tix_endpoints_count(c->backend) > WORKER_BROKERS_MAX) {
        snprintf(why, sizeof why, "at most %d brokers (%zu listed)", WORKER_BROKERS_MAX,
                 tix_endpoints_count(c->backend));
        return s_refuse("--backend", why);
    }
    if (tix_endpoints_check(c->events_in, false, why, sizeof why) != TIX_OK)
        return s_refuse("--events-in", why);
    if (tix_redis_url_parse(raw->redis_url, &c->redis, why, sizeof why) != TIX_OK)
        return s_refuse("--redis-url", why);
    if (raw->http && tix_http_check(raw->http, why, sizeof why) != TIX_OK)
        return s_refuse("--http", why);
    c->http = raw->http && raw->http[0] ? raw->http : NULL;
    c->worker_id = raw->worker_id;
    if (!c->worker_id) {
        char host[64] = "worker";
        gethostname(host, sizeof host - 1);
        snprintf(s_default_id, sizeof s_default_id, "%s-%ld", host, (long) getpid());
        c->worker_id = s_default_id;
    }
    c->capacity = (uint32_t) raw->capacity;
    c->store_opts.min_replicas = (int) raw->min_replicas;
    c->heartbeat_ms = (uint32_t) raw->heartbeat_ms;
    return TIX_OK;
}

tix_err
worker_config_parse(worker_config_t *c, int argc, char **argv, bool *help)
{
    s_raw_t r = {0};
    const tix_opt_t opts[] = {
        {"backend", "TIX_BACKEND", TIX_OPT_STRING, &c->backend, WORKER_DEFAULT_BACKEND, 0, 0,
         "broker backend endpoints to serve, comma-separated (one session each)"},
        {"events-in", "TIX_EVENTS_IN", TIX_OPT_STRING, &c->events_in, WORKER_DEFAULT_EVENTS_IN, 0, 0,
         "broker event intake endpoints, comma-separated: order events go to every one"},
        {"redis-url", "TIX_REDIS_URL", TIX_OPT_STRING, &r.redis_url, TIX_REDIS_DEFAULT_URL, 0, 0,
         "redis://[[user]:password@]host:port[/db] or redis-sentinel://host:port[,host:port...]/MASTER"},
        {"capacity", "TIX_WORKER_CAPACITY", TIX_OPT_INT, &r.capacity, "256", 1, WORKER_CAPACITY_MAX,
         "jobs in flight this worker accepts"},
        {"worker-id", "TIX_WORKER_ID", TIX_OPT_STRING, &r.worker_id, NULL, 0, 0,
         "name in logs and events (default: hostname-pid)"},
        {"heartbeat-ms", "TIX_HEARTBEAT_MS", TIX_OPT_INT, &r.heartbeat_ms, "1000", WORKER_HEARTBEAT_MIN_MS,
         WORKER_HEARTBEAT_MAX_MS, "heartbeat interval with the broker"},
        {"redis-min-replicas", "TIX_REDIS_MIN_REPLICAS", TIX_OPT_INT, &r.min_replicas, "0", 0, 16,
         "replicas a WAIT must confirm before a write's reply or event leaves (0 = no gate)"},
        {"allow-unsafe-redis", "TIX_ALLOW_UNSAFE_REDIS", TIX_OPT_FLAG, &c->store_opts.allow_unsafe, NULL, 0, 0,
         "development only: use a Redis without appendonly yes, appendfsync always and noeviction (warns)"},
        {"health-file", "TIX_HEALTH_FILE", TIX_OPT_STRING, &c->health_file, NULL, 0, 0,
         "rewrite this file every second while healthy (for liveness probes)"},
        {"curve-server-key", "TIX_CURVE_SERVER_KEY", TIX_OPT_STRING, &r.curve_server, NULL, 0, 0,
         "the broker's public certificate: with --curve-secret, CURVE to the broker"},
        {"curve-secret", "TIX_CURVE_SECRET", TIX_OPT_STRING, &r.curve_secret, NULL, 0, 0,
         "this worker's certificate (NAME_secret from tix keygen; mode 0600)"},
        {"http", "TIX_HTTP", TIX_OPT_STRING, &r.http, NULL, 0, 0,
         "HOST:PORT to serve /metrics, /healthz and /readyz on (off when unset)"},
        TIX_OPT_LOG_LEVEL(&r.log_level, "info"),
    };
    tix_opts_result_t parsed;
    *help = false;
    if (tix_opts_parse(opts, TIX_ARRAY_LEN(opts), argc, argv, s_usage, &parsed) != TIX_OK)
        return TIX_ERR_CONFIG;
    *help = parsed.help;
    return parsed.help ? TIX_OK : s_finish(c, &r, &parsed);
}

tix_err
worker_config_check(const worker_config_t *c, char *why, size_t why_size)
{
    const char *id = c->worker_id ? c->worker_id : "";
    size_t len = strlen(id);
    if (len < 1 || len > WORKER_ID_MAX_BYTES || !tix_utf8_valid((const uint8_t *) id, len, false)) {
        snprintf(why, why_size, "worker id must be 1-%d bytes of UTF-8 without control characters",
                 WORKER_ID_MAX_BYTES);
        return TIX_ERR_CONFIG;
    }
    if (c->capacity < 1 || c->capacity > WORKER_CAPACITY_MAX) {
        snprintf(why, why_size, "capacity must be 1..%d\tcapacity=%u", WORKER_CAPACITY_MAX, c->capacity);
        return TIX_ERR_CONFIG;
    }
    if (c->heartbeat_ms < WORKER_HEARTBEAT_MIN_MS || c->heartbeat_ms > WORKER_HEARTBEAT_MAX_MS) {
        snprintf(why, why_size, "heartbeat must be %d..%d ms\theartbeat_ms=%u", WORKER_HEARTBEAT_MIN_MS,
                 WORKER_HEARTBEAT_MAX_MS, c->heartbeat_ms);
        return TIX_ERR_CONFIG;
    }
    if (!c->backend || !c->events_in || (!c->redis.host[0] && !tix_redis_url_is_sentinel(&c->redis))) {
        snprintf(why, why_size, "backend, events_in and the Redis host must be set");
        return TIX_ERR_CONFIG;
    }
    if (tix_endpoints_count(c->backend) > WORKER_BROKERS_MAX) {
        snprintf(why, why_size, "at most %d broker backends\tbackends=%zu", WORKER_BROKERS_MAX,
                 tix_endpoints_count(c->backend));
        return TIX_ERR_CONFIG;
    }
    return TIX_OK;
}
