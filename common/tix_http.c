/*
 * tix_http.c - the HTTP endpoint on libmicrohttpd, in the caller's loop.
 */
#include "tix_http.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "tix_util.h"

#define S_HOST_MAX 256

struct tix_http {
    struct MHD_Daemon *daemon;
    int listen_fd; /* ours until the daemon takes it; closed by MHD_stop_daemon */
    int epoll_fd;  /* the daemon's: what the caller polls */
    int port;
    tix_http_metrics_fn *metrics;
    tix_http_ready_fn *ready;
    void *arg;
    tix_metrics_t text; /* the last scrape's text, its buffer reused */
    int64_t due_ms;     /* tix_now_ms when the daemon must run without an event; INT64_MAX: never */
};

/* Splits HOST:PORT (or [HOST]:PORT) into host and port. */
static tix_err
s_split(const char *address, char host[S_HOST_MAX], char port[8], char *why, size_t why_size)
{
    const char *colon = strrchr(address, ':');
    const char *h = address;
    size_t hlen = colon ? (size_t) (colon - address) : 0;
    if (!colon || hlen == 0) {
        snprintf(why, why_size, "'%s' is not HOST:PORT (e.g. 127.0.0.1:9100)", address);
        return TIX_ERR_CONFIG;
    }
    if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (hlen == 0 || hlen >= S_HOST_MAX || colon[1] == '\0' || *end != '\0' || errno || p < 0 || p > 65535) {
        snprintf(why, why_size, "'%s' is not HOST:PORT with PORT 0-65535", address);
        return TIX_ERR_CONFIG;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    snprintf(port, 8, "%ld", p);
    return TIX_OK;
}

tix_err
tix_http_check(const char *address, char *why, size_t why_size)
{
    char host[S_HOST_MAX], port[8];
    return s_split(address, host, port, why, why_size);
}

/* A listening, non-blocking socket on address, or -1 with why filled. */
static int
s_listen(const char *address, int *bound_port, char *why, size_t why_size)
{
    char host[S_HOST_MAX], port[8];
    if (s_split(address, host, port, why, why_size) != TIX_OK)
        return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(why, why_size, "cannot resolve '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        snprintf(why, why_size, "cannot listen on '%s': %s", address, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (fd >= 0 && getsockname(fd, (struct sockaddr *) &ss, &len) == 0)
        *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &ss)->sin6_port
                                                     : ((struct sockaddr_in *) &ss)->sin_port);
    freeaddrinfo(ai);
    return fd;
}

static enum MHD_Result
s_answer(struct MHD_Connection *conn, unsigned status, const char *type, const char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *) body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

#define S_TEXT "text/plain; charset=utf-8"

static enum MHD_Result
s_on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method, const char *version,
             const char *upload, size_t *upload_size, void **state)
{
    (void) version;
    (void) upload;
    (void) state;
    tix_http_t *self = cls;
    *upload_size = 0; /* a body is not read: no path takes one */
    bool known = strcmp(url, "/metrics") == 0 || strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0;
    if (!known)
        return s_answer(conn, MHD_HTTP_NOT_FOUND, S_TEXT, "not found\n", 10);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return s_answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, S_TEXT, "method not allowed\n", 19);
    if (strcmp(url, "/healthz") == 0)
        return s_answer(conn, MHD_HTTP_OK, S_TEXT, "ok\n", 3);
    if (strcmp(url, "/readyz") == 0) {
        char why[256] = "";
        if (!self->ready || self->ready(self->arg, why, sizeof why))
            return s_answer(conn, MHD_HTTP_OK, S_TEXT, "ready\n", 6);
        char body[300];
        int n = snprintf(body, sizeof body, "not ready: %s\n", why);
        return s_answer(conn, MHD_HTTP_SERVICE_UNAVAILABLE, S_TEXT, body, (size_t) n < sizeof body ? (size_t) n : 0);
    }
    tix_metrics_reset(&self->text);
    if (self->metrics)
        self->metrics(self->arg, &self->text);
    return s_answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                    self->text.data ? self->text.data : "", self->text.len);
}

tix_http_t *
tix_http_new(const char *address, tix_http_metrics_fn *metrics, tix_http_ready_fn *ready, void *arg, char *why,
             size_t why_size)
{
    tix_http_t *self = xcalloc(1, sizeof *self);
    self->metrics = metrics;
    self->ready = ready;
    self->arg = arg;
    tix_metrics_init(&self->text);
    self->due_ms = INT64_MAX;
    self->listen_fd = s_listen(address, &self->port, why, why_size);
    if (self->listen_fd < 0) {
        free(self);
        return NULL;
    }
    self->daemon = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, s_on_request, self, MHD_OPTION_LISTEN_SOCKET,
                                    self->listen_fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned) TIX_HTTP_MAX_CONNECTIONS,
                                    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) TIX_HTTP_TIMEOUT_S, MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        self->daemon ? MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        snprintf(why, why_size, "cannot start the HTTP server on '%s'", address);
        if (self->daemon)
            MHD_stop_daemon(self->daemon);
        else
            close(self->listen_fd);
        free(self);
        return NULL;
    }
    self->epoll_fd = info->epoll_fd;
    return self;
}

void
tix_http_destroy(tix_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tix_http_t *self = *self_p;
    MHD_stop_daemon(self->daemon); /* closes the listening socket too */
    tix_metrics_free(&self->text);
    free(self);
    *self_p = NULL;
}

int
tix_http_port(const tix_http_t *self)
{
    return self->port;
}

bool
tix_http_pollitem(const tix_http_t *self, zmq_pollitem_t *item)
{
    if (!self)
        return false;
    *item = (zmq_pollitem_t){NULL, self->epoll_fd, ZMQ_POLLIN, 0};
    return true;
}

long
tix_http_timeout_ms(tix_http_t *self)
{
    MHD_UNSIGNED_LONG_LONG ms;
    if (!self)
        return -1;
    if (MHD_get_timeout(self->daemon, &ms) != MHD_YES) {
        self->due_ms = INT64_MAX;
        return -1;
    }
    long wait = ms > 1000 ? 1000 : (long) ms;
    self->due_ms = tix_now_ms() + wait;
    return wait;
}

void
tix_http_run(tix_http_t *self, short revents)
{
    if (self && ((revents & ZMQ_POLLIN) || tix_now_ms() >= self->due_ms))
        MHD_run(self->daemon);
}
