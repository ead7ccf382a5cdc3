/*
 * worker_http.c - the worker's metrics as text, and its readiness.
 */
#include "worker_http.h"

#include <stdio.h>

#include "tix_procstat.h"

static bool
s_ready(void *arg, char *why, size_t why_size)
{
    const worker_t *self = arg;
    if (self->draining) {
        snprintf(why, why_size, "stopping");
        return false;
    }
    if (!worker_store_ok(self->store)) {
        snprintf(why, why_size, "redis unavailable");
        return false;
    }
    return true;
}

static void
s_metrics(void *arg, tix_metrics_t *w)
{
    const worker_t *self = arg;
    const worker_store_metrics_t *m = worker_store_metrics(self->store);
    tix_metrics_family(w, "tix_redis_calls_total", "counter",
                       "Redis Function calls completed, by function and status.");
    for (size_t f = 0; f < WORKER_STORE_FUNCTIONS; f++) {
        for (size_t s = 0; s < WORKER_STORE_CALL_STATUSES; s++) {
            tix_label_t l[] = {{"function", worker_store_function_name(f)},
                               {"status", worker_store_call_status_name((worker_store_call_status) s)}};
            tix_metrics_u64(w, "tix_redis_calls_total", l, 2, m->calls[f][s]);
        }
    }
    tix_metrics_family(w, "tix_redis_call_duration_seconds", "histogram",
                       "Time from sending a Redis Function call to its completion.");
    tix_metrics_hist(w, "tix_redis_call_duration_seconds", NULL, 0, &m->duration);
    tix_metrics_family(w, "tix_redis_up", "gauge", "1 while Redis is connected with the tix library loaded.");
    tix_metrics_u64(w, "tix_redis_up", NULL, 0, worker_store_ok(self->store) ? 1 : 0);
    tix_metrics_family(w, "tix_worker_jobs_total", "counter", "Jobs received from brokers.");
    tix_metrics_u64(w, "tix_worker_jobs_total", NULL, 0, self->stats.jobs);
    tix_metrics_family(w, "tix_worker_jobs_in_flight", "gauge", "Jobs waiting for Redis.");
    tix_metrics_u64(w, "tix_worker_jobs_in_flight", NULL, 0, self->jobs_in_flight);
    tix_metrics_family(w, "tix_worker_events_total", "counter", "Order events published.");
    tix_metrics_u64(w, "tix_worker_events_total", NULL, 0, self->stats.events);
    tix_procstat_write(w);
}

tix_err
worker_http_open(worker_t *self, char *why, size_t why_size)
{
    if (!self->config.http)
        return TIX_OK;
    self->http = tix_http_new(self->config.http, s_metrics, s_ready, self, why, why_size);
    return self->http ? TIX_OK : TIX_ERR_IO;
}

void
worker_http_close(worker_t *self)
{
    tix_http_destroy(&self->http);
}
