/*
 * test_it_worker_job_alloc.c - a real tix-worker serves batched Purchases
 * with almost no heap allocation per purchase: JOB_ROUNDS rounds of
 * JOB_ROUND purchases from a fake broker (harness/fake_broker.h), after a
 * warm-up, with every malloc, calloc and realloc of the worker's main
 * thread counted meanwhile (tests/preload/alloc_preload.c, LD_PRELOADed;
 * SIGUSR1 turns its counting on and off while the worker is idle).
 *
 * The whole job path counts: the JOB read, its envelope and request
 * unpacked, the store's batch and Redis's reply, the REPLY and the order
 * event sent. Measured: 44.3 allocations per purchase before (czmq's
 * zmsg/zframe/zlist per message received and sent, protobuf-c's unpacks on
 * the heap, hiredis's reply objects), 2.1 after (libzmq's copy of the
 * REPLY and of the event, both longer than its 33-byte inline messages).
 * Skipped under AddressSanitizer, which must own malloc.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fake_broker.h"
#include "harness.h"
#include "redis_fixture.h"

#define JOB_ROUND 64    /* purchases sent at once (the worker's --capacity) */
#define JOB_ROUNDS 20   /* rounds counted */
#define JOB_WARMUP 4    /* rounds first, not counted */
#define JOB_PER_BUY 4.0 /* the bound: the two frame copies, and slack for libzmq's queues */

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JOB_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define JOB_ASAN 1
#endif

#ifndef JOB_ASAN
/* Starts tix-worker for f with the counter preloaded, writing to out. */
static void
s_start_counted(fake_broker_t *f, const char *out)
{
    fake_broker_bind(f);
    char cap[16], preload[400], out_env[400];
    snprintf(cap, sizeof cap, "%d", JOB_ROUND);
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", TIX_ALLOC_PRELOAD);
    snprintf(out_env, sizeof out_env, "TIX_ALLOC_OUT=%s", out);
    const char *argv[] = {"tix-worker",  "--backend",   f->backend, "--events-in", f->events_in, "--redis-url",
                          f->redis->url, "--worker-id", "walloc",   "--capacity",  cap,          "--heartbeat-ms",
                          "200",         "--log-level", "warn",     NULL};
    const char *env[] = {preload, out_env, NULL};
    assert_true(th_proc_start(&f->proc, argv, env));
    ProtobufCMessage *ready = fake_broker_expect(f, TIX_WP_READY, FAKE_BROKER_WAIT_MS);
    assert_non_null(ready);
    protobuf_c_message_free_unpacked(ready, NULL);
    assert_true(fake_broker_wait_redis_ok(f, true, FAKE_BROKER_WAIT_MS));
}

/* One round: JOB_ROUND purchases of fresh users, every REPLY awaited. */
static void
s_round(fake_broker_t *f, int round)
{
    for (int i = 0; i < JOB_ROUND; i++) {
        char user[32];
        snprintf(user, sizeof user, "u%d-%d", round, i);
        fake_broker_purchase_job(f, "jalloc", user, "", 5000);
    }
    for (int replies = 0; replies < JOB_ROUND;) {
        ProtobufCMessage *body = NULL;
        int command = fake_broker_next(f, FAKE_BROKER_WAIT_MS, &body);
        assert_true(command >= 0);
        if (command == TIX_WP_REPLY) {
            assert_int_equal(((Tix__Worker__V1__JobReply *) body)->code, TIX__V1__CODE__OK);
            replies++;
        }
        if (body)
            protobuf_c_message_free_unpacked(body, NULL);
    }
}

static void
test_a_purchase_costs_the_worker_almost_no_allocation(void **state)
{
    fake_broker_t *f = *state;
    char out[300];
    snprintf(out, sizeof out, "%s/allocs.txt", th_tmpdir());
    s_start_counted(f, out);
    fake_broker_open_sale(f, "jalloc", 1000000);
    for (int r = 0; r < JOB_WARMUP; r++)
        s_round(f, r);
    assert_int_equal(kill(f->proc.pid, SIGUSR1), 0); /* counting on */
    for (int r = JOB_WARMUP; r < JOB_WARMUP + JOB_ROUNDS; r++)
        s_round(f, r);
    assert_int_equal(kill(f->proc.pid, SIGUSR1), 0); /* off */
    fake_broker_stop(f);
    FILE *in = fopen(out, "r");
    assert_non_null(in);
    unsigned long long allocs = 0;
    assert_int_equal(fscanf(in, "allocs %llu", &allocs), 1);
    fclose(in);
    double per_buy = (double) allocs / (JOB_ROUND * JOB_ROUNDS);
    fprintf(stderr, "worker: %llu allocations for %d purchases: %.2f per purchase\n", allocs, JOB_ROUND * JOB_ROUNDS,
            per_buy);
    assert_true(per_buy <= JOB_PER_BUY);
}
#else
static void
test_a_purchase_costs_the_worker_almost_no_allocation(void **state)
{
    (void) state;
    skip();
}
#endif

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_purchase_costs_the_worker_almost_no_allocation, fake_broker_setup,
                                        fake_broker_teardown),
    };
    return cmocka_run_group_tests(tests, fake_broker_group_setup, fake_broker_group_teardown);
}
