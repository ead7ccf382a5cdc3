/*
 * events.c - waiting for a SUB's subscription to take, and events made up
 * by a test (see events.h).
 */
#include "events.h"

#include <stdio.h>
#include <string.h>

#include "tix_codec.h"
#include "tix_priv.h"
#include "tix_util.h"

/* Creates the probe sale; an existing one (from an earlier join) is fine. */
static bool
s_probe_sale(tix_client_t *c)
{
    tix_result_t r;
    tix_err err = tix_create_sale(c, EVENTS_PROBE_SALE, 1000000, 0, 0, 5000, &r);
    bool ok = err == TIX_OK && (r.code == TIX__V1__CODE__OK || r.code == TIX__V1__CODE__ALREADY_EXISTS);
    tix_result_clear(&r);
    return ok;
}

/* Waits up to timeout_ms for a message on the probe topic. */
static bool
s_probe_event(zsock_t *sub, int timeout_ms)
{
    zpoller_t *poller = zpoller_new(sub, NULL);
    bool got = false;
    while (!got && zpoller_wait(poller, timeout_ms) == sub) {
        zmsg_t *msg = zmsg_recv(sub);
        zframe_t *topic = msg ? zmsg_first(msg) : NULL;
        got = topic && zframe_streq(topic, EVENTS_PROBE_TOPIC);
        zmsg_destroy(&msg); /* another topic: dropped, see events.h */
    }
    zpoller_destroy(&poller);
    return got;
}

bool
events_join(zsock_t *sub, const char *frontend, int timeout_ms)
{
    zsock_set_subscribe(sub, EVENTS_PROBE_TOPIC);
    tix_client_t *c = tix_client_new(frontend);
    bool joined = c && s_probe_sale(c);
    int64_t end = tix_now_ms() + timeout_ms;
    for (int i = 0; joined && tix_now_ms() < end; i++) {
        char user[32];
        snprintf(user, sizeof user, "probe-%d-%lld", i, (long long) tix_now_ms());
        tix_result_t r;
        if (tix_purchase(c, EVENTS_PROBE_SALE, user, "", 5000, &r) == TIX_OK && r.code == TIX__V1__CODE__OK &&
            s_probe_event(sub, 100)) {
            tix_result_clear(&r);
            tix_client_destroy(&c);
            return true;
        }
        tix_result_clear(&r);
    }
    tix_client_destroy(&c);
    return false;
}

bool
events_publish(zsock_t *pub, const Tix__V1__Order *order, const char *log_id, const char *worker_id)
{
    char topic[160];
    snprintf(topic, sizeof topic, "order.%s", order->sale_id);
    Tix__V1__OrderEvent ev = TIX__V1__ORDER_EVENT__INIT;
    ev.order = (Tix__V1__Order *) order;
    ev.log_id = (char *) log_id;
    ev.worker_id = (char *) worker_id;
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, topic);
    zframe_t *body = tix_frame_pack(&ev.base);
    zmsg_append(msg, &body);
    return zmsg_send(&msg, pub) == 0;
}
