/*
 * cli_output.c - how the tix CLI prints answers and errors, and reads times.
 *
 * Readable output is one line per answer, "WORD key=value ...", so that it
 * greps well; --json prints one object per command with PROTOCOL.md field
 * names, so that it parses.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define CLI_MAX_UNIX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

/* ---- JSON and readable records -------------------------------------------- */

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t
s_utf8_len(const unsigned char *s)
{
    size_t n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 1;
    for (size_t i = 1; i < n; i++) {
        if (s[i] == '\0')
            return 0;
    }
    return tix_utf8_valid(s, n, true) ? n : 0;
}

void
cli_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *) s; *p;) {
        if (*p == '"' || *p == '\\') {
            fprintf(out, "\\%c", *p++);
        } else if (*p == '\n') {
            fputs("\\n", out), p++;
        } else if (*p == '\t') {
            fputs("\\t", out), p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            fprintf(out, "\\u%04x", *p++);
        } else if (*p < 0x80) {
            fputc(*p++, out);
        } else {
            size_t n = s_utf8_len(p);
            if (n == 0) {
                fputs("\\ufffd", out), p++;
            } else {
                fwrite(p, 1, n, out);
                p += n;
            }
        }
    }
    fputc('"', out);
}

/* Readable values are quoted when a reader splitting on blanks and '='
 * would get them wrong. */
static void
s_readable_value(FILE *out, const char *v)
{
    bool plain = *v != '\0';
    for (const unsigned char *p = (const unsigned char *) v; *p && plain; p++)
        plain = !(isspace(*p) || *p == '"' || *p == '=' || *p == '\\' || *p < 0x20 || *p == 0x7f);
    if (plain)
        fputs(v, out);
    else
        cli_json_string(out, v); /* a JSON string is a fine quoted form */
}

static void
s_key(cli_out_t *o, const char *key, const char *json_key)
{
    if (o->json) {
        fputs(o->first ? "" : ",", o->out);
        cli_json_string(o->out, json_key);
        fputc(':', o->out);
    } else {
        fprintf(o->out, " %s=", key);
    }
    o->first = false;
}

void
cli_out_begin(cli_out_t *o, bool json, const char *word, const char *json_key)
{
    o->out = stdout;
    o->json = json;
    o->first = true;
    if (!json) {
        fputs(word, o->out);
        return;
    }
    fputc('{', o->out);
    cli_out_str(o, "code", "code", "OK");
    if (json_key)
        cli_out_str(o, json_key, json_key, word);
}

void
cli_out_str(cli_out_t *o, const char *key, const char *json_key, const char *value)
{
    s_key(o, key, json_key);
    if (o->json)
        cli_json_string(o->out, value);
    else
        s_readable_value(o->out, value);
}

void
cli_out_int(cli_out_t *o, const char *key, const char *json_key, int64_t value)
{
    s_key(o, key, json_key);
    fprintf(o->out, "%lld", (long long) value);
}

void
cli_out_time(cli_out_t *o, const char *key, const char *json_key, int64_t ms)
{
    if (o->json) {
        cli_out_int(o, key, json_key, ms);
        return;
    }
    char when[32];
    if (ms == 0)
        snprintf(when, sizeof when, "-");
    else
        cli_format_time(ms, when, sizeof when);
    cli_out_str(o, key, json_key, when);
}

void
cli_out_rate(cli_out_t *o, const char *key, const char *json_key, double value)
{
    s_key(o, key, json_key);
    fprintf(o->out, "%.1f", value);
}

void
cli_out_end_inline(cli_out_t *o)
{
    if (o->json)
        fputc('}', o->out);
    fflush(o->out);
}

void
cli_out_end(cli_out_t *o)
{
    fputs(o->json ? "}\n" : "\n", o->out);
    fflush(o->out);
}

/* ---- Errors -------------------------------------------------------------- */

int
cli_fail(const cli_t *cli, int exit, const char *code, uint32_t retry_after_ms, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    /* One line, whatever the broker put in its message. */
    for (char *p = reason; *p; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
    fprintf(stderr, "tix: %s (%s)\n", reason, code);
    if (cli && cli->json) {
        printf("{\"code\":");
        cli_json_string(stdout, code);
        printf(",\"message\":");
        cli_json_string(stdout, reason);
        printf(",\"retry_after_ms\":%u}\n", retry_after_ms);
        fflush(stdout);
    }
    return exit;
}

static int
s_exit_for_code(tix_code code)
{
    switch (code) {
    case TIX__V1__CODE__INVALID_ARGUMENT: return CLI_EXIT_USAGE;
    case TIX__V1__CODE__NOT_FOUND: return CLI_EXIT_NOT_FOUND;
    case TIX__V1__CODE__ALREADY_EXISTS: return CLI_EXIT_EXISTS;
    case TIX__V1__CODE__DEADLINE_EXCEEDED:
    case TIX__V1__CODE__UNAVAILABLE:
    case TIX__V1__CODE__RESOURCE_EXHAUSTED: return CLI_EXIT_UNAVAILABLE;
    default: return CLI_EXIT_ERROR;
    }
}

int
cli_fail_call(const cli_t *cli, tix_err err, const tix_result_t *r)
{
    /* libtix fills result->code on every failure too (DEADLINE_EXCEEDED on
     * a timeout, CANCELLED on a signal), so the code decides the status. */
    int exit = s_exit_for_code(r->code);
    const char *code = tix_code_name(r->code);
    const char *reason = r->message[0] ? r->message : err != TIX_OK ? tix_strerror(err) : "the broker gave no reason";
    if (r->retry_after_ms)
        return cli_fail(cli, exit, code, r->retry_after_ms, "%s; retry after %u ms", reason, r->retry_after_ms);
    return cli_fail(cli, exit, code, 0, "%s", reason);
}

/* ---- Times --------------------------------------------------------------- */

void
cli_format_time(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char day[24];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", day, (int) (ms % 1000));
}

/* Reads exactly n digits at *p into *v. */
static bool
s_digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (!isdigit((unsigned char) **p))
            return false;
        *v = *v * 10 + (**p - '0');
    }
    return true;
}

/* YYYY-MM-DDTHH:MM:SS[.f{1,3}]Z, checked field by field and by a round trip
 * through timegm (which would quietly turn 02-30 into 03-02). */
static bool
s_parse_iso(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int year, mon, frac = 0;
    const char *p = s;
    if (!s_digits(&p, 4, &year) || *p++ != '-' || !s_digits(&p, 2, &mon) || *p++ != '-' ||
        !s_digits(&p, 2, &tm.tm_mday) || (*p != 'T' && *p != 't') || !(++p, s_digits(&p, 2, &tm.tm_hour)) ||
        *p++ != ':' || !s_digits(&p, 2, &tm.tm_min) || *p++ != ':' || !s_digits(&p, 2, &tm.tm_sec))
        return false;
    if (*p == '.') {
        int n = 0;
        for (p++; isdigit((unsigned char) *p) && n < 3; p++, n++)
            frac = frac * 10 + (*p - '0');
        if (n == 0 || isdigit((unsigned char) *p))
            return false;
        for (; n < 3; n++)
            frac *= 10;
    }
    if ((*p != 'Z' && *p != 'z') || p[1] != '\0')
        return false;
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    struct tm want = tm;
    time_t secs = timegm(&tm);
    if (year < 1970 || tm.tm_mday != want.tm_mday || tm.tm_mon != want.tm_mon || tm.tm_hour != want.tm_hour ||
        tm.tm_min != want.tm_min || tm.tm_sec != want.tm_sec)
        return false;
    *ms = (int64_t) secs * 1000 + frac;
    return true;
}

bool
cli_parse_count(const char *s, long long max, long long *v)
{
    if (!isdigit((unsigned char) *s))
        return false;
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return errno == 0 && *end == '\0' && *v <= max;
}

bool
cli_parse_time(const char *s, int64_t now_ms, int64_t *ms)
{
    long long v;
    if (s[0] == '+') {
        if (!cli_parse_count(s + 1, (CLI_MAX_UNIX_MS - now_ms) / 1000, &v))
            return false;
        *ms = now_ms + v * 1000;
        return true;
    }
    if (strchr(s, '-'))
        return s_parse_iso(s, ms);
    if (!cli_parse_count(s, CLI_MAX_UNIX_MS, &v))
        return false;
    *ms = v;
    return true;
}

const char *
cli_enum_name(const ProtobufCEnumDescriptor *desc, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
    return v ? v->name : "UNRECOGNIZED";
}
