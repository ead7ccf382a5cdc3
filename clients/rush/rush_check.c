/*
 * rush_check.c - each invariant as a small function that fills one row.
 */
#include "rush_check.h"

#include <stdarg.h>
#include <stdio.h>

static void s_add(rush_checks_t *out, const char *name, bool pass, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
s_add(rush_checks_t *out, const char *name, bool pass, const char *fmt, ...)
{
    rush_check_t *c = &out->items[out->n++];
    c->name = name;
    c->pass = pass;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof c->detail, fmt, ap);
    va_end(ap);
    out->pass = out->pass && pass;
}

static uint64_t
s_error_total(const rush_counts_t *c)
{
    uint64_t n = 0;
    for (int i = 0; i < RUSH_CODES; i++)
        n += c->errors[i];
    return n;
}

static void
s_check_answers(const rush_counts_t *c, rush_checks_t *out)
{
    uint64_t from_service = c->answered - c->client_timeouts;
    s_add(out, "all_answered", from_service == c->users,
          "%llu of %llu users answered by the service (%llu client-side timeouts, %llu never answered)",
          (unsigned long long) from_service, (unsigned long long) c->users, (unsigned long long) c->client_timeouts,
          (unsigned long long) (c->users - c->answered));
    uint64_t errors = s_error_total(c);
    s_add(out, "no_errors", errors == 0 && c->malformed == 0, "%llu final error answers, %llu malformed replies",
          (unsigned long long) errors, (unsigned long long) c->malformed);
}

/* Orders cancelled while the rush ran (their tickets went back to the
 * sale): the order log's cancel entries after minus before, 0 when either
 * count is unknown. */
static uint64_t
s_cancelled(const rush_sale_t *before, const rush_sale_t *after)
{
    if (!after || before->cancels < 0 || after->cancels < before->cancels)
        return 0;
    return (uint64_t) (after->cancels - before->cancels);
}

static void
s_check_orders(const rush_counts_t *c, uint64_t cancelled, rush_checks_t *out)
{
    uint64_t purchased = c->outcomes[TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED];
    if (cancelled == 0) {
        s_add(out, "purchased_exact", purchased == c->expected_purchases,
              "%llu PURCHASED, expected min(available %llu, users %llu) = %llu", (unsigned long long) purchased,
              (unsigned long long) c->available, (unsigned long long) c->users,
              (unsigned long long) c->expected_purchases);
    } else {
        /* Tickets given back meanwhile may be sold again: live = sold -
         * cancelled never exceeds what was available, and nothing is
         * undersold. */
        bool ok = purchased >= c->expected_purchases && purchased <= c->available + cancelled;
        s_add(out, "purchased_exact", ok,
              "%llu PURCHASED, expected min(available %llu, users %llu) = %llu .. available + %llu cancelled",
              (unsigned long long) purchased, (unsigned long long) c->available, (unsigned long long) c->users,
              (unsigned long long) c->expected_purchases, (unsigned long long) cancelled);
    }
    bool ok = c->shared_orders == 0 && c->users_with_two_orders == 0 && c->duplicate_answers == 0;
    s_add(out, "one_per_user", ok,
          "%llu order_ids shared by two users, %llu users with two orders, %llu users "
          "answered twice",
          (unsigned long long) c->shared_orders, (unsigned long long) c->users_with_two_orders,
          (unsigned long long) c->duplicate_answers);
}

static void
s_check_sale(const rush_counts_t *c, const rush_sale_t *before, const rush_sale_t *after, const char *why_after,
             rush_checks_t *out)
{
    if (!after) {
        s_add(out, "sale_remaining", false, "GetSale after the rush failed: %s", why_after ? why_after : "?");
        return;
    }
    uint64_t purchased = c->outcomes[TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED];
    uint64_t cancelled = s_cancelled(before, after), back = before->remaining + cancelled;
    uint64_t want = back > purchased ? back - purchased : 0;
    bool sold_out = c->users >= back;
    bool ok = after->remaining == want && (!sold_out || after->state == TIX__V1__SALE__STATE__SOLD_OUT);
    s_add(out, "sale_remaining", ok, "GetSale: remaining %u (expected %llu, %llu cancelled meanwhile), state %s%s",
          after->remaining, (unsigned long long) want, (unsigned long long) cancelled,
          rush_sale_state_name(after->state), sold_out ? " (expected SOLD_OUT)" : "");
}

void
rush_check_all(const rush_counts_t *counts, const rush_sale_t *before, const rush_sale_t *after, const char *why_after,
               rush_checks_t *out)
{
    out->n = 0;
    out->pass = true;
    s_check_answers(counts, out);
    s_check_orders(counts, s_cancelled(before, after), out);
    s_check_sale(counts, before, after, why_after, out);
}
