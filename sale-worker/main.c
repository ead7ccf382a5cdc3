/*
 * main.c - tix-worker: parse the configuration, run one worker until
 * SIGINT/SIGTERM, stop cleanly (exit 0). Bad configuration exits 2 with a
 * one-line reason, and so does a Redis that is not durable (unless
 * --allow-unsafe-redis); a worker that cannot start exits 1.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <czmq.h>

#include "tix_endpoint.h"
#include "tix_log.h"
#include "tix_opts.h"
#include "tix_util.h"
#include "worker.h"

#define PROG "tix-worker"

static const char s_usage[] = "usage: " PROG " [options]\n\n"
                              "Runs one tix sale worker: takes jobs from the broker's backend, runs them\n"
                              "against Redis (one Function call each) and publishes order events.\n\n";

static char s_default_id[128];     /* hostname-pid */
static tix_curve_client_t s_curve; /* CURVE keys, when configured */

/* Fills config from flags and TIX_* variables. Returns -1 to go on, or the
 * exit code (0 after --help, 2 after printing why the configuration is bad). */
static int
s_configure(int argc, char **argv, worker_config_t *config)
{
    char why[512];
    const char *redis_url, *log_level, *worker_id = NULL, *curve_server = NULL, *curve_secret = NULL;
    long capacity, heartbeat_ms;
    const tix_opt_t opts[] = {
        {"backend", "TIX_BACKEND", TIX_OPT_STRING, &config->backend, WORKER_DEFAULT_BACKEND, 0, 0,
         "broker backend endpoint to connect to"},
        {"events-in", "TIX_EVENTS_IN", TIX_OPT_STRING, &config->events_in, WORKER_DEFAULT_EVENTS_IN, 0, 0,
         "broker event intake endpoint to publish order events to"},
        {"redis-url", "TIX_REDIS_URL", TIX_OPT_STRING, &redis_url, TIX_REDIS_DEFAULT_URL, 0, 0,
         "redis://[[user]:password@]host:port[/db]"},
        {"capacity", "TIX_WORKER_CAPACITY", TIX_OPT_INT, &capacity, "256", 1, WORKER_CAPACITY_MAX,
         "jobs in flight this worker accepts"},
        {"worker-id", "TIX_WORKER_ID", TIX_OPT_STRING, &worker_id, NULL, 0, 0,
         "name in logs and events (default: hostname-pid)"},
        {"heartbeat-ms", "TIX_HEARTBEAT_MS", TIX_OPT_INT, &heartbeat_ms, "1000", WORKER_HEARTBEAT_MIN_MS,
         WORKER_HEARTBEAT_MAX_MS, "heartbeat interval with the broker"},
        {"allow-unsafe-redis", "TIX_ALLOW_UNSAFE_REDIS", TIX_OPT_FLAG, &config->store_opts.allow_unsafe, NULL, 0, 0,
         "development only: use a Redis without appendonly yes, appendfsync always and noeviction (warns)"},
        {"health-file", "TIX_HEALTH_FILE", TIX_OPT_STRING, &config->health_file, NULL, 0, 0,
         "rewrite this file every second while healthy (for liveness probes)"},
        {"curve-server-key", "TIX_CURVE_SERVER_KEY", TIX_OPT_STRING, &curve_server, NULL, 0, 0,
         "the broker's public certificate: with --curve-secret, CURVE to the broker"},
        {"curve-secret", "TIX_CURVE_SECRET", TIX_OPT_STRING, &curve_secret, NULL, 0, 0,
         "this worker's certificate (NAME_secret from tix keygen; mode 0600)"},
        {"log-level", "TIX_LOG_LEVEL", TIX_OPT_STRING, &log_level, "info", 0, 0, "debug, info, warn or error"},
    };
    tix_opts_result_t parsed;
    if (tix_opts_parse(opts, TIX_ARRAY_LEN(opts), argc, argv, s_usage, &parsed) != TIX_OK)
        return 2;
    if (parsed.help)
        return 0;
    if (tix_curve_client_config(curve_secret, curve_server, &s_curve, &config->curve, why, sizeof why) != TIX_OK) {
        fprintf(stderr, PROG ": %s\n", why);
        return 2;
    }
    if (parsed.npos > 0) {
        fprintf(stderr, PROG ": unexpected argument '%s' (try --help)\n", parsed.pos[0]);
        return 2;
    }
    if (!tix_log_set_level_name(log_level)) {
        fprintf(stderr, PROG ": --log-level: expected debug, info, warn or error, got '%s'\n", log_level);
        return 2;
    }
    if (tix_endpoints_check(config->backend, false, why, sizeof why) != TIX_OK) {
        fprintf(stderr, PROG ": --backend: %s\n", why);
        return 2;
    }
    if (tix_endpoints_check(config->events_in, false, why, sizeof why) != TIX_OK) {
        fprintf(stderr, PROG ": --events-in: %s\n", why);
        return 2;
    }
    if (tix_redis_url_parse(redis_url, &config->redis, why, sizeof why) != TIX_OK) {
        fprintf(stderr, PROG ": --redis-url: %s\n", why);
        return 2;
    }
    if (!worker_id) {
        char host[64] = "worker";
        gethostname(host, sizeof host - 1);
        snprintf(s_default_id, sizeof s_default_id, "%s-%ld", host, (long) getpid());
        worker_id = s_default_id;
    }
    config->worker_id = worker_id;
    config->capacity = (uint32_t) capacity;
    config->heartbeat_ms = (uint32_t) heartbeat_ms;
    return -1;
}

int
main(int argc, char **argv)
{
    tix_log_init("worker");
    worker_config_t config = {0};
    int code = s_configure(argc, argv, &config);
    if (code >= 0)
        return code;

    /* czmq installs its own SIGINT/SIGTERM handler on first use unless told
     * not to; ours must stay in charge so that tix_stopping() sees signals. */
    zsys_handler_set(NULL);
    tix_signals_install();
    struct sigaction ours, now;
    sigaction(SIGTERM, NULL, &ours);
    worker_t *worker = worker_new(&config);
    if (!worker)
        return 1;
    sigaction(SIGTERM, NULL, &now);
    if (now.sa_handler != ours.sa_handler) {
        tix_error("the SIGTERM handler was replaced; refusing to run without a clean stop");
        worker_destroy(&worker);
        return 1;
    }
    tix_err err = worker_run(worker);
    worker_destroy(&worker);
    return err == TIX_OK ? 0 : err == TIX_ERR_CONFIG ? 2 : 1;
}
