/*
 * tix_opts.h - command-line flags with TIX_* environment twins.
 *
 * Every binary describes its configuration as a table of tix_opt_t; the
 * parser applies defaults, then environment variables, then flags (a flag
 * wins over its variable). "--name value" and "--name=value" are accepted;
 * "--help" prints the usage and the table. Every binary also has, built in,
 * "--version" (prints "PROG 0.1.0 (git 1a2b3c4)") and "--log-format kv|json"
 * with its twin TIX_LOG_FORMAT (tix_log.h). Arguments that are not flags are
 * positionals, returned in order. Single-threaded (call from main).
 */
#ifndef TIX_OPTS_H
#define TIX_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "tix_err.h"

typedef enum {
    TIX_OPT_STRING, /* dest is const char **: borrowed from argv, environ or defval */
    TIX_OPT_INT,    /* dest is long *, checked against [min, max] */
    TIX_OPT_FLAG,   /* dest is bool *; "--name" sets it, env "1"/"true"/"yes" too */
} tix_opt_type;

typedef struct {
    const char *name; /* long flag without dashes, e.g. "frontend" */
    const char *env;  /* environment twin, e.g. "TIX_FRONTEND", or NULL */
    tix_opt_type type;
    void *dest;         /* see tix_opt_type */
    const char *defval; /* default as text, or NULL for none */
    long min, max;      /* TIX_OPT_INT only */
    const char *help;   /* one line */
} tix_opt_t;

typedef struct {
    bool help;  /* --help or --version was given and printed: exit 0 */
    int npos;   /* number of positionals */
    char **pos; /* positionals (borrowed from argv) */
} tix_opts_result_t;

/* Parses argv[1..argc) against opts. On an unknown flag, a missing value or
 * an out-of-range number it prints "PROG: reason" on stderr and returns
 * TIX_ERR_CONFIG. usage is printed first by --help (e.g. "usage: tix-broker
 * [options]\n\n..."). result->pos points into a buffer owned by the caller's
 * argv: the parser reorders argv so that positionals come first. */
tix_err tix_opts_parse(const tix_opt_t *opts, size_t nopts, int argc, char **argv, const char *usage,
                       tix_opts_result_t *result);

/* Prints the option table (flags, env twins, defaults, help) to out. */
void tix_opts_print(const tix_opt_t *opts, size_t nopts, FILE *out);

/* The --log-level row every binary shares; dest is a const char **. */
#define TIX_OPT_LOG_LEVEL(dest, defval)                                                                                \
    {                                                                                                                  \
        "log-level", "TIX_LOG_LEVEL", TIX_OPT_STRING, (dest), (defval), 0, 0, "debug, info, warn or error"             \
    }

/* Sets the log level from a --log-level value. Returns TIX_OK, or
 * TIX_ERR_CONFIG with "--log-level: expected ..., got '...'" in why. */
tix_err tix_opts_log_level(const char *value, char *why, size_t why_size);

#endif
