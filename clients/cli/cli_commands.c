/*
 * cli_commands.c - the tix commands: one table row and one function each.
 *
 * Each command builds its request, checks it with the method's own
 * validator (so a typo is a usage error with the broker's wording, before
 * any network), makes one blocking call, prints the answer and maps it to
 * an exit status. Adding a command adds a row and a function.
 */
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "tix_curve.h"
#include "tix_util.h"

/* Validates and makes the call. Returns true with the OK answer in result;
 * otherwise reports the failure and returns false with the exit status in
 * *exit. Either way the caller clears result. */
static bool
s_call(cli_t *cli, tix_method_id method, const ProtobufCMessage *request, tix_result_t *result, int *exit)
{
    const tix_method_t *m = tix_method_get(method);
    char why[TIX_MESSAGE_MAX_BYTES];
    if (!m->validate(request, why, sizeof why)) {
        *exit = cli_fail(cli, CLI_EXIT_USAGE, "INVALID_ARGUMENT", 0, "%s", why);
        return false;
    }
    tix_err err = tix_client_call(cli->client, method, request, (uint32_t) cli->timeout_ms, result);
    if (err != TIX_OK || result->code != TIX__V1__CODE__OK) {
        *exit = cli_fail_call(cli, err, result);
        return false;
    }
    return true;
}

/* ---- buy ----------------------------------------------------------------- */

static int
s_exit_for_outcome(Tix__V1__PurchaseReply__Outcome outcome)
{
    switch (outcome) {
    case TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED: return CLI_EXIT_OK;
    case TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT: return CLI_EXIT_SOLD_OUT;
    case TIX__V1__PURCHASE_REPLY__OUTCOME__ALREADY_PURCHASED: return CLI_EXIT_ALREADY;
    case TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_NOT_OPEN:
    case TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED: return CLI_EXIT_NOT_OPEN;
    case TIX__V1__PURCHASE_REPLY__OUTCOME__ORDER_CANCELLED: return CLI_EXIT_CANCELLED;
    default: return CLI_EXIT_ERROR;
    }
}

static int
s_buy(cli_t *cli)
{
    Tix__V1__PurchaseRequest req = TIX__V1__PURCHASE_REQUEST__INIT;
    req.sale_id = (char *) cli->args[0];
    req.user_id = (char *) cli->args[1];
    req.request_id = (char *) (cli->request_id ? cli->request_id : "");
    tix_result_t r = {0};
    int exit;
    if (s_call(cli, TIX_METHOD_PURCHASE, &req.base, &r, &exit)) {
        const Tix__V1__PurchaseReply *p = (const Tix__V1__PurchaseReply *) r.reply;
        cli_out_t o;
        cli_out_begin(&o, cli->json, cli_enum_name(&tix__v1__purchase_reply__outcome__descriptor, p->outcome),
                      "outcome");
        if (cli->json || p->order_id[0])
            cli_out_str(&o, "order", "order_id", p->order_id);
        cli_out_str(&o, "sale", "sale_id", req.sale_id);
        cli_out_str(&o, "user", "user_id", req.user_id);
        if (cli->json || req.request_id[0])
            cli_out_str(&o, "request_id", "request_id", req.request_id);
        cli_out_int(&o, "remaining", "remaining", p->remaining);
        if (cli->json || p->purchased_at_ms)
            cli_out_time(&o, "at", "purchased_at_ms", p->purchased_at_ms);
        if (cli->json || r.retry_after_ms) /* set with SALE_NOT_OPEN */
            cli_out_int(&o, "retry_after_ms", "retry_after_ms", r.retry_after_ms);
        cli_out_end(&o);
        exit = s_exit_for_outcome(p->outcome);
    }
    tix_result_clear(&r);
    return exit;
}

/* ---- sale create / sale get ------------------------------------------------ */

static void
s_print_sale(const cli_t *cli, const char *word, const Tix__V1__Sale *s)
{
    cli_out_t o;
    cli_out_begin(&o, cli->json, word, NULL);
    cli_out_str(&o, "sale", "sale_id", s->sale_id);
    cli_out_str(&o, "state", "state", cli_enum_name(&tix__v1__sale__state__descriptor, s->state));
    cli_out_int(&o, "total", "total", s->total);
    cli_out_int(&o, "remaining", "remaining", s->remaining);
    cli_out_time(&o, "opens_at", "opens_at_ms", s->opens_at_ms);
    cli_out_time(&o, "closes_at", "closes_at_ms", s->closes_at_ms);
    cli_out_end(&o);
}

/* Reads the optional time flag into *ms (0 when absent). */
static bool
s_time_flag(const cli_t *cli, const char *flag, const char *value, int64_t *ms, int *exit)
{
    *ms = 0;
    if (!value)
        return true;
    if (cli_parse_time(value, tix_wall_ms(), ms))
        return true;
    *exit = cli_fail(cli, CLI_EXIT_USAGE, "USAGE", 0,
                     "--%s: expected Unix ms, an ISO-8601 UTC time like 2026-11-29T10:00:00Z, or +SECONDS; got '%s'",
                     flag, value);
    return false;
}

static int
s_sale_create(cli_t *cli)
{
    Tix__V1__CreateSaleRequest req = TIX__V1__CREATE_SALE_REQUEST__INIT;
    req.sale_id = (char *) cli->args[0];
    int exit;
    if (!cli->tickets)
        return cli_fail(cli, CLI_EXIT_USAGE, "USAGE", 0, "sale create: --tickets N is required");
    long long tickets;
    if (!cli_parse_count(cli->tickets, TIX_SALE_TOTAL_MAX, &tickets) || tickets < 1)
        return cli_fail(cli, CLI_EXIT_USAGE, "USAGE", 0, "--tickets: expected a whole number in 1..%d, got '%s'",
                        TIX_SALE_TOTAL_MAX, cli->tickets);
    req.total = (uint32_t) tickets;
    if (!s_time_flag(cli, "opens-at", cli->opens_at, &req.opens_at_ms, &exit) ||
        !s_time_flag(cli, "closes-at", cli->closes_at, &req.closes_at_ms, &exit))
        return exit;
    tix_result_t r = {0};
    if (s_call(cli, TIX_METHOD_CREATE_SALE, &req.base, &r, &exit)) {
        s_print_sale(cli, "CREATED", (const Tix__V1__Sale *) r.reply);
        exit = CLI_EXIT_OK;
    }
    tix_result_clear(&r);
    return exit;
}

static int
s_sale_get(cli_t *cli)
{
    Tix__V1__GetSaleRequest req = TIX__V1__GET_SALE_REQUEST__INIT;
    req.sale_id = (char *) cli->args[0];
    tix_result_t r = {0};
    int exit;
    if (s_call(cli, TIX_METHOD_GET_SALE, &req.base, &r, &exit)) {
        s_print_sale(cli, "SALE", (const Tix__V1__Sale *) r.reply);
        exit = CLI_EXIT_OK;
    }
    tix_result_clear(&r);
    return exit;
}

/* ---- order get / order cancel ------------------------------------------------ */

/* An order's record. Its cancel fields are printed when it is cancelled,
 * and in JSON also when always_cancel (commands about cancellations). */
static void
s_print_order(const cli_t *cli, const char *word, const Tix__V1__Order *order, bool always_cancel)
{
    cli_out_t o;
    bool cancel = order->cancelled_at_ms != 0 || (cli->json && always_cancel);
    cli_out_begin(&o, cli->json, word, NULL);
    cli_out_str(&o, "order", "order_id", order->order_id);
    cli_out_str(&o, "sale", "sale_id", order->sale_id);
    cli_out_str(&o, "user", "user_id", order->user_id);
    if (cli->json || order->request_id[0])
        cli_out_str(&o, "request_id", "request_id", order->request_id);
    cli_out_time(&o, "at", "purchased_at_ms", order->purchased_at_ms);
    if (cancel) {
        cli_out_time(&o, "cancelled_at", "cancelled_at_ms", order->cancelled_at_ms);
        if (cli->json || order->cancel_reason[0])
            cli_out_str(&o, "reason", "cancel_reason", order->cancel_reason);
    }
    cli_out_end(&o);
}

static int
s_order_get(cli_t *cli)
{
    Tix__V1__GetOrderRequest req = TIX__V1__GET_ORDER_REQUEST__INIT;
    req.sale_id = (char *) cli->args[0];
    req.user_id = (char *) cli->args[1];
    tix_result_t r = {0};
    int exit;
    if (s_call(cli, TIX_METHOD_GET_ORDER, &req.base, &r, &exit)) {
        s_print_order(cli, "ORDER", (const Tix__V1__Order *) r.reply, false);
        exit = CLI_EXIT_OK;
    }
    tix_result_clear(&r);
    return exit;
}

static int
s_order_cancel(cli_t *cli)
{
    Tix__V1__CancelOrderRequest req = TIX__V1__CANCEL_ORDER_REQUEST__INIT;
    req.sale_id = (char *) cli->args[0];
    req.user_id = (char *) cli->args[1];
    req.reason = (char *) (cli->reason ? cli->reason : "");
    tix_result_t r = {0};
    int exit;
    if (s_call(cli, TIX_METHOD_CANCEL_ORDER, &req.base, &r, &exit)) {
        s_print_order(cli, "CANCELLED", (const Tix__V1__Order *) r.reply, true);
        exit = CLI_EXIT_OK;
    }
    tix_result_clear(&r);
    return exit;
}

/* ---- sale close / sale list / sale orders ------------------------------------ */

static int
s_sale_close(cli_t *cli)
{
    Tix__V1__CloseSaleRequest req = TIX__V1__CLOSE_SALE_REQUEST__INIT;
    req.sale_id = (char *) cli->args[0];
    tix_result_t r = {0};
    int exit;
    if (s_call(cli, TIX_METHOD_CLOSE_SALE, &req.base, &r, &exit)) {
        s_print_sale(cli, "CLOSED", (const Tix__V1__Sale *) r.reply);
        exit = CLI_EXIT_OK;
    }
    tix_result_clear(&r);
    return exit;
}

/* A listing: page_token's storage, the page size asked for, and what each
 * page's reply lists. */
typedef struct {
    tix_method_id method;
    uint32_t page_size;
    char token[TIX_PAGE_TOKEN_MAX_BYTES + 1];
    /* Fills the request for the current page; prints one page's entries
     * and returns its next_page_token. */
    const ProtobufCMessage *(*request)(cli_t *cli, void *req_storage, uint32_t page_size, char *token);
    const char *(*print)(const cli_t *cli, const ProtobufCMessage *reply);
} s_listing_t;

/* Reads --page-size (0 when absent). */
static bool
s_page_size(const cli_t *cli, uint32_t *size, int *exit)
{
    long long v = 0;
    *size = 0;
    if (!cli->page_size)
        return true;
    if (!cli_parse_count(cli->page_size, TIX_PAGE_SIZE_MAX, &v) || v < 1) {
        *exit = cli_fail(cli, CLI_EXIT_USAGE, "USAGE", 0, "--page-size: expected a whole number in 1..%d, got '%s'",
                         TIX_PAGE_SIZE_MAX, cli->page_size);
        return false;
    }
    *size = (uint32_t) v;
    return true;
}

/* Calls page after page, printing each as it comes (never the whole
 * listing in memory), until a reply has no next_page_token. */
static int
s_list_all(cli_t *cli, s_listing_t *l)
{
    int exit = CLI_EXIT_OK;
    if (!s_page_size(cli, &l->page_size, &exit))
        return exit;
    l->token[0] = '\0';
    for (;;) {
        union {
            Tix__V1__ListSalesRequest sales;
            Tix__V1__ListOrdersRequest orders;
        } storage;
        tix_result_t r = {0};
        const ProtobufCMessage *req = l->request(cli, &storage, l->page_size, l->token);
        if (!s_call(cli, l->method, req, &r, &exit)) {
            tix_result_clear(&r);
            return exit;
        }
        const char *next = l->print(cli, (const ProtobufCMessage *) r.reply);
        bool again = next[0] && strcmp(next, l->token) != 0;
        bool stuck = next[0] && !again;
        snprintf(l->token, sizeof l->token, "%s", next);
        tix_result_clear(&r);
        fflush(stdout); /* each page reaches a pipe as it comes */
        if (stuck)
            return cli_fail(cli, CLI_EXIT_ERROR, "INTERNAL", 0, "the server answered the same page token twice");
        if (!again)
            return CLI_EXIT_OK;
    }
}

static const ProtobufCMessage *
s_sales_request(cli_t *cli, void *storage, uint32_t page_size, char *token)
{
    (void) cli;
    Tix__V1__ListSalesRequest *req = storage;
    tix__v1__list_sales_request__init(req);
    req->page_size = page_size;
    req->page_token = token;
    return &req->base;
}

static const char *
s_sales_print(const cli_t *cli, const ProtobufCMessage *reply)
{
    const Tix__V1__ListSalesReply *r = (const Tix__V1__ListSalesReply *) reply;
    for (size_t i = 0; i < r->n_sales; i++)
        s_print_sale(cli, "SALE", r->sales[i]);
    return r->next_page_token;
}

static int
s_sale_list(cli_t *cli)
{
    s_listing_t l = {.method = TIX_METHOD_LIST_SALES, .request = s_sales_request, .print = s_sales_print};
    return s_list_all(cli, &l);
}

static const ProtobufCMessage *
s_orders_request(cli_t *cli, void *storage, uint32_t page_size, char *token)
{
    Tix__V1__ListOrdersRequest *req = storage;
    tix__v1__list_orders_request__init(req);
    req->sale_id = (char *) cli->args[0];
    req->page_size = page_size;
    req->page_token = token;
    return &req->base;
}

/* The order log's entries: a purchase is ORDER, a cancellation CANCEL. */
static const char *
s_orders_print(const cli_t *cli, const ProtobufCMessage *reply)
{
    const Tix__V1__ListOrdersReply *r = (const Tix__V1__ListOrdersReply *) reply;
    for (size_t i = 0; i < r->n_orders; i++)
        s_print_order(cli, r->orders[i]->cancelled_at_ms ? "CANCEL" : "ORDER", r->orders[i], true);
    return r->next_page_token;
}

static int
s_sale_orders(cli_t *cli)
{
    s_listing_t l = {.method = TIX_METHOD_LIST_ORDERS, .request = s_orders_request, .print = s_orders_print};
    return s_list_all(cli, &l);
}

/* ---- health ------------------------------------------------------------------ */

static int
s_health(cli_t *cli)
{
    Tix__V1__HealthCheckRequest req = TIX__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *) (cli->nargs > 0 ? cli->args[0] : "");
    tix_result_t r = {0};
    int exit;
    if (s_call(cli, TIX_METHOD_HEALTH_CHECK, &req.base, &r, &exit)) {
        const Tix__V1__HealthCheckResponse *h = (const Tix__V1__HealthCheckResponse *) r.reply;
        cli_out_t o;
        cli_out_begin(&o, cli->json,
                      cli_enum_name(&tix__v1__health_check_response__serving_status__descriptor, h->status), "status");
        if (cli->json || req.service[0])
            cli_out_str(&o, "service", "service", req.service);
        cli_out_end(&o);
        exit = h->status == TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING           ? CLI_EXIT_OK
               : h->status == TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN ? CLI_EXIT_NOT_FOUND
                                                                                              : CLI_EXIT_UNAVAILABLE;
    }
    tix_result_clear(&r);
    return exit;
}

/* keygen NAME: a CURVE key pair in --dir (default "."), never over an
 * existing one. Prints the public key (the secret one is never printed). */
static int
s_keygen(cli_t *cli)
{
    const char *dir = cli->dir ? cli->dir : ".";
    char path[1024], pub[TIX_CURVE_KEY_TXT_BYTES], why[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, cli->args[0]);
    if (stat(path, &st) == 0)
        return cli_fail(cli, CLI_EXIT_EXISTS, "ALREADY_EXISTS", 0, "%s exists; refusing to overwrite a key", path);
    tix_err err = tix_curve_keygen(dir, cli->args[0], pub, why, sizeof why);
    if (err != TIX_OK)
        return cli_fail(cli, err == TIX_ERR_CONFIG ? CLI_EXIT_USAGE : CLI_EXIT_ERROR, "KEYGEN", 0, "keygen: %s", why);
    char secret[1100];
    snprintf(secret, sizeof secret, "%s" TIX_CURVE_SECRET_SUFFIX, path);
    cli_out_t o;
    cli_out_begin(&o, cli->json, pub, "public_key");
    cli_out_str(&o, "public_file", "public_file", path);
    cli_out_str(&o, "secret_file", "secret_file", secret);
    cli_out_end(&o);
    return CLI_EXIT_OK;
}

const cli_command_t cli_commands[] = {
    {"sale", "create", "ID", 1, 1, CLI_FLAG_TICKETS | CLI_FLAG_OPENS_AT | CLI_FLAG_CLOSES_AT,
     "create sale ID with N tickets (ALREADY_EXISTS if it exists: a sale is never reset)", s_sale_create},
    {"sale", "get", "ID", 1, 1, 0, "show a sale: state, total, remaining, opening times", s_sale_get},
    {"sale", "close", "ID", 1, 1, 0, "close sale ID now (later buys answer SALE_CLOSED; closing twice is once)",
     s_sale_close},
    {"sale", "list", "", 0, 0, CLI_FLAG_PAGE_SIZE, "list every sale, one line (or JSON object) each, page by page",
     s_sale_list},
    {"sale", "orders", "SALE", 1, 1, CLI_FLAG_PAGE_SIZE,
     "stream SALE's order log: ORDER per purchase, CANCEL per cancellation", s_sale_orders},
    {"sale", "watch", "ID", 1, 1, CLI_FLAG_INTERVAL,
     "show a sale live (state, sold, remaining, sales/s) until it sells out or closes", cli_sale_watch},
    {NULL, "buy", "SALE USER", 2, 2, CLI_FLAG_REQUEST_ID,
     "buy one ticket of SALE for USER; retried, exactly, until --timeout-ms", s_buy},
    {"order", "get", "SALE USER", 2, 2, 0, "show the order USER holds for SALE", s_order_get},
    {"order", "cancel", "SALE USER", 2, 2, CLI_FLAG_REASON,
     "give USER's ticket back to SALE (the order is kept, marked cancelled)", s_order_cancel},
    {NULL, "health", "[SERVICE]", 0, 1, 0, "ask the broker whether it is serving", s_health},
    {NULL, "keygen", "NAME", 1, 1, CLI_FLAG_DIR | CLI_FLAG_OFFLINE,
     "write a CURVE key pair: DIR/NAME (public) and DIR/NAME_secret (mode 0600)", s_keygen},
};
const size_t cli_ncommands = TIX_ARRAY_LEN(cli_commands);
