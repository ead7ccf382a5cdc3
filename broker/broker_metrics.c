/*
 * broker_metrics.c - counting answers, and the wire reads that find a
 * Purchase's outcome and sale without unpacking.
 */
#include "broker_metrics.h"

#include <string.h>

/* Reads a varint at *p (< end); false when cut short. */
static bool
s_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t) (b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* Finds field number `field` of a packed message: a varint (into *v) or a
 * length-delimited value (into *data, *len). False when absent or the
 * buffer does not parse. */
static bool
s_field(const void *msg, size_t size, uint32_t field, uint64_t *v, const uint8_t **data, size_t *len)
{
    if (!msg)
        return false;
    const uint8_t *p = msg, *end = p + size;
    while (p < end) {
        uint64_t key, n;
        if (!s_varint(&p, end, &key))
            return false;
        unsigned type = (unsigned) (key & 7);
        if (type == 0 && !s_varint(&p, end, &n))
            return false;
        if (type == 2 && (!s_varint(&p, end, &n) || n > (uint64_t) (end - p)))
            return false;
        if (type == 1 || type == 5) {
            n = type == 1 ? 8 : 4;
            if (n > (uint64_t) (end - p))
                return false;
        }
        if (type != 0 && type != 1 && type != 2 && type != 5)
            return false;
        if ((key >> 3) == field) {
            *v = n;
            *data = p;
            *len = type == 2 ? (size_t) n : 0;
            return true;
        }
        if (type != 0)
            p += n;
    }
    return false;
}

/* The table's entry for this sale: found, or the least recently answered
 * one taken over. */
static broker_metrics_sale_t *
s_sale(broker_metrics_t *m, const uint8_t *id, size_t len)
{
    broker_metrics_sale_t *s = &m->sales[m->last_sale];
    if (strncmp(s->sale_id, (const char *) id, len) == 0 && s->sale_id[len] == '\0')
        return s;
    size_t oldest = 0;
    for (size_t i = 0; i < BROKER_METRICS_SALES; i++) {
        s = &m->sales[i];
        if (strncmp(s->sale_id, (const char *) id, len) == 0 && s->sale_id[len] == '\0') {
            m->last_sale = i;
            return s;
        }
        if (s->last_answer < m->sales[oldest].last_answer)
            oldest = i;
    }
    s = &m->sales[oldest];
    memset(s, 0, sizeof *s);
    memcpy(s->sale_id, id, len);
    m->last_sale = oldest;
    return s;
}

/* A Purchase answered OK: its outcome, and its sale's gauges. */
static void
s_purchase(broker_metrics_t *m, const void *reply, size_t reply_size, const void *request, size_t request_size)
{
    uint64_t outcome = 0, remaining = 0, n;
    const uint8_t *data;
    size_t len;
    s_field(reply, reply_size, 1, &outcome, &data, &len); /* PurchaseReply.outcome; absent = 0 */
    bool has_remaining = s_field(reply, reply_size, 4, &remaining, &data, &len);
    if (outcome < BROKER_METRICS_OUTCOMES)
        m->outcomes[outcome]++;
    if (!s_field(request, request_size, 1, &n, &data, &len) || len == 0 || len > TIX_SALE_ID_MAX_BYTES ||
        memchr(data, '\0', len))
        return; /* PurchaseRequest.sale_id: checked on the way in; be safe */
    broker_metrics_sale_t *s = s_sale(m, data, len);
    s->last_answer = m->answers;
    if (outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED)
        s->sold++;
    s->remaining = has_remaining ? (uint32_t) remaining : 0;
}

void
broker_metrics_answer(broker_metrics_t *m, const tix_method_t *method, tix_code code, const void *reply,
                      size_t reply_size, const void *request, size_t request_size, int64_t received_ns)
{
    size_t row = method ? (size_t) method->id : TIX_METHOD_COUNT;
    if ((unsigned) code < BROKER_METRICS_CODES)
        m->calls[row][code]++;
    m->answers++;
    if (received_ns > 0)
        tix_hist_observe(&m->duration[row], (double) (tix_metrics_now_ns() - received_ns) / 1e9);
    if (method && method->id == TIX_METHOD_PURCHASE && code == TIX__V1__CODE__OK)
        s_purchase(m, reply, reply_size, request, request_size);
}

const char *
broker_metrics_method_name(size_t i)
{
    if (i >= TIX_METHOD_COUNT)
        return "unknown";
    const char *name = tix_method_get((tix_method_id) i)->name;
    const char *slash = strrchr(name, '/');
    return slash ? slash + 1 : name;
}
