/*
 * tix_methods.c - the method table and per-method field validation.
 *
 * Adding a method: add it to tix.proto's service, a tix_method_id, a row in
 * s_methods and a validator; tests/test_codec.c checks that the table and
 * protobuf-c's generated service descriptors agree.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "tix_methods.h"

bool
tix_utf8_valid(const uint8_t *s, size_t len, bool allow_controls)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        uint32_t cp;
        size_t n;
        if (c < 0x80) {
            if (!allow_controls && (c < 0x20 || c == 0x7f))
                return false;
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            cp = c & 0x1f, n = 1;
        } else if ((c & 0xf0) == 0xe0) {
            cp = c & 0x0f, n = 2;
        } else if ((c & 0xf8) == 0xf0) {
            cp = c & 0x07, n = 3;
        } else {
            return false;
        }
        if (i + n + 1 > len) /* truncated sequence */
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        static const uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        if (!allow_controls && cp >= 0x80 && cp <= 0x9f)
            return false;
        i += n + 1;
    }
    return true;
}

size_t
tix_utf8_prefix_len(const char *s, size_t max)
{
    size_t len = strnlen(s, max);
    /* Shrink until valid: at most 3 bytes of a cut sequence at the end, or
     * an invalid byte earlier (then the prefix before it). */
    while (len > 0 && !tix_utf8_valid((const uint8_t *) s, len, true))
        len--;
    return len;
}

bool
tix_valid_sale_id(const char *s)
{
    size_t len = strlen(s);
    if (len < 1 || len > TIX_SALE_ID_MAX_BYTES)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '-';
        if (!ok)
            return false;
    }
    return true;
}

bool
tix_valid_user_id(const char *s)
{
    size_t len = strlen(s);
    return len >= 1 && len <= TIX_USER_ID_MAX_BYTES && tix_utf8_valid((const uint8_t *) s, len, false);
}

bool
tix_valid_request_id(const char *s)
{
    size_t len = strlen(s);
    /* PROTOCOL.md only bounds the length; proto3 strings must be UTF-8. */
    return len <= TIX_REQUEST_ID_MAX_BYTES && tix_utf8_valid((const uint8_t *) s, len, true);
}

#define SALE_ID_RULE "sale_id: must be 1-64 bytes of [A-Za-z0-9._-]"
#define USER_ID_RULE "user_id: must be 1-128 bytes of UTF-8 without control characters"
#define REQUEST_ID_RULE "request_id: must be 0-64 bytes of UTF-8"

static bool
s_fail(char *why, size_t why_size, const char *rule)
{
    snprintf(why, why_size, "%s", rule);
    return false;
}

static bool
s_validate_purchase(const ProtobufCMessage *m, char *why, size_t n)
{
    const Tix__V1__PurchaseRequest *r = (const Tix__V1__PurchaseRequest *) m;
    if (!tix_valid_sale_id(r->sale_id))
        return s_fail(why, n, SALE_ID_RULE);
    if (!tix_valid_user_id(r->user_id))
        return s_fail(why, n, USER_ID_RULE);
    if (!tix_valid_request_id(r->request_id))
        return s_fail(why, n, REQUEST_ID_RULE);
    return true;
}

static bool
s_validate_get_sale(const ProtobufCMessage *m, char *why, size_t n)
{
    const Tix__V1__GetSaleRequest *r = (const Tix__V1__GetSaleRequest *) m;
    return tix_valid_sale_id(r->sale_id) || s_fail(why, n, SALE_ID_RULE);
}

static bool
s_validate_get_order(const ProtobufCMessage *m, char *why, size_t n)
{
    const Tix__V1__GetOrderRequest *r = (const Tix__V1__GetOrderRequest *) m;
    if (!tix_valid_sale_id(r->sale_id))
        return s_fail(why, n, SALE_ID_RULE);
    return tix_valid_user_id(r->user_id) || s_fail(why, n, USER_ID_RULE);
}

static bool
s_validate_create_sale(const ProtobufCMessage *m, char *why, size_t n)
{
    const Tix__V1__CreateSaleRequest *r = (const Tix__V1__CreateSaleRequest *) m;
    if (!tix_valid_sale_id(r->sale_id))
        return s_fail(why, n, SALE_ID_RULE);
    if (r->total < 1 || r->total > TIX_SALE_TOTAL_MAX)
        return s_fail(why, n, "total: must be 1..10000000");
    if (r->opens_at_ms < 0)
        return s_fail(why, n, "opens_at_ms: must be >= 0 (0 = open now)");
    if (r->closes_at_ms < 0)
        return s_fail(why, n, "closes_at_ms: must be >= 0 (0 = never)");
    if (r->closes_at_ms != 0 && r->closes_at_ms <= r->opens_at_ms)
        return s_fail(why, n, "closes_at_ms: must be after opens_at_ms");
    return true;
}

static bool
s_validate_close_sale(const ProtobufCMessage *m, char *why, size_t n)
{
    const Tix__V1__CloseSaleRequest *r = (const Tix__V1__CloseSaleRequest *) m;
    return tix_valid_sale_id(r->sale_id) || s_fail(why, n, SALE_ID_RULE);
}

/* A page token is what the server handed out: printable ASCII, bounded. */
static bool
s_valid_page(uint32_t page_size, const char *token, char *why, size_t n)
{
    if (page_size > TIX_PAGE_SIZE_MAX)
        return s_fail(why, n, "page_size: must be 0..1000 (0 = the default, 100)");
    size_t len = strlen(token);
    for (size_t i = 0; i < len; i++) {
        if (token[i] < 0x21 || token[i] > 0x7e)
            return s_fail(why, n, "page_token: must be a next_page_token from an earlier reply");
    }
    return len <= TIX_PAGE_TOKEN_MAX_BYTES ||
           s_fail(why, n, "page_token: must be a next_page_token from an earlier reply");
}

static bool
s_validate_list_sales(const ProtobufCMessage *m, char *why, size_t n)
{
    const Tix__V1__ListSalesRequest *r = (const Tix__V1__ListSalesRequest *) m;
    return s_valid_page(r->page_size, r->page_token, why, n);
}

static bool
s_validate_cancel_order(const ProtobufCMessage *m, char *why, size_t n)
{
    const Tix__V1__CancelOrderRequest *r = (const Tix__V1__CancelOrderRequest *) m;
    if (!tix_valid_sale_id(r->sale_id))
        return s_fail(why, n, SALE_ID_RULE);
    if (!tix_valid_user_id(r->user_id))
        return s_fail(why, n, USER_ID_RULE);
    size_t len = strlen(r->reason);
    if (len > TIX_CANCEL_REASON_MAX_BYTES || !tix_utf8_valid((const uint8_t *) r->reason, len, false))
        return s_fail(why, n, "reason: must be 0-256 bytes of UTF-8 without control characters");
    return true;
}

static bool
s_validate_list_orders(const ProtobufCMessage *m, char *why, size_t n)
{
    const Tix__V1__ListOrdersRequest *r = (const Tix__V1__ListOrdersRequest *) m;
    if (!tix_valid_sale_id(r->sale_id))
        return s_fail(why, n, SALE_ID_RULE);
    return s_valid_page(r->page_size, r->page_token, why, n);
}

static bool
s_validate_health(const ProtobufCMessage *m, char *why, size_t n)
{
    const Tix__V1__HealthCheckRequest *r = (const Tix__V1__HealthCheckRequest *) m;
    size_t len = strlen(r->service);
    if (len > 256 || !tix_utf8_valid((const uint8_t *) r->service, len, false))
        return s_fail(why, n, "service: must be 0-256 bytes of UTF-8 without control characters");
    return true;
}

static bool
s_validate_sale_buyers(const ProtobufCMessage *m, char *why, size_t n)
{
    const Tix__Worker__V1__SaleBuyersRequest *r = (const Tix__Worker__V1__SaleBuyersRequest *) m;
    if (!tix_valid_sale_id(r->sale_id))
        return s_fail(why, n, SALE_ID_RULE);
    /* "c" first: a page of the sale's cancelled requests (tix_buyers). */
    const char *digits = r->cursor[0] == 'c' ? r->cursor + 1 : r->cursor;
    size_t len = strlen(digits);
    for (size_t i = 0; i < len; i++) {
        if (digits[i] < '0' || digits[i] > '9')
            return s_fail(why, n, "cursor: must be decimal digits, after a 'c' for cancelled requests");
    }
    return len <= 20 || s_fail(why, n, "cursor: at most 20 digits");
}

static const tix_method_t s_methods[TIX_METHOD_COUNT] = {
    {TIX_METHOD_PURCHASE, "tix.v1.TicketService/Purchase", &tix__v1__purchase_request__descriptor,
     &tix__v1__purchase_reply__descriptor, false, true, false, s_validate_purchase},
    {TIX_METHOD_GET_SALE, "tix.v1.TicketService/GetSale", &tix__v1__get_sale_request__descriptor,
     &tix__v1__sale__descriptor, false, true, false, s_validate_get_sale},
    {TIX_METHOD_GET_ORDER, "tix.v1.TicketService/GetOrder", &tix__v1__get_order_request__descriptor,
     &tix__v1__order__descriptor, false, true, false, s_validate_get_order},
    /* Not retry-safe: a second CreateSale would answer ALREADY_EXISTS for a
     * sale the first attempt created. */
    {TIX_METHOD_CREATE_SALE, "tix.v1.AdminService/CreateSale", &tix__v1__create_sale_request__descriptor,
     &tix__v1__sale__descriptor, true, false, false, s_validate_create_sale},
    {TIX_METHOD_HEALTH_CHECK, "tix.v1.Health/Check", &tix__v1__health_check_request__descriptor,
     &tix__v1__health_check_response__descriptor, false, true, false, s_validate_health},
    /* Idempotent (closing twice is closing once): safe to resend. */
    {TIX_METHOD_CLOSE_SALE, "tix.v1.AdminService/CloseSale", &tix__v1__close_sale_request__descriptor,
     &tix__v1__sale__descriptor, true, true, false, s_validate_close_sale},
    {TIX_METHOD_LIST_SALES, "tix.v1.AdminService/ListSales", &tix__v1__list_sales_request__descriptor,
     &tix__v1__list_sales_reply__descriptor, true, true, false, s_validate_list_sales},
    /* Idempotent: a second cancel answers the same cancelled order. */
    {TIX_METHOD_CANCEL_ORDER, "tix.v1.AdminService/CancelOrder", &tix__v1__cancel_order_request__descriptor,
     &tix__v1__order__descriptor, true, true, false, s_validate_cancel_order},
    {TIX_METHOD_LIST_ORDERS, "tix.v1.AdminService/ListOrders", &tix__v1__list_orders_request__descriptor,
     &tix__v1__list_orders_reply__descriptor, true, true, false, s_validate_list_orders},
    /* Internal: the broker loads a sold-out sale's buyers through a worker,
     * so that it can answer Purchase itself, exactly (DESIGN.md, 7). */
    {TIX_METHOD_SALE_BUYERS, "tix.worker.v1.Internal/SaleBuyers", &tix__worker__v1__sale_buyers_request__descriptor,
     &tix__worker__v1__buyers_page__descriptor, false, true, true, s_validate_sale_buyers},
};

const tix_method_t *
tix_method_find_internal(const char *name, size_t len)
{
    for (size_t i = 0; i < TIX_METHOD_COUNT; i++) {
        if (strlen(s_methods[i].name) == len && memcmp(s_methods[i].name, name, len) == 0)
            return &s_methods[i];
    }
    return NULL;
}

const tix_method_t *
tix_method_find(const char *name, size_t len)
{
    const tix_method_t *m = tix_method_find_internal(name, len);
    return m && !m->internal ? m : NULL;
}

const tix_method_t *
tix_method_get(tix_method_id id)
{
    assert(id < TIX_METHOD_COUNT);
    return &s_methods[id];
}
