/*
 * tix-bench-echo: the ZeroMQ ceiling the sold-out edge is measured against
 * (issue 18, bench/run.sh phase w).
 *
 * Two processes over tcp loopback, as tix-rush and tix-broker are: a child
 * ROUTER that answers every call at once, and a DEALER client in the parent
 * that keeps --in-flight calls outstanding until --calls are answered. The
 * frames are those of a sold-out Purchase and its reply - [empty][TIX1]
 * [packed CallHeader][packed PurchaseRequest] in, [empty][TIX1][packed
 * ReplyHeader][packed PurchaseReply SOLD_OUT] out - packed once: the echo
 * decodes nothing, allocates nothing per call, and so is what libzmq alone
 * moves on this machine. Prints one JSON object: calls/s, and the CPU per
 * call of the echo (the server) and of the client, from getrusage/wait4.
 *
 *   tix-bench-echo [--calls N] [--in-flight K]
 *
 * Exit 0 when every call was answered, 1 on an error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "tix.pb-c.h"

#define ECHO_FRAMES 4 /* after the routing id: empty, TIX1, header, body */
#define ECHO_FRAME_MAX_BYTES 256

typedef struct {
    uint8_t data[ECHO_FRAMES][ECHO_FRAME_MAX_BYTES];
    size_t size[ECHO_FRAMES];
} echo_frames_t;

/* The call and reply frames of a sold-out Purchase, packed once. */
static void
s_frames(echo_frames_t *call, echo_frames_t *reply)
{
    Tix__V1__CallHeader ch = TIX__V1__CALL_HEADER__INIT;
    ch.method = "tix.v1.TicketService/Purchase";
    ch.call_id = 123456789;
    ch.timeout_ms = 5000;
    Tix__V1__PurchaseRequest req = TIX__V1__PURCHASE_REQUEST__INIT;
    req.sale_id = "bench-d1";
    req.user_id = "u:0000123456";
    req.request_id = "r:0000123456:1";
    Tix__V1__ReplyHeader rh = TIX__V1__REPLY_HEADER__INIT;
    rh.call_id = ch.call_id;
    rh.code = TIX__V1__CODE__OK;
    Tix__V1__PurchaseReply rep = TIX__V1__PURCHASE_REPLY__INIT;
    rep.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT;
    echo_frames_t *both[] = {call, reply};
    for (int i = 0; i < 2; i++) {
        both[i]->size[0] = 0;
        memcpy(both[i]->data[1], "TIX1", 4);
        both[i]->size[1] = 4;
    }
    call->size[2] = tix__v1__call_header__pack(&ch, call->data[2]);
    call->size[3] = tix__v1__purchase_request__pack(&req, call->data[3]);
    reply->size[2] = tix__v1__reply_header__pack(&rh, reply->data[2]);
    reply->size[3] = tix__v1__purchase_reply__pack(&rep, reply->data[3]);
}

static int
s_send_frames(void *sock, const echo_frames_t *f)
{
    for (int i = 0; i < ECHO_FRAMES; i++)
        if (zmq_send(sock, f->data[i], f->size[i], i + 1 < ECHO_FRAMES ? ZMQ_SNDMORE : 0) < 0)
            return -1;
    return 0;
}

/* Receives one whole message into the reused parts; returns its frame count
 * (parts past max are received and dropped), or -1. */
static int
s_recv_parts(void *sock, zmq_msg_t *parts, int max)
{
    int n = 0;
    zmq_msg_t extra;
    zmq_msg_init(&extra);
    for (;;) {
        zmq_msg_t *m = n < max ? &parts[n] : &extra;
        if (zmq_msg_recv(m, sock, 0) < 0) {
            zmq_msg_close(&extra);
            return -1;
        }
        n++;
        if (!zmq_msg_more(m))
            break;
    }
    zmq_msg_close(&extra);
    return n;
}

/* The child: a ROUTER answering `calls` calls, then gone. Tells the parent
 * its port through fd. */
static int
s_server(int fd, long calls)
{
    echo_frames_t call, reply;
    s_frames(&call, &reply);
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    int hwm = 0; /* the client bounds what is in flight */
    zmq_setsockopt(router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    char endpoint[64];
    size_t len = sizeof endpoint;
    if (zmq_bind(router, "tcp://127.0.0.1:*") != 0 || zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, endpoint, &len) != 0)
        return 1;
    if (write(fd, endpoint, strlen(endpoint) + 1) < 0)
        return 1;
    close(fd);
    zmq_msg_t parts[ECHO_FRAMES + 1];
    for (int i = 0; i <= ECHO_FRAMES; i++)
        zmq_msg_init(&parts[i]);
    for (long n = 0; n < calls; n++) {
        if (s_recv_parts(router, parts, ECHO_FRAMES + 1) < 0)
            return 1;
        /* The routing id goes back first; zmq_msg_send leaves parts[0] empty. */
        if (zmq_msg_send(&parts[0], router, ZMQ_SNDMORE) < 0 || s_send_frames(router, &reply) < 0)
            return 1;
    }
    for (int i = 0; i <= ECHO_FRAMES; i++)
        zmq_msg_close(&parts[i]);
    zmq_close(router); /* linger: what was sent is delivered before the exit */
    zmq_ctx_term(ctx);
    return 0;
}

static double
s_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double
s_cpu_s(const struct rusage *ru)
{
    return (double) ru->ru_utime.tv_sec + (double) ru->ru_utime.tv_usec / 1e6 + (double) ru->ru_stime.tv_sec +
           (double) ru->ru_stime.tv_usec / 1e6;
}

/* The parent: keeps in_flight calls outstanding until `calls` are answered.
 * Returns the seconds from the first call to the last answer, or -1. */
static double
s_client(const char *endpoint, long calls, long in_flight)
{
    echo_frames_t call, reply;
    s_frames(&call, &reply);
    void *ctx = zmq_ctx_new();
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    int hwm = 0, linger = 0;
    zmq_setsockopt(dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(dealer, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(dealer, endpoint) != 0)
        return -1;
    zmq_msg_t parts[ECHO_FRAMES];
    for (int i = 0; i < ECHO_FRAMES; i++)
        zmq_msg_init(&parts[i]);
    long sent = 0, answered = 0;
    double start = s_now_s();
    while (sent < calls && sent < in_flight && s_send_frames(dealer, &call) == 0)
        sent++;
    while (answered < calls) {
        if (s_recv_parts(dealer, parts, ECHO_FRAMES) != ECHO_FRAMES)
            return -1;
        answered++;
        if (sent < calls) {
            if (s_send_frames(dealer, &call) < 0)
                return -1;
            sent++;
        }
    }
    double seconds = s_now_s() - start;
    for (int i = 0; i < ECHO_FRAMES; i++)
        zmq_msg_close(&parts[i]);
    zmq_close(dealer);
    zmq_ctx_term(ctx);
    return seconds;
}

static long
s_arg(int argc, char **argv, const char *name, long def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return strtol(argv[i + 1], NULL, 10);
    return def;
}

int
main(int argc, char **argv)
{
    long calls = s_arg(argc, argv, "--calls", 400000);
    long in_flight = s_arg(argc, argv, "--in-flight", 2000);
    if (calls <= 0 || in_flight <= 0) {
        fprintf(stderr, "usage: tix-bench-echo [--calls N] [--in-flight K]\n");
        return 2;
    }
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    /* Fork before any ZeroMQ context exists: each process makes its own. */
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        close(fds[0]);
        _exit(s_server(fds[1], calls));
    }
    close(fds[1]);
    char endpoint[64] = "";
    ssize_t got = read(fds[0], endpoint, sizeof endpoint - 1);
    close(fds[0]);
    double seconds = got > 0 ? s_client(endpoint, calls, in_flight) : -1;
    int status = 0;
    struct rusage server_ru, self_ru;
    while (wait4(pid, &status, 0, &server_ru) < 0 && errno == EINTR) {
    }
    getrusage(RUSAGE_SELF, &self_ru);
    if (seconds <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "tix-bench-echo: failed (client %s, server status %d)\n", seconds <= 0 ? "failed" : "ok",
                status);
        return 1;
    }
    printf("{\"calls\":%ld,\"in_flight\":%ld,\"seconds\":%.4f,\"calls_per_s\":%.1f,"
           "\"server_cpu_us_per_call\":%.3f,\"client_cpu_us_per_call\":%.3f}\n",
           calls, in_flight, seconds, (double) calls / seconds, s_cpu_s(&server_ru) * 1e6 / (double) calls,
           s_cpu_s(&self_ru) * 1e6 / (double) calls);
    return 0;
}
