#include "tix_log.h"
#include "tix_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Room for the longest JSON line a 1 KiB text can make: every byte of it
 * escaped as \u00XX is 6 bytes, plus quotes and commas per field. */
#define S_TEXT_BYTES 1024
#define S_LINE_BYTES (8 * S_TEXT_BYTES)

static const char *s_component = "tix";
static tix_log_level s_level = TIX_LOG_INFO;
static bool s_json;
static const char *const s_names[] = {"debug", "info", "warn", "error"};
/* Keys of the line itself: a caller's pair with one of these names is
 * renamed field_<name>, so that no JSON object has a key twice. */
static const char *const s_reserved[] = {"ts", "level", "comp", "msg"};

void
tix_log_init(const char *component)
{
    s_component = component;
}

bool
tix_log_set_level_name(const char *name)
{
    for (size_t i = 0; i < TIX_ARRAY_LEN(s_names); i++) {
        if (strcmp(name, s_names[i]) == 0) {
            s_level = (tix_log_level) i;
            return true;
        }
    }
    return false;
}

bool
tix_log_set_format_name(const char *name)
{
    if (strcmp(name, "kv") != 0 && strcmp(name, "json") != 0)
        return false;
    s_json = strcmp(name, "json") == 0;
    return true;
}

bool
tix_log_enabled(tix_log_level level)
{
    return level >= s_level;
}

/* ---- JSON lines -------------------------------------------------------- */

/* A line being built; full once something did not fit (the rest is left
 * out, and the object is still closed). */
typedef struct {
    char buf[S_LINE_BYTES];
    size_t len;
    bool full;
} s_line_t;

/* Appends n bytes if they fit with room left for closing the line. */
static bool
s_put(s_line_t *l, const char *s, size_t n)
{
    if (l->full || l->len + n + 8 > sizeof l->buf) {
        l->full = true;
        return false;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    return true;
}

/* Length of the well-formed UTF-8 sequence at p (at most left bytes), or 0
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t
s_utf8_len(const unsigned char *p, size_t left)
{
    unsigned lo = 0x80, hi = 0xBF;
    size_t n;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        n = 2;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        n = 3;
        lo = p[0] == 0xE0 ? 0xA0 : lo;
        hi = p[0] == 0xED ? 0x9F : hi;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        n = 4;
        lo = p[0] == 0xF0 ? 0x90 : lo;
        hi = p[0] == 0xF4 ? 0x8F : hi;
    } else {
        return 0;
    }
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    }
    return n;
}

/* Appends the escaped body of s[0..n) (no quotes): quotes, backslashes
 * and control bytes escaped, invalid UTF-8 as U+FFFD, so that every line
 * parses. Stops, on a character boundary, once the line is full. */
static void
s_json_body(s_line_t *l, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *) s, *end = p + n;
    while (p < end && !l->full) {
        size_t u = *p >= 0x80 ? s_utf8_len(p, (size_t) (end - p)) : 0;
        char esc[8] = {'\\', (char) *p};
        if (u) {
            s_put(l, (const char *) p, u), p += u;
        } else if (*p >= 0x80) {
            s_put(l, "\\ufffd", 6), p++;
        } else if (*p == '"' || *p == '\\') {
            s_put(l, esc, 2), p++;
        } else if (*p == '\n' || *p == '\t' || *p == '\r') {
            esc[1] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
            s_put(l, esc, 2), p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            esc[1] = 'u', esc[2] = '0', esc[3] = '0';
            esc[4] = hex[*p >> 4], esc[5] = hex[*p & 15];
            s_put(l, esc, 6), p++;
        } else {
            s_put(l, (const char *) p++, 1);
        }
    }
}

/* Appends ,"key":"value" (a caller's key renamed field_<key> when the line
 * itself uses it). Strings cut short by a full line are still closed: s_put keeps
 * room for the closing quotes and brace. */
static void
s_json_field(s_line_t *l, const char *key, const char *value, size_t value_len, bool callers)
{
    bool reserved = false;
    for (size_t i = 0; callers && i < TIX_ARRAY_LEN(s_reserved); i++)
        reserved = reserved || strcmp(key, s_reserved[i]) == 0;
    if (!s_put(l, reserved ? ",\"field_" : ",\"", reserved ? 8 : 2))
        return;
    s_json_body(l, key, strlen(key));
    bool open = s_put(l, "\":\"", 3);
    s_json_body(l, value, value_len);
    l->buf[l->len++] = '"';
    if (!open) /* the key was cut: give it a value */
        memcpy(l->buf + l->len, ":\"\"", 3), l->len += 3;
}

/* True at " key=" (one blank, then a key): where a quoted value that
 * contains quotes of its own really ends. */
static bool
s_at_next_key(const char *s)
{
    if (*s != ' ')
        return false;
    size_t n = strspn(s + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");
    return n > 0 && s[1 + n] == '=';
}

/* Splits the next "key=value" off *p (NUL-terminating the key). A value in
 * quotes ends at a quote followed by the end or by the next " key=", so a
 * quote inside it survives; the quotes themselves are dropped. A word
 * without '=' is a key with an empty value. Returns false when no pair is
 * left. */
static bool
s_next_pair(char **p, const char **key, const char **value, size_t *value_len)
{
    char *s = *p + strspn(*p, " ");
    if (*s == '\0')
        return false;
    size_t word = strcspn(s, " =");
    *key = s;
    if (s[word] != '=') {
        *value = "", *value_len = 0;
        *p = s + word + (s[word] != '\0');
        s[word] = '\0';
        return true;
    }
    s[word] = '\0';
    char *v = s + word + 1, *stop;
    if (*v == '"') {
        for (stop = ++v; *stop && !(stop[0] == '"' && (stop[1] == '\0' || s_at_next_key(stop + 1))); stop++)
            ;
        *value = v, *value_len = (size_t) (stop - v);
        *p = stop + (*stop != '\0');
        return true;
    }
    stop = v + strcspn(v, " ");
    *value = v, *value_len = (size_t) (stop - v);
    *p = stop;
    return true;
}

static void
s_emit_json(const char *when, tix_log_level level, const char *text, char *pairs)
{
    s_line_t l;
    l.len = 0, l.full = false;
    s_put(&l, "{\"ts\":\"", 7);
    s_json_body(&l, when, strlen(when));
    s_put(&l, "\"", 1);
    s_json_field(&l, "level", s_names[level], strlen(s_names[level]), false);
    s_json_field(&l, "comp", s_component, strlen(s_component), false);
    s_json_field(&l, "msg", text, strlen(text), false);
    const char *key, *value;
    size_t value_len;
    for (char *p = pairs; p && s_next_pair(&p, &key, &value, &value_len);)
        s_json_field(&l, key, value, value_len, true);
    memcpy(l.buf + l.len, "}\n", 2); /* s_put kept room for it */
    fwrite(l.buf, 1, l.len + 2, stderr);
}

/* ---- The line ------------------------------------------------------------ */

void
tix_log(tix_log_level level, const char *fmt, ...)
{
    if (level < s_level)
        return;
    char text[S_TEXT_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);

    /* Split "message\tkey=value ..." so the message can be quoted. */
    char *pairs = strchr(text, '\t');
    if (pairs)
        *pairs++ = '\0';

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char day[24], when[48];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when, sizeof when, "%s.%03dZ", day, (int) (ts.tv_nsec / 1000000));
    if (s_json) {
        s_emit_json(when, level, text, pairs);
        return;
    }
    for (char *p = text; *p; p++) {
        if (*p == '"' || *p == '\n')
            *p = '\'';
    }
    fprintf(stderr, "ts=%s level=%s comp=%s msg=\"%s\"%s%s\n", when, s_names[level], s_component, text,
            pairs ? " " : "", pairs ? pairs : "");
}
