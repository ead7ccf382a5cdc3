/*
 * fake_broker.c - the broker's side of TXW1 played by a test, so that a real
 * tix-worker can be driven job by job (see fake_broker.h).
 */
#include "fake_broker.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "redis_fixture.h"
#include "tix_util.h"

void
fake_broker_send(fake_broker_t *f, tix_wp_command command, const ProtobufCMessage *body)
{
    assert_non_null(f->rid);
    zmsg_t *msg = zmsg_new();
    zmsg_addmem(msg, zframe_data(f->rid), zframe_size(f->rid));
    tix_wp_append(msg, command, body);
    assert_int_equal(zmsg_send(&msg, f->router), 0);
}

void
fake_broker_send_raw(fake_broker_t *f, int nframes, ...)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addmem(msg, zframe_data(f->rid), zframe_size(f->rid));
    va_list ap;
    va_start(ap, nframes);
    for (int i = 0; i < nframes; i++) {
        const char *data = va_arg(ap, const char *);
        size_t size = va_arg(ap, size_t);
        zmsg_addmem(msg, data, size);
    }
    va_end(ap);
    assert_int_equal(zmsg_send(&msg, f->router), 0);
}

void
fake_broker_heartbeat_if_due(fake_broker_t *f)
{
    if (f->sub)
        zsock_events(f->sub);
    if (!f->heartbeats || !f->rid || tix_now_ms() < f->next_hb_ms)
        return;
    Tix__Worker__V1__Heartbeat hb = TIX__WORKER__V1__HEARTBEAT__INIT;
    fake_broker_send(f, TIX_WP_HEARTBEAT, &hb.base);
    f->next_hb_ms = tix_now_ms() + FAKE_BROKER_HB_MS / 2;
}

int
fake_broker_next(fake_broker_t *f, int timeout_ms, ProtobufCMessage **body)
{
    int64_t end = tix_now_ms() + timeout_ms;
    *body = NULL;
    while (tix_now_ms() < end) {
        fake_broker_heartbeat_if_due(f);
        zmq_pollitem_t item = {zsock_resolve(f->router), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, FAKE_BROKER_HB_MS / 4) <= 0)
            continue;
        zmsg_t *msg = zmsg_recv(f->router);
        zframe_t *rid = zmsg_pop(msg);
        tix_frame_t frames[3];
        size_t n = tix_frames_view(msg, 0, frames, 3);
        tix_wp_command command;
        tix_err err = tix_wp_decode(frames, n, &command, body);
        zmsg_destroy(&msg);
        assert_int_equal(err, TIX_OK); /* the worker never sends garbage */
        if (command == TIX_WP_READY) {
            zframe_destroy(&f->rid);
            f->rid = rid;
            f->readies++;
        } else {
            zframe_destroy(&rid);
        }
        return (int) command;
    }
    return -1;
}

ProtobufCMessage *
fake_broker_expect(fake_broker_t *f, tix_wp_command want, int timeout_ms)
{
    int64_t end = tix_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = end - tix_now_ms();
        if (left <= 0)
            return NULL;
        ProtobufCMessage *body;
        int command = fake_broker_next(f, (int) left, &body);
        if (command == (int) want)
            return body;
        if (body)
            protobuf_c_message_free_unpacked(body, NULL);
        if (command < 0)
            return NULL;
    }
}

uint64_t
fake_broker_job(fake_broker_t *f, const char *method, uint32_t budget_ms, const ProtobufCMessage *body)
{
    uint8_t buf[4096];
    Tix__Worker__V1__Job job = TIX__WORKER__V1__JOB__INIT;
    job.job_id = ++f->next_job_id;
    job.method = (char *) method;
    job.budget_ms = budget_ms;
    job.client = "test";
    if (body) {
        assert_true(protobuf_c_message_get_packed_size(body) <= sizeof buf);
        job.body.len = protobuf_c_message_pack(body, buf);
        job.body.data = buf;
    }
    fake_broker_send(f, TIX_WP_JOB, &job.base);
    return job.job_id;
}

/* Waits for the REPLY to job_id (other replies are a failure). */
Tix__Worker__V1__JobReply *
fake_broker_reply(fake_broker_t *f, uint64_t job_id)
{
    Tix__Worker__V1__JobReply *r =
        (Tix__Worker__V1__JobReply *) fake_broker_expect(f, TIX_WP_REPLY, FAKE_BROKER_WAIT_MS);
    assert_non_null(r);
    assert_int_equal(r->job_id, job_id);
    return r;
}

Tix__Worker__V1__JobReply *
fake_broker_call(fake_broker_t *f, const char *method, const ProtobufCMessage *body)
{
    return fake_broker_reply(f, fake_broker_job(f, method, 5000, body));
}

bool
fake_broker_wait_redis_ok(fake_broker_t *f, bool want, int timeout_ms)
{
    int64_t end = tix_now_ms() + timeout_ms;
    while (tix_now_ms() < end) {
        Tix__Worker__V1__Heartbeat *hb =
            (Tix__Worker__V1__Heartbeat *) fake_broker_expect(f, TIX_WP_HEARTBEAT, (int) (end - tix_now_ms()));
        if (!hb)
            return false;
        bool ok = hb->redis_ok;
        protobuf_c_message_free_unpacked(&hb->base, NULL);
        if (ok == want)
            return true;
    }
    return false;
}

void
fake_broker_bind(fake_broker_t *f)
{
    f->heartbeats = true;
    snprintf(f->backend, sizeof f->backend, "tcp://127.0.0.1:%d", th_free_port());
    snprintf(f->events_in, sizeof f->events_in, "tcp://127.0.0.1:%d", th_free_port());
    f->router = zsock_new(ZMQ_ROUTER);
    f->sub = zsock_new(ZMQ_SUB);
    assert_true(f->router && f->sub);
    assert_int_not_equal(zsock_bind(f->router, "%s", f->backend), -1);
    zsock_set_subscribe(f->sub, "order.");
    assert_int_not_equal(zsock_bind(f->sub, "%s", f->events_in), -1);
}

void
fake_broker_start(fake_broker_t *f, th_redis_t *redis)
{
    f->redis = redis;
    fake_broker_bind(f);
    char hb[16], cap[16];
    snprintf(hb, sizeof hb, "%d", FAKE_BROKER_HB_MS);
    snprintf(cap, sizeof cap, "%d", FAKE_BROKER_CAPACITY);
    const char *argv[] = {"tix-worker", "--backend",      f->backend, "--events-in",
                          f->events_in, "--redis-url",    redis->url, "--worker-id",
                          "wtest",      "--heartbeat-ms", hb,         "--capacity",
                          cap,          "--log-level",    "debug",    NULL};
    assert_true(th_proc_start(&f->proc, argv, NULL));
    ProtobufCMessage *ready = fake_broker_expect(f, TIX_WP_READY, FAKE_BROKER_WAIT_MS);
    assert_non_null(ready);
    protobuf_c_message_free_unpacked(ready, NULL);
    assert_true(fake_broker_wait_redis_ok(f, true, FAKE_BROKER_WAIT_MS));
}

void
fake_broker_stop_with(fake_broker_t *f, int sig)
{
    if (f->proc.pid > 0) {
        int status = th_proc_stop(&f->proc, sig, 2000);
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
            print_error("worker exit status %d; its log: %s\n", status, f->proc.log);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    zframe_destroy(&f->rid);
    zsock_destroy(&f->router);
    zsock_destroy(&f->sub);
}

void
fake_broker_stop(fake_broker_t *f)
{
    fake_broker_stop_with(f, SIGTERM);
}

/* Waits for one order event; returns it (owned) and its topic. */
Tix__V1__OrderEvent *
fake_broker_event(fake_broker_t *f, int timeout_ms, char *topic, size_t topic_size)
{
    int64_t end = tix_now_ms() + timeout_ms;
    while (tix_now_ms() < end) {
        fake_broker_heartbeat_if_due(f);
        zmq_pollitem_t item = {zsock_resolve(f->sub), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, FAKE_BROKER_HB_MS / 4) <= 0)
            continue;
        zmsg_t *msg = zmsg_recv(f->sub);
        assert_int_equal(zmsg_size(msg), 2);
        zframe_t *t = zmsg_first(msg), *b = zmsg_next(msg);
        snprintf(topic, topic_size, "%.*s", (int) zframe_size(t), (const char *) zframe_data(t));
        Tix__V1__OrderEvent *e = tix__v1__order_event__unpack(NULL, zframe_size(b), zframe_data(b));
        zmsg_destroy(&msg);
        assert_non_null(e);
        return e;
    }
    return NULL;
}

Tix__Worker__V1__JobReply *
fake_broker_create_sale(fake_broker_t *f, const char *sale_id, uint32_t total, int64_t opens_at_ms,
                        int64_t closes_at_ms)
{
    Tix__V1__CreateSaleRequest req = TIX__V1__CREATE_SALE_REQUEST__INIT;
    req.sale_id = (char *) sale_id;
    req.total = total;
    req.opens_at_ms = opens_at_ms;
    req.closes_at_ms = closes_at_ms;
    return fake_broker_call(f, "tix.v1.AdminService/CreateSale", &req.base);
}

uint64_t
fake_broker_purchase_job(fake_broker_t *f, const char *sale_id, const char *user_id, const char *request_id,
                         uint32_t budget_ms)
{
    Tix__V1__PurchaseRequest req = TIX__V1__PURCHASE_REQUEST__INIT;
    req.sale_id = (char *) sale_id;
    req.user_id = (char *) user_id;
    req.request_id = (char *) request_id;
    return fake_broker_job(f, "tix.v1.TicketService/Purchase", budget_ms, &req.base);
}

/* A purchase answered OK; returns the PurchaseReply (owned). */
Tix__V1__PurchaseReply *
fake_broker_purchase(fake_broker_t *f, const char *sale_id, const char *user_id, const char *request_id,
                     uint32_t *retry_after_ms)
{
    Tix__Worker__V1__JobReply *r =
        fake_broker_reply(f, fake_broker_purchase_job(f, sale_id, user_id, request_id, 5000));
    assert_int_equal(r->code, TIX__V1__CODE__OK);
    Tix__V1__PurchaseReply *p = tix__v1__purchase_reply__unpack(NULL, r->body.len, r->body.data);
    assert_non_null(p);
    if (retry_after_ms)
        *retry_after_ms = r->retry_after_ms;
    tix__worker__v1__job_reply__free_unpacked(r, NULL);
    return p;
}

uint64_t
fake_broker_job_raw(fake_broker_t *f, const char *method, const void *body, size_t len)
{
    Tix__Worker__V1__Job job = TIX__WORKER__V1__JOB__INIT;
    job.job_id = ++f->next_job_id;
    job.method = (char *) method;
    job.budget_ms = 5000;
    job.body.data = (uint8_t *) body;
    job.body.len = len;
    fake_broker_send(f, TIX_WP_JOB, &job.base);
    return job.job_id;
}

void
fake_broker_open_sale(fake_broker_t *f, const char *sale_id, uint32_t total)
{
    Tix__Worker__V1__JobReply *r = fake_broker_create_sale(f, sale_id, total, 0, 0);
    assert_int_equal(r->code, TIX__V1__CODE__OK);
    tix__worker__v1__job_reply__free_unpacked(r, NULL);
}

void
fake_broker_expect_code(Tix__Worker__V1__JobReply *r, tix_code code, const char *message_prefix)
{
    if (r->code != code)
        print_error("got %s: %s\n", tix_code_name(r->code), r->message);
    assert_int_equal(r->code, code);
    if (message_prefix)
        assert_true(strncmp(r->message, message_prefix, strlen(message_prefix)) == 0);
    assert_int_equal(r->body.len, 0);
    tix__worker__v1__job_reply__free_unpacked(r, NULL);
}

fake_broker_t *
fake_broker_new(void)
{
    fake_broker_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    return f;
}

void
fake_broker_destroy(fake_broker_t **fp)
{
    fake_broker_t *f = fp ? *fp : NULL;
    if (!f)
        return;
    if (f->proc.pid > 0)
        th_proc_stop(&f->proc, SIGKILL, 2000);
    zframe_destroy(&f->rid);
    zsock_destroy(&f->router);
    zsock_destroy(&f->sub);
    free(f);
    *fp = NULL;
}

int
fake_broker_group_setup(void **state)
{
    zsys_handler_set(NULL);
    return redis_fixture_setup(state);
}

int
fake_broker_group_teardown(void **state)
{
    return redis_fixture_teardown(state);
}

int
fake_broker_setup(void **state)
{
    fake_broker_t *f = fake_broker_new();
    f->redis = *state; /* the group's redis-server */
    *state = f;
    return 0;
}

int
fake_broker_teardown(void **state)
{
    fake_broker_t *f = *state;
    fake_broker_destroy(&f);
    return 0;
}
