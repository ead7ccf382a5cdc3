/*
 * persister_sales.c - the per-sale table: sale_id -> persister_sale_t.
 */
#include "persister_sales.h"

#include <string.h>

#include "tix_util.h"

struct persister_sales {
    zhashx_t *sales;      /* sale_id -> persister_sale_t (owned) */
    size_t written_count; /* sum of every sale's written set */
};

static void
s_sale_destroy(void **item)
{
    persister_sale_t *sale = *item;
    if (sale) {
        zhashx_destroy(&sale->written);
        free(sale);
        *item = NULL;
    }
}

persister_sales_t *
persister_sales_new(void)
{
    persister_sales_t *self = xcalloc(1, sizeof *self);
    self->sales = zhashx_new();
    zhashx_set_destructor(self->sales, s_sale_destroy);
    return self;
}

void
persister_sales_destroy(persister_sales_t **self_p)
{
    if (!self_p || !*self_p)
        return;
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
    sale->written = zhashx_new();
    zhashx_insert(self->sales, sale->sale_id, sale);
    return sale;
}

size_t
persister_sales_count(const persister_sales_t *self)
{
    return zhashx_size(self->sales);
}

persister_sale_t *
persister_sales_first(persister_sales_t *self)
{
    return zhashx_first(self->sales);
}

persister_sale_t *
persister_sales_next(persister_sales_t *self)
{
    return zhashx_next(self->sales);
}

bool
persister_sale_is_written(const persister_sale_t *sale, persister_log_id_t id)
{
    if (persister_log_id_cmp(id, sale->cursor) <= 0)
        return true;
    char key[PERSISTER_LOG_ID_MAX_BYTES];
    persister_log_id_format(id, key, sizeof key);
    return zhashx_lookup(sale->written, key) != NULL;
}

void
persister_sale_mark_written(persister_sales_t *self, persister_sale_t *sale, persister_log_id_t id)
{
    if (persister_log_id_cmp(id, sale->cursor) <= 0)
        return;
    char key[PERSISTER_LOG_ID_MAX_BYTES];
    persister_log_id_format(id, key, sizeof key);
    if (zhashx_insert(sale->written, key, (void *) 1) == 0)
        self->written_count++;
}

void
persister_sale_advance(persister_sales_t *self, persister_sale_t *sale, persister_log_id_t id)
{
    if (persister_log_id_cmp(id, sale->cursor) <= 0)
        return;
    sale->cursor = id;
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
        zhashx_purge(s->written);
    self->written_count = 0;
}
