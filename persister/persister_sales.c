/*
 * persister_sales.c - the per-sale table: sale_id -> persister_sale_t, with
 * the live and retired sales in two lists (each sale knows its node, so
 * moving one is O(1)).
 */
#include "persister_sales.h"

#include <stdlib.h>
#include <string.h>

#include "tix_util.h"

struct persister_sales {
    zhashx_t *sales;      /* sale_id -> persister_sale_t (owned) */
    zlistx_t *live;       /* persister_sale_t * (borrowed): the catch-up set */
    zlistx_t *retired;    /* persister_sale_t * (borrowed): least recently checked first */
    size_t written_count; /* sum of every sale's written set */
    size_t claims_count;  /* sum of every sale's claims */
    size_t claims_max;
};

static void
s_claim_destroy(void **item)
{
    persister_order_t *claim = *item;
    if (claim) {
        persister_order_clear(claim);
        free(claim);
        *item = NULL;
    }
}

/* Frees every claim of the sale; returns how many there were. */
static size_t
s_drop_claims(persister_sale_t *sale)
{
    if (!sale->claims)
        return 0;
    size_t n = zhashx_size(sale->claims);
    for (void *c = zhashx_first(sale->claims); c; c = zhashx_next(sale->claims))
        s_claim_destroy(&c);
    zhashx_destroy(&sale->claims);
    return n;
}

static void
s_sale_destroy(void **item)
{
    persister_sale_t *sale = *item;
    if (sale) {
        zhashx_destroy(&sale->written);
        s_drop_claims(sale);
        free(sale);
        *item = NULL;
    }
}

persister_sales_t *
persister_sales_new(size_t claims_max)
{
    persister_sales_t *self = xcalloc(1, sizeof *self);
    self->sales = zhashx_new();
    zhashx_set_destructor(self->sales, s_sale_destroy);
    self->live = zlistx_new();
    self->retired = zlistx_new();
    self->claims_max = claims_max;
    return self;
}

void
persister_sales_destroy(persister_sales_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zlistx_destroy(&(*self_p)->live);
    zlistx_destroy(&(*self_p)->retired);
    zhashx_destroy(&(*self_p)->sales);
    free(*self_p);
    *self_p = NULL;
}

persister_sale_t *
persister_sales_find(persister_sales_t *self, const char *sale_id)
{
    return zhashx_lookup(self->sales, sale_id);
}

persister_sale_t *
persister_sales_get(persister_sales_t *self, const char *sale_id)
{
    persister_sale_t *sale = zhashx_lookup(self->sales, sale_id);
    if (sale)
        return sale;
    sale = xcalloc(1, sizeof *sale);
    snprintf(sale->sale_id, sizeof sale->sale_id, "%s", sale_id);
    sale->live = true;
    sale->handle = zlistx_add_end(self->live, sale);
    zhashx_insert(self->sales, sale->sale_id, sale);
    return sale;
}

size_t
persister_sales_count(const persister_sales_t *self)
{
    return zhashx_size(self->sales);
}

size_t
persister_sales_live_count(const persister_sales_t *self)
{
    return zlistx_size(self->live);
}

size_t
persister_sales_live(persister_sales_t *self, persister_sale_t **out)
{
    size_t n = 0;
    for (persister_sale_t *s = zlistx_first(self->live); s; s = zlistx_next(self->live))
        out[n++] = s;
    return n;
}

size_t
persister_sales_retired_next(persister_sales_t *self, persister_sale_t **out, size_t max)
{
    size_t n = 0;
    size_t size = zlistx_size(self->retired);
    while (n < max && n < size) {
        persister_sale_t *s = zlistx_first(self->retired);
        zlistx_move_end(self->retired, s->handle);
        out[n++] = s;
    }
    return n;
}

static void
s_drop_written(persister_sales_t *self, persister_sale_t *sale)
{
    if (!sale->written)
        return;
    self->written_count -= zhashx_size(sale->written);
    zhashx_destroy(&sale->written);
}

void
persister_sales_retire(persister_sales_t *self, persister_sale_t *sale)
{
    if (!sale->live)
        return;
    s_drop_written(self, sale);
    self->claims_count -= s_drop_claims(sale);
    zlistx_delete(self->live, sale->handle);
    sale->handle = zlistx_add_end(self->retired, sale);
    sale->live = sale->dirty = sale->busy = false;
}

void
persister_sales_revive(persister_sales_t *self, persister_sale_t *sale)
{
    if (sale->live)
        return;
    zlistx_delete(self->retired, sale->handle);
    sale->handle = zlistx_add_end(self->live, sale);
    sale->live = sale->dirty = true;
}

bool
persister_sales_is_written(const persister_sale_t *sale, persister_log_id_t id)
{
    if (persister_log_id_cmp(id, sale->cursor) <= 0)
        return true;
    char key[PERSISTER_LOG_ID_MAX_BYTES];
    persister_log_id_format(id, key, sizeof key);
    return sale->written && zhashx_lookup(sale->written, key) != NULL;
}

void
persister_sales_mark_written(persister_sales_t *self, persister_sale_t *sale, persister_log_id_t id)
{
    if (persister_log_id_cmp(id, sale->cursor) <= 0)
        return;
    char key[PERSISTER_LOG_ID_MAX_BYTES];
    persister_log_id_format(id, key, sizeof key);
    if (!sale->written)
        sale->written = zhashx_new();
    if (zhashx_insert(sale->written, key, (void *) 1) == 0)
        self->written_count++;
}

void
persister_sales_advance(persister_sales_t *self, persister_sale_t *sale, persister_log_id_t id)
{
    if (persister_log_id_cmp(id, sale->cursor) <= 0)
        return;
    sale->cursor = id;
    if (!sale->written)
        return;
    /* Collect first: zhashx must not change while it is iterated. */
    zlistx_t *covered = zlistx_new();
    for (void *v = zhashx_first(sale->written); v; v = zhashx_next(sale->written)) {
        const char *key = zhashx_cursor(sale->written);
        persister_log_id_t w;
        if (!persister_log_id_parse(key, &w) || persister_log_id_cmp(w, id) <= 0)
            zlistx_add_end(covered, (void *) key);
    }
    for (const char *key = zlistx_first(covered); key; key = zlistx_next(covered))
        zhashx_delete(sale->written, key);
    self->written_count -= zlistx_size(covered);
    zlistx_destroy(&covered);
}

size_t
persister_sales_written_count(const persister_sales_t *self)
{
    return self->written_count;
}

void
persister_sales_forget_written(persister_sales_t *self)
{
    for (persister_sale_t *s = zhashx_first(self->sales); s; s = zhashx_next(self->sales))
        s_drop_written(self, s);
    self->written_count = 0;
}

/* ---- Claims -------------------------------------------------------------- */

bool
persister_sales_claim(persister_sales_t *self, persister_sale_t *sale, persister_order_t *claim)
{
    char key[PERSISTER_LOG_ID_MAX_BYTES];
    persister_log_id_format(claim->log_id, key, sizeof key);
    if (self->claims_count >= self->claims_max || (sale->claims && zhashx_lookup(sale->claims, key)))
        return false;
    if (!sale->claims)
        sale->claims = zhashx_new(); /* no destructor: s_drop_claims frees them */
    persister_order_t *kept = xmalloc(sizeof *kept);
    *kept = *claim;
    memset(claim, 0, sizeof *claim);
    zhashx_insert(sale->claims, key, kept);
    self->claims_count++;
    return true;
}

persister_order_t *
persister_sales_claim_take(persister_sales_t *self, persister_sale_t *sale, persister_log_id_t id)
{
    if (!sale->claims)
        return NULL;
    char key[PERSISTER_LOG_ID_MAX_BYTES];
    persister_log_id_format(id, key, sizeof key);
    persister_order_t *claim = zhashx_lookup(sale->claims, key);
    if (!claim)
        return NULL;
    zhashx_delete(sale->claims, key); /* no destructor: the caller frees it */
    self->claims_count--;
    return claim;
}

size_t
persister_sales_claims_settle(persister_sales_t *self, persister_sale_t *sale, persister_log_id_t after,
                              persister_log_id_t upto, void (*absent)(const persister_order_t *, void *), void *arg)
{
    if (!sale->claims)
        return 0;
    /* Collect first: zhashx must not change while it is iterated. */
    zlistx_t *settled = zlistx_new();
    for (persister_order_t *c = zhashx_first(sale->claims); c; c = zhashx_next(sale->claims))
        if (persister_log_id_cmp(c->log_id, upto) <= 0)
            zlistx_add_end(settled, c);
    size_t unchecked = 0;
    for (persister_order_t *c = zlistx_first(settled); c; c = zlistx_next(settled)) {
        if (persister_log_id_cmp(c->log_id, after) > 0)
            absent(c, arg);
        else
            unchecked++;
        persister_order_t *gone = persister_sales_claim_take(self, sale, c->log_id);
        s_claim_destroy((void **) &gone);
    }
    zlistx_destroy(&settled);
    return unchecked;
}

size_t
persister_sales_claims_count(const persister_sale_t *sale)
{
    return sale->claims ? zhashx_size(sale->claims) : 0;
}
