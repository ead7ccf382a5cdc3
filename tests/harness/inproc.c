/*
 * inproc.c - the in-process broker's fixtures, clients and fake workers.
 */
#include "inproc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "broker_edge.h"
#include "broker_state.h"
#include "tix_util.h"

broker_config_t
th_inproc_config(uint32_t queue_limit)
{
    broker_config_t c;
    broker_config_defaults(&c);
    c.frontend = c.backend = c.events_in = c.events_out = "tcp://127.0.0.1:*";
    c.queue_limit = queue_limit;
    c.drain_ms = 200;
    return c;
}

void
th_inproc_init(void)
{
    zsys_init();
    zsys_set_linger(0);
}

broker_t *
th_inproc_broker_new(const broker_config_t *c)
{
    broker_t *b = broker_new(c);
    assert_non_null(b);
    return b;
}

broker_t *
th_inproc_broker(uint32_t queue_limit, double user_rate, uint32_t user_burst)
{
    broker_config_t c = th_inproc_config(queue_limit);
    c.user_rate_per_s = user_rate;
    c.user_burst = user_burst;
    return th_inproc_broker_new(&c);
}

int
th_inproc_setup(void **state)
{
    th_inproc_t *f = xcalloc(1, sizeof *f);
    f->broker = th_inproc_broker(4, BROKER_LIMIT_RATE_PER_S, BROKER_LIMIT_BURST);
    f->client = zsock_new_dealer(broker_frontend_endpoint(f->broker));
    *state = f;
    return 0;
}

int
th_inproc_teardown(void **state)
{
    th_inproc_t *f = *state;
    zsock_destroy(&f->client);
    broker_destroy(&f->broker);
    free(f);
    return 0;
}

bool
th_inproc_pump(broker_t *b, zsock_t *sock, int timeout_ms)
{
    int64_t deadline = tix_now_ms() + timeout_ms;
    while (tix_now_ms() < deadline) {
        if (zsock_events(sock) & ZMQ_POLLIN)
            return true;
        broker_step(b, 5);
    }
    return zsock_events(sock) & ZMQ_POLLIN;
}

void
th_inproc_call(zsock_t *client, const char *method, uint64_t call_id, uint32_t timeout_ms, const ProtobufCMessage *body)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addmem(msg, NULL, 0);
    tix_call_append(msg, method, call_id, timeout_ms, body);
    assert_int_equal(zmsg_send(&msg, client), 0);
}

Tix__V1__ReplyHeader *
th_inproc_reply(broker_t *b, zsock_t *client, zframe_t **body)
{
    assert_true(th_inproc_pump(b, client, 3000));
    zmsg_t *msg = zmsg_recv(client);
    assert_non_null(msg);
    zframe_t *delim = zmsg_pop(msg);
    assert_int_equal(zframe_size(delim), 0);
    zframe_destroy(&delim);
    tix_frame_t v[3];
    size_t n = tix_frames_view(msg, 0, v, 3);
    Tix__V1__ReplyHeader *h;
    tix_frame_t bv;
    assert_int_equal(tix_reply_decode(v, n, &h, &bv), TIX_OK);
    if (body)
        *body = zframe_new(bv.data, bv.size);
    zmsg_destroy(&msg);
    return h;
}

void
th_inproc_expect(broker_t *b, zsock_t *client, uint64_t call_id, tix_code code)
{
    Tix__V1__ReplyHeader *h = th_inproc_reply(b, client, NULL);
    assert_int_equal(h->call_id, call_id);
    assert_int_equal(h->code, code);
    tix__v1__reply_header__free_unpacked(h, NULL);
}

zsock_t *
th_inproc_worker(broker_t *b, uint32_t capacity, bool redis_ok, uint32_t heartbeat_ms)
{
    zsock_t *w = zsock_new_dealer(broker_backend_endpoint(b));
    Tix__Worker__V1__Ready ready = TIX__WORKER__V1__READY__INIT;
    ready.worker_id = "fake";
    ready.capacity = capacity;
    ready.redis_ok = redis_ok;
    ready.heartbeat_ms = heartbeat_ms;
    zmsg_t *msg = zmsg_new();
    tix_wp_append(msg, TIX_WP_READY, &ready.base);
    zmsg_send(&msg, w);
    size_t before = broker_workers_count(b->workers);
    for (int i = 0; i < 200 && broker_workers_count(b->workers) == before; i++)
        broker_step(b, 5);
    assert_int_equal(broker_workers_count(b->workers), before + 1);
    return w;
}

tix_wp_command
th_inproc_worker_recv(broker_t *b, zsock_t *w, ProtobufCMessage **body)
{
    for (;;) {
        assert_true(th_inproc_pump(b, w, 3000));
        zmsg_t *msg = zmsg_recv(w);
        tix_frame_t v[3];
        size_t n = tix_frames_view(msg, 0, v, 3);
        tix_wp_command cmd;
        assert_int_equal(tix_wp_decode(v, n, &cmd, body), TIX_OK);
        zmsg_destroy(&msg);
        if (cmd != TIX_WP_HEARTBEAT)
            return cmd;
        protobuf_c_message_free_unpacked(*body, NULL);
    }
}

Tix__Worker__V1__Job *
th_inproc_job(broker_t *b, zsock_t *w)
{
    ProtobufCMessage *body;
    assert_int_equal(th_inproc_worker_recv(b, w, &body), TIX_WP_JOB);
    return (Tix__Worker__V1__Job *) body;
}

void
th_inproc_worker_reply(zsock_t *w, uint64_t job_id, tix_code code, const char *body)
{
    Tix__Worker__V1__JobReply r = TIX__WORKER__V1__JOB_REPLY__INIT;
    r.job_id = job_id;
    r.code = code;
    r.body.data = (uint8_t *) body;
    r.body.len = body ? strlen(body) : 0;
    zmsg_t *msg = zmsg_new();
    tix_wp_append(msg, TIX_WP_REPLY, &r.base);
    zmsg_send(&msg, w);
}

void
th_inproc_worker_reply_msg(zsock_t *w, uint64_t job_id, const ProtobufCMessage *body)
{
    uint8_t buf[4096];
    size_t n = protobuf_c_message_pack(body, buf);
    Tix__Worker__V1__JobReply r = TIX__WORKER__V1__JOB_REPLY__INIT;
    r.job_id = job_id;
    r.code = TIX__V1__CODE__OK;
    r.body.data = buf;
    r.body.len = n;
    zmsg_t *msg = zmsg_new();
    tix_wp_append(msg, TIX_WP_REPLY, &r.base);
    zmsg_send(&msg, w);
}

void
th_inproc_edge_load(th_inproc_t *f, zsock_t *w, int64_t created_at_ms, int64_t now_ms, int64_t closes_at_ms)
{
    Tix__Worker__V1__Job *load = th_inproc_job(f->broker, w);
    Tix__Worker__V1__Buyer buyer = TIX__WORKER__V1__BUYER__INIT, *buyers[] = {&buyer};
    buyer.user_id = "winner", buyer.order_id = "s1:7", buyer.request_id = "r-9";
    Tix__Worker__V1__BuyersPage page = TIX__WORKER__V1__BUYERS_PAGE__INIT;
    page.sale_id = "s1", page.cursor = "0", page.buyers = buyers, page.n_buyers = 1;
    page.created_at_ms = created_at_ms, page.now_ms = now_ms, page.closes_at_ms = closes_at_ms;
    th_inproc_worker_reply_msg(w, load->job_id, &page.base);
    protobuf_c_message_free_unpacked(&load->base, NULL);
    int64_t deadline = tix_now_ms() + 3000;
    while (broker_edge_ready_count(f->broker->edge) == 0 && tix_now_ms() < deadline)
        broker_step(f->broker, 5);
    assert_int_equal(broker_edge_ready_count(f->broker->edge), 1);
}
