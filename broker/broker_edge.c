/*
 * broker_edge.c - a zhashx of sales, each a zhashx of buyers. A buyer is one
 * allocation holding its strings.
 */
#include "broker_edge.h"

#include <string.h>

#include "tix_log.h"
#include "tix_util.h"

typedef enum { EDGE_LOADING, EDGE_READY, EDGE_FAILED } edge_state;

typedef struct {
    int64_t purchased_at_ms;
    const char *request_id; /* points into text */
    char order_id[];        /* order_id NUL request_id NUL */
} edge_buyer_t;

typedef struct {
    edge_state state;
    int64_t closes_at_ms; /* 0 = never */
    int64_t retry_at_ms;  /* EDGE_FAILED: when a new load may start */
    zhashx_t *buyers;     /* user_id -> edge_buyer_t */
} edge_sale_t;

struct broker_edge {
    zhashx_t *sales; /* sale_id -> edge_sale_t */
    size_t max_sales;
    size_t max_buyers;
    size_t ready; /* sales in EDGE_READY */
};

static void
s_free(void **item)
{
    free(*item);
    *item = NULL;
}

static void
s_sale_destroy(void **item)
{
    edge_sale_t *sale = *item;
    if (sale) {
        zhashx_destroy(&sale->buyers);
        free(sale);
    }
    *item = NULL;
}

broker_edge_t *
broker_edge_new(size_t max_sales, size_t max_buyers)
{
    broker_edge_t *self = xcalloc(1, sizeof *self);
    self->sales = zhashx_new();
    zhashx_set_destructor(self->sales, s_sale_destroy);
    self->max_sales = max_sales;
    self->max_buyers = max_buyers;
    return self;
}

void
broker_edge_destroy(broker_edge_t **self_p)
{
    broker_edge_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy(&self->sales);
    free(self);
    *self_p = NULL;
}

static void
s_reset(edge_sale_t *sale)
{
    zhashx_purge(sale->buyers);
    sale->state = EDGE_LOADING;
}

bool
broker_edge_sold_out(broker_edge_t *self, const char *sale_id, int64_t now_ms)
{
    edge_sale_t *sale = zhashx_lookup(self->sales, sale_id);
    if (sale) {
        if (sale->state != EDGE_FAILED || now_ms < sale->retry_at_ms)
            return false; /* loading, ready, or resting after a failure */
        s_reset(sale);
        return true;
    }
    if (zhashx_size(self->sales) >= self->max_sales)
        return false; /* full: this sale keeps going to workers */
    sale = xcalloc(1, sizeof *sale);
    sale->buyers = zhashx_new();
    zhashx_set_destructor(sale->buyers, s_free);
    zhashx_insert(self->sales, sale_id, sale);
    return true;
}

static edge_buyer_t *
s_buyer_new(const Tix__Worker__V1__Buyer *b)
{
    size_t olen = strlen(b->order_id), rlen = strlen(b->request_id);
    edge_buyer_t *buyer = xmalloc(sizeof *buyer + olen + rlen + 2);
    buyer->purchased_at_ms = b->purchased_at_ms;
    memcpy(buyer->order_id, b->order_id, olen + 1);
    buyer->request_id = buyer->order_id + olen + 1;
    memcpy((char *) buyer->request_id, b->request_id, rlen + 1);
    return buyer;
}

void
broker_edge_failed(broker_edge_t *self, const char *sale_id, int64_t now_ms)
{
    edge_sale_t *sale = zhashx_lookup(self->sales, sale_id);
    if (!sale)
        return;
    if (sale->state == EDGE_READY)
        self->ready--;
    zhashx_purge(sale->buyers);
    sale->state = EDGE_FAILED;
    sale->retry_at_ms = now_ms + BROKER_EDGE_RETRY_MS;
}

bool
broker_edge_add_page(broker_edge_t *self, const Tix__Worker__V1__BuyersPage *page, int64_t now_ms)
{
    edge_sale_t *sale = zhashx_lookup(self->sales, page->sale_id);
    if (!sale || sale->state != EDGE_LOADING)
        return false; /* a stale page */
    if (page->remaining != 0 || zhashx_size(sale->buyers) + page->n_buyers > self->max_buyers) {
        /* Not sold out after all (cannot happen: stock never grows), or too
         * big to keep: leave this sale to the workers for a while. */
        tix_warn("sale not served at the edge\tsale=%s remaining=%u buyers=%zu", page->sale_id, page->remaining,
                 zhashx_size(sale->buyers) + page->n_buyers);
        broker_edge_failed(self, page->sale_id, now_ms);
        sale->retry_at_ms = INT64_MAX;
        return false;
    }
    for (size_t i = 0; i < page->n_buyers; i++) {
        const Tix__Worker__V1__Buyer *b = page->buyers[i];
        zhashx_update(sale->buyers, b->user_id, s_buyer_new(b)); /* HSCAN may repeat a user */
    }
    sale->closes_at_ms = page->closes_at_ms;
    if (strcmp(page->cursor, "0") != 0 && page->cursor[0] != '\0')
        return true;
    sale->state = EDGE_READY;
    self->ready++;
    tix_info("sale sold out: answered at the edge from now on\tsale=%s buyers=%zu", page->sale_id,
             zhashx_size(sale->buyers));
    return false;
}

bool
broker_edge_answer(broker_edge_t *self, const Tix__V1__PurchaseRequest *req, int64_t now_wall_ms,
                   Tix__V1__PurchaseReply *reply)
{
    edge_sale_t *sale = zhashx_lookup(self->sales, req->sale_id);
    if (!sale || sale->state != EDGE_READY)
        return false;
    /* The order of tix_buy's checks: a buyer first, then the close, then
     * stock (which is 0). The sale has opened: it sold out. */
    reply->remaining = 0;
    edge_buyer_t *buyer = zhashx_lookup(sale->buyers, req->user_id);
    if (buyer) {
        reply->outcome = strcmp(buyer->request_id, req->request_id) == 0
                             ? TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED
                             : TIX__V1__PURCHASE_REPLY__OUTCOME__ALREADY_PURCHASED;
        reply->order_id = buyer->order_id;
        reply->purchased_at_ms = buyer->purchased_at_ms;
    } else if (sale->closes_at_ms != 0 && now_wall_ms >= sale->closes_at_ms) {
        reply->outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED;
    } else {
        reply->outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT;
    }
    return true;
}

size_t
broker_edge_ready_count(const broker_edge_t *self)
{
    return self->ready;
}
