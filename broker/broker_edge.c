/*
 * broker_edge.c - a zhashx of sales, each a zhashx of buyers, and a list of
 * the sales from most to least recently used. A buyer is one allocation
 * holding its strings.
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

typedef struct edge_sale edge_sale_t;
struct edge_sale {
    edge_state state;
    uint64_t load;              /* the load pages must belong to */
    size_t pages;               /* pages of that load added so far */
    int64_t created_at_ms;      /* the incarnation, from the first page */
    uint64_t version;           /* the sale's version, from the first page */
    bool answered;              /* EDGE_READY: answered a call since the last check */
    uint64_t check;             /* the check in flight (0: none) */
    int64_t checked_at_ms;      /* EDGE_READY: when Redis last confirmed the entry */
    int64_t closes_at_ms;       /* 0 = never; Redis's clock */
    int64_t clock_offset_ms;    /* Redis's clock minus the broker's monotonic clock */
    int64_t retry_at_ms;        /* EDGE_FAILED: when a new load may start */
    zhashx_t *buyers;           /* user_id -> edge_buyer_t */
    zhashx_t *cancels;          /* user_id LF request_id -> edge_buyer_t: cancelled requests */
    edge_sale_t *newer, *older; /* the use list */
    char sale_id[];             /* the table's key, for eviction */
};

struct broker_edge {
    zhashx_t *sales;     /* sale_id -> edge_sale_t */
    edge_sale_t *newest; /* most recently used */
    edge_sale_t *oldest; /* evicted first */
    size_t max_sales;
    size_t max_buyers;
    size_t ready;       /* sales in EDGE_READY */
    uint64_t next_load; /* numbers loads; 0 means "none" */
    uint64_t evicted;
    uint64_t dropped;
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
        zhashx_destroy(&sale->cancels);
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
    if (!self_p || !*self_p)
        return;
    broker_edge_t *self = *self_p;
    zhashx_destroy(&self->sales);
    free(self);
    *self_p = NULL;
}

/* ---- The use list ---------------------------------------------------------- */

static void
s_unlink(broker_edge_t *self, edge_sale_t *sale)
{
    if (sale->newer)
        sale->newer->older = sale->older;
    else
        self->newest = sale->older;
    if (sale->older)
        sale->older->newer = sale->newer;
    else
        self->oldest = sale->newer;
    sale->newer = sale->older = NULL;
}

static void
s_push_newest(broker_edge_t *self, edge_sale_t *sale)
{
    sale->older = self->newest;
    sale->newer = NULL;
    if (self->newest)
        self->newest->newer = sale;
    else
        self->oldest = sale;
    self->newest = sale;
}

static void
s_touch(broker_edge_t *self, edge_sale_t *sale)
{
    if (self->newest != sale) {
        s_unlink(self, sale);
        s_push_newest(self, sale);
    }
}

/* Removes sale from the table and frees it. */
static void
s_remove(broker_edge_t *self, edge_sale_t *sale)
{
    if (sale->state == EDGE_READY)
        self->ready--;
    s_unlink(self, sale);
    zhashx_delete(self->sales, sale->sale_id); /* looks the key up before freeing sale */
}

static void
s_evict_oldest(broker_edge_t *self)
{
    edge_sale_t *victim = self->oldest;
    if (!victim)
        return;
    if (self->evicted == 0)
        tix_warn("sold-out edge full: evicting the least recently used sales (counted as edge_evicted)\tmax_sales=%zu",
                 self->max_sales);
    tix_debug("sold-out sale evicted from the edge\tsale=%s", victim->sale_id);
    self->evicted++;
    s_remove(self, victim);
}

/* ---- Loading --------------------------------------------------------------- */

static uint64_t
s_start_load(broker_edge_t *self, edge_sale_t *sale)
{
    if (sale->state == EDGE_READY)
        self->ready--;
    zhashx_purge(sale->buyers);
    zhashx_purge(sale->cancels);
    sale->state = EDGE_LOADING;
    sale->pages = 0;
    sale->check = 0;
    sale->load = ++self->next_load;
    return sale->load;
}

uint64_t
broker_edge_sold_out(broker_edge_t *self, const char *sale_id, int64_t now_ms)
{
    edge_sale_t *sale = zhashx_lookup(self->sales, sale_id);
    if (sale) {
        s_touch(self, sale);
        if (sale->state != EDGE_FAILED || now_ms < sale->retry_at_ms)
            return 0; /* loading, ready, or resting after a failure */
        return s_start_load(self, sale);
    }
    if (self->max_sales == 0)
        return 0;
    while (zhashx_size(self->sales) >= self->max_sales)
        s_evict_oldest(self);
    size_t len = strlen(sale_id);
    sale = xcalloc(1, sizeof *sale + len + 1);
    memcpy(sale->sale_id, sale_id, len + 1);
    sale->buyers = zhashx_new();
    zhashx_set_destructor(sale->buyers, s_free);
    sale->cancels = zhashx_new();
    zhashx_set_destructor(sale->cancels, s_free);
    zhashx_insert(self->sales, sale_id, sale);
    s_push_newest(self, sale);
    return s_start_load(self, sale);
}

/* The cancels table's key: user_id LF request_id (a user_id holds no
 * control character). False when it would not fit (ids beyond PROTOCOL.md's
 * limits, which a worker never sends). */
static bool
s_cancel_key(const char *user_id, const char *request_id, char key[BROKER_EDGE_CANCEL_KEY_MAX])
{
    int n = snprintf(key, BROKER_EDGE_CANCEL_KEY_MAX, "%s\n%s", user_id, request_id);
    return n > 0 && n < BROKER_EDGE_CANCEL_KEY_MAX;
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

static void
s_fail(broker_edge_t *self, edge_sale_t *sale, int64_t retry_at_ms)
{
    if (sale->state == EDGE_READY)
        self->ready--;
    zhashx_purge(sale->buyers);
    zhashx_purge(sale->cancels);
    sale->state = EDGE_FAILED;
    sale->check = 0;
    sale->retry_at_ms = retry_at_ms;
}

void
broker_edge_failed(broker_edge_t *self, const char *sale_id, uint64_t load, int64_t now_ms)
{
    edge_sale_t *sale = zhashx_lookup(self->sales, sale_id);
    if (sale && sale->load == load && sale->state == EDGE_LOADING)
        s_fail(self, sale, now_ms + BROKER_EDGE_RETRY_MS);
}

bool
broker_edge_drop(broker_edge_t *self, const char *sale_id)
{
    edge_sale_t *sale = zhashx_lookup(self->sales, sale_id);
    if (!sale)
        return false;
    tix_info("sold-out sale dropped from the edge\tsale=%s", sale_id);
    self->dropped++;
    s_remove(self, sale);
    return true;
}

/* True (after dropping or resting the sale) when page cannot be part of
 * what sale caches. */
static bool
s_page_refused(broker_edge_t *self, edge_sale_t *sale, const Tix__Worker__V1__BuyersPage *page, int64_t now_ms)
{
    const char *why = NULL;
    int64_t retry_at_ms = 0; /* 0: drop the entry; it caches another sale than Redis holds */
    if (page->remaining != 0)
        why = "not sold out"; /* created again, or a ticket given back */
    else if (sale->pages > 0 && page->created_at_ms != sale->created_at_ms)
        why = "created again while loading";
    else if (sale->pages > 0 && page->version != sale->version)
        why = "closed or an order cancelled while loading";
    else if (page->now_ms == 0)
        why = "no redis time on the page (an older worker)", retry_at_ms = now_ms + BROKER_EDGE_RETRY_MS;
    else if (zhashx_size(sale->buyers) + zhashx_size(sale->cancels) + page->n_buyers > self->max_buyers)
        why = "too many buyers", retry_at_ms = INT64_MAX; /* until dropped or evicted */
    if (!why)
        return false;
    tix_warn("sale not served at the edge\tsale=%s reason=\"%s\" remaining=%u buyers=%zu", page->sale_id, why,
             page->remaining, zhashx_size(sale->buyers) + page->n_buyers);
    if (retry_at_ms) {
        s_fail(self, sale, retry_at_ms);
    } else {
        self->dropped++;
        s_remove(self, sale);
    }
    return true;
}

bool
broker_edge_add_page(broker_edge_t *self, uint64_t load, const Tix__Worker__V1__BuyersPage *page, int64_t now_ms)
{
    edge_sale_t *sale = zhashx_lookup(self->sales, page->sale_id);
    if (!sale || sale->state != EDGE_LOADING || sale->load != load)
        return false; /* a stale page */
    if (s_page_refused(self, sale, page, now_ms))
        return false;
    for (size_t i = 0; i < page->n_buyers; i++) {
        const Tix__Worker__V1__Buyer *b = page->buyers[i];
        if (b->cancelled_at_ms == 0) {
            zhashx_update(sale->buyers, b->user_id, s_buyer_new(b)); /* HSCAN may repeat a user */
            continue;
        }
        char key[BROKER_EDGE_CANCEL_KEY_MAX];
        if (s_cancel_key(b->user_id, b->request_id, key))
            zhashx_update(sale->cancels, key, s_buyer_new(b));
    }
    sale->pages++;
    sale->created_at_ms = page->created_at_ms;
    sale->version = page->version;
    sale->closes_at_ms = page->closes_at_ms;
    /* The page's time is Redis's when it read the page: at most one trip
     * earlier than now, so the close is judged that much late at worst. */
    sale->clock_offset_ms = page->now_ms - now_ms;
    if (strcmp(page->cursor, "0") != 0 && page->cursor[0] != '\0')
        return true;
    sale->state = EDGE_READY;
    sale->answered = false;
    sale->checked_at_ms = now_ms;
    self->ready++;
    tix_info(
        "sale sold out: answered at the edge from now on\tsale=%s buyers=%zu created_at_ms=%lld clock_offset_ms=%lld",
        page->sale_id, zhashx_size(sale->buyers), (long long) sale->created_at_ms, (long long) sale->clock_offset_ms);
    return false;
}

/* ---- Answering ------------------------------------------------------------- */

bool
broker_edge_answer(broker_edge_t *self, const Tix__V1__PurchaseRequest *req, int64_t now_ms,
                   Tix__V1__PurchaseReply *reply)
{
    edge_sale_t *sale = zhashx_lookup(self->sales, req->sale_id);
    if (!sale || sale->state != EDGE_READY)
        return false;
    s_touch(self, sale);
    sale->answered = true;
    /* The order of tix_buy's checks: a cancelled request first, then a
     * buyer, then the close, then stock (which is 0). The sale has opened:
     * it sold out. */
    reply->remaining = 0;
    char key[BROKER_EDGE_CANCEL_KEY_MAX];
    edge_buyer_t *gone = NULL;
    if (zhashx_size(sale->cancels) > 0 && s_cancel_key(req->user_id, req->request_id, key))
        gone = zhashx_lookup(sale->cancels, key);
    edge_buyer_t *buyer = gone ? NULL : zhashx_lookup(sale->buyers, req->user_id);
    if (gone) {
        reply->outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__ORDER_CANCELLED;
        reply->order_id = gone->order_id;
        reply->purchased_at_ms = gone->purchased_at_ms;
    } else if (buyer) {
        reply->outcome = strcmp(buyer->request_id, req->request_id) == 0
                             ? TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED
                             : TIX__V1__PURCHASE_REPLY__OUTCOME__ALREADY_PURCHASED;
        reply->order_id = buyer->order_id;
        reply->purchased_at_ms = buyer->purchased_at_ms;
    } else if (sale->closes_at_ms != 0 && now_ms + sale->clock_offset_ms >= sale->closes_at_ms) {
        reply->outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED;
    } else {
        reply->outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT;
    }
    return true;
}

/* ---- Checks ------------------------------------------------------------------ */

size_t
broker_edge_checks_due(broker_edge_t *self, int64_t now_ms, broker_edge_check_fn *fn, void *arg)
{
    size_t started = 0;
    for (edge_sale_t *sale = self->newest; sale; sale = sale->older) {
        if (sale->state != EDGE_READY || sale->check || !sale->answered ||
            now_ms < sale->checked_at_ms + BROKER_EDGE_CHECK_MS)
            continue;
        sale->check = ++self->next_load;
        sale->answered = false;
        fn(arg, sale->sale_id, sale->check);
        started++;
    }
    return started;
}

bool
broker_edge_checked(broker_edge_t *self, const char *sale_id, uint64_t check, const Tix__Worker__V1__BuyersPage *page,
                    int64_t now_ms)
{
    edge_sale_t *sale = zhashx_lookup(self->sales, sale_id);
    if (!sale || sale->state != EDGE_READY || sale->check != check)
        return true; /* dropped or reloaded meanwhile: nothing to say */
    sale->check = 0;
    if (!page) {
        sale->answered = true; /* no answer (Redis away): ask again next round */
        sale->checked_at_ms = now_ms;
        return true;
    }
    if (page->remaining == 0 && page->created_at_ms == sale->created_at_ms && page->version == sale->version) {
        sale->checked_at_ms = now_ms;
        return true;
    }
    tix_info("sold-out sale changed in redis: dropped from the edge\tsale=%s remaining=%u version=%llu/%llu", sale_id,
             page->remaining, (unsigned long long) page->version, (unsigned long long) sale->version);
    self->dropped++;
    s_remove(self, sale);
    return false;
}

size_t
broker_edge_ready_count(const broker_edge_t *self)
{
    return self->ready;
}

uint64_t
broker_edge_evicted(const broker_edge_t *self)
{
    return self->evicted;
}

uint64_t
broker_edge_dropped(const broker_edge_t *self)
{
    return self->dropped;
}
