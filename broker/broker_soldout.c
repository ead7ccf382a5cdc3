/*
 * broker_soldout.c - drives the sold-out edge: notices a sold-out sale in
 * the Purchase replies passing through, loads its buyers through workers
 * with internal SaleBuyers jobs (jobs without a client whose completion
 * hook is s_on_page; job->call_id holds the edge's load number), drops a
 * sale whenever a reply shows Redis no longer holds what the edge caches,
 * and answers Purchase for ready sales at the frontend.
 */
#include "broker_soldout.h"

#include <string.h>

#include "broker_reply.h"
#include "tix_log.h"
#include "tix_util.h"

#define BROKER_EDGE_LOAD_TIMEOUT_MS 5000

static void s_on_page(broker_job_t *job, tix_code code, const void *body, size_t body_size, void *arg);
static void s_on_check(broker_job_t *job, tix_code code, const void *body, size_t body_size, void *arg);

/* Queues an internal job for one page of sale_id's buyers; its answer goes
 * to on_done with `number` (a load's or a check's) in job->call_id. */
static void
s_queue_page(broker_t *self, const char *sale_id, const char *cursor, uint64_t number, broker_job_done_fn *on_done)
{
    Tix__Worker__V1__SaleBuyersRequest req = TIX__WORKER__V1__SALE_BUYERS_REQUEST__INIT;
    req.sale_id = (char *) sale_id;
    req.cursor = (char *) cursor;
    broker_job_t *job = broker_jobs_alloc(self->jobs);
    broker_jobs_set_internal(job, &req.base); /* no client: the answer comes back to on_done */
    job->on_done = on_done;
    job->on_done_arg = self;
    job->call_id = number;
    job->method = tix_method_get(TIX_METHOD_SALE_BUYERS);
    job->deadline_ms = tix_now_ms() + BROKER_EDGE_LOAD_TIMEOUT_MS;
    broker_jobs_push_back(self->jobs, job);
    self->stats.edge_pages++;
}

static void
s_load_page(broker_t *self, const char *sale_id, const char *cursor, uint64_t load)
{
    s_queue_page(self, sale_id, cursor, load, s_on_page);
}

static void
s_start_check(void *arg, const char *sale_id, uint64_t check)
{
    s_queue_page(arg, sale_id, "0", check, s_on_check);
}

void
broker_soldout_tick(broker_t *self, int64_t now)
{
    broker_edge_checks_due(self->edge, now, s_start_check, self);
}

/* A bump allocator over a caller's buffer: every Purchase reply passes
 * through broker_soldout_on_reply, and reading its `remaining` should
 * cost no heap allocation. Nothing is freed; the buffer dies with the call. */
typedef struct {
    uint8_t buf[512]; /* a PurchaseReply within PROTOCOL.md's limits needs < 200 */
    size_t used;
} s_arena_t;

static void *
s_arena_alloc(void *data, size_t size)
{
    s_arena_t *a = data;
    size = (size + 15) & ~(size_t) 15;
    if (size > sizeof a->buf - a->used)
        return NULL; /* too big to be a real reply: unpack fails, no edge */
    void *p = a->buf + a->used;
    a->used += size;
    return p;
}

static void
s_arena_free(void *data, void *ptr)
{
    (void) data, (void) ptr;
}

static void
s_drop(broker_t *self, const char *sale_id)
{
    broker_edge_drop(self->edge, sale_id);
    self->stats.edge_dropped = broker_edge_dropped(self->edge);
}

/* A Purchase answered OK: the sale is sold out when remaining is 0. */
static void
s_check_purchase(broker_t *self, const broker_job_t *job, const void *body, size_t body_size)
{
    s_arena_t arena;
    arena.used = 0;
    ProtobufCAllocator allocator = {s_arena_alloc, s_arena_free, &arena};
    Tix__V1__PurchaseReply *reply = tix__v1__purchase_reply__unpack(&allocator, body_size, body);
    if (!reply)
        return;
    bool sold_out = reply->remaining == 0 && reply->outcome != TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_NOT_OPEN &&
                    reply->outcome != TIX__V1__PURCHASE_REPLY__OUTCOME__OUTCOME_UNSPECIFIED;
    if (!sold_out)
        return;
    Tix__V1__PurchaseRequest *req = tix__v1__purchase_request__unpack(NULL, job->body.size, job->body.data);
    uint64_t load = req ? broker_edge_sold_out(self->edge, req->sale_id, tix_now_ms()) : 0;
    self->stats.edge_evicted = broker_edge_evicted(self->edge);
    if (load)
        s_load_page(self, req->sale_id, "0", load);
    if (req)
        tix__v1__purchase_request__free_unpacked(req, NULL);
}

/* A GetSale answered OK: stock above 0 means the sale is not what a
 * sold-out entry caches (created again, or stock grew). */
static void
s_check_sale(broker_t *self, const void *body, size_t body_size)
{
    s_arena_t arena;
    arena.used = 0;
    ProtobufCAllocator allocator = {s_arena_alloc, s_arena_free, &arena};
    Tix__V1__Sale *sale = tix__v1__sale__unpack(&allocator, body_size, body);
    if (sale && sale->remaining > 0)
        s_drop(self, sale->sale_id);
}

/* Drops the sale the job's request names (every client method that a
 * worker answers has a sale_id). */
static void
s_drop_job_sale(broker_t *self, const broker_job_t *job)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(job->method->input, "sale_id");
    if (!field || field->type != PROTOBUF_C_TYPE_STRING)
        return;
    ProtobufCMessage *req = protobuf_c_message_unpack(job->method->input, NULL, job->body.size, job->body.data);
    if (!req)
        return;
    const char *sale_id = *(const char *const *) ((const char *) req + field->offset);
    if (sale_id && sale_id[0])
        s_drop(self, sale_id);
    protobuf_c_message_free_unpacked(req, NULL);
}

void
broker_soldout_on_reply(broker_t *self, const broker_job_t *job, tix_code code, const void *body, size_t body_size)
{
    tix_method_id method = job->method->id;
    if (code == TIX__V1__CODE__OK && method == TIX_METHOD_PURCHASE) {
        s_check_purchase(self, job, body, body_size);
        return;
    }
    if (code == TIX__V1__CODE__OK && method == TIX_METHOD_GET_SALE) {
        s_check_sale(self, body, body_size);
        return;
    }
    /* A new incarnation, a sale Redis does not have, or one whose keys
     * disagree: nothing cached for it may answer again. GetOrder's
     * NOT_FOUND may only mean "no order", so it proves nothing. */
    bool changed = (code == TIX__V1__CODE__OK && method == TIX_METHOD_CREATE_SALE) ||
                   code == TIX__V1__CODE__DATA_LOSS ||
                   (code == TIX__V1__CODE__NOT_FOUND && method != TIX_METHOD_GET_ORDER);
    if (changed)
        s_drop_job_sale(self, job);
}

void
broker_soldout_sale_changed(broker_t *self, const char *sale_id, int64_t created_at_ms, uint64_t version)
{
    self->stats.edge_notices++;
    if (broker_edge_drop(self->edge, sale_id))
        tix_debug("sale changed: dropped from the edge\tsale=%s created_at_ms=%lld version=%llu", sale_id,
                  (long long) created_at_ms, (unsigned long long) version);
    self->stats.edge_dropped = broker_edge_dropped(self->edge);
}

#define EDGE_REPLY_MAX 256 /* a PurchaseReply with PROTOCOL.md's id limits is < 120 bytes */

/* Fills buf with the edge's answer to req; returns its size, or 0 when the
 * sale is not ready at the edge (or, impossibly, the reply does not fit). */
static size_t
s_edge_reply(broker_t *self, const Tix__V1__PurchaseRequest *req, uint8_t buf[EDGE_REPLY_MAX])
{
    Tix__V1__PurchaseReply reply = TIX__V1__PURCHASE_REPLY__INIT;
    if (!broker_edge_answer(self->edge, req, tix_now_ms(), &reply))
        return 0;
    if (protobuf_c_message_get_packed_size(&reply.base) > EDGE_REPLY_MAX)
        return 0;
    self->stats.edge_answers++;
    return tix__v1__purchase_reply__pack(&reply, buf);
}

/* Answers a queued Purchase at the edge when its sale is ready there. */
static bool
s_take_at_edge(broker_job_t *job, void *arg)
{
    broker_t *self = arg;
    if (!job->client.data || job->method->id != TIX_METHOD_PURCHASE)
        return false;
    Tix__V1__PurchaseRequest *req = tix__v1__purchase_request__unpack(NULL, job->body.size, job->body.data);
    uint8_t buf[EDGE_REPLY_MAX];
    size_t size = req ? s_edge_reply(self, req, buf) : 0;
    if (size)
        broker_reply_answer(self, job, TIX__V1__CODE__OK, NULL, 0, buf, size);
    if (req)
        tix__v1__purchase_request__free_unpacked(req, NULL);
    return size > 0;
}

/* The answer to an internal SaleBuyers job: the next page, the sale ready
 * (then queued Purchases for it are answered here), or a failed load. Runs
 * on the way out (broker_reply_answer), possibly while a worker is being
 * buried or dispatched to: it only queues jobs, which that caller sends. */
static void
s_on_page(broker_job_t *job, tix_code code, const void *body, size_t body_size, void *arg)
{
    broker_t *self = arg;
    Tix__Worker__V1__SaleBuyersRequest *req =
        tix__worker__v1__sale_buyers_request__unpack(NULL, job->body.size, job->body.data);
    uint64_t load = job->call_id;
    broker_jobs_free(self->jobs, job);
    if (!req)
        return; /* we packed it ourselves: cannot happen */
    Tix__Worker__V1__BuyersPage *page =
        code == TIX__V1__CODE__OK ? tix__worker__v1__buyers_page__unpack(NULL, body_size, body) : NULL;
    int64_t now = tix_now_ms();
    if (code == TIX__V1__CODE__NOT_FOUND || code == TIX__V1__CODE__DATA_LOSS) {
        tix_warn("a sold-out sale is gone or damaged in redis\tsale=%s code=%s", req->sale_id, tix_code_name(code));
        s_drop(self, req->sale_id);
    } else if (!page || strcmp(page->sale_id, req->sale_id) != 0) {
        tix_warn("loading a sold-out sale's buyers failed; retrying later\tsale=%s code=%s", req->sale_id,
                 tix_code_name(code));
        broker_edge_failed(self->edge, req->sale_id, load, now);
    } else if (broker_edge_add_page(self->edge, load, page, now)) {
        s_load_page(self, req->sale_id, page->cursor, load);
    } else {
        self->stats.edge_dropped = broker_edge_dropped(self->edge);
        /* Ready (or given up): calls that queued meanwhile need no worker. */
        size_t taken = broker_jobs_sweep(self->jobs, s_take_at_edge, self);
        tix_debug("queued purchases answered at the edge\tsale=%s count=%zu", req->sale_id, taken);
    }
    if (page)
        tix__worker__v1__buyers_page__free_unpacked(page, NULL);
    tix__worker__v1__sale_buyers_request__free_unpacked(req, NULL);
}

/* The answer to a check of a ready sale: the entry stays while Redis shows
 * the version it caches, and is dropped otherwise. */
static void
s_on_check(broker_job_t *job, tix_code code, const void *body, size_t body_size, void *arg)
{
    broker_t *self = arg;
    Tix__Worker__V1__SaleBuyersRequest *req =
        tix__worker__v1__sale_buyers_request__unpack(NULL, job->body.size, job->body.data);
    uint64_t check = job->call_id;
    broker_jobs_free(self->jobs, job);
    if (!req)
        return;
    Tix__Worker__V1__BuyersPage *page =
        code == TIX__V1__CODE__OK ? tix__worker__v1__buyers_page__unpack(NULL, body_size, body) : NULL;
    if (code == TIX__V1__CODE__NOT_FOUND || code == TIX__V1__CODE__DATA_LOSS)
        s_drop(self, req->sale_id);
    else
        broker_edge_checked(self->edge, req->sale_id, check, page, tix_now_ms());
    self->stats.edge_dropped = broker_edge_dropped(self->edge);
    if (page)
        tix__worker__v1__buyers_page__free_unpacked(page, NULL);
    tix__worker__v1__sale_buyers_request__free_unpacked(req, NULL);
}

bool
broker_soldout_answer(broker_t *self, const tix_frame_t *client, const tix_call_t *call)
{
    if (call->method->id != TIX_METHOD_PURCHASE)
        return false;
    uint8_t buf[EDGE_REPLY_MAX];
    size_t size = s_edge_reply(self, (const Tix__V1__PurchaseRequest *) call->request, buf);
    if (!size)
        return false;
    tix_status_t status = {call->call_id, TIX__V1__CODE__OK, NULL, 0};
    broker_reply_send(self, client, &status, buf, size);
    return true;
}
