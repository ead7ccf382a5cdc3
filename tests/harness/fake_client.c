/*
 * fake_client.c - the scripted fake broker of the libtix and CLI tests (see
 * fake_client.h).
 */
#include "fake_client.h"

#include <stdlib.h>
#include <sys/stat.h>

#include "tix_codec.h"
#include "tix_log.h"

void
fake_client_record(zmsg_t *msg, fake_client_call_t *call)
{
    memset(call, 0, sizeof *call);
    call->at_ms = tix_now_ms();
    tix_frame_t views[8];
    size_t n = tix_frames_view(msg, 0, views, 8);
    call->nframes = n;
    if (n == 0)
        return;
    call->delimiter_empty = n > 0 && views[0].size == 0;
    if (n > 1)
        snprintf(call->signature, sizeof call->signature, "%.*s", (int) views[1].size, (const char *) views[1].data);
    tix_call_t c;
    tix_call_decode(views + 1, n > 8 ? 7 : n - 1, &c);
    call->code = c.code;
    call->call_id = c.call_id;
    call->timeout_ms = c.timeout_ms;
    if (c.method)
        snprintf(call->method, sizeof call->method, "%s", c.method->name);
    if (c.body.size <= FAKE_CLIENT_BODY_MAX && c.body.data) {
        memcpy(call->body, c.body.data, c.body.size);
        call->body_size = c.body.size;
    }
    tix_call_clear(&c);
}

void
fake_client_reply(zsock_t *router, zframe_t *rid, uint64_t call_id, tix_code code, uint32_t retry_after_ms,
                  const ProtobufCMessage *body)
{
    zmsg_t *m = zmsg_new();
    zframe_t *r = zframe_dup(rid);
    zmsg_append(m, &r);
    zmsg_addmem(m, NULL, 0);
    tix_status_t st = {call_id, code, code ? "scripted failure" : NULL, retry_after_ms};
    tix_reply_append_msg(m, &st, body);
    zmsg_send(&m, router);
}

void
fake_client_reply_garbage(zsock_t *router, zframe_t *rid, uint64_t call_id)
{
    uint8_t garbage[FAKE_CLIENT_GARBAGE_SIZE];
    memset(garbage, 0xff, sizeof garbage);
    tix_status_t st = {call_id, TIX__V1__CODE__OK, NULL, 0};
    zmsg_t *m = zmsg_new();
    zmsg_addmem(m, zframe_data(rid), zframe_size(rid));
    zmsg_addmem(m, NULL, 0);
    tix_reply_append(m, &st, garbage, sizeof garbage);
    zmsg_send(&m, router);
}

void
fake_client_answer(zsock_t *router, zframe_t *rid, const fake_client_call_t *call)
{
    const tix_method_t *m = tix_method_find(call->method, strlen(call->method));
    assert(m);
    ProtobufCMessage *req = protobuf_c_message_unpack(m->input, NULL, call->body_size, call->body);
    assert(req);
    char order_id[256] = "";
    Tix__V1__PurchaseReply p = TIX__V1__PURCHASE_REPLY__INIT;
    Tix__V1__Sale s = TIX__V1__SALE__INIT;
    Tix__V1__Order o = TIX__V1__ORDER__INIT;
    Tix__V1__HealthCheckResponse h = TIX__V1__HEALTH_CHECK_RESPONSE__INIT;
    const ProtobufCMessage *out = &h.base;
    h.status = TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    if (m->id == TIX_METHOD_PURCHASE || m->id == TIX_METHOD_GET_ORDER) {
        /* PurchaseRequest and GetOrderRequest start with sale_id, user_id. */
        const Tix__V1__GetOrderRequest *r = (const Tix__V1__GetOrderRequest *) req;
        snprintf(order_id, sizeof order_id, "%s:%s", r->sale_id, r->user_id);
        p.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED;
        p.order_id = o.order_id = order_id;
        p.purchased_at_ms = o.purchased_at_ms = FAKE_CLIENT_ANSWER_AT_MS;
        p.remaining = 7;
        o.sale_id = r->sale_id;
        o.user_id = r->user_id;
        out = m->id == TIX_METHOD_PURCHASE ? &p.base : &o.base;
    } else if (m->id == TIX_METHOD_GET_SALE || m->id == TIX_METHOD_CREATE_SALE) {
        s.sale_id = ((const Tix__V1__GetSaleRequest *) req)->sale_id; /* sale_id is field 1 of both */
        s.total = s.remaining = 10;
        s.state = TIX__V1__SALE__STATE__OPEN;
        out = &s.base;
    }
    fake_client_reply(router, rid, call->call_id, TIX__V1__CODE__OK, 0, out);
    protobuf_c_message_free_unpacked(req, NULL);
}

void
fake_client_send_junk(zsock_t *router, zframe_t *rid, uint64_t call_id, int which)
{
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff};
    Tix__V1__ReplyHeader h = TIX__V1__REPLY_HEADER__INIT;
    h.call_id = call_id;
    zframe_t *header = tix_frame_pack(&h.base);
    zmsg_t *m = zmsg_new();
    zframe_t *r = zframe_dup(rid);
    zmsg_append(m, &r);
    if (which != 4)
        zmsg_addmem(m, NULL, 0);                         /* 4: no delimiter */
    zmsg_addstr(m, which == 0 ? "TIX2" : TIX_SIGNATURE); /* 0: wrong signature */
    if (which == 2) {
        zmsg_addmem(m, garbage, sizeof garbage); /* 2: garbage header */
        zmsg_addmem(m, NULL, 0);
    } else if (which != 1) { /* 1: stops after the signature */
        zmsg_addmem(m, zframe_data(header), zframe_size(header));
        zmsg_addmem(m, NULL, 0);
        if (which == 3)
            zmsg_addstr(m, "extra"); /* 3: a fifth frame */
    }
    zframe_destroy(&header);
    zmsg_send(&m, router);
}

void
fake_client_script_answer(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                          size_t index)
{
    (void) fb, (void) index;
    fake_client_answer(router, rid, call);
}

void
fake_client_script_silent(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                          size_t index)
{
    (void) fb, (void) router, (void) rid, (void) call, (void) index;
}

void
fake_client_script_retry(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                         size_t index)
{
    if (index < fb->retries)
        fake_client_reply(router, rid, call->call_id, fb->retry_code, fb->retry_after_ms, NULL);
    else
        fake_client_answer(router, rid, call);
}

void
fake_client_script_ignore_first(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                                size_t index)
{
    (void) fb;
    if (index > 0)
        fake_client_answer(router, rid, call);
}

void
fake_client_script_hold_first(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                              size_t index)
{
    if (index == 0) {
        fb->held = *call;
        fb->held_rid = zframe_dup(rid);
    } else if (index == 1) {
        fake_client_answer(router, fb->held_rid, &fb->held);
        if (fb->answer_second)
            fake_client_answer(router, rid, call);
    }
}

void
fake_client_script_junk_first(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                              size_t index)
{
    (void) fb, (void) index;
    for (int i = 0; i < FAKE_CLIENT_NJUNK; i++)
        fake_client_send_junk(router, rid, call->call_id, i);
    static const uint8_t garbage[] = {0xff, 0xff, 0xff};
    tix_status_t st = {call->call_id, TIX__V1__CODE__OK, NULL, 0};
    zmsg_t *m = zmsg_new();
    zframe_t *r = zframe_dup(rid);
    zmsg_append(m, &r);
    zmsg_addmem(m, NULL, 0);
    tix_reply_append(m, &st, garbage, sizeof garbage);
    zmsg_send(&m, router);
    fake_client_call_t other = *call;
    other.call_id = call->call_id - 1;
    fake_client_answer(router, rid, &other);
    other.call_id = call->call_id + 1000;
    fake_client_answer(router, rid, &other);
    fake_client_answer(router, rid, call);
}

void
fake_client_cli_purchase(zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                         const Tix__V1__PurchaseRequest *req)
{
    Tix__V1__PurchaseReply p = TIX__V1__PURCHASE_REPLY__INIT;
    char order_id[128];
    snprintf(order_id, sizeof order_id, "%s:17", req->sale_id);
    tix_code code = TIX__V1__CODE__OK;
    uint32_t retry_after = 0;
    if (strcmp(req->sale_id, "silent") == 0)
        return;
    if (strcmp(req->sale_id, "nope") == 0) {
        code = TIX__V1__CODE__NOT_FOUND;
    } else if (strcmp(req->sale_id, "busy") == 0) {
        code = TIX__V1__CODE__RESOURCE_EXHAUSTED; /* no retry fits: libtix returns this at once */
        retry_after = 600000;
    } else if (strcmp(req->user_id, "sold") == 0) {
        p.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT;
    } else if (strcmp(req->user_id, "early") == 0) {
        p.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_NOT_OPEN;
        retry_after = 5000;
    } else if (strcmp(req->user_id, "late") == 0) {
        p.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED;
    } else {
        p.outcome = strcmp(req->user_id, "again") == 0 ? TIX__V1__PURCHASE_REPLY__OUTCOME__ALREADY_PURCHASED
                                                       : TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED;
        p.order_id = order_id;
        p.purchased_at_ms = FAKE_CLIENT_ANSWER_AT_MS;
        p.remaining = 183;
    }
    fake_client_reply(router, rid, call->call_id, code, retry_after, code == TIX__V1__CODE__OK ? &p.base : NULL);
}

void
fake_client_cli_sale(zsock_t *router, zframe_t *rid, const fake_client_call_t *call, const ProtobufCMessage *req)
{
    Tix__V1__Sale s = TIX__V1__SALE__INIT;
    tix_code code = TIX__V1__CODE__OK;
    if (req->descriptor == &tix__v1__create_sale_request__descriptor) {
        const Tix__V1__CreateSaleRequest *c = (const Tix__V1__CreateSaleRequest *) req;
        code = strcmp(c->sale_id, "dup") == 0 ? TIX__V1__CODE__ALREADY_EXISTS : TIX__V1__CODE__OK;
        s.sale_id = c->sale_id;
        s.total = s.remaining = c->total;
        s.opens_at_ms = c->opens_at_ms;
        s.closes_at_ms = c->closes_at_ms;
        s.state = TIX__V1__SALE__STATE__SCHEDULED;
    } else {
        s.sale_id = ((const Tix__V1__GetSaleRequest *) req)->sale_id;
        code = strcmp(s.sale_id, "nope") == 0 ? TIX__V1__CODE__NOT_FOUND : TIX__V1__CODE__OK;
        s.total = 200;
        s.remaining = 183;
        s.opens_at_ms = FAKE_CLIENT_ANSWER_AT_MS - 123;
        s.state = TIX__V1__SALE__STATE__OPEN;
    }
    fake_client_reply(router, rid, call->call_id, code, 0, code == TIX__V1__CODE__OK ? &s.base : NULL);
}

void
fake_client_cli_health(zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                       const Tix__V1__HealthCheckRequest *req)
{
    Tix__V1__HealthCheckResponse h = TIX__V1__HEALTH_CHECK_RESPONSE__INIT;
    h.status = strcmp(req->service, "down") == 0   ? TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
               : strcmp(req->service, "what") == 0 ? TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN
                                                   : TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    fake_client_reply(router, rid, call->call_id, TIX__V1__CODE__OK, 0, &h.base);
}

void
fake_client_script_cli(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call, size_t index)
{
    (void) fb, (void) index;
    const tix_method_t *m = tix_method_find(call->method, strlen(call->method));
    assert(m);
    ProtobufCMessage *req = protobuf_c_message_unpack(m->input, NULL, call->body_size, call->body);
    assert(req);
    switch (m->id) {
    case TIX_METHOD_PURCHASE:
        fake_client_cli_purchase(router, rid, call, (const Tix__V1__PurchaseRequest *) req);
        break;
    case TIX_METHOD_GET_SALE:
    case TIX_METHOD_CREATE_SALE: fake_client_cli_sale(router, rid, call, req); break;
    case TIX_METHOD_HEALTH_CHECK:
        fake_client_cli_health(router, rid, call, (const Tix__V1__HealthCheckRequest *) req);
        break;
    default: fake_client_answer(router, rid, call); break;
    }
    protobuf_c_message_free_unpacked(req, NULL);
}

void
fake_client_serve_one(fake_client_t *fb, zsock_t *router)
{
    zmsg_t *msg = zmsg_recv(router);
    if (!msg)
        return;
    zframe_t *rid = zmsg_pop(msg);
    fake_client_call_t call;
    fake_client_record(msg, &call);
    pthread_mutex_lock(&fb->lock);
    size_t index = fb->ncalls;
    if (fb->ncalls < FAKE_CLIENT_MAX_CALLS)
        fb->calls[fb->ncalls++] = call;
    pthread_mutex_unlock(&fb->lock);
    fb->script(fb, router, rid, &call, index);
    zframe_destroy(&rid);
    zmsg_destroy(&msg);
}

zsock_t *
fake_client_router_new(char *endpoint, size_t size)
{
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    assert(router);
    zsock_set_sndhwm(router, 0);
    zsock_set_rcvhwm(router, 0);
    zsock_set_linger(router, 0);
    int port = zsock_bind(router, "tcp://127.0.0.1:*");
    assert(port > 0);
    snprintf(endpoint, size, "tcp://127.0.0.1:%d", port);
    return router;
}

bool
fake_client_pair_open(fake_client_pair_t *p)
{
    char ep[128];
    p->router = fake_client_router_new(ep, sizeof ep);
    p->client = tix_client_new(ep);
    return p->client != NULL;
}

void
fake_client_pair_close(fake_client_pair_t *p)
{
    tix_client_destroy(&p->client);
    zsock_destroy(&p->router);
}

int
fake_client_pair_setup(void **state)
{
    static fake_client_pair_t p;
    *state = &p;
    return fake_client_pair_open(&p) ? 0 : -1;
}

int
fake_client_pair_teardown(void **state)
{
    fake_client_pair_close(*state);
    return 0;
}

void
fake_client_actor(zsock_t *pipe, void *arg)
{
    fake_client_t *fb = (fake_client_t *) arg;
    zsock_t *router = fake_client_router_new(fb->endpoint, sizeof fb->endpoint);
    zsock_signal(pipe, 0);
    zpoller_t *poller = zpoller_new(pipe, router, NULL);
    for (;;) {
        void *which = zpoller_wait(poller, -1);
        if (which != router)
            break;
        fake_client_serve_one(fb, router);
    }
    if (zpoller_expired(poller) == false && zpoller_terminated(poller) == false) {
        zmsg_t *term = zmsg_recv(pipe); /* $TERM from zactor_destroy */
        zmsg_destroy(&term);
    }
    zframe_destroy(&fb->held_rid);
    zpoller_destroy(&poller);
    zsock_destroy(&router);
}

fake_client_t *
fake_client_new(fake_client_script_fn *script, void (*configure)(fake_client_t *fb))
{
    fake_client_t *fb = xcalloc(1, sizeof *fb);
    fb->script = script;
    pthread_mutex_init(&fb->lock, NULL);
    if (configure)
        configure(fb);
    fb->actor = zactor_new(fake_client_actor, fb);
    assert(fb->actor);
    return fb;
}

void
fake_client_destroy(fake_client_t **fb)
{
    if (!*fb)
        return;
    zactor_destroy(&(*fb)->actor);
    pthread_mutex_destroy(&(*fb)->lock);
    free(*fb);
    *fb = NULL;
}

size_t
fake_client_ncalls(fake_client_t *fb)
{
    pthread_mutex_lock(&fb->lock);
    size_t n = fb->ncalls;
    pthread_mutex_unlock(&fb->lock);
    return n;
}

fake_client_call_t
fake_client_call(fake_client_t *fb, size_t index)
{
    pthread_mutex_lock(&fb->lock);
    assert(index < fb->ncalls);
    fake_client_call_t c = fb->calls[index];
    pthread_mutex_unlock(&fb->lock);
    return c;
}

bool
fake_client_router_recv(zsock_t *router, int timeout_ms, zframe_t **rid, fake_client_call_t *call)
{
    zsock_set_rcvtimeo(router, timeout_ms);
    zmsg_t *msg = zmsg_recv(router);
    if (!msg)
        return false;
    *rid = zmsg_pop(msg);
    fake_client_record(msg, call);
    zmsg_destroy(&msg);
    return true;
}

void
fake_client_quiet(void)
{
    setenv("ZSYS_SIGHANDLER", "false", 1); /* the tests own their signals */
    tix_log_set_level_name(getenv("TIX_LOG_LEVEL") ? getenv("TIX_LOG_LEVEL") : "error");
}

int
fake_client_cli_setup(void **state, fake_client_script_fn *script)
{
    static fake_client_cli_t cli;
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/tix", TIX_BIN_DIR);
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fake_client: %s is not built (cmake --build ... --target tix-cli)\n", path);
        return -1;
    }
    cli.fb = fake_client_new(script, NULL);
    snprintf(cli.frontend_flag, sizeof cli.frontend_flag, "--frontend=%s", cli.fb->endpoint);
    *state = &cli;
    return 0;
}

int
fake_client_cli_teardown(void **state)
{
    fake_client_cli_t *cli = *state;
    fake_client_destroy(&cli->fb);
    return 0;
}
