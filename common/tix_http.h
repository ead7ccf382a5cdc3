/*
 * tix_http.h - the services' HTTP endpoint (libmicrohttpd): GET /metrics
 * (Prometheus text format 0.0.4), GET /healthz and GET /readyz.
 *
 * It runs inside the service's own poll loop, on its thread: no thread and
 * no lock of its own. The daemon is in epoll mode and shows one descriptor
 * (tix_http_pollitem) that the loop polls with its sockets, bounding its
 * wait by tix_http_timeout_ms; after every poll the loop hands the item's
 * revents to tix_http_run, which runs the daemon only when the descriptor
 * is readable or the daemon's timeout has passed (so a busy loop pays no
 * system call for it), answering what came in through the service's
 * callbacks. /healthz
 * answers 200 "ok" whenever it is served at all: a loop that is stuck does
 * not serve it, and the probe fails. /readyz answers 200 "ready", or 503
 * with the reason the service gives. Other paths 404; methods other than
 * GET 405. A scrape allocates (the text, one copy for the response); the
 * service's hot path does not, it only bumps its counters.
 *
 * Ownership: the caller owns the tix_http_t; the callbacks' arg is
 * borrowed. Threading: the caller's loop thread only.
 */
#ifndef TIX_HTTP_H
#define TIX_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <zmq.h>

#include "tix_err.h"
#include "tix_metrics.h"

#define TIX_HTTP_MAX_CONNECTIONS 32 /* at once; more wait in the listen backlog */
#define TIX_HTTP_TIMEOUT_S 10       /* an idle connection is closed after this */

typedef struct tix_http tix_http_t;

/* Writes the service's metrics into w (empty when called). */
typedef void(tix_http_metrics_fn)(void *arg, tix_metrics_t *w);
/* True when the service can do its job; else false with why filled. */
typedef bool(tix_http_ready_fn)(void *arg, char *why, size_t why_size);

/* Checks the syntax of HOST:PORT ([IPv6]:PORT too; PORT 0..65535, 0 = any
 * free port). TIX_ERR_CONFIG with the reason in why. */
tix_err tix_http_check(const char *address, char *why, size_t why_size);

/* Listens on address (HOST:PORT, a name or a literal). NULL with the reason
 * in why (e.g. the port is taken). */
tix_http_t *tix_http_new(const char *address, tix_http_metrics_fn *metrics, tix_http_ready_fn *ready, void *arg,
                         char *why, size_t why_size);
/* Closes every connection and the listener. NULL-safe; sets *self_p NULL. */
void tix_http_destroy(tix_http_t **self_p);

/* The port it listens on (the one picked, for port 0). */
int tix_http_port(const tix_http_t *self);
/* Fills item with the daemon's descriptor, polled for ZMQ_POLLIN. False
 * (item untouched) for NULL. */
bool tix_http_pollitem(const tix_http_t *self, zmq_pollitem_t *item);
/* Milliseconds until the daemon must run without an event (at most 1000),
 * or -1 for never (also for NULL). Call before every poll: it sets when
 * tix_http_run is due. */
long tix_http_timeout_ms(tix_http_t *self);
/* After the poll: accepts, reads and answers whatever is ready, when
 * revents (the item's) shows the descriptor readable or the timeout has
 * passed; else nothing. NULL-safe. */
void tix_http_run(tix_http_t *self, short revents);

#endif
