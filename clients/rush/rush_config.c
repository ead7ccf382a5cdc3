/*
 * rush_config.c - the flag table and the checks tix_opts cannot make.
 */
#include "rush_config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tix_priv.h"
#include "tix_curve.h"
#include "tix_endpoint.h"
#include "tix_opts.h"
#include "tix_util.h"

#define S_STR2(x) #x
#define S_STR(x) S_STR2(x)

static const char s_usage[] = "usage: tix-rush [options]\n"
                              "\n"
                              "A flash-sale rush against tix: N distinct users each send one Purchase, all\n"
                              "released at the same start, against a sale it creates (or an existing one\n"
                              "with --sale ID --no-create). Users answered RESOURCE_EXHAUSTED or UNAVAILABLE\n"
                              "retry with the same request_id after retry_after_ms (+0-50% jitter). Prints\n"
                              "outcomes, throughput, latency percentiles, time to sell out, and checks the\n"
                              "invariants (exactly min(available, users) PURCHASED, distinct orders, the\n"
                              "sale's remaining stock).\n"
                              "\n"
                              "Closed loop by default (--in-flight users in progress at once); --rate R\n"
                              "makes it open loop (R arrivals per second, latency counted from each\n"
                              "user's scheduled arrival).\n"
                              "\n"
                              "Exit status: 0 every check passed; 1 a check failed; 2 bad usage;\n"
                              "3 could not run (no broker, sale not created or not found); 130 interrupted.\n"
                              "\n"
                              "options:\n";

/* Raw values as tix_opts fills them, before the checks below. */
typedef struct {
    const char *sale, *prefix;
    long users, tickets, in_flight, connections, rate, timeout_ms;
    bool no_create;
} s_raw_t;

static tix_err
s_fail(const char *what)
{
    fprintf(stderr, "tix-rush: %s\n", what);
    return TIX_ERR_CONFIG;
}

/* --frontend and the CURVE flags, checked before libtix sees them so that
 * the error names the flag at fault. */
static tix_err
s_connect_flags(const rush_config_t *cfg)
{
    char why[512], line[600];
    tix_curve_client_t keys;
    const tix_curve_client_t *use;
    tix_err err = tix_curve_client_config(cfg->curve_secret, cfg->curve_server, &keys, &use, why, sizeof why);
    memset(&keys, 0, sizeof keys); /* each client loads them again */
    if (err != TIX_OK)
        return s_fail(why);
    if (tix_endpoints_check(cfg->frontend, false, why, sizeof why) != TIX_OK) {
        snprintf(line, sizeof line, "--frontend: %s", why);
        return s_fail(line);
    }
    return TIX_OK;
}

/* Checks what the table cannot express and copies the values into cfg. */
static tix_err
s_apply(const s_raw_t *raw, rush_config_t *cfg)
{
    if (raw->no_create && !raw->sale)
        return s_fail("--no-create needs --sale ID (the existing sale to rush)");
    if (raw->sale && !tix_valid_sale_id(raw->sale))
        return s_fail("--sale: expected 1-64 bytes of [A-Za-z0-9._-]");
    if (raw->sale)
        snprintf(cfg->sale_id, sizeof cfg->sale_id, "%s", raw->sale);
    else
        snprintf(cfg->sale_id, sizeof cfg->sale_id, "rush-%lld", (long long) time(NULL));
    if (raw->prefix) {
        char probe[RUSH_USER_PREFIX_MAX_BYTES + 16];
        snprintf(probe, sizeof probe, "%s0", raw->prefix);
        if (strlen(raw->prefix) >= sizeof cfg->user_prefix || !tix_valid_user_id(probe))
            return s_fail("--user-prefix: expected at most 63 bytes of UTF-8 without control characters");
        snprintf(cfg->user_prefix, sizeof cfg->user_prefix, "%s", raw->prefix);
    } else {
        /* A fresh prefix per run: a second rush on the same sale brings new
         * users, not the buyers of the first one back. */
        snprintf(cfg->user_prefix, sizeof cfg->user_prefix, "u%06x-", tix_rand_below(1u << 24));
    }
    cfg->users = (uint32_t) raw->users;
    cfg->tickets = (uint32_t) raw->tickets;
    cfg->create = !raw->no_create;
    cfg->in_flight = (uint32_t) raw->in_flight;
    cfg->connections = (uint32_t) raw->connections;
    cfg->rate = (double) raw->rate;
    cfg->timeout_ms = (uint32_t) raw->timeout_ms;
    char why[512];
    if (tix_opts_log_level(cfg->log_level, why, sizeof why) != TIX_OK)
        return s_fail(why);
    return s_connect_flags(cfg);
}

tix_err
rush_config_parse(int argc, char **argv, rush_config_t *cfg, bool *help)
{
    memset(cfg, 0, sizeof *cfg);
    s_raw_t raw = {0};
    const tix_opt_t opts[] = {
        {"frontend", "TIX_FRONTEND", TIX_OPT_STRING, &cfg->frontend, TIX_DEFAULT_FRONTEND, 0, 0,
         "broker endpoint; a comma-separated list spreads calls over several"},
        {"users", "TIX_RUSH_USERS", TIX_OPT_INT, &raw.users, S_STR(RUSH_DEFAULT_USERS), 1, RUSH_MAX_USERS,
         "distinct users, one Purchase each"},
        {"tickets", "TIX_RUSH_TICKETS", TIX_OPT_INT, &raw.tickets, S_STR(RUSH_DEFAULT_TICKETS), 1, TIX_SALE_TOTAL_MAX,
         "tickets of the sale it creates"},
        {"sale", "TIX_RUSH_SALE", TIX_OPT_STRING, &raw.sale, NULL, 0, 0, "sale id (default: rush-<unix time>)"},
        {"no-create", "TIX_RUSH_NO_CREATE", TIX_OPT_FLAG, &raw.no_create, NULL, 0, 0,
         "rush the existing sale --sale instead of creating it"},
        {"user-prefix", "TIX_RUSH_USER_PREFIX", TIX_OPT_STRING, &raw.prefix, NULL, 0, 0,
         "user i is <prefix><i> (default: u<random>-, new users every run)"},
        {"in-flight", "TIX_RUSH_IN_FLIGHT", TIX_OPT_INT, &raw.in_flight, S_STR(RUSH_DEFAULT_IN_FLIGHT), 1,
         RUSH_MAX_IN_FLIGHT, "users in progress at once (closed loop; a bound in open loop)"},
        {"connections", "TIX_RUSH_CONNECTIONS", TIX_OPT_INT, &raw.connections, S_STR(RUSH_DEFAULT_CONNECTIONS), 1,
         RUSH_MAX_CONNECTIONS, "libtix clients (DEALER sockets), all in one zmq_poll"},
        {"rate", "TIX_RUSH_RATE", TIX_OPT_INT, &raw.rate, "0", 0, 10000000,
         "open loop: user arrivals per second (0: closed loop)"},
        {"timeout-ms", "TIX_TIMEOUT_MS", TIX_OPT_INT, &raw.timeout_ms, S_STR(RUSH_DEFAULT_TIMEOUT_MS), 1, 3600000,
         "per user: give up this long after the first send, retries included"},
        {"curve-secret", "TIX_CURVE_SECRET", TIX_OPT_STRING, &cfg->curve_secret, NULL, 0, 0,
         "this client's certificate (NAME_secret from tix keygen): with --curve-server-key, CURVE"},
        {"curve-server-key", "TIX_CURVE_SERVER_KEY", TIX_OPT_STRING, &cfg->curve_server, NULL, 0, 0,
         "the broker's public certificate"},
        {"json", NULL, TIX_OPT_FLAG, &cfg->json, NULL, 0, 0, "print one JSON object instead of the table"},
        {"quiet", "TIX_RUSH_QUIET", TIX_OPT_FLAG, &cfg->quiet, NULL, 0, 0,
         "no progress line; a one-line verdict instead of the table"},
        TIX_OPT_LOG_LEVEL(&cfg->log_level, "warn"),
    };
    tix_opts_result_t parsed;
    *help = false;
    if (tix_opts_parse(opts, TIX_ARRAY_LEN(opts), argc, argv, s_usage, &parsed) != TIX_OK)
        return TIX_ERR_CONFIG;
    if (parsed.help) {
        *help = true;
        return TIX_OK;
    }
    if (parsed.npos > 0) {
        fprintf(stderr, "tix-rush: unexpected argument '%s' (try --help)\n", parsed.pos[0]);
        return TIX_ERR_CONFIG;
    }
    return s_apply(&raw, cfg);
}
