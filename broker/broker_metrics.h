/*
 * broker_metrics.h - what the broker counts for /metrics: every answer it
 * sends by method and code, Purchase outcomes, receipt-to-answer durations
 * per method, and the sales it answered for most recently.
 *
 * broker_metrics_answer is called once per answer at the one send point
 * (broker_reply.c): array increments, a histogram observation and, for a
 * Purchase answered OK, a read of the outcome and remaining count from the
 * packed PurchaseReply and of the sale id from the packed request (protobuf
 * wire fields, no unpacking, no allocation). broker_http.c writes it all
 * out at scrape time.
 *
 * Sales: the last BROKER_METRICS_SALES sales that had a Purchase answered,
 * least recently answered replaced first. Per sale: remaining as of its
 * latest answer (PurchaseReply.remaining) and sold = PURCHASED answers this
 * broker sent for it since it entered the table (summed over brokers: the
 * tickets sold through them).
 *
 * Threading: the broker's loop thread only.
 */
#ifndef BROKER_METRICS_H
#define BROKER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tix_codec.h"
#include "tix_metrics.h"

#define BROKER_METRICS_CODES 17   /* tix.v1.Code: OK .. UNAUTHENTICATED */
#define BROKER_METRICS_OUTCOMES 7 /* PurchaseReply.Outcome: UNSPECIFIED .. ORDER_CANCELLED */
#define BROKER_METRICS_SALES 64   /* sales with gauges */

typedef struct {
    char sale_id[TIX_SALE_ID_MAX_BYTES + 1]; /* "" = free */
    uint64_t sold;                           /* PURCHASED answers sent for it */
    uint32_t remaining;                      /* as of the latest answer */
    uint64_t last_answer;                    /* answers counter when last answered: the LRU order */
} broker_metrics_sale_t;

typedef struct {
    /* [method id, TIX_METHOD_COUNT = not decoded][code] */
    uint64_t calls[TIX_METHOD_COUNT + 1][BROKER_METRICS_CODES];
    uint64_t outcomes[BROKER_METRICS_OUTCOMES];
    tix_hist_t duration[TIX_METHOD_COUNT + 1];
    uint64_t answers; /* all of calls */
    broker_metrics_sale_t sales[BROKER_METRICS_SALES];
    size_t last_sale; /* index of the sale answered last: a rush hits it again */
} broker_metrics_t;

/* One answer sent to a client. method: NULL when the call was not decoded.
 * request: the packed request body (may be NULL). received_ns: when the call
 * came in (tix_metrics_now_ns), 0 for unknown. */
void broker_metrics_answer(broker_metrics_t *m, const tix_method_t *method, tix_code code, const void *reply,
                           size_t reply_size, const void *request, size_t request_size, int64_t received_ns);

/* The method label of row i of calls: "Purchase", ..., "unknown". */
const char *broker_metrics_method_name(size_t i);

#endif
