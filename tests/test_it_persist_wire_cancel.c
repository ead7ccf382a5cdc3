/*
 * test_it_persist_wire_cancel.c - what the persister sends MongoDB for a
 * cancellation, at the wire level: the persister library in this process,
 * a real redis-server whose order log gets purchase and cancel entries by
 * XADD, and python3-mockupdb (tests/mockupdb/mock_mongo.py) recording every
 * command. A cancel is an upsert on the order's _id that $sets the cancel
 * fields and $setOnInserts the rest (never log_id); purchases keep their
 * $setOnInsert-only shape, so replaying one never clears a cancel; and a
 * write holding both goes as two bulks, purchases first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cancel_log.h"
#include "mockupdb.h"
#include "persister_mongo.h"
#include "tix_util.h"

#define N 20
#define CANCELLED 5

typedef struct {
    const cancel_log_t *log; /* borrowed: the test's orders */
    int purchases, cancels, bad;
    int mixed;             /* update commands carrying both kinds */
    int last_purchase_seq; /* of the last command carrying a purchase */
    int first_cancel_seq;  /* of the first command carrying a cancel */
    char why[900];         /* the first bad statement's fault */
} s_kinds_t;

/* Names of a document's fields, space-separated, in order. */
static void
s_keys(const bson_t *doc, const char *path, char *buf, size_t size)
{
    bson_iter_t it, child;
    size_t used = 0;
    buf[0] = '\0';
    if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &child) || !bson_iter_recurse(&child, &it))
        return;
    while (bson_iter_next(&it) && used < size)
        used += (size_t) snprintf(buf + used, size - used, "%s%s", used ? " " : "", bson_iter_key(&it));
}

static bool
s_date_at(const bson_t *doc, const char *path, int64_t want)
{
    bson_iter_t it, v;
    return bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &v) && BSON_ITER_HOLDS_DATE_TIME(&v) &&
           (want < 0 || bson_iter_date_time(&v) == want);
}

/* One upsert statement: a purchase's or a cancel's exact shape. */
static void
s_statement(const bson_t *st, s_kinds_t *k, bool *purchase, bool *cancel)
{
    char q[200], u[64], set[200], soi[200];
    s_keys(st, "q", q, sizeof q);
    s_keys(st, "u", u, sizeof u);
    s_keys(st, "u.$set", set, sizeof set);
    s_keys(st, "u.$setOnInsert", soi, sizeof soi);
    const char *id = mu_str(st, "q._id");
    const cancel_log_order_t *o = id ? cancel_log_find(k->log, id) : NULL;
    bson_iter_t it;
    bool ok = o && strcmp(q, "_id sale_id user_id") == 0 && bson_iter_init_find(&it, st, "upsert") &&
              bson_iter_as_bool(&it) && s_date_at(st, "u.$setOnInsert.purchased_at", o->purchased_at_ms) &&
              s_date_at(st, "u.$setOnInsert.persisted_at", -1);
    if (strcmp(u, "$setOnInsert") == 0) {
        *purchase = true;
        k->purchases++;
        ok = ok && strcmp(soi, "request_id purchased_at log_id persisted_at") == 0 &&
             strcmp(mu_str(st, "u.$setOnInsert.log_id"), o->log_id) == 0;
    } else {
        *cancel = true;
        k->cancels++;
        ok = ok && strcmp(u, "$set $setOnInsert") == 0 &&
             strcmp(set, "cancelled_at cancel_reason cancel_log_id") == 0 &&
             strcmp(soi, "request_id purchased_at persisted_at") == 0 &&
             s_date_at(st, "u.$set.cancelled_at", o->cancelled_at_ms) &&
             strcmp(mu_str(st, "u.$set.cancel_reason"), o->reason) == 0 &&
             strcmp(mu_str(st, "u.$set.cancel_log_id"), o->cancel_log_id) == 0;
    }
    if (!ok && !k->bad++)
        snprintf(k->why, sizeof k->why, "q={%s} u={%s} $set={%s} $setOnInsert={%s}", q, u, set, soi);
}

static void
s_kinds(const bson_t *line, void *arg)
{
    s_kinds_t *k = arg;
    bson_iter_t it, st;
    if (!mu_is(line, "update", "orders"))
        return;
    int seq = bson_iter_init_find(&it, line, "seq") ? (int) bson_iter_as_int64(&it) : 0;
    bool purchase = false, cancel = false;
    bson_iter_init(&it, line);
    if (bson_iter_find_descendant(&it, "doc.updates", &st) && bson_iter_recurse(&st, &it)) {
        while (bson_iter_next(&it)) {
            bson_t doc;
            uint32_t len;
            const uint8_t *data;
            bson_iter_document(&it, &len, &data);
            if (bson_init_static(&doc, data, len))
                s_statement(&doc, k, &purchase, &cancel);
        }
    }
    k->mixed += purchase && cancel;
    if (purchase)
        k->last_purchase_seq = seq;
    if (cancel && !k->first_cancel_seq)
        k->first_cancel_seq = seq;
}

static void
test_a_cancel_is_an_upsert_that_sets_the_cancel_fields_and_inserts_the_rest_after_its_purchase(void **state)
{
    cancel_log_t *l = *state;
    mu_t m;
    char uri[160];
    assert_true(mu_start(&m, NULL));
    mu_uri(&m, NULL, uri, sizeof uri);
    /* Before the persister starts: purchases and cancels in one page. */
    cancel_log_buy(l, "wc", 0, N);
    cancel_log_cancel(l, "wc", 0, CANCELLED);
    char why[200];
    persister_t *p =
        cancel_log_persister_new(l, persister_mongo_new(uri, "tix", PERSISTER_W_MAJORITY, 5000, why, sizeof why), 500);
    int64_t deadline = tix_now_ms() + WIRE_WORLD_RUN_TIMEOUT_MS;
    while (tix_now_ms() < deadline && (persister_stats(p)->written < N + CANCELLED || persister_held(p) > 0))
        persister_step(p, 20);
    assert_int_equal(persister_stats(p)->cancels, CANCELLED);
    assert_int_equal(persister_drain(p, 2000), TIX_OK);
    persister_destroy(&p);
    mu_stop(&m);
    s_kinds_t k = {.log = l};
    mu_each(&m, s_kinds, &k);
    fprintf(stderr, "purchases=%d cancels=%d bad=%d mixed=%d last_purchase_seq=%d first_cancel_seq=%d %s\n",
            k.purchases, k.cancels, k.bad, k.mixed, k.last_purchase_seq, k.first_cancel_seq, k.why);
    assert_int_equal(k.bad, 0);
    assert_int_equal(k.purchases, N);
    assert_int_equal(k.cancels, CANCELLED);
    assert_int_equal(k.mixed, 0);
    assert_true(k.first_cancel_seq > k.last_purchase_seq);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_cancel_is_an_upsert_that_sets_the_cancel_fields_and_inserts_the_rest_after_its_purchase,
            cancel_log_setup, cancel_log_teardown),
    };
    return cmocka_run_group_tests(tests, wire_world_group_setup, wire_world_group_teardown);
}
