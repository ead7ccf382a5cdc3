/*
 * tix_metrics.c - the text format's writer and the histogram.
 */
#include "tix_metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tix_util.h"

static const double s_bounds[TIX_HIST_BUCKETS] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                  0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   10};

void
tix_hist_observe(tix_hist_t *h, double seconds)
{
    if (!(seconds > 0))
        seconds = 0;
    size_t i = 0;
    while (i < TIX_HIST_BUCKETS && seconds > s_bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += seconds;
}

int64_t
tix_metrics_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
tix_metrics_init(tix_metrics_t *w)
{
    w->data = NULL;
    w->len = 0;
    w->cap = 0;
}

void
tix_metrics_reset(tix_metrics_t *w)
{
    w->len = 0;
    if (w->data)
        w->data[0] = '\0';
}

void
tix_metrics_free(tix_metrics_t *w)
{
    free(w->data);
    tix_metrics_init(w);
}

static void
s_reserve(tix_metrics_t *w, size_t more)
{
    if (w->len + more + 1 <= w->cap)
        return;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + more + 1)
        cap *= 2;
    w->data = xrealloc(w->data, cap);
    w->cap = cap;
}

static void
s_put(tix_metrics_t *w, const char *s, size_t n)
{
    s_reserve(w, n);
    memcpy(w->data + w->len, s, n);
    w->len += n;
    w->data[w->len] = '\0';
}

static void
s_puts(tix_metrics_t *w, const char *s)
{
    s_put(w, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3))) s_printf(tix_metrics_t *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    s_reserve(w, (size_t) n);
    va_start(ap, fmt);
    vsnprintf(w->data + w->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    w->len += (size_t) n;
}

/* A label value or HELP text: backslash, newline (and in label values the
 * double quote) escaped, as the format asks. */
static void
s_escaped(tix_metrics_t *w, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            s_puts(w, "\\\\");
        else if (*s == '\n')
            s_puts(w, "\\n");
        else if (*s == '"' && quote)
            s_puts(w, "\\\"");
        else
            s_put(w, s, 1);
    }
}

void
tix_metrics_family(tix_metrics_t *w, const char *name, const char *type, const char *help)
{
    s_printf(w, "# HELP %s ", name);
    s_escaped(w, help, 0);
    s_printf(w, "\n# TYPE %s %s\n", name, type);
}

/* name{labels[,le="le"]} followed by a space. */
static void
s_series(tix_metrics_t *w, const char *name, const tix_label_t *labels, size_t nlabels, const char *le)
{
    s_puts(w, name);
    if (nlabels == 0 && !le) {
        s_puts(w, " ");
        return;
    }
    s_puts(w, "{");
    for (size_t i = 0; i < nlabels; i++) {
        s_printf(w, "%s%s=\"", i ? "," : "", labels[i].name);
        s_escaped(w, labels[i].value, 1);
        s_puts(w, "\"");
    }
    if (le)
        s_printf(w, "%sle=\"%s\"", nlabels ? "," : "", le);
    s_puts(w, "} ");
}

void
tix_metrics_u64(tix_metrics_t *w, const char *name, const tix_label_t *labels, size_t nlabels, uint64_t value)
{
    s_series(w, name, labels, nlabels, NULL);
    s_printf(w, "%llu\n", (unsigned long long) value);
}

void
tix_metrics_f64(tix_metrics_t *w, const char *name, const tix_label_t *labels, size_t nlabels, double value)
{
    s_series(w, name, labels, nlabels, NULL);
    if (isnan(value))
        s_puts(w, "NaN\n");
    else if (isinf(value))
        s_puts(w, value > 0 ? "+Inf\n" : "-Inf\n");
    else
        s_printf(w, "%.17g\n", value);
}

void
tix_metrics_hist(tix_metrics_t *w, const char *name, const tix_label_t *labels, size_t nlabels, const tix_hist_t *h)
{
    char series[128], le[32];
    snprintf(series, sizeof series, "%s_bucket", name);
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= TIX_HIST_BUCKETS; i++) {
        cumulative += h->counts[i];
        if (i < TIX_HIST_BUCKETS)
            snprintf(le, sizeof le, "%g", s_bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        s_series(w, series, labels, nlabels, le);
        s_printf(w, "%llu\n", (unsigned long long) cumulative);
    }
    snprintf(series, sizeof series, "%s_sum", name);
    tix_metrics_f64(w, series, labels, nlabels, h->sum);
    snprintf(series, sizeof series, "%s_count", name);
    tix_metrics_u64(w, series, labels, nlabels, h->count);
}
