#include "tix_opts.h"
#include "tix_log.h"
#include "tix_version.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *
s_prog(char **argv)
{
    const char *slash = strrchr(argv[0], '/');
    return slash ? slash + 1 : argv[0];
}

static tix_err
s_assign(const tix_opt_t *opt, const char *value, const char *prog, const char *source)
{
    char *end;
    long v;
    switch (opt->type) {
    case TIX_OPT_STRING: *(const char **) opt->dest = value; return TIX_OK;
    case TIX_OPT_FLAG:
        *(bool *) opt->dest = strcmp(value, "1") == 0 || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0;
        return TIX_OK;
    case TIX_OPT_INT:
        errno = 0;
        v = strtol(value, &end, 10);
        if (errno || end == value || *end != '\0' || v < opt->min || v > opt->max) {
            fprintf(stderr, "%s: %s: expected an integer in [%ld, %ld], got '%s'\n", prog, source, opt->min, opt->max,
                    value);
            return TIX_ERR_CONFIG;
        }
        *(long *) opt->dest = v;
        return TIX_OK;
    }
    return TIX_ERR_INTERNAL;
}

static const tix_opt_t *
s_find(const tix_opt_t *opts, size_t nopts, const char *name, size_t len)
{
    for (size_t i = 0; i < nopts; i++) {
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    }
    return NULL;
}

void
tix_opts_print(const tix_opt_t *opts, size_t nopts, FILE *out)
{
    for (size_t i = 0; i < nopts; i++) {
        const tix_opt_t *o = &opts[i];
        char flag[64];
        snprintf(flag, sizeof flag, "--%s%s", o->name, o->type == TIX_OPT_FLAG ? "" : " VALUE");
        fprintf(out, "  %-26s %s", flag, o->help);
        if (o->env)
            fprintf(out, " [env %s]", o->env);
        if (o->defval && o->type != TIX_OPT_FLAG)
            fprintf(out, " (default: %s)", o->defval);
        fputc('\n', out);
    }
    fprintf(out, "  %-26s %s [env TIX_LOG_FORMAT] (default: kv)\n", "--log-format VALUE",
            "kv (key=value) or json (one object per line)");
    fprintf(out, "  %-26s %s\n", "--version", "print the version and exit");
    fprintf(out, "  %-26s %s\n", "--help", "show this help and exit");
}

/* The log format every binary shares (tix_log.h), from its variable or its
 * flag: one wording for a bad value, whichever binary. */
static tix_err
s_log_format(const char *value, const char *prog, const char *source)
{
    if (tix_log_set_format_name(value))
        return TIX_OK;
    fprintf(stderr, "%s: %s: expected kv or json, got '%s'\n", prog, source, value);
    return TIX_ERR_CONFIG;
}

/* --help, --version and --log-format: built in, so that every binary has
 * them. Returns true when arg was one of them, with *err set; *done when the
 * process should exit 0 now (help or version printed). */
static bool
s_builtin(const char *name, size_t len, const char *eq, int argc, char **argv, int *i, const char *prog, tix_err *err,
          bool *done)
{
    *err = TIX_OK;
    *done = false;
    if (len == 7 && strncmp(name, "version", 7) == 0) {
        printf("%s %s\n", prog, tix_version());
        *done = true;
        return true;
    }
    if (len != 10 || strncmp(name, "log-format", 10) != 0)
        return false;
    if (!eq && *i + 1 >= argc) {
        fprintf(stderr, "%s: option '--log-format' needs a value\n", prog);
        *err = TIX_ERR_CONFIG;
        return true;
    }
    *err = s_log_format(eq ? eq + 1 : argv[++*i], prog, "--log-format");
    return true;
}

/* Every option's default, then its environment twin; TIX_LOG_FORMAT too. */
static tix_err
s_defaults_and_env(const tix_opt_t *opts, size_t nopts, const char *prog)
{
    for (size_t i = 0; i < nopts; i++) {
        const tix_opt_t *o = &opts[i];
        if (o->defval && s_assign(o, o->defval, prog, "default") != TIX_OK)
            return TIX_ERR_INTERNAL;
        const char *env = o->env ? getenv(o->env) : NULL;
        if (env && *env && s_assign(o, env, prog, o->env) != TIX_OK)
            return TIX_ERR_CONFIG;
    }

    const char *format = getenv("TIX_LOG_FORMAT");
    if (format && *format && s_log_format(format, prog, "TIX_LOG_FORMAT") != TIX_OK)
        return TIX_ERR_CONFIG;
    return TIX_OK;
}

tix_err
tix_opts_parse(const tix_opt_t *opts, size_t nopts, int argc, char **argv, const char *usage, tix_opts_result_t *result)
{
    const char *prog = s_prog(argv);
    memset(result, 0, sizeof *result);

    tix_err err = s_defaults_and_env(opts, nopts, prog);
    if (err != TIX_OK)
        return err;

    int npos = 0;
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            for (i++; i < argc; i++)
                argv[npos++] = argv[i];
            break;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            argv[npos++] = arg;
            continue;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t) (eq - name) : strlen(name);
        if (len == 4 && strncmp(name, "help", 4) == 0) {
            fputs(usage, stdout);
            tix_opts_print(opts, nopts, stdout);
            result->help = true;
            return TIX_OK;
        }
        if (s_builtin(name, len, eq, argc, argv, &i, prog, &err, &result->help)) {
            if (err != TIX_OK || result->help)
                return err;
            continue;
        }
        const tix_opt_t *o = s_find(opts, nopts, name, len);
        if (!o) {
            fprintf(stderr, "%s: unknown option '--%.*s' (try --help)\n", prog, (int) len, name);
            return TIX_ERR_CONFIG;
        }
        const char *value;
        if (o->type == TIX_OPT_FLAG) {
            value = eq ? eq + 1 : "1";
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            fprintf(stderr, "%s: option '--%s' needs a value\n", prog, o->name);
            return TIX_ERR_CONFIG;
        }
        char source[80];
        snprintf(source, sizeof source, "--%s", o->name);
        if (s_assign(o, value, prog, source) != TIX_OK)
            return TIX_ERR_CONFIG;
    }
    result->npos = npos;
    result->pos = argv;
    return TIX_OK;
}

tix_err
tix_opts_log_level(const char *value, char *why, size_t why_size)
{
    if (value && tix_log_set_level_name(value))
        return TIX_OK;
    snprintf(why, why_size, "--log-level: expected debug, info, warn or error, got '%s'", value ? value : "");
    return TIX_ERR_CONFIG;
}
