/*
 * cli.h - the tix command-line client: shared state, commands, output.
 *
 * cli_config.c finds the command and parses its flags into a cli_t; each command
 * (cli_commands.c) makes one blocking libtix call and prints the answer
 * through cli_output.c, readable by default or as one JSON object with
 * --json. Every command returns the process exit status (CLI_EXIT_*).
 * Single-threaded.
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tix_priv.h"
#include "tix_opts.h"

/* Exit statuses: documented in `tix --help` and clients/README.md. */
#define CLI_EXIT_OK 0    /* PURCHASED, found, SERVING, created */
#define CLI_EXIT_ERROR 1 /* any other error */
#define CLI_EXIT_USAGE 2 /* bad usage, or INVALID_ARGUMENT from the broker */
#define CLI_EXIT_SOLD_OUT 3
#define CLI_EXIT_ALREADY 4       /* ALREADY_PURCHASED */
#define CLI_EXIT_NOT_FOUND 5     /* NOT_FOUND, health SERVICE_UNKNOWN */
#define CLI_EXIT_UNAVAILABLE 6   /* unavailable, timed out, overloaded, not serving */
#define CLI_EXIT_NOT_OPEN 7      /* SALE_NOT_OPEN, SALE_CLOSED */
#define CLI_EXIT_EXISTS 8        /* ALREADY_EXISTS */
#define CLI_EXIT_CANCELLED 9     /* ORDER_CANCELLED: this request's order was cancelled */
#define CLI_EXIT_INTERRUPTED 130 /* sale watch ended by SIGINT or SIGTERM (128 + SIGINT, as shells do) */

#define CLI_MAX_ARGS 4 /* positionals after the command words */

/* Everything a command needs; flags point into argv, the environment or
 * static defaults (tix_opts). */
typedef struct {
    const char *frontend;     /* --frontend / TIX_FRONTEND */
    long timeout_ms;          /* --timeout-ms / TIX_TIMEOUT_MS */
    bool json;                /* --json */
    const char *log_level;    /* --log-level / TIX_LOG_LEVEL */
    const char *tickets;      /* sale create --tickets */
    const char *opens_at;     /* sale create --opens-at */
    const char *closes_at;    /* sale create --closes-at */
    const char *request_id;   /* buy --request-id */
    const char *page_size;    /* sale list / sale orders --page-size */
    const char *reason;       /* order cancel --reason */
    const char *curve_secret; /* --curve-secret / TIX_CURVE_SECRET: this client's certificate */
    const char *curve_server; /* --curve-server-key / TIX_CURVE_SERVER_KEY: the broker's public one */
    const char *dir;          /* keygen --dir */
    long interval_ms;         /* sale watch --interval-ms */
    int nargs;                /* positionals after the command words */
    const char *args[CLI_MAX_ARGS];
    tix_client_t *client; /* connected before the command runs */
} cli_t;

/* Which command-specific flags a command takes. */
enum {
    CLI_FLAG_TICKETS = 1,
    CLI_FLAG_OPENS_AT = 2,
    CLI_FLAG_CLOSES_AT = 4,
    CLI_FLAG_REQUEST_ID = 8,
    CLI_FLAG_DIR = 16,     /* --dir (keygen) */
    CLI_FLAG_OFFLINE = 32, /* runs without a broker: no client is connected */
    CLI_FLAG_PAGE_SIZE = 64,
    CLI_FLAG_REASON = 128,
    CLI_FLAG_INTERVAL = 256, /* --interval-ms (sale watch) */
};

typedef struct {
    const char *group; /* "sale", or NULL for a one-word command */
    const char *name;  /* "create", "buy", ... */
    const char *args;  /* positionals, for usage: "SALE USER" */
    int min_args, max_args;
    unsigned flags;      /* CLI_FLAG_* */
    const char *summary; /* one line */
    int (*run)(cli_t *cli);
} cli_command_t;

/* The command table (cli_commands.c). */
extern const cli_command_t cli_commands[];
extern const size_t cli_ncommands;

/* sale watch SALE (cli_watch.c): polls GetSale every --interval-ms until the
 * sale is sold out or closed. */
int cli_sale_watch(cli_t *cli);

/* ---- cli_output.c ---------------------------------------------------------- */

/* One answer being printed: "WORD key=value ..." or one JSON object. */
typedef struct {
    FILE *out;
    bool json;
    bool first; /* no JSON member written yet */
} cli_out_t;

/* Starts a record. Readable: prints word. JSON: opens the object with
 * "code":"OK" and, when json_key is not NULL, "json_key":"word". */
void cli_out_begin(cli_out_t *o, bool json, const char *word, const char *json_key);
/* Adds a string: readable key=value (quoted when needed), JSON "json_key". */
void cli_out_str(cli_out_t *o, const char *key, const char *json_key, const char *value);
void cli_out_int(cli_out_t *o, const char *key, const char *json_key, int64_t value);
/* A Unix-ms time: readable ISO-8601 UTC ("-" for 0 = no bound), JSON a number. */
void cli_out_time(cli_out_t *o, const char *key, const char *json_key, int64_t ms);
/* A rate with one decimal: readable key=12.5, JSON a number. */
void cli_out_rate(cli_out_t *o, const char *key, const char *json_key, double value);
/* Ends the record with a newline. */
void cli_out_end(cli_out_t *o);
/* Ends the record without one, for a line rewritten in place (flushed). */
void cli_out_end_inline(cli_out_t *o);

/* Prints an error: "tix: reason (CODE)" on stderr and, with --json, a
 * {"code","message","retry_after_ms"} object on stdout. Returns exit. */
int cli_fail(const cli_t *cli, int exit, const char *code, uint32_t retry_after_ms, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Reports a call that got no OK answer; returns its exit status. */
int cli_fail_call(const cli_t *cli, tix_err err, const tix_result_t *result);

/* Writes s as a JSON string literal (quotes included); invalid UTF-8 bytes
 * become U+FFFD so the output always parses. */
void cli_json_string(FILE *out, const char *s);
/* Formats Unix ms as 2026-11-29T10:00:00.123Z into buf (>= 32 bytes). */
void cli_format_time(int64_t ms, char *buf, size_t size);
/* Parses T: Unix ms ("1795946400000"), ISO-8601 UTC
 * ("2026-11-29T10:00:00Z", optional .mmm) or "+SECONDS" from now_ms.
 * Returns false on anything else. */
bool cli_parse_time(const char *s, int64_t now_ms, int64_t *ms);
/* Parses a non-negative decimal integer <= max, digits only (strtoll alone
 * would take signs and blanks). */
bool cli_parse_count(const char *s, long long max, long long *v);
/* The name of an enum value, or "UNRECOGNIZED" for a value this build does not know. */
const char *cli_enum_name(const ProtobufCEnumDescriptor *desc, int value);

#endif
