/*
 * fuzz_worker.c - the sale worker's handling of broker messages: a JOB from
 * its arrival to its REPLY, through the checks, the method handlers, the
 * Redis call and the reading of Redis's answer.
 *
 * One worker_t serves the process while it stays healthy. Its DEALER
 * connects to an inproc ROUTER played here (the broker side: it reads the
 * replies). Its Redis is a TCP listener on 127.0.0.1, played here too: it
 * answers the durability checks (CONFIG GET) as a durable Redis would and
 * FUNCTION LOAD with +OK once per connection, and the command a job
 * sends with frame 3 of that job's message.
 *
 * Input: broker messages, frames 0-2 being [TXW1][command][body] as the
 * worker's loop receives them. worker.c's s_on_message is static, so its
 * dispatch is repeated here: JOB -> worker_jobs_accept; HEARTBEAT and
 * DISCONNECT -> nothing; anything else is dropped. op 1 in the head: the
 * worker is stopping from this message on. Frame 3, when the job sent a
 * command, is Redis's answer. It is sent when it is exactly one RESP reply,
 * or bytes that break RESP (the worker then drops the connection).
 * Otherwise - no frame 3, an incomplete reply, several replies (hiredis
 * asserts on an unsolicited reply; Redis never sends one), or a huge array
 * count (fuzz_resp_small) - the fake Redis answers -LOADING, a transient
 * error.
 *
 * After each input: every JOB got exactly one REPLY, and each REPLY has a
 * known code and a valid UTF-8 message. When the worker's Redis connection
 * broke, or a job still waits for an answer, the worker gets a new Redis
 * connection (its pending jobs answer UNAVAILABLE, and are checked too).
 */
#include "fuzz_targets.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <linux/sockios.h>

#include "tix_util.h"
#include "worker.h"
#include "worker_jobs.h"

#define WK_BACKEND "inproc://fuzz-worker-backend"
#define WK_EVENTS "inproc://fuzz-worker-events" /* never bound: events are dropped */
#define WK_CAPACITY 8
#define WK_WAIT_MS 2000 /* fixture and delivery steps; never reached when healthy */
#define WK_TRANSIENT "-LOADING fuzz: the input has no usable answer\r\n"

static struct {
    int listen_fd;    /* the fake Redis listens on 127.0.0.1:port; -1 before */
    int port;         /* its port */
    int redis_fd;     /* its end of the worker's Redis connection, or -1 */
    zsock_t *broker;  /* ROUTER where the worker's DEALER connects: reads replies */
    worker_t *worker; /* NULL until needed, and after a drop */
    uint64_t jobs;    /* JOBs given to the worker this input */
    uint64_t replies; /* REPLYs read from it this input */
} s_wk = {-1, 0, -1, NULL, NULL, 0, 0};

/* ---- The fake Redis ------------------------------------------------------------ */

static bool
s_fd_wait(int fd, short events, int timeout_ms)
{
    struct pollfd p = {fd, events, 0};
    return poll(&p, 1, timeout_ms) == 1;
}

static void
s_listen(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    FUZZ_CHECK(fd >= 0 && bind(fd, (struct sockaddr *) &a, sizeof a) == 0 && listen(fd, 4) == 0,
               "fixture: the fake Redis listens");
    FUZZ_CHECK(getsockname(fd, (struct sockaddr *) &a, &len) == 0, "fixture: the fake Redis has a port");
    s_wk.listen_fd = fd;
    s_wk.port = ntohs(a.sin_port);
}

/* Reads and forgets what the worker sent Redis so far; notices a close. */
static void
s_server_drain(void)
{
    char buf[8192];
    while (s_wk.redis_fd >= 0) {
        ssize_t n = recv(s_wk.redis_fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            close(s_wk.redis_fd);
            s_wk.redis_fd = -1;
        }
        return;
    }
}

/* The worker's end of its Redis connection, or -1 when it has none. */
static int
s_store_fd(void)
{
    zmq_pollitem_t item;
    return worker_store_pollitem(s_wk.worker->store, &item) ? (int) item.fd : -1;
}

/* Lets the worker write what its Redis connection has queued. */
static void
s_store_flush(void)
{
    zmq_pollitem_t item;
    for (int i = 0; i < 64 && worker_store_pollitem(s_wk.worker->store, &item) && (item.events & ZMQ_POLLOUT); i++)
        worker_store_handle(s_wk.worker->store, ZMQ_POLLOUT);
}

/* Lets the worker read what has reached its end; false once the fake
 * Redis has nothing more on its way (all sent bytes were read). */
static bool
s_store_read(void)
{
    int fd = s_store_fd(), avail = 0, unsent = 0;
    if (fd < 0 || s_wk.redis_fd < 0)
        return false;
    if (ioctl(fd, FIONREAD, &avail) == 0 && avail > 0) {
        worker_store_handle(s_wk.worker->store, ZMQ_POLLIN);
        return true;
    }
    /* Bytes not yet handed to loopback, which delivers them as it takes them. */
    return ioctl(s_wk.redis_fd, SIOCOUTQNSD, &unsent) == 0 && unsent > 0;
}

/* The fake Redis sends data, and the worker reads all of it. */
static void
s_redis_send(const uint8_t *data, size_t size)
{
    size_t sent = 0;
    int64_t until = tix_now_ms() + WK_WAIT_MS;
    while (sent < size && s_wk.redis_fd >= 0 && s_store_fd() >= 0) {
        ssize_t n = send(s_wk.redis_fd, data + sent, size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t) n;
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            break; /* the worker hung up on a protocol error */
        s_store_read();
        FUZZ_CHECK(tix_now_ms() < until, "fixture: the worker reads what Redis sends");
    }
    while (s_store_read())
        FUZZ_CHECK(tix_now_ms() < until, "fixture: the worker reads what Redis sends");
}

/* True when frame is one whole RESP reply and nothing more, or breaks RESP
 * after at most one reply: what a real connection could carry as the
 * answer to one command. */
static bool
s_resp_sendable(tix_frame_t frame)
{
    if (!fuzz_resp_small(frame.data, frame.size))
        return false;
    redisReader *r = redisReaderCreate();
    redisReaderFeed(r, (const char *) frame.data, frame.size);
    void *reply = NULL;
    bool ok = true; /* a protocol error, now or after the first reply */
    if (redisReaderGetReply(r, &reply) == REDIS_OK) {
        ok = reply != NULL;
        if (reply)
            freeReplyObject(reply);
        reply = NULL;
        /* Nothing after it: no second reply, and no part of one either
         * (the reader may have consumed a type byte and be waiting for
         * the rest, ridx >= 0), which would turn the next answer into a
         * reply nobody asked for. */
        if (ok && redisReaderGetReply(r, &reply) == REDIS_OK)
            ok = reply == NULL && r->pos == r->len && r->ridx == -1;
        if (reply)
            freeReplyObject(reply);
    }
    redisReaderFree(r);
    return ok;
}

/* ---- The worker ------------------------------------------------------------------- */

/* The fake Redis takes the worker's (new) connection and loads the library. */
static void
s_redis_accept(void)
{
    FUZZ_CHECK(s_fd_wait(s_wk.listen_fd, POLLIN, WK_WAIT_MS), "fixture: the worker connects to the fake Redis");
    s_wk.redis_fd = accept(s_wk.listen_fd, NULL, NULL);
    FUZZ_CHECK(s_wk.redis_fd >= 0, "fixture: the fake Redis accepts");
    int one = 1; /* answers go out at once, not behind a delayed ACK */
    setsockopt(s_wk.redis_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s_store_flush(); /* the connect completes; CONFIG GET x3 and FUNCTION LOAD go out */
    FUZZ_CHECK(s_fd_wait(s_wk.redis_fd, POLLIN, WK_WAIT_MS), "fixture: FUNCTION LOAD arrives");
    s_server_drain();
    static const char durable[] = "*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n"
                                  "*2\r\n$11\r\nappendfsync\r\n$6\r\nalways\r\n"
                                  "*2\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"
                                  "+OK\r\n";
    s_redis_send((const uint8_t *) durable, sizeof durable - 1);
    FUZZ_CHECK(worker_store_ok(s_wk.worker->store), "fixture: the worker's Redis is ready");
}

static void
s_worker_new(void)
{
    if (s_wk.listen_fd < 0)
        s_listen();
    if (!s_wk.broker) {
        s_wk.broker = zsock_new(ZMQ_ROUTER);
        zsock_set_rcvhwm(s_wk.broker, 0);
        zsock_set_rcvtimeo(s_wk.broker, 0);
        zsock_set_linger(s_wk.broker, 0);
        FUZZ_CHECK(zsock_bind(s_wk.broker, WK_BACKEND) == 0, "fixture: the broker side binds");
    }
    worker_config_t c;
    memset(&c, 0, sizeof c);
    c.backend = WK_BACKEND;
    c.events_in = WK_EVENTS;
    c.worker_id = "fuzz-worker";
    c.capacity = WK_CAPACITY;
    c.heartbeat_ms = WORKER_DEFAULT_HEARTBEAT_MS;
    snprintf(c.redis.host, sizeof c.redis.host, "127.0.0.1");
    c.redis.port = s_wk.port;
    s_wk.worker = worker_new(&c);
    FUZZ_CHECK(s_wk.worker != NULL, "fixture: the worker starts");
    s_redis_accept();
}

/* A new Redis connection for the worker, as after a Redis restart: pending
 * jobs answer UNAVAILABLE. (Its own reconnect waits for a backoff; and
 * replacing only the store keeps sockets from churning, which would make
 * libFuzzer's leak heuristics rescan after every such input.) */
static void
s_redis_renew(void)
{
    worker_t *w = s_wk.worker;
    worker_store_destroy(&w->store);
    if (s_wk.redis_fd >= 0)
        close(s_wk.redis_fd);
    s_wk.redis_fd = -1;
    w->store = worker_store_new(&w->config.redis, &w->config.store_opts);
    s_redis_accept();
}

void
fuzz_worker_fixture_free(void)
{
    worker_destroy(&s_wk.worker);
    if (s_wk.redis_fd >= 0)
        close(s_wk.redis_fd);
    s_wk.redis_fd = -1;
    zsock_destroy(&s_wk.broker);
    if (s_wk.listen_fd >= 0)
        close(s_wk.listen_fd);
    s_wk.listen_fd = -1;
}

/* One JOB; when it sent a Redis command, Redis answers from frame 3. */
static void
s_job(const fuzz_message_t *m, const Tix__Worker__V1__Job *job)
{
    worker_t *w = s_wk.worker;
    size_t before = worker_store_in_flight(w->store);
    s_wk.jobs++;
    worker_jobs_accept(&w->brokers[0], job, tix_now_ms());
    if (worker_store_in_flight(w->store) == before)
        return; /* answered at once, without Redis */
    s_store_flush();
    s_server_drain();
    if (m->nframes > 3 && s_resp_sendable(m->frames[3]))
        s_redis_send(m->frames[3].data, m->frames[3].size);
    else
        s_redis_send((const uint8_t *) WK_TRANSIENT, sizeof WK_TRANSIENT - 1);
}

/* As worker.c's s_on_message: decode, then the command's handler. */
static void
s_message(const fuzz_message_t *m)
{
    tix_wp_command command;
    ProtobufCMessage *body = NULL;
    if (m->op == 1)
        s_wk.worker->draining = true;
    if (tix_wp_decode(m->frames, m->nframes < 3 ? m->nframes : 3, &command, &body) != TIX_OK)
        return;
    if (command == TIX_WP_JOB)
        s_job(m, (const Tix__Worker__V1__Job *) body);
    if (body)
        protobuf_c_message_free_unpacked(body, NULL);
}

/* ---- Checks ------------------------------------------------------------------------- */

/* Reads the REPLYs that reached the broker side; each must be well formed. */
static void
s_read_replies(void)
{
    zmsg_t *msg;
    while ((msg = zmsg_recv(s_wk.broker)) != NULL) {
        tix_frame_t views[3];
        size_t n = tix_frames_view(msg, 1, views, 3); /* frame 0: the routing id */
        tix_wp_command command;
        ProtobufCMessage *body = NULL;
        FUZZ_CHECK(n == 3 && tix_wp_decode(views, n, &command, &body) == TIX_OK && command == TIX_WP_REPLY,
                   "the worker answers a JOB with a REPLY");
        const Tix__Worker__V1__JobReply *reply = (const Tix__Worker__V1__JobReply *) body;
        fuzz_check_status(reply->code, reply->message);
        protobuf_c_message_free_unpacked(body, NULL);
        zmsg_destroy(&msg);
        s_wk.replies++;
    }
}

static void
s_finish(void)
{
    worker_t *w = s_wk.worker;
    s_server_drain();
    if (w->jobs_in_flight > 0 || !worker_store_ok(w->store) || s_wk.redis_fd < 0)
        s_redis_renew();
    int64_t until = tix_now_ms() + WK_WAIT_MS;
    s_read_replies();
    while (s_wk.replies < s_wk.jobs && tix_now_ms() < until) {
        zmq_pollitem_t item = {zsock_resolve(s_wk.broker), 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, 10);
        s_read_replies();
    }
    FUZZ_CHECK(s_wk.replies == s_wk.jobs, "every JOB gets exactly one REPLY");
    FUZZ_CHECK(w->jobs_in_flight == 0 && w->brokers[0].session_jobs == 0,
               "the worker holds no job once all are answered");
    s_wk.jobs = s_wk.replies = 0;
    memset(&w->stats, 0, sizeof w->stats);
    w->draining = false;
}

int
fuzz_worker_job(const uint8_t *data, size_t size)
{
    fuzz_reader_t r;
    fuzz_message_t m;
    if (!s_wk.worker)
        s_worker_new();
    fuzz_reader_init(&r, data, size);
    while (fuzz_next_message(&r, &m))
        s_message(&m);
    s_finish();
    return 0;
}
