/*
 * rush_sale.c - CreateSale and GetSale for the rush, as blocking calls.
 */
#include "rush_sale.h"

#include <stdio.h>

/* Turns a call's result into a tix_err and, on success, a rush_sale_t. */
static tix_err
s_take_sale(tix_err err, tix_result_t *r, rush_sale_t *sale, char *why, size_t why_size)
{
    if (err == TIX_OK && r->code == TIX__V1__CODE__OK) {
        const Tix__V1__Sale *s = (const Tix__V1__Sale *) r->reply;
        *sale = (rush_sale_t){s->total, s->remaining, (int) s->state, -1};
        tix_result_clear(r);
        return TIX_OK;
    }
    snprintf(why, why_size, "%s%s%s", tix_code_name(r->code), r->message[0] ? ": " : "", r->message);
    bool silent =
        err != TIX_OK || r->code == TIX__V1__CODE__UNAVAILABLE || r->code == TIX__V1__CODE__RESOURCE_EXHAUSTED;
    tix_result_clear(r);
    return silent ? TIX_ERR_UNAVAILABLE : TIX_ERR_INVALID;
}

tix_err
rush_sale_create(tix_client_t *client, const char *sale_id, uint32_t total, uint32_t timeout_ms, rush_sale_t *sale,
                 char *why, size_t why_size)
{
    tix_result_t r;
    tix_err err = tix_create_sale(client, sale_id, total, 0, 0, timeout_ms, &r);
    return s_take_sale(err, &r, sale, why, why_size);
}

tix_err
rush_sale_get(tix_client_t *client, const char *sale_id, uint32_t timeout_ms, rush_sale_t *sale, char *why,
              size_t why_size)
{
    tix_result_t r;
    tix_err err = tix_get_sale(client, sale_id, timeout_ms, &r);
    return s_take_sale(err, &r, sale, why, why_size);
}

void
rush_sale_count_cancels(tix_client_t *client, const char *sale_id, uint32_t timeout_ms, rush_sale_t *sale)
{
    char token[TIX_PAGE_TOKEN_MAX_BYTES + 1] = "";
    int64_t cancels = 0;
    do {
        Tix__V1__ListOrdersRequest req = TIX__V1__LIST_ORDERS_REQUEST__INIT;
        req.sale_id = (char *) sale_id;
        req.page_size = TIX_PAGE_SIZE_MAX;
        req.page_token = token;
        tix_result_t r;
        if (tix_client_call(client, TIX_CALL_LIST_ORDERS, &req, timeout_ms, &r) != TIX_OK ||
            r.code != TIX__V1__CODE__OK) {
            tix_result_clear(&r);
            sale->cancels = -1;
            return;
        }
        const Tix__V1__ListOrdersReply *page = (const Tix__V1__ListOrdersReply *) r.reply;
        for (size_t i = 0; i < page->n_orders; i++)
            cancels += page->orders[i]->cancelled_at_ms != 0;
        snprintf(token, sizeof token, "%s", page->next_page_token);
        tix_result_clear(&r);
    } while (token[0]);
    sale->cancels = cancels;
}

const char *
rush_sale_state_name(int state)
{
    static const char *const names[] = {"STATE_UNSPECIFIED", "SCHEDULED", "OPEN", "SOLD_OUT", "CLOSED"};
    return state >= 0 && state < (int) (sizeof names / sizeof names[0]) ? names[state] : names[0];
}
