/*
 * persister_log_id.c - parsing, comparing and formatting order-log ids.
 */
#include "persister_log_id.h"

#include <inttypes.h>
#include <stdio.h>

/* Decimal u64 without sign or leading space; end points past the digits. */
static bool
s_parse_u64(const char *s, const char **end, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned) (*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (p == s || p - s > 20)
        return false;
    *end = p;
    *out = v;
    return true;
}

bool
persister_log_id_parse(const char *text, persister_log_id_t *id)
{
    const char *p;
    persister_log_id_t v;
    if (!text || !s_parse_u64(text, &p, &v.ms) || *p != '-')
        return false;
    if (!s_parse_u64(p + 1, &p, &v.seq) || *p != '\0')
        return false;
    *id = v;
    return true;
}

int
persister_log_id_cmp(persister_log_id_t a, persister_log_id_t b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq)
        return a.seq < b.seq ? -1 : 1;
    return 0;
}

void
persister_log_id_format(persister_log_id_t id, char *buf, size_t size)
{
    snprintf(buf, size, "%" PRIu64 "-%" PRIu64, id.ms, id.seq);
}
