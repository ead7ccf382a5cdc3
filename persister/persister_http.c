/*
 * persister_http.c - the persister's metrics as text, and its readiness.
 */
#include "persister_http.h"

#include <stdio.h>

#include "tix_procstat.h"
#include "tix_util.h"

static bool
s_ready(void *arg, char *why, size_t why_size)
{
    const persister_t *self = arg;
    if (self->backoff_ms != 0) {
        snprintf(why, why_size, "sink not answering (%s)", persister_sink_kind(self->sink));
        return false;
    }
    if (!persister_log_connected(self->log)) {
        snprintf(why, why_size, "order log redis unavailable");
        return false;
    }
    return true;
}

uint64_t
persister_http_lag(const persister_t *self)
{
    uint64_t lag = persister_batch_size(self->batch);
    size_t n = persister_sales_live_count(self->sales);
    persister_sale_t **sales = xcalloc(n ? n : 1, sizeof *sales);
    n = persister_sales_live(self->sales, sales);
    for (size_t i = 0; i < n; i++)
        lag += persister_sales_claims_count(sales[i]);
    free(sales);
    return lag;
}

static void
s_one(tix_metrics_t *w, const char *name, const char *type, const char *help, uint64_t value)
{
    tix_metrics_family(w, name, type, help);
    tix_metrics_u64(w, name, NULL, 0, value);
}

static void
s_metrics(void *arg, tix_metrics_t *w)
{
    const persister_t *self = arg;
    const persister_stats_t *s = &self->stats;
    tix_label_t sink[] = {{"sink", persister_sink_kind(self->sink)}};
    tix_metrics_family(w, "tix_orders_persisted_total", "counter", "Orders the sink confirmed durable.");
    tix_metrics_u64(w, "tix_orders_persisted_total", sink, 1, s->written);
    s_one(w, "tix_persist_lag_orders", "gauge",
          "Orders known to be in the order logs and not yet durable in the sink (held plus announced unread).",
          persister_http_lag(self));
    tix_metrics_family(w, "tix_sink_errors_total", "counter",
                       "Sink failures: write, cursor (load/store/ping) calls that failed and were retried; "
                       "conflict and refused orders.");
    const struct {
        const char *kind;
        uint64_t value;
    } errors[] = {{"write", s->sink_write_errors},
                  {"cursor", s->write_failures - s->sink_write_errors},
                  {"conflict", s->conflicts},
                  {"refused", s->refused}};
    for (size_t i = 0; i < TIX_ARRAY_LEN(errors); i++) {
        tix_label_t l[] = {{"kind", errors[i].kind}};
        tix_metrics_u64(w, "tix_sink_errors_total", l, 1, errors[i].value);
    }
    s_one(w, "tix_persister_events_total", "counter", "Order events received.", s->events);
    s_one(w, "tix_persister_sink_up", "gauge", "1 while the sink answers (no backoff under way).",
          self->backoff_ms == 0);
    s_one(w, "tix_persister_subscribed", "gauge", "Event-feed endpoints connected.", (uint64_t) self->connected);
    tix_procstat_write(w);
}

tix_err
persister_http_open(persister_t *self, char *why, size_t why_size)
{
    if (!self->config.http)
        return TIX_OK;
    self->http = tix_http_new(self->config.http, s_metrics, s_ready, self, why, why_size);
    return self->http ? TIX_OK : TIX_ERR_IO;
}

void
persister_http_close(persister_t *self)
{
    tix_http_destroy(&self->http);
}
