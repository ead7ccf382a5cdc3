/*
 * test_arena.c - tix_arena: protobuf-c unpacks into a caller's buffer, and
 * what does not fit comes from the heap and goes back to it, so a message
 * bigger than the arena unpacks (and is refused) exactly as without it. The
 * broker unpacks every call in one (BROKER_CALL_ARENA_BYTES).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "broker.h"
#include "inproc.h"
#include "tix_arena.h"
#include "tix_codec.h"

static void
test_a_message_that_fits_is_carved_from_the_buffer(void **state)
{
    (void) state;
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = "s1", r.user_id = "alice", r.request_id = "r-1";
    uint8_t packed[64], buf[512];
    size_t n = tix__v1__purchase_request__pack(&r, packed);
    tix_arena_t arena;
    tix_arena_init(&arena, buf, sizeof buf);
    Tix__V1__PurchaseRequest *got = tix__v1__purchase_request__unpack(&arena.allocator, n, packed);
    assert_non_null(got);
    assert_string_equal(got->user_id, "alice");
    assert_true((uint8_t *) got >= buf && (uint8_t *) got < buf + sizeof buf);
    assert_true(arena.used > 0);
    tix__v1__purchase_request__free_unpacked(got, &arena.allocator);
    tix_arena_reset(&arena);
    assert_int_equal(arena.used, 0);
}

static void
test_a_message_too_big_for_the_arena_unpacks_from_the_heap(void **state)
{
    (void) state;
    char user[1000];
    memset(user, 'u', sizeof user - 1);
    user[sizeof user - 1] = '\0';
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = "s1", r.user_id = user, r.request_id = "r-1";
    uint8_t packed[1100], buf[64];
    size_t n = tix__v1__purchase_request__pack(&r, packed);
    tix_arena_t arena;
    tix_arena_init(&arena, buf, sizeof buf);
    Tix__V1__PurchaseRequest *got = tix__v1__purchase_request__unpack(&arena.allocator, n, packed);
    assert_non_null(got);
    assert_string_equal(got->user_id, user);
    assert_string_equal(got->request_id, "r-1");
    assert_false((uint8_t *) got->user_id >= buf && (uint8_t *) got->user_id < buf + sizeof buf);
    /* Frees the heap part, leaves the buffer's (sanitizers would see either mistake). */
    tix__v1__purchase_request__free_unpacked(got, &arena.allocator);
}

/* A call bigger than the broker's arena (9,000 bytes of metadata) is read
 * whole and refused with the same message as ever. */
static void
test_the_broker_answers_a_call_bigger_than_its_arena_the_same(void **state)
{
    th_inproc_t *f = *state;
    static char value[9000];
    memset(value, 'v', sizeof value - 1);
    Tix__V1__CallHeader__MetadataEntry entry = TIX__V1__CALL_HEADER__METADATA_ENTRY__INIT, *entries[] = {&entry};
    entry.key = "k", entry.value = value;
    Tix__V1__CallHeader h = TIX__V1__CALL_HEADER__INIT;
    h.method = "tix.v1.Health/Check", h.call_id = 41, h.metadata = entries, h.n_metadata = 1;
    zmsg_t *m = zmsg_new();
    zmsg_addmem(m, NULL, 0);
    zmsg_addstr(m, TIX_SIGNATURE);
    zframe_t *header = tix_frame_pack(&h.base);
    zmsg_append(m, &header);
    zmsg_addmem(m, NULL, 0);
    assert_int_equal(zmsg_send(&m, f->client), 0);
    Tix__V1__ReplyHeader *reply = th_inproc_reply(f->broker, f->client, NULL);
    assert_int_equal(reply->call_id, 41);
    assert_int_equal(reply->code, TIX__V1__CODE__INVALID_ARGUMENT);
    assert_string_equal(reply->message, "metadata: at most 4096 bytes in all, got 9000");
    tix__v1__reply_header__free_unpacked(reply, NULL);
}

int
main(void)
{
    zsys_init();
    zsys_set_linger(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_message_that_fits_is_carved_from_the_buffer),
        cmocka_unit_test(test_a_message_too_big_for_the_arena_unpacks_from_the_heap),
        cmocka_unit_test_setup_teardown(test_the_broker_answers_a_call_bigger_than_its_arena_the_same, th_inproc_setup,
                                        th_inproc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
