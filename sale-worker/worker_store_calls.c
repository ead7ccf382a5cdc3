/*
 * worker_store_calls.c - the tix library's functions as calls: each builds
 * the FCALL (or FCALL_RO) of its function with the sale's keys and hands it
 * to worker_store_call.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "worker_store_priv.h"

typedef worker_store_keys_t s_keys_t;

void
worker_store_keys(const char *sale_id, worker_store_keys_t *k)
{
    assert(strlen(sale_id) <= 64);
    // cppcheck-suppress ctuuninitvar ; k is what this fills in
    snprintf(k->sale, sizeof k->sale, "tix:{%s}:sale", sale_id);
    snprintf(k->stock, sizeof k->stock, "tix:{%s}:stock", sale_id);
    snprintf(k->buyers, sizeof k->buyers, "tix:{%s}:buyers", sale_id);
    snprintf(k->log, sizeof k->log, "tix:{%s}:log", sale_id);
    snprintf(k->cancels, sizeof k->cancels, "tix:{%s}:cancels", sale_id);
}

/* The index of sale ids: the set every sale is added to, and the sorted
 * set ListSales pages through (in the set's slot). */
#define SALES_KEY "tix:sales"
#define SALE_IDS_KEY "{tix:sales}:ids"

tix_err
worker_store_create(worker_store_t *self, const char *sale_id, uint32_t total, int64_t opens_at_ms,
                    int64_t closes_at_ms, worker_store_fn *fn, void *arg)
{
    s_keys_t k;
    worker_store_keys(sale_id, &k);
    char t[16], o[24], c[24];
    snprintf(t, sizeof t, "%u", total);
    snprintf(o, sizeof o, "%lld", (long long) opens_at_ms);
    snprintf(c, sizeof c, "%lld", (long long) closes_at_ms);
    const char *argv[] = {"FCALL",   "tix_create", "6",     k.sale, k.stock, k.buyers, k.log,
                          SALES_KEY, SALE_IDS_KEY, sale_id, t,      o,       c};
    return worker_store_call(self, WORKER_STORE_OP_CREATE, 13, argv, fn, arg);
}

tix_err
worker_store_buyers(worker_store_t *self, const char *sale_id, const char *cursor, worker_store_fn *fn, void *arg)
{
    s_keys_t k;
    worker_store_keys(sale_id, &k);
    const char *argv[] = {"FCALL_RO", "tix_buyers", "5",       k.sale,  k.stock,
                          k.buyers,   k.log,        k.cancels, sale_id, cursor ? cursor : "0"};
    return worker_store_call(self, WORKER_STORE_OP_BUYERS, 10, argv, fn, arg);
}

tix_err
worker_store_get_sale(worker_store_t *self, const char *sale_id, worker_store_fn *fn, void *arg)
{
    s_keys_t k;
    worker_store_keys(sale_id, &k);
    const char *argv[] = {"FCALL_RO", "tix_get_sale", "2", k.sale, k.stock, sale_id};
    return worker_store_call(self, WORKER_STORE_OP_GET_SALE, 6, argv, fn, arg);
}

tix_err
worker_store_get_order(worker_store_t *self, const char *sale_id, const char *user_id, worker_store_fn *fn, void *arg)
{
    s_keys_t k;
    worker_store_keys(sale_id, &k);
    const char *argv[] = {"FCALL_RO", "tix_get_order", "2", k.sale, k.buyers, sale_id, user_id};
    return worker_store_call(self, WORKER_STORE_OP_GET_ORDER, 7, argv, fn, arg);
}

tix_err
worker_store_close(worker_store_t *self, const char *sale_id, worker_store_fn *fn, void *arg)
{
    s_keys_t k;
    worker_store_keys(sale_id, &k);
    const char *argv[] = {"FCALL", "tix_close", "2", k.sale, k.stock, sale_id};
    return worker_store_call(self, WORKER_STORE_OP_CLOSE, 6, argv, fn, arg);
}

tix_err
worker_store_cancel(worker_store_t *self, const char *sale_id, const char *user_id, const char *reason,
                    worker_store_fn *fn, void *arg)
{
    s_keys_t k;
    worker_store_keys(sale_id, &k);
    const char *argv[] = {"FCALL", "tix_cancel",        "5", k.sale, k.stock, k.buyers, k.log, k.cancels, sale_id,
                          user_id, reason ? reason : ""};
    return worker_store_call(self, WORKER_STORE_OP_CANCEL, 11, argv, fn, arg);
}

tix_err
worker_store_list_sales(worker_store_t *self, uint32_t page_size, const char *token, worker_store_fn *fn, void *arg)
{
    char n[16];
    snprintf(n, sizeof n, "%u", page_size);
    /* FCALL: the first page may copy ids from tix:sales into the sorted set. */
    const char *argv[] = {"FCALL", "tix_list_sales", "2", SALE_IDS_KEY, SALES_KEY, n, token ? token : ""};
    return worker_store_call(self, WORKER_STORE_OP_SALES, 7, argv, fn, arg);
}

tix_err
worker_store_list_orders(worker_store_t *self, const char *sale_id, uint32_t page_size, const char *token,
                         worker_store_fn *fn, void *arg)
{
    s_keys_t k;
    worker_store_keys(sale_id, &k);
    char n[16];
    snprintf(n, sizeof n, "%u", page_size);
    const char *argv[] = {"FCALL_RO", "tix_list_orders", "2", k.sale, k.log, sale_id, n, token ? token : ""};
    return worker_store_call(self, WORKER_STORE_OP_ORDERS, 8, argv, fn, arg);
}
