/*
 * main.c - tix, the command-line client: find the command, parse its flags,
 * connect, run it, exit with its status.
 */
#include <string.h>

#include "cli.h"
#include "tix_curve.h"
#include "tix_endpoint.h"
#include "tix_log.h"
#include "tix_util.h"

#define S_STR2(x) #x
#define S_STR(x) S_STR2(x)
#define USAGE_MAX_BYTES 4096

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
                                  "Errors are one line on stderr: \"tix: reason (CODE)\".\n";

/* Flags that take a value, so that the scan for the command words can skip
 * their values: the same set tix_opts will parse. */
static bool
s_takes_value(const char *arg)
{
    static const char *const names[] = {"frontend",  "timeout-ms", "log-level",    "tickets",          "opens-at",
                                        "closes-at", "request-id", "curve-secret", "curve-server-key", "dir"};
    if (strncmp(arg, "--", 2) != 0 || strchr(arg, '='))
        return false;
    for (size_t i = 0; i < TIX_ARRAY_LEN(names); i++) {
        if (strcmp(arg + 2, names[i]) == 0)
            return true;
    }
    return false;
}

/* The first two positionals: the command words. */
static int
s_scan_words(int argc, char **argv, const char *words[2])
{
    int n = 0;
    for (int i = 1; i < argc && n < 2; i++) {
        if (strcmp(argv[i], "--") == 0) {
            for (i++; i < argc && n < 2; i++)
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
s_find_command(const char *const words[2], int nwords)
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

/* The global flags, then those of cmd (NULL: none). */
static size_t
s_build_opts(cli_t *cli, const cli_command_t *cmd, tix_opt_t *opts)
{
    unsigned flags = cmd ? cmd->flags : 0;
    size_t n = 0;
    opts[n++] = (tix_opt_t){"frontend",
                            "TIX_FRONTEND",
                            TIX_OPT_STRING,
                            &cli->frontend,
                            TIX_DEFAULT_FRONTEND,
                            0,
                            0,
                            "broker endpoint; a comma-separated list spreads calls over several"};
    opts[n++] = (tix_opt_t){"timeout-ms",
                            "TIX_TIMEOUT_MS",
                            TIX_OPT_INT,
                            &cli->timeout_ms,
                            S_STR(TIX_DEFAULT_TIMEOUT_MS),
                            1,
                            3600000,
                            "give up after this long, retries included"};
    opts[n++] = (tix_opt_t){"json", NULL, TIX_OPT_FLAG, &cli->json, NULL, 0, 0, "print one JSON object"};
    opts[n++] = (tix_opt_t){
        "log-level", "TIX_LOG_LEVEL", TIX_OPT_STRING, &cli->log_level, "info", 0, 0, "debug, info, warn or error"};
    opts[n++] = (tix_opt_t){"curve-secret",
                            "TIX_CURVE_SECRET",
                            TIX_OPT_STRING,
                            &cli->curve_secret,
                            NULL,
                            0,
                            0,
                            "this client's certificate (NAME_secret from tix keygen): with --curve-server-key, CURVE"};
    opts[n++] = (tix_opt_t){"curve-server-key",
                            "TIX_CURVE_SERVER_KEY",
                            TIX_OPT_STRING,
                            &cli->curve_server,
                            NULL,
                            0,
                            0,
                            "the broker's public certificate"};
    if (flags & CLI_FLAG_DIR)
        opts[n++] = (tix_opt_t){
            "dir", NULL, TIX_OPT_STRING, &cli->dir, NULL, 0, 0, "DIR, where keygen writes the key pair (default: .)"};
    if (flags & CLI_FLAG_TICKETS)
        opts[n++] = (tix_opt_t){"tickets",
                                NULL,
                                TIX_OPT_STRING,
                                &cli->tickets,
                                NULL,
                                0,
                                0,
                                "N, the tickets on sale (1..10000000; required)"};
    if (flags & CLI_FLAG_OPENS_AT)
        opts[n++] = (tix_opt_t){
            "opens-at", NULL, TIX_OPT_STRING, &cli->opens_at, NULL, 0, 0, "T, when the sale opens (default: now)"};
    if (flags & CLI_FLAG_CLOSES_AT)
        opts[n++] = (tix_opt_t){
            "closes-at", NULL, TIX_OPT_STRING, &cli->closes_at, NULL, 0, 0, "T, when the sale closes (default: never)"};
    if (flags & CLI_FLAG_REQUEST_ID)
        opts[n++] = (tix_opt_t){"request-id",
                                NULL,
                                TIX_OPT_STRING,
                                &cli->request_id,
                                NULL,
                                0,
                                0,
                                "R, the idempotency key: the same R gets the same order (default: none)"};
    return n;
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
                 "  buy also takes --request-id R. 'tix COMMAND --help' shows each.\n\n%s\n%s\nOptions:\n",
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
s_no_command(const char *const words[2], int nwords)
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
s_connect_flags_ok(cli_t *cli)
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

int
main(int argc, char **argv)
{
    tix_log_init("tix");
    cli_t cli = {0};
    const char *words[2] = {NULL, NULL};
    int nwords = s_scan_words(argc, argv, words);
    const cli_command_t *cmd = s_find_command(words, nwords);
    tix_opt_t opts[12];
    size_t nopts = s_build_opts(&cli, cmd, opts);
    char usage[USAGE_MAX_BYTES];
    if (cmd)
        s_usage_command(cmd, usage, sizeof usage);
    else
        s_usage_general(usage, sizeof usage);

    tix_opts_result_t res;
    if (tix_opts_parse(opts, nopts, argc, argv, usage, &res) != TIX_OK)
        return CLI_EXIT_USAGE;
    if (res.help)
        return CLI_EXIT_OK;
    if (!cmd)
        return s_no_command(words, nwords);
    if (!s_take_args(&cli, cmd, &res))
        return CLI_EXIT_USAGE;
    if (!tix_log_set_level_name(cli.log_level))
        return cli_fail(&cli, CLI_EXIT_USAGE, "USAGE", 0, "--log-level: expected debug, info, warn or error, got '%s'",
                        cli.log_level);

    if (cmd->flags & CLI_FLAG_OFFLINE)
        return cmd->run(&cli);
    if (!s_connect_flags_ok(&cli))
        return CLI_EXIT_USAGE;
    tix_signals_install(); /* before the socket exists, as tix_util.h asks */
    cli.client = tix_client_new_curve(cli.frontend, cli.curve_secret, cli.curve_server);
    if (!cli.client) /* the flags were checked: libzmq itself failed (logged) */
        return cli_fail(&cli, CLI_EXIT_ERROR, "INTERNAL", 0, "cannot create a client for '%s'", cli.frontend);
    int exit = cmd->run(&cli);
    tix_client_destroy(&cli.client);
    return exit;
}
