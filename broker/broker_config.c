/*
 * broker_config.c - the option table, its parsing and the checks across
 * flags. Every flag, environment twin, default and error line is part of
 * the command line's contract (tests/test_it_config.c).
 */
#include "broker_config.h"

#include <stdio.h>
#include <string.h>

#include "broker_limit.h"
#include "tix_codec.h"
#include "tix_endpoint.h"
#include "tix_http.h"
#include "tix_opts.h"
#include "tix_util.h"

/* The smallest --max-message-bytes that every valid call fits: a call header
 * may carry 4 KiB of metadata (PROTOCOL.md), and the frame limit applies to
 * it as to any other. */
#define BROKER_MIN_MESSAGE_BYTES 8192

static const char s_usage[] = "usage: tix-broker [options]\n"
                              "\n"
                              "The tix broker: takes TIX1 calls from clients, load-balances them over sale\n"
                              "workers, and proxies order events from workers to subscribers.\n"
                              "\n"
                              "options:\n";

/* The flags naming endpoints, in the order of s_raw_t.endpoints. */
static const char *const s_endpoint_flags[] = {"frontend", "backend", "events-in", "events-out"};

/* Flag values as parsed, before they are checked and converted. */
typedef struct {
    const char *endpoints[TIX_ARRAY_LEN(s_endpoint_flags)];
    const char *log_level;
    const char *http;
    bool curve;
    broker_zap_curve_paths_t paths;
    long queue_limit, default_timeout, max_timeout, max_message, drain_ms, user_rate, user_burst, client_rate,
        client_burst;
} s_raw_t;

void
broker_config_defaults(broker_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->frontend = BROKER_DEFAULT_FRONTEND;
    c->backend = BROKER_DEFAULT_BACKEND;
    c->events_in = BROKER_DEFAULT_EVENTS_IN;
    c->events_out = BROKER_DEFAULT_EVENTS_OUT;
    c->queue_limit = BROKER_QUEUE_LIMIT;
    c->default_timeout_ms = BROKER_DEFAULT_TIMEOUT_MS;
    c->max_timeout_ms = BROKER_MAX_TIMEOUT_MS;
    c->max_message_bytes = TIX_MAX_MESSAGE_BYTES;
    c->drain_ms = BROKER_DRAIN_MS;
    c->user_rate_per_s = BROKER_LIMIT_RATE_PER_S;
    c->user_burst = BROKER_LIMIT_BURST;
    c->client_rate_per_s = 0;
    c->client_burst = BROKER_LIMIT_CLIENT_BURST;
}

/* The option table over r, parsed. TIX_ERR_CONFIG after printing why. */
static tix_err
s_parse_flags(s_raw_t *r, int argc, char **argv, bool *help)
{
    const tix_opt_t opts[] = {
        {"frontend", "TIX_FRONTEND", TIX_OPT_STRING, &r->endpoints[0], BROKER_DEFAULT_FRONTEND, 0, 0,
         "client endpoint(s) to bind, comma-separated"},
        {"backend", "TIX_BACKEND", TIX_OPT_STRING, &r->endpoints[1], BROKER_DEFAULT_BACKEND, 0, 0,
         "worker endpoint to bind"},
        {"events-in", "TIX_EVENTS_IN", TIX_OPT_STRING, &r->endpoints[2], BROKER_DEFAULT_EVENTS_IN, 0, 0,
         "event intake (XSUB) to bind"},
        {"events-out", "TIX_EVENTS_OUT", TIX_OPT_STRING, &r->endpoints[3], BROKER_DEFAULT_EVENTS_OUT, 0, 0,
         "event feed (XPUB) to bind"},
        {"queue-limit", "TIX_QUEUE_LIMIT", TIX_OPT_INT, &r->queue_limit, "10000", 1, 10000000,
         "calls that may wait for a worker; beyond: RESOURCE_EXHAUSTED"},
        {"default-timeout-ms", "TIX_DEFAULT_TIMEOUT_MS", TIX_OPT_INT, &r->default_timeout, "5000", 1, 3600000,
         "deadline of calls that set timeout_ms 0"},
        {"max-timeout-ms", "TIX_MAX_TIMEOUT_MS", TIX_OPT_INT, &r->max_timeout, "60000", 1, 3600000,
         "longer call timeouts are clamped to this"},
        {"max-message-bytes", "TIX_MAX_MESSAGE_BYTES", TIX_OPT_INT, &r->max_message, "65536", BROKER_MIN_MESSAGE_BYTES,
         16777216, "larger messages are refused by the socket"},
        {"drain-ms", "TIX_DRAIN_MS", TIX_OPT_INT, &r->drain_ms, "3000", 0, 600000,
         "on SIGTERM, time left to workers to answer calls in flight"},
        {"user-rate", "TIX_USER_RATE", TIX_OPT_INT, &r->user_rate, "10", 0, 1000000,
         "calls per second a user_id may keep up (0 = no per-user rate limit)"},
        {"user-burst", "TIX_USER_BURST", TIX_OPT_INT, &r->user_burst, "100", 1, 1000000,
         "calls a user_id may make at once before the rate applies"},
        {"client-rate", "TIX_CLIENT_RATE", TIX_OPT_INT, &r->client_rate, "0", 0, 1000000,
         "calls per second one client (connection, or CURVE key) may keep up, any method (0 = no limit)"},
        {"client-burst", "TIX_CLIENT_BURST", TIX_OPT_INT, &r->client_burst, "1000", 1, 1000000,
         "calls a client may make at once before --client-rate applies"},
        {"curve", "TIX_CURVE", TIX_OPT_FLAG, &r->curve, NULL, 0, 0,
         "CURVE on every endpoint: encryption, and only allow-listed keys connect"},
        {"curve-secret", "TIX_CURVE_SECRET", TIX_OPT_STRING, &r->paths.secret, NULL, 0, 0,
         "the broker's certificate (NAME_secret from tix keygen; mode 0600)"},
        {"curve-clients", "TIX_CURVE_CLIENTS", TIX_OPT_STRING, &r->paths.clients, NULL, 0, 0,
         "allow-list for the frontend: a public certificate file or a directory of them"},
        {"curve-workers", "TIX_CURVE_WORKERS", TIX_OPT_STRING, &r->paths.workers, NULL, 0, 0,
         "allow-list for the backend and the event intake"},
        {"curve-subscribers", "TIX_CURVE_SUBSCRIBERS", TIX_OPT_STRING, &r->paths.subscribers, NULL, 0, 0,
         "allow-list for the event feed (persister, subscribers); none: no one"},
        {"curve-admins", "TIX_CURVE_ADMINS", TIX_OPT_STRING, &r->paths.admins, NULL, 0, 0,
         "client keys that may call AdminService (CreateSale); none: no one"},
        {"http", "TIX_HTTP", TIX_OPT_STRING, &r->http, NULL, 0, 0,
         "HOST:PORT to serve /metrics, /healthz and /readyz on (off when unset)"},
        TIX_OPT_LOG_LEVEL(&r->log_level, "info"),
    };
    tix_opts_result_t parsed;
    if (tix_opts_parse(opts, TIX_ARRAY_LEN(opts), argc, argv, s_usage, &parsed) != TIX_OK)
        return TIX_ERR_CONFIG;
    *help = parsed.help;
    if (!parsed.help && parsed.npos > 0) {
        fprintf(stderr, "tix-broker: unexpected argument '%s' (try --help)\n", parsed.pos[0]);
        return TIX_ERR_CONFIG;
    }
    return TIX_OK;
}

/* The log level, endpoint syntax and the checks across flags; the first
 * that fails fills why with the line that names its flag. */
static tix_err
s_check(const s_raw_t *r, char *why, size_t why_size)
{
    if (tix_opts_log_level(r->log_level, why, why_size) != TIX_OK)
        return TIX_ERR_CONFIG;
    char detail[512];
    for (size_t i = 0; i < TIX_ARRAY_LEN(s_endpoint_flags); i++) {
        if (tix_endpoints_check(r->endpoints[i], true, detail, sizeof detail) != TIX_OK) {
            snprintf(why, why_size, "--%s: %s", s_endpoint_flags[i], detail);
            return TIX_ERR_CONFIG;
        }
    }
    if (r->http && tix_http_check(r->http, detail, sizeof detail) != TIX_OK) {
        snprintf(why, why_size, "--http: %s", detail);
        return TIX_ERR_CONFIG;
    }
    if (r->default_timeout > r->max_timeout) {
        snprintf(why, why_size, "--default-timeout-ms (%ld) cannot exceed --max-timeout-ms (%ld)", r->default_timeout,
                 r->max_timeout);
        return TIX_ERR_CONFIG;
    }
    return TIX_OK;
}

/* Copies the checked values into c and loads the CURVE keys when asked. */
static tix_err
s_apply(broker_config_t *c, const s_raw_t *r, char *why, size_t why_size)
{
    c->frontend = r->endpoints[0];
    c->backend = r->endpoints[1];
    c->events_in = r->endpoints[2];
    c->events_out = r->endpoints[3];
    c->queue_limit = (uint32_t) r->queue_limit;
    c->default_timeout_ms = (uint32_t) r->default_timeout;
    c->max_timeout_ms = (uint32_t) r->max_timeout;
    c->max_message_bytes = (uint32_t) r->max_message;
    c->drain_ms = (uint32_t) r->drain_ms;
    c->user_rate_per_s = (double) r->user_rate;
    c->user_burst = (uint32_t) r->user_burst;
    c->client_rate_per_s = (double) r->client_rate;
    c->client_burst = (uint32_t) r->client_burst;
    c->http = r->http && r->http[0] ? r->http : NULL;
    c->curve = NULL;
    if (r->curve && !(c->curve = broker_zap_curve_load(&r->paths, why, why_size)))
        return TIX_ERR_CONFIG;
    return TIX_OK;
}

tix_err
broker_config_parse(broker_config_t *config, int argc, char **argv, bool *help)
{
    s_raw_t raw;
    memset(&raw, 0, sizeof raw);
    *help = false;
    if (s_parse_flags(&raw, argc, argv, help) != TIX_OK)
        return TIX_ERR_CONFIG;
    if (*help)
        return TIX_OK;
    char why[640];
    if (s_check(&raw, why, sizeof why) != TIX_OK || s_apply(config, &raw, why, sizeof why) != TIX_OK) {
        fprintf(stderr, "tix-broker: %s\n", why);
        return TIX_ERR_CONFIG;
    }
    return TIX_OK;
}
