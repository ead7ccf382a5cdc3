/*
 * tix-broker: parse configuration, start, loop until SIGINT/SIGTERM, drain,
 * destroy.
 */
#include <stdio.h>
#include <stdlib.h>

#include <czmq.h>

#include "broker.h"
#include "broker_zap.h"
#include "tix_endpoint.h"
#include "tix_log.h"
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

/* The checks across flags and of endpoint syntax; false after printing the
 * one line that names the flag at fault. */
static bool
s_config_ok(const char *const endpoints[4], long default_timeout, long max_timeout)
{
    static const char *const flags[4] = {"frontend", "backend", "events-in", "events-out"};
    char why[512];
    for (size_t i = 0; i < 4; i++) {
        if (tix_endpoints_check(endpoints[i], true, why, sizeof why) != TIX_OK) {
            fprintf(stderr, "tix-broker: --%s: %s\n", flags[i], why);
            return false;
        }
    }
    if (default_timeout > max_timeout) {
        fprintf(stderr, "tix-broker: --default-timeout-ms (%ld) cannot exceed --max-timeout-ms (%ld)\n",
                default_timeout, max_timeout);
        return false;
    }
    return true;
}

int
main(int argc, char **argv)
{
    const char *frontend, *backend, *events_in, *events_out, *log_level;
    bool curve = false;
    broker_zap_curve_paths_t paths = {0};
    long queue_limit, default_timeout, max_timeout, max_message, drain_ms, user_rate, user_burst, client_rate,
        client_burst;
    broker_config_t config;
    broker_config_defaults(&config);
    const tix_opt_t opts[] = {
        {"frontend", "TIX_FRONTEND", TIX_OPT_STRING, &frontend, BROKER_DEFAULT_FRONTEND, 0, 0,
         "client endpoint(s) to bind, comma-separated"},
        {"backend", "TIX_BACKEND", TIX_OPT_STRING, &backend, BROKER_DEFAULT_BACKEND, 0, 0, "worker endpoint to bind"},
        {"events-in", "TIX_EVENTS_IN", TIX_OPT_STRING, &events_in, BROKER_DEFAULT_EVENTS_IN, 0, 0,
         "event intake (XSUB) to bind"},
        {"events-out", "TIX_EVENTS_OUT", TIX_OPT_STRING, &events_out, BROKER_DEFAULT_EVENTS_OUT, 0, 0,
         "event feed (XPUB) to bind"},
        {"queue-limit", "TIX_QUEUE_LIMIT", TIX_OPT_INT, &queue_limit, "10000", 1, 10000000,
         "calls that may wait for a worker; beyond: RESOURCE_EXHAUSTED"},
        {"default-timeout-ms", "TIX_DEFAULT_TIMEOUT_MS", TIX_OPT_INT, &default_timeout, "5000", 1, 3600000,
         "deadline of calls that set timeout_ms 0"},
        {"max-timeout-ms", "TIX_MAX_TIMEOUT_MS", TIX_OPT_INT, &max_timeout, "60000", 1, 3600000,
         "longer call timeouts are clamped to this"},
        {"max-message-bytes", "TIX_MAX_MESSAGE_BYTES", TIX_OPT_INT, &max_message, "65536", BROKER_MIN_MESSAGE_BYTES,
         16777216, "larger messages are refused by the socket"},
        {"drain-ms", "TIX_DRAIN_MS", TIX_OPT_INT, &drain_ms, "3000", 0, 600000,
         "on SIGTERM, time left to workers to answer calls in flight"},
        {"user-rate", "TIX_USER_RATE", TIX_OPT_INT, &user_rate, "10", 0, 1000000,
         "calls per second a user_id may keep up (0 = no per-user rate limit)"},
        {"user-burst", "TIX_USER_BURST", TIX_OPT_INT, &user_burst, "100", 1, 1000000,
         "calls a user_id may make at once before the rate applies"},
        {"client-rate", "TIX_CLIENT_RATE", TIX_OPT_INT, &client_rate, "0", 0, 1000000,
         "calls per second one client (connection, or CURVE key) may keep up, any method (0 = no limit)"},
        {"client-burst", "TIX_CLIENT_BURST", TIX_OPT_INT, &client_burst, "1000", 1, 1000000,
         "calls a client may make at once before --client-rate applies"},
        {"curve", "TIX_CURVE", TIX_OPT_FLAG, &curve, NULL, 0, 0,
         "CURVE on every endpoint: encryption, and only allow-listed keys connect"},
        {"curve-secret", "TIX_CURVE_SECRET", TIX_OPT_STRING, &paths.secret, NULL, 0, 0,
         "the broker's certificate (NAME_secret from tix keygen; mode 0600)"},
        {"curve-clients", "TIX_CURVE_CLIENTS", TIX_OPT_STRING, &paths.clients, NULL, 0, 0,
         "allow-list for the frontend: a public certificate file or a directory of them"},
        {"curve-workers", "TIX_CURVE_WORKERS", TIX_OPT_STRING, &paths.workers, NULL, 0, 0,
         "allow-list for the backend and the event intake"},
        {"curve-subscribers", "TIX_CURVE_SUBSCRIBERS", TIX_OPT_STRING, &paths.subscribers, NULL, 0, 0,
         "allow-list for the event feed (persister, subscribers); none: no one"},
        {"curve-admins", "TIX_CURVE_ADMINS", TIX_OPT_STRING, &paths.admins, NULL, 0, 0,
         "client keys that may call AdminService (CreateSale); none: no one"},
        {"log-level", "TIX_LOG_LEVEL", TIX_OPT_STRING, &log_level, "info", 0, 0, "debug, info, warn or error"},
    };
    tix_opts_result_t parsed;
    if (tix_opts_parse(opts, TIX_ARRAY_LEN(opts), argc, argv, s_usage, &parsed) != TIX_OK)
        return 2;
    if (parsed.help)
        return 0;
    if (parsed.npos > 0) {
        fprintf(stderr, "tix-broker: unexpected argument '%s' (try --help)\n", parsed.pos[0]);
        return 2;
    }
    if (!tix_log_set_level_name(log_level)) {
        fprintf(stderr, "tix-broker: --log-level: expected debug, info, warn or error, got '%s'\n", log_level);
        return 2;
    }
    const char *const endpoints[4] = {frontend, backend, events_in, events_out};
    if (!s_config_ok(endpoints, default_timeout, max_timeout))
        return 2;
    tix_log_init("broker");
    config.frontend = frontend;
    config.backend = backend;
    config.events_in = events_in;
    config.events_out = events_out;
    config.queue_limit = (uint32_t) queue_limit;
    config.default_timeout_ms = (uint32_t) default_timeout;
    config.max_timeout_ms = (uint32_t) max_timeout;
    config.max_message_bytes = (uint32_t) max_message;
    config.drain_ms = (uint32_t) drain_ms;
    config.user_rate_per_s = (double) user_rate;
    config.user_burst = (uint32_t) user_burst;
    config.client_rate_per_s = (double) client_rate;
    config.client_burst = (uint32_t) client_burst;
    broker_zap_curve_t *keys = NULL;
    if (curve) {
        char why[512];
        keys = broker_zap_curve_load(&paths, why, sizeof why);
        if (!keys) {
            fprintf(stderr, "tix-broker: %s\n", why);
            return 2;
        }
        config.curve = keys;
    }

    zsys_handler_set(NULL); /* our handlers, not czmq's, own SIGINT/SIGTERM */
    tix_signals_install();
    broker_t *broker = broker_new(&config);
    if (!broker) { /* the one error line, naming the flag, is logged */
        broker_zap_curve_destroy(&keys);
        return 1;
    }
    broker_run(broker);
    tix_info("stopping\tdrain_ms=%u", config.drain_ms);
    broker_drain(broker);
    broker_destroy(&broker);
    broker_zap_curve_destroy(&keys);
    zsys_shutdown();
    return 0;
}
