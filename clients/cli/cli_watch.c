/*
 * cli_watch.c - `tix sale watch SALE`: a sale live, one GetSale per poll.
 *
 * Each poll shows the state, sold, remaining and the sales per second since
 * the previous poll (the sold count's change over the time between the two
 * answers): on a terminal one line rewritten in place, otherwise one line
 * per poll, or one JSON object per poll with --json. The watch ends by
 * itself once the sale is sold out or closed (exit 0); at once on an answer
 * that asking again cannot change, such as NOT_FOUND (its usual exit
 * status); on SIGINT or SIGTERM with CLI_EXIT_INTERRUPTED. An unavailable,
 * overloaded or slow broker is reported and asked again at the next poll:
 * a rush is when a broker is busiest, and when a watch is wanted most.
 */
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "tix_util.h"

typedef struct {
    bool tty;      /* one line rewritten in place */
    bool shown;    /* a sale line is on the terminal's current line */
    int64_t at_ms; /* monotonic time of the previous answer; 0 before the first */
    int64_t sold;  /* sold at the previous answer */
} s_watch_t;

/* Answers that may well be different at the next poll. */
static bool
s_transient(tix_code code)
{
    return code == TIX__V1__CODE__UNAVAILABLE || code == TIX__V1__CODE__RESOURCE_EXHAUSTED ||
           code == TIX__V1__CODE__DEADLINE_EXCEEDED;
}

static void
s_show(const cli_t *cli, s_watch_t *w, const Tix__V1__Sale *s)
{
    int64_t now = tix_now_ms();
    int64_t sold = (int64_t) s->total - (int64_t) s->remaining;
    double per_s = w->at_ms && now > w->at_ms ? (double) (sold - w->sold) * 1000.0 / (double) (now - w->at_ms) : 0.0;
    w->at_ms = now, w->sold = sold;
    if (w->tty)
        fputs("\r\033[K", stdout); /* back to the line's start, and clear it */
    cli_out_t o;
    cli_out_begin(&o, cli->json, "SALE", NULL);
    cli_out_str(&o, "sale", "sale_id", s->sale_id);
    cli_out_str(&o, "state", "state", cli_enum_name(&tix__v1__sale__state__descriptor, s->state));
    cli_out_int(&o, "sold", "sold", sold);
    cli_out_int(&o, "remaining", "remaining", s->remaining);
    cli_out_int(&o, "total", "total", s->total);
    cli_out_rate(&o, "sales_per_s", "sales_per_s", per_s);
    if (cli->json)
        cli_out_int(&o, "at", "at_ms", tix_wall_ms());
    if (w->tty)
        cli_out_end_inline(&o);
    else
        cli_out_end(&o);
    w->shown = w->tty;
}

/* One poll: the exit status when the watch is over, or -1 to poll again. */
static int
s_poll(const cli_t *cli, s_watch_t *w, const Tix__V1__GetSaleRequest *req)
{
    tix_result_t r = {0};
    tix_err err = tix_client_call(cli->client, TIX_METHOD_GET_SALE, &req->base, (uint32_t) cli->timeout_ms, &r);
    int exit = -1;
    if (tix_stopping()) {
        exit = CLI_EXIT_INTERRUPTED;
    } else if (err == TIX_OK && r.code == TIX__V1__CODE__OK) {
        const Tix__V1__Sale *s = (const Tix__V1__Sale *) r.reply;
        s_show(cli, w, s);
        if (s->state == TIX__V1__SALE__STATE__SOLD_OUT || s->state == TIX__V1__SALE__STATE__CLOSED)
            exit = CLI_EXIT_OK;
    } else {
        if (w->shown) /* the error goes on a line of its own */
            fputc('\n', stdout), w->shown = false;
        int status = cli_fail_call(cli, err, &r);
        exit = s_transient(r.code) ? -1 : status;
    }
    tix_result_clear(&r);
    return exit;
}

int
cli_sale_watch(cli_t *cli)
{
    Tix__V1__GetSaleRequest req = TIX__V1__GET_SALE_REQUEST__INIT;
    req.sale_id = (char *) cli->args[0];
    char why[TIX_MESSAGE_MAX_BYTES];
    if (!tix_method_get(TIX_METHOD_GET_SALE)->validate(&req.base, why, sizeof why))
        return cli_fail(cli, CLI_EXIT_USAGE, "INVALID_ARGUMENT", 0, "%s", why);
    s_watch_t w = {.tty = !cli->json && isatty(STDOUT_FILENO)};
    int exit;
    while ((exit = s_poll(cli, &w, &req)) < 0) {
        /* A signal cuts the wait short (no SA_RESTART: tix_util.h). */
        for (int64_t until = tix_now_ms() + cli->interval_ms, left;
             !tix_stopping() && (left = until - tix_now_ms()) > 0;)
            poll(NULL, 0, (int) left);
        if (tix_stopping()) {
            exit = CLI_EXIT_INTERRUPTED;
            break;
        }
    }
    if (w.shown)
        fputc('\n', stdout);
    fflush(stdout);
    return exit;
}
