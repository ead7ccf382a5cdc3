/*
 * metrics_cost.c - tix-metrics-cost: what the broker's counting costs per
 * answer (broker_metrics_answer, the one call its send point makes), for
 * bench/run.sh phase (h). Counts 5,000,000 Purchase answers of the
 * sold-out burst (OK, SOLD_OUT, remaining 0, the request's sale id read
 * from the wire, a histogram observation), each with the clock read the
 * broker makes when the call comes in, and prints nanoseconds per answer.
 */
#include <stdio.h>
#include <stdlib.h>

#include "broker_metrics.h"

#define ANSWERS 5000000

int
main(void)
{
    broker_metrics_t *m = calloc(1, sizeof *m);
    if (!m)
        return 1;
    Tix__V1__PurchaseReply reply = TIX__V1__PURCHASE_REPLY__INIT;
    reply.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT;
    Tix__V1__PurchaseRequest request = TIX__V1__PURCHASE_REQUEST__INIT;
    request.sale_id = "bench-d1";
    request.user_id = "u123456-42";
    request.request_id = "r0";
    uint8_t rep[64], req[128];
    size_t rep_size = tix__v1__purchase_reply__pack(&reply, rep);
    size_t req_size = tix__v1__purchase_request__pack(&request, req);
    const tix_method_t *purchase = tix_method_get(TIX_METHOD_PURCHASE);
    int64_t start = tix_metrics_now_ns();
    for (int i = 0; i < ANSWERS; i++) {
        int64_t received = tix_metrics_now_ns(); /* broker_frontend_recv's */
        broker_metrics_answer(m, purchase, TIX__V1__CODE__OK, rep, rep_size, req, req_size, received);
    }
    int64_t ns = tix_metrics_now_ns() - start;
    if (m->outcomes[TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT] != ANSWERS)
        return 1;
    printf("answers %d\nns_per_answer %.1f\n", ANSWERS, (double) ns / ANSWERS);
    free(m);
    return 0;
}
