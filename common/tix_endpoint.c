/*
 * tix_endpoint.c - endpoint list syntax (tix_endpoint.h).
 */
#include "tix_endpoint.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define ITEM_MAX_BYTES TIX_ENDPOINT_MAX_BYTES
#define EXPECTED "expected tcp://HOST:PORT, ipc://PATH or inproc://NAME"

/* A decimal port 1..65535 (or * when binding) in s[0..len). */
static bool
s_port_ok(const char *s, size_t len, bool bind)
{
    if (bind && len == 1 && s[0] == '*')
        return true;
    if (len < 1 || len > 5)
        return false;
    long port = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char) s[i]))
            return false;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= 65535;
}

/* HOST:PORT after tcp:// */
static bool
s_tcp_ok(const char *s, size_t len, bool bind)
{
    const char *colon = NULL;
    for (size_t i = len; i > 0; i--) {
        if (s[i - 1] == ':') {
            colon = s + i - 1;
            break;
        }
    }
    if (!colon || colon == s)
        return false;
    size_t host_len = (size_t) (colon - s);
    if (s[0] == '[' && s[host_len - 1] != ']')
        return false;
    if (!bind && host_len == 1 && s[0] == '*')
        return false;
    for (size_t i = 0; i < host_len; i++) {
        if (isspace((unsigned char) s[i]) || s[i] == '/')
            return false;
    }
    return s_port_ok(colon + 1, len - host_len - 1, bind);
}

static bool
s_item_ok(const char *s, size_t len, bool bind)
{
    if (bind && len > 0 && (s[0] == '@' || s[0] == '>'))
        s++, len--;
    static const struct {
        const char *scheme;
        size_t len;
    } rest[] = {{"ipc://", 6}, {"inproc://", 9}};
    if (len > 6 && strncmp(s, "tcp://", 6) == 0)
        return s_tcp_ok(s + 6, len - 6, bind);
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
        if (len > rest[i].len && strncmp(s, rest[i].scheme, rest[i].len) == 0)
            return true;
    }
    return false;
}

tix_err
tix_endpoints_check(const char *list, bool bind, char *why, size_t why_size)
{
    if (!list || !*list) {
        snprintf(why, why_size, "empty (%s)", EXPECTED);
        return TIX_ERR_CONFIG;
    }
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t) (comma - p) : strlen(p);
        while (len && isspace((unsigned char) *p))
            p++, len--;
        while (len && isspace((unsigned char) p[len - 1]))
            len--;
        if (len == 0 || len >= ITEM_MAX_BYTES || !s_item_ok(p, len, bind)) {
            if (len == 0)
                snprintf(why, why_size, "'%.200s' has an empty item (%s)", list, EXPECTED);
            else
                snprintf(why, why_size, "'%.*s' is not an endpoint (%s)", (int) (len < 200 ? len : 200), p, EXPECTED);
            return TIX_ERR_CONFIG;
        }
        if (!comma)
            return TIX_OK;
        p = comma + 1;
    }
}

bool
tix_endpoints_next(const char **cursor, char *item, size_t item_size)
{
    const char *p = *cursor;
    if (!p || !*p)
        return false;
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t) (comma - p) : strlen(p);
    *cursor = comma ? comma + 1 : p + len;
    while (len && isspace((unsigned char) *p))
        p++, len--;
    while (len && isspace((unsigned char) p[len - 1]))
        len--;
    if (len == 0 || len >= item_size)
        return false;
    memcpy(item, p, len);
    item[len] = '\0';
    return true;
}

size_t
tix_endpoints_count(const char *list)
{
    if (!list || !*list)
        return 0;
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    return n;
}
