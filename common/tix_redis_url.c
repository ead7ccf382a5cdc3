/*
 * tix_redis_url.c - parses TIX_REDIS_URL:
 *   redis://[[user]:password@]host[:port][/db]
 *   redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/MASTER_NAME
 * Reasons never quote the URL back: it may hold a password.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix_redis_url.h"

#define URL_FORM "expected redis://[[user]:password@]host:port[/db]"
#define SENTINEL_FORM "expected redis-sentinel://[[user]:password@]host:port[,host:port...]/MASTER_NAME"

static tix_err s_fail(char *why, size_t why_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static tix_err
s_fail(char *why, size_t why_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return TIX_ERR_CONFIG;
}

static int
s_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Copies s[0..len) into out (out_size bytes) undoing %XX escapes; false when
 * an escape is broken, the result holds a NUL or does not fit. */
static bool
s_decode(const char *s, size_t len, char *out, size_t out_size)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len || s_hex(s[i + 1]) < 0 || s_hex(s[i + 2]) < 0)
                return false;
            c = (char) (s_hex(s[i + 1]) * 16 + s_hex(s[i + 2]));
            if (c == '\0')
                return false;
            i += 2;
        }
        if (n + 1 >= out_size)
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    return true;
}

/* Digits only, value in [min, max]. */
static bool
s_number(const char *s, size_t len, long min, long max, int *out)
{
    if (len == 0 || len > 9)
        return false;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return false;
    *out = (int) v;
    return true;
}

/* "user:password" (user may be empty; the password may not). */
static tix_err
s_userinfo(const char *s, size_t len, tix_redis_url_t *url, char *why, size_t why_size)
{
    const char *colon = memchr(s, ':', len);
    if (!colon)
        return s_fail(why, why_size, "redis url: credentials must be [user]:password@ (%s)", URL_FORM);
    size_t ulen = (size_t) (colon - s), plen = len - ulen - 1;
    if (plen == 0)
        return s_fail(why, why_size, "redis url: the password is empty");
    if (!s_decode(s, ulen, url->user, sizeof url->user))
        return s_fail(why, why_size, "redis url: the user is too long or badly %%-encoded");
    if (!s_decode(colon + 1, plen, url->password, sizeof url->password))
        return s_fail(why, why_size, "redis url: the password is too long or badly %%-encoded");
    return TIX_OK;
}

/* A host name or IPv4 address, or (v6) an IPv6 address: no spaces, no
 * stray URL punctuation, so that typos fail here and not at connect time. */
static bool
s_host_ok(const char *h, size_t len, bool v6)
{
    for (size_t i = 0; i < len; i++) {
        char c = h[i];
        bool ok = v6 ? (s_hex(c) >= 0 || c == ':' || c == '.')
                     : ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '-' || c == '_');
        if (!ok)
            return false;
    }
    return true;
}

/* "host", "host:port", "[v6]" or "[v6]:port" into addr (port: dport when
 * omitted). */
static tix_err
s_hostport(const char *s, size_t len, int dport, tix_redis_addr_t *addr, char *why, size_t why_size)
{
    const char *host = s, *port = NULL;
    size_t hlen;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return s_fail(why, why_size, "redis url: '[' without ']' around an IPv6 address");
        host = s + 1;
        hlen = (size_t) (close - host);
        if (close + 1 < s + len && close[1] != ':')
            return s_fail(why, why_size, "redis url: expected ':port' after ']'");
        port = close + 1 < s + len ? close + 2 : NULL;
    } else {
        const char *colon = memchr(s, ':', len);
        hlen = colon ? (size_t) (colon - s) : len;
        port = colon ? colon + 1 : NULL;
    }
    if (hlen == 0)
        return s_fail(why, why_size, "redis url: the host is empty (%s)", URL_FORM);
    if (!s_host_ok(host, hlen, host != s))
        return s_fail(why, why_size, "redis url: the host holds characters a host name cannot have");
    if (hlen >= sizeof addr->host)
        return s_fail(why, why_size, "redis url: the host is longer than %zu bytes", sizeof addr->host - 1);
    memcpy(addr->host, host, hlen);
    addr->host[hlen] = '\0';
    addr->port = dport;
    if (port && !s_number(port, (size_t) (s + len - port), 1, 65535, &addr->port))
        return s_fail(why, why_size, "redis url: the port must be a number in 1..65535");
    return TIX_OK;
}

/* "host[:port],host[:port]..." (each port defaults to a Sentinel's). */
static tix_err
s_sentinels(const char *s, size_t len, tix_redis_url_t *url, char *why, size_t why_size)
{
    const char *end = s + len;
    for (;;) {
        const char *comma = memchr(s, ',', (size_t) (end - s));
        const char *stop = comma ? comma : end;
        if (url->nsentinels == TIX_REDIS_SENTINELS_MAX)
            return s_fail(why, why_size, "redis url: more than %d sentinels", TIX_REDIS_SENTINELS_MAX);
        tix_err err = s_hostport(s, (size_t) (stop - s), TIX_REDIS_SENTINEL_PORT, &url->sentinels[url->nsentinels], why,
                                 why_size);
        if (err != TIX_OK)
            return err;
        url->nsentinels++;
        if (!comma)
            return TIX_OK;
        s = comma + 1;
    }
}

/* A master name as sentinel.conf allows it: letters, digits, . _ - */
static bool
s_name_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len >= 128)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_'))
            return false;
    }
    return true;
}

/* rest: what follows the scheme; sentinel: redis-sentinel://. */
static tix_err
s_parse_rest(const char *rest, bool sentinel, tix_redis_url_t *url, char *why, size_t why_size)
{
    if (strpbrk(rest, "?#"))
        return s_fail(why, why_size, "redis url: query strings and fragments are not supported");
    const char *slash = strchr(rest, '/');
    size_t alen = slash ? (size_t) (slash - rest) : strlen(rest);
    /* The last '@' ends the credentials: a password may hold '@'. */
    const char *at = NULL;
    for (const char *p = rest; p < rest + alen; p++) {
        if (*p == '@')
            at = p;
    }
    tix_err err = TIX_OK;
    if (at)
        err = s_userinfo(rest, (size_t) (at - rest), url, why, why_size);
    const char *hp = at ? at + 1 : rest;
    size_t hplen = (size_t) (rest + alen - hp);
    if (err != TIX_OK)
        return err;
    if (sentinel) {
        if (!slash || !s_name_ok(slash + 1))
            return s_fail(why, why_size, "redis url: the master name after '/' must be 1-127 of [A-Za-z0-9._-] (%s)",
                          SENTINEL_FORM);
        snprintf(url->master_name, sizeof url->master_name, "%s", slash + 1);
        return s_sentinels(hp, hplen, url, why, why_size);
    }
    tix_redis_addr_t addr;
    memset(&addr, 0, sizeof addr);
    err = s_hostport(hp, hplen, TIX_REDIS_DEFAULT_PORT, &addr, why, why_size);
    if (err != TIX_OK)
        return err;
    memcpy(url->host, addr.host, sizeof url->host);
    url->port = addr.port;
    if (slash && slash[1] != '\0' && !s_number(slash + 1, strlen(slash + 1), 0, 1000000, &url->db))
        return s_fail(why, why_size, "redis url: the database after '/' must be a number");
    return TIX_OK;
}

tix_err
tix_redis_url_parse(const char *text, tix_redis_url_t *url, char *why, size_t why_size)
{
    static const char scheme[] = "redis://", sscheme[] = "redis-sentinel://";
    memset(url, 0, sizeof *url);
    if (strncmp(text, "rediss://", 9) == 0)
        return s_fail(why, why_size, "redis url: rediss:// (TLS) is not supported by this build");
    bool sentinel = strncmp(text, sscheme, sizeof sscheme - 1) == 0;
    if (!sentinel && strncmp(text, scheme, sizeof scheme - 1) != 0)
        return s_fail(why, why_size, "redis url: must start with redis:// or redis-sentinel:// (%s)", URL_FORM);
    tix_err err = s_parse_rest(text + (sentinel ? sizeof sscheme : sizeof scheme) - 1, sentinel, url, why, why_size);
    if (err != TIX_OK)
        memset(url, 0, sizeof *url); /* no password left behind */
    return err;
}
