/*
 * scrape.h - reading the services' HTTP endpoints (--http) in tests: a
 * plain HTTP/1.1 GET over loopback, a sample's value from the Prometheus
 * text, and `promtool check metrics` on a text. Single-threaded.
 */
#ifndef TIX_HARNESS_SCRAPE_H
#define TIX_HARNESS_SCRAPE_H

#include <stdbool.h>
#include <stddef.h>

#define TH_PROMTOOL "/usr/bin/promtool"

/* GET path on 127.0.0.1:port: the status code (body, without headers,
 * NUL-terminated into body), or -1 when nothing answered. */
int th_http_get(int port, const char *path, char *body, size_t body_size);
/* GET path, waiting at most timeout_ms for the answer (-1 after that). */
int th_http_get_within(int port, const char *path, char *body, size_t body_size, int timeout_ms);
/* Any method (no request body), also giving the Content-Type header
 * (into type, unless NULL). */
int th_http_request(int port, const char *method, const char *path, char *body, size_t body_size, char *type,
                    size_t type_size);
/* The value of the sample `series` (e.g. tix_purchases_total{outcome="PURCHASED"}:
 * the name and labels exactly as written) in a /metrics text; -1 when absent. */
double th_metric(const char *text, const char *series);
/* The sum of every sample of family `name` whose labels contain `having`
 * (e.g. "code=\"OK\""; "" for all), -1 when none. */
double th_metric_sum(const char *text, const char *name, const char *having);
/* Runs promtool check metrics on text: true when it exits 0 and reports
 * nothing (its report goes to stderr otherwise). */
bool th_promtool_clean(const char *text);
/* Polls GET path on port until it answers `status` (timeout_ms); true when it did. */
bool th_http_wait_status(int port, const char *path, int status, int timeout_ms);

#endif
