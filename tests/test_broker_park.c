/*
 * test_broker_park.c - answers that find a client's send pipe full wait in
 * the park and go out, in order, once the client reads (broker_park.h).
 *
 * A ROUTER (as the broker's frontend: ROUTER_MANDATORY, no send wait) with
 * a send mark of 10 and small kernel buffers, and a DEALER client that
 * reads only when the test says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <czmq.h>

#include "broker_park.h"
#include "tix_util.h"

#define ANSWER_BYTES 4096 /* big enough that the kernel's buffers fill fast */

typedef struct {
    zsock_t *router;
    zsock_t *client;
    zframe_t *client_id;
    broker_park_t *park;
    uint64_t dropped;
} s_fixture_t;

static int
s_setup(void **state)
{
    s_fixture_t *f = calloc(1, sizeof *f);
    f->router = zsock_new(ZMQ_ROUTER);
    zsock_set_router_mandatory(f->router, 1);
    zsock_set_sndtimeo(f->router, 0);
    zsock_set_sndhwm(f->router, 10);
    zsock_set_sndbuf(f->router, 4096);
    int port = zsock_bind(f->router, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    f->client = zsock_new(ZMQ_DEALER);
    zsock_set_rcvhwm(f->client, 10);
    zsock_set_rcvbuf(f->client, 4096);
    assert_int_equal(zsock_connect(f->client, "tcp://127.0.0.1:%d", port), 0);
    zstr_send(f->client, "hello"); /* the router learns the client's routing id */
    zmsg_t *hello = zmsg_recv(f->router);
    assert_non_null(hello);
    f->client_id = zmsg_pop(hello);
    zmsg_destroy(&hello);
    f->park = broker_park_new();
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    s_fixture_t *f = *state;
    broker_park_destroy(&f->park);
    broker_park_destroy(&f->park); /* NULL-safe and idempotent */
    zframe_destroy(&f->client_id);
    zsock_destroy(&f->client);
    zsock_destroy(&f->router);
    free(f);
    return 0;
}

/* Offers the park answer number n to the fixture's client: [id][n as 8
 * bytes][padding]. Returns broker_park_send's result. */
static int
s_answer(s_fixture_t *f, uint64_t n)
{
    uint8_t body[ANSWER_BYTES] = {0};
    memcpy(body, &n, sizeof n);
    tix_frame_t frames[2] = {{zframe_data(f->client_id), zframe_size(f->client_id)}, {body, sizeof body}};
    return broker_park_send(f->park, zsock_resolve(f->router), frames, 2, &f->dropped);
}

static void
test_answers_past_a_full_pipe_wait_and_arrive_in_order_once_the_client_reads(void **state)
{
    s_fixture_t *f = *state;
    enum { ANSWERS = 400 };
    int sent_at_once = 0;
    for (uint64_t n = 1; n <= ANSWERS; n++) {
        sent_at_once += s_answer(f, n);
    }
    size_t parked = broker_park_size(f->park);
    fprintf(stderr, "sent at once %d, parked %zu of %d\n", sent_at_once, parked, ANSWERS);
    assert_true(parked > 0); /* the pipe did fill */
    assert_int_equal((size_t) sent_at_once + parked, ANSWERS);
    assert_int_equal(f->dropped, 0);

    /* The client reads; the park is flushed as the pipe makes room. */
    zsock_set_rcvtimeo(f->client, 10);
    uint64_t next = 1;
    int64_t deadline = tix_now_ms() + 5000;
    while (next <= ANSWERS && tix_now_ms() < deadline) {
        broker_park_flush(f->park, zsock_resolve(f->router), &f->dropped);
        zframe_t *fr = zframe_recv(f->client);
        if (!fr)
            continue;
        uint64_t n;
        assert_int_equal(zframe_size(fr), ANSWER_BYTES);
        memcpy(&n, zframe_data(fr), sizeof n);
        assert_int_equal(n, next); /* every answer, in order */
        next++;
        zframe_destroy(&fr);
    }
    assert_int_equal(next - 1, ANSWERS);
    assert_int_equal(broker_park_size(f->park), 0);
    assert_int_equal(f->dropped, 0);
}

static void
test_a_client_that_never_reads_holds_at_most_its_share(void **state)
{
    s_fixture_t *f = *state;
    enum { ANSWERS = BROKER_PARK_PER_CLIENT + 500 };
    for (uint64_t n = 1; n <= ANSWERS; n++) {
        s_answer(f, n);
    }
    assert_int_equal(broker_park_size(f->park), BROKER_PARK_PER_CLIENT);
    assert_true(f->dropped >= 400 && f->dropped <= 500);               /* past its share; a few went into the pipe */
    broker_park_flush(f->park, zsock_resolve(f->router), &f->dropped); /* still not reading: nothing moves */
    assert_true(broker_park_size(f->park) <= BROKER_PARK_PER_CLIENT);
}

int
main(void)
{
    zsys_init();
    zsys_set_linger(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_answers_past_a_full_pipe_wait_and_arrive_in_order_once_the_client_reads,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_a_client_that_never_reads_holds_at_most_its_share, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
