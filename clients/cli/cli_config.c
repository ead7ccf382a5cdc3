/*
 * cli_config.c - tix's command words, flag table, usage and checks.
 *
 * The command is found first (from the first two positionals), so that only
 * its own flags are accepted and --help describes it alone.
 */
#include "cli_config.h"

#include <stddef.h>
#include <string.h>

#include "tix_curve.h"
#include "tix_endpoint.h"
#include "tix_util.h"

#define S_STR2(x) #x
#define S_STR(x) S_STR2(x)
#define USAGE_MAX_BYTES 8192
#define S_WORDS 2 /* command words: a group and its command ("sale create") */

static const char s_times_help[] = "Times (T) are Unix milliseconds (1795946400000), an ISO-8601 UTC time\n"
                                   "(2026-11-29T10:00:00Z, optionally with .mmm), or +SECONDS from now; 0 or\n"
                                   "no flag means no bound (opens now, never closes).\n";

static const char s_exit_help[] = "Exit status:\n"
                                  "  0  success: PURCHASED, found, SERVING, created\n"
                                  "  1  any other error\n"
                                  "  2  bad usage (also INVALID_ARGUMENT from the broker)\n"
                                  "  3  sold out\n"
                                  "  4  already purchased (under another request id)\n"
                                  "  5  not found (sale, order, or an unknown health SERVICE)\n"
                                  "  6  unavailable, overloaded, timed out, or not serving\n"
                                  "  7  sale not open yet, or closed\n"
                                  "  8  already exists\n"
                                  "  9  this request's order was cancelled (buy: ORDER_CANCELLED)\n"
                                  "  130  sale watch interrupted (SIGINT or SIGTERM)\n"
                                  "Errors are one line on stderr: \"tix: reason (CODE)\".\n";

/* One flag: the commands that take it and where in cli_t it lands (the
 * row's dest is filled in per parse). */
typedef struct {
    unsigned needs; /* CLI_FLAG_* a command must have; 0: every command */
    size_t field;   /* offsetof(cli_t, ...) */
    tix_opt_t opt;
} s_row_t;

/* The global flags, then the command-specific ones, in --help order. */
static const s_row_t s_rows[] = {
    {0,
     offsetof(cli_t, frontend),
     {"frontend", "TIX_FRONTEND", TIX_OPT_STRING, NULL, TIX_DEFAULT_FRONTEND, 0, 0,
      "broker endpoint; a comma-separated list spreads calls over several"}},
    {0,
     offsetof(cli_t, timeout_ms),
     {"timeout-ms", "TIX_TIMEOUT_MS", TIX_OPT_INT, NULL, S_STR(TIX_DEFAULT_TIMEOUT_MS), 1, 3600000,
      "give up after this long, retries included"}},
    {0, offsetof(cli_t, json), {"json", NULL, TIX_OPT_FLAG, NULL, NULL, 0, 0, "print one JSON object"}},
    {0, offsetof(cli_t, log_level), TIX_OPT_LOG_LEVEL(NULL, "info")},
    {0,
     offsetof(cli_t, curve_secret),
     {"curve-secret", "TIX_CURVE_SECRET", TIX_OPT_STRING, NULL, NULL, 0, 0,
      "this client's certificate (NAME_secret from tix keygen): with --curve-server-key, CURVE"}},
    {0,
     offsetof(cli_t, curve_server),
     {"curve-server-key", "TIX_CURVE_SERVER_KEY", TIX_OPT_STRING, NULL, NULL, 0, 0, "the broker's public certificate"}},
    {CLI_FLAG_DIR,
     offsetof(cli_t, dir),
     {"dir", NULL, TIX_OPT_STRING, NULL, NULL, 0, 0, "DIR, where keygen writes the key pair (default: .)"}},
    {CLI_FLAG_INTERVAL,
     offsetof(cli_t, interval_ms),
     {"interval-ms", NULL, TIX_OPT_INT, NULL, "1000", 50, 3600000, "N, how often sale watch asks, in ms"}},
    {CLI_FLAG_TICKETS,
     offsetof(cli_t, tickets),
     {"tickets", NULL, TIX_OPT_STRING, NULL, NULL, 0, 0, "N, the tickets on sale (1..10000000; required)"}},
    {CLI_FLAG_OPENS_AT,
     offsetof(cli_t, opens_at),
     {"opens-at", NULL, TIX_OPT_STRING, NULL, NULL, 0, 0, "T, when the sale opens (default: now)"}},
    {CLI_FLAG_CLOSES_AT,
     offsetof(cli_t, closes_at),
     {"closes-at", NULL, TIX_OPT_STRING, NULL, NULL, 0, 0, "T, when the sale closes (default: never)"}},
    {CLI_FLAG_REQUEST_ID,
     offsetof(cli_t, request_id),
     {"request-id", NULL, TIX_OPT_STRING, NULL, NULL, 0, 0,
      "R, the idempotency key: the same R gets the same order (default: none)"}},
    {CLI_FLAG_PAGE_SIZE,
     offsetof(cli_t, page_size),
     {"page-size", NULL, TIX_OPT_STRING, NULL, NULL, 0, 0,
      "N, entries asked for per call (1..1000; default: the server's, 100); every page is read"}},
    {CLI_FLAG_REASON,
     offsetof(cli_t, reason),
     {"reason", NULL, TIX_OPT_STRING, NULL, NULL, 0, 0, "TEXT, why the order is cancelled (0-256 bytes)"}},
};

/* The rows a command with flags takes, their dest pointing into cli.
 * opts holds TIX_ARRAY_LEN(s_rows). */
static size_t
s_build_opts(cli_t *cli, unsigned flags, tix_opt_t *opts)
{
    size_t n = 0;
    for (size_t i = 0; i < TIX_ARRAY_LEN(s_rows); i++) {
        if (s_rows[i].needs && !(flags & s_rows[i].needs))
            continue;
        opts[n] = s_rows[i].opt;
        opts[n++].dest = (char *) cli + s_rows[i].field;
    }
    return n;
}

/* Flags that take a value, so that the scan for the command words can skip
 * their values: any row of the table that is not a bare flag. */
static bool
s_takes_value(const char *arg)
{
    if (strncmp(arg, "--", 2) != 0 || strchr(arg, '='))
        return false;
    if (strcmp(arg, "--log-format") == 0) /* built into tix_opts */
        return true;
    for (size_t i = 0; i < TIX_ARRAY_LEN(s_rows); i++) {
        if (s_rows[i].opt.type != TIX_OPT_FLAG && strcmp(arg + 2, s_rows[i].opt.name) == 0)
            return true;
    }
    return false;
}

/* The first two positionals: the command words. */
static int
s_scan_words(int argc, char **argv, const char *words[S_WORDS])
{
    int n = 0;
    for (int i = 1; i < argc && n < S_WORDS; i++) {
        if (strcmp(argv[i], "--") == 0) {
            for (i++; i < argc && n < S_WORDS; i++)
                words[n++] = argv[i];
            break;
        }
        if (strncmp(argv[i], "--", 2) == 0) {
            i += s_takes_value(argv[i]);
            continue;
        }
        words[n++] = argv[i];
    }
    return n;
}

static const cli_command_t *
s_find_command(const char *const words[S_WORDS], int nwords)
{
    for (size_t i = 0; i < cli_ncommands; i++) {
        const cli_command_t *c = &cli_commands[i];
        if (!c->group && nwords >= 1 && strcmp(words[0], c->name) == 0)
            return c;
        if (c->group && nwords >= 2 && strcmp(words[0], c->group) == 0 && strcmp(words[1], c->name) == 0)
            return c;
    }
    return NULL;
}

static bool
s_is_group(const char *word)
{
    for (size_t i = 0; i < cli_ncommands; i++) {
        if (cli_commands[i].group && strcmp(word, cli_commands[i].group) == 0)
            return true;
    }
    return false;
}

static void
s_usage_general(char *buf, size_t size)
{
    size_t used = (size_t) snprintf(buf, size,
                                    "usage: tix [options] COMMAND [ARGS]\n\n"
                                    "tix talks to the tix broker (PROTOCOL.md). Commands:\n");
    for (size_t i = 0; i < cli_ncommands && used < size; i++) {
        const cli_command_t *c = &cli_commands[i];
        char line[64];
        snprintf(line, sizeof line, "%s%s%s %s", c->group ? c->group : "", c->group ? " " : "", c->name, c->args);
        used += (size_t) snprintf(buf + used, size - used, "  %-22s %s\n", line, c->summary);
    }
    if (used < size)
        snprintf(buf + used, size - used,
                 "  sale create also takes --tickets N [--opens-at T] [--closes-at T];\n"
                 "  buy also takes --request-id R; order cancel --reason TEXT; sale list and\n"
                 "  sale orders --page-size N. 'tix COMMAND --help' shows each.\n\n%s\n%s\nOptions:\n",
                 s_times_help, s_exit_help);
}

static void
s_usage_command(const cli_command_t *c, char *buf, size_t size)
{
    snprintf(buf, size, "usage: tix [options] %s%s%s %s\n\n%s.\n\n%s\n%s\nOptions:\n", c->group ? c->group : "",
             c->group ? " " : "", c->name, c->args, c->summary, c->flags & CLI_FLAG_OPENS_AT ? s_times_help : "",
             s_exit_help);
}

/* Checks the positionals after the command words and keeps them. */
static bool
s_take_args(cli_t *cli, const cli_command_t *c, const tix_opts_result_t *res)
{
    int skip = c->group ? 2 : 1;
    int nargs = res->npos - skip;
    const char *name = c->group ? c->group : c->name;
    const char *sub = c->group ? c->name : "";
    if (nargs < c->min_args) {
        cli_fail(cli, CLI_EXIT_USAGE, "USAGE", 0, "%s%s%s: expected %s; try 'tix %s%s%s --help'", name, *sub ? " " : "",
                 sub, c->args, name, *sub ? " " : "", sub);
        return false;
    }
    if (nargs > c->max_args) {
        cli_fail(cli, CLI_EXIT_USAGE, "USAGE", 0, "unexpected argument '%s'", res->pos[skip + c->max_args]);
        return false;
    }
    cli->nargs = nargs;
    for (int i = 0; i < nargs; i++)
        cli->args[i] = res->pos[skip + i];
    return true;
}

static int
s_no_command(const char *const words[S_WORDS], int nwords)
{
    if (nwords == 0)
        return cli_fail(NULL, CLI_EXIT_USAGE, "USAGE", 0, "no command given; try 'tix --help'");
    if (s_is_group(words[0]))
        return cli_fail(NULL, CLI_EXIT_USAGE, "USAGE", 0,
                        "%s: expected a subcommand such as '%s get'; try 'tix --help'", words[0], words[0]);
    return cli_fail(NULL, CLI_EXIT_USAGE, "USAGE", 0, "unknown command '%s'; try 'tix --help'", words[0]);
}

/* Checks --frontend and the CURVE flags before libtix sees them, so that the
 * one error line names the flag at fault; false after printing it. */
static bool
s_connect_flags_ok(const cli_t *cli)
{
    char why[512];
    tix_curve_client_t keys;
    const tix_curve_client_t *use;
    tix_err err = tix_curve_client_config(cli->curve_secret, cli->curve_server, &keys, &use, why, sizeof why);
    memset(&keys, 0, sizeof keys); /* libtix loads them again */
    if (err != TIX_OK) {
        cli_fail(cli, CLI_EXIT_USAGE, "USAGE", 0, "%s", why);
        return false;
    }
    if (tix_endpoints_check(cli->frontend, false, why, sizeof why) != TIX_OK) {
        cli_fail(cli, CLI_EXIT_USAGE, "USAGE", 0, "--frontend: %s", why);
        return false;
    }
    return true;
}

/* What follows a successful tix_opts_parse: the command, its positionals,
 * the log level and the connection flags. */
static bool
s_check(cli_t *cli, const cli_command_t *cmd, const tix_opts_result_t *res, const char *const words[S_WORDS],
        int nwords, int *exit)
{
    *exit = CLI_EXIT_USAGE;
    if (!cmd) {
        s_no_command(words, nwords);
        return false;
    }
    if (!s_take_args(cli, cmd, res))
        return false;
    char why[512];
    if (tix_opts_log_level(cli->log_level, why, sizeof why) != TIX_OK) {
        cli_fail(cli, CLI_EXIT_USAGE, "USAGE", 0, "%s", why);
        return false;
    }
    return (cmd->flags & CLI_FLAG_OFFLINE) || s_connect_flags_ok(cli);
}

bool
cli_config_parse(cli_t *cli, int argc, char **argv, const cli_command_t **cmd, int *exit)
{
    memset(cli, 0, sizeof *cli);
    const char *words[S_WORDS] = {NULL};
    int nwords = s_scan_words(argc, argv, words);
    *cmd = s_find_command(words, nwords);
    tix_opt_t opts[TIX_ARRAY_LEN(s_rows)];
    size_t nopts = s_build_opts(cli, *cmd ? (*cmd)->flags : 0, opts);
    char usage[USAGE_MAX_BYTES];
    if (*cmd)
        s_usage_command(*cmd, usage, sizeof usage);
    else
        s_usage_general(usage, sizeof usage);

    tix_opts_result_t res;
    if (tix_opts_parse(opts, nopts, argc, argv, usage, &res) != TIX_OK) {
        *exit = CLI_EXIT_USAGE;
        return false;
    }
    if (res.help) {
        *exit = CLI_EXIT_OK;
        return false;
    }
    return s_check(cli, *cmd, &res, words, nwords, exit);
}
