/*
 * tix_metrics.h - the Prometheus text format (0.0.4), written at scrape
 * time, and the histogram the services observe into on their hot paths.
 *
 * A service keeps plain counters (uint64_t) and tix_hist_t values in its own
 * state, bumped by its loop thread; when /metrics is asked for (tix_http.h,
 * on the same thread) it writes them here. Nothing on the hot path locks or
 * allocates: tix_hist_observe is a short search over fixed buckets.
 *
 * The writer owns its buffer (grown with xrealloc; out of memory aborts, as
 * everywhere in tix). Label values are escaped (\\, \", \n); metric and
 * label names are the caller's constants and are not checked.
 * Threading: one thread per writer and per histogram.
 */
#ifndef TIX_METRICS_H
#define TIX_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Upper bounds (seconds) of a histogram's buckets, +Inf implied after the
 * last: 50 us .. 10 s, about 2.5x apart. */
#define TIX_HIST_BUCKETS 16

typedef struct {
    uint64_t counts[TIX_HIST_BUCKETS + 1]; /* per bucket, not cumulative; the last is +Inf */
    uint64_t count;                        /* observations */
    double sum;                            /* their total, seconds */
} tix_hist_t;

/* Adds one observation of seconds (negative counts as 0). */
void tix_hist_observe(tix_hist_t *h, double seconds);

/* A monotonic clock in nanoseconds, for durations. */
int64_t tix_metrics_now_ns(void);

typedef struct {
    char *data; /* NUL-terminated text; owned */
    size_t len;
    size_t cap;
} tix_metrics_t;

typedef struct {
    const char *name;
    const char *value;
} tix_label_t;

/* An empty writer (no allocation until the first write). */
void tix_metrics_init(tix_metrics_t *w);
/* Empties it, keeping its buffer for the next scrape. */
void tix_metrics_reset(tix_metrics_t *w);
/* Frees the buffer. */
void tix_metrics_free(tix_metrics_t *w);

/* The # HELP and # TYPE lines of a family; type: "counter", "gauge",
 * "histogram". Write each family's samples right after it, once. */
void tix_metrics_family(tix_metrics_t *w, const char *name, const char *type, const char *help);
/* One sample: name{labels} value. labels may be NULL when nlabels is 0. */
void tix_metrics_u64(tix_metrics_t *w, const char *name, const tix_label_t *labels, size_t nlabels, uint64_t value);
void tix_metrics_f64(tix_metrics_t *w, const char *name, const tix_label_t *labels, size_t nlabels, double value);
/* A histogram's samples: name_bucket{labels,le=...} (cumulative, +Inf last),
 * name_sum and name_count. At most 3 labels. */
void tix_metrics_hist(tix_metrics_t *w, const char *name, const tix_label_t *labels, size_t nlabels,
                      const tix_hist_t *h);

#endif
