/*
 * broker_http.c - the broker's metrics as text, and its readiness.
 */
#include "broker_http.h"

#include <stdio.h>

#include "tix_procstat.h"

static bool
s_ready(void *arg, char *why, size_t why_size)
{
    const broker_t *self = arg;
    const char *reason = NULL;
    if (self->draining)
        reason = "draining";
    else if (broker_workers_count(self->workers) == 0)
        reason = "no sale worker connected";
    else if (!broker_workers_any_serving(self->workers))
        reason = "no sale worker has its Redis";
    if (reason)
        snprintf(why, why_size, "%s", reason);
    return !reason;
}

static void
s_counter(tix_metrics_t *w, const char *name, const char *help, uint64_t value)
{
    tix_metrics_family(w, name, "counter", help);
    tix_metrics_u64(w, name, NULL, 0, value);
}

static void
s_gauge(tix_metrics_t *w, const char *name, const char *help, double value)
{
    tix_metrics_family(w, name, "gauge", help);
    tix_metrics_f64(w, name, NULL, 0, value);
}

/* tix_calls_total, tix_call_duration_seconds and tix_purchases_total. */
static void
s_answers(const broker_metrics_t *m, tix_metrics_t *w)
{
    tix_metrics_family(w, "tix_calls_total", "counter", "Answers the broker sent, by method and code.");
    for (size_t i = 0; i <= TIX_METHOD_COUNT; i++) {
        for (size_t c = 0; c < BROKER_METRICS_CODES; c++) {
            tix_label_t l[] = {{"method", broker_metrics_method_name(i)}, {"code", tix_code_name((tix_code) c)}};
            if (m->calls[i][c])
                tix_metrics_u64(w, "tix_calls_total", l, 2, m->calls[i][c]);
        }
    }
    tix_metrics_family(w, "tix_call_duration_seconds", "histogram",
                       "Time from a call's receipt to its answer at the broker, by method.");
    for (size_t i = 0; i <= TIX_METHOD_COUNT; i++) {
        tix_label_t l[] = {{"method", broker_metrics_method_name(i)}};
        if (m->duration[i].count)
            tix_metrics_hist(w, "tix_call_duration_seconds", l, 1, &m->duration[i]);
    }
    tix_metrics_family(w, "tix_purchases_total", "counter",
                       "Purchase calls answered OK, by outcome (edge and worker answers).");
    for (size_t o = 1; o < BROKER_METRICS_OUTCOMES; o++) {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&tix__v1__purchase_reply__outcome__descriptor, (int) o);
        tix_label_t l[] = {{"outcome", v ? v->name : "?"}};
        tix_metrics_u64(w, "tix_purchases_total", l, 1, m->outcomes[o]);
    }
}

/* tix_sale_remaining and tix_sale_sold of the sales in the table. */
static void
s_sales(const broker_metrics_t *m, tix_metrics_t *w)
{
    tix_metrics_family(w, "tix_sale_remaining", "gauge",
                       "Tickets left in a recently answered sale, as of its latest Purchase answer here.");
    for (size_t i = 0; i < BROKER_METRICS_SALES; i++) {
        tix_label_t l[] = {{"sale", m->sales[i].sale_id}};
        if (m->sales[i].sale_id[0])
            tix_metrics_u64(w, "tix_sale_remaining", l, 1, m->sales[i].remaining);
    }
    tix_metrics_family(w, "tix_sale_sold", "gauge",
                       "PURCHASED answers this broker sent for a recently answered sale (sum over brokers).");
    for (size_t i = 0; i < BROKER_METRICS_SALES; i++) {
        tix_label_t l[] = {{"sale", m->sales[i].sale_id}};
        if (m->sales[i].sale_id[0])
            tix_metrics_u64(w, "tix_sale_sold", l, 1, m->sales[i].sold);
    }
}

static void
s_metrics(void *arg, tix_metrics_t *w)
{
    const broker_t *self = arg;
    const broker_stats_t *s = &self->stats;
    size_t queued = broker_jobs_queued(self->jobs);
    s_answers(&self->metrics, w);
    s_gauge(w, "tix_queue_depth", "Calls waiting for a worker.", (double) queued);
    s_gauge(w, "tix_workers", "Sale workers connected.", (double) broker_workers_count(self->workers));
    s_gauge(w, "tix_calls_in_flight", "Calls at workers, not yet answered.",
            (double) (broker_jobs_live(self->jobs) - queued));
    s_counter(w, "tix_edge_answers_total", "Purchases answered at the sold-out edge, without a worker.",
              s->edge_answers);
    s_counter(w, "tix_rate_limited_total", "Calls refused by the per-user or per-client rate limit.", s->rate_limited);
    s_counter(w, "tix_auth_denied_total", "CURVE handshakes refused (key not on an allow-list).",
              self->zap ? broker_zap_denied(self->zap) : 0);
    s_counter(w, "tix_unroutable_total", "Answers lost: the client left or stopped reading.", s->unroutable);
    s_counter(w, "tix_workers_lost_total", "Sale workers declared dead (heartbeats missed).", s->workers_lost);
    s_counter(w, "tix_events_total", "Order events proxied from workers to subscribers.", s->events);
    s_sales(&self->metrics, w);
    tix_procstat_write(w);
}

tix_err
broker_http_open(broker_t *self, char *why, size_t why_size)
{
    if (!self->config.http)
        return TIX_OK;
    self->http = tix_http_new(self->config.http, s_metrics, s_ready, self, why, why_size);
    return self->http ? TIX_OK : TIX_ERR_IO;
}

void
broker_http_close(broker_t *self)
{
    tix_http_destroy(&self->http);
}
