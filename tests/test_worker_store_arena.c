/*
 * test_worker_store_arena.c - hiredis's reader building its replies in the
 * worker store's arena (worker_store_arena.h): the same replies as
 * hiredis's own functions build, whether the bytes come at once or one by
 * one (a half-read reply lives on between reads); several replies in one
 * read, each freed before the next; a huge reply, after which the arena
 * gives its memory back; a protocol error and a reader freed mid-reply
 * (both free the half-read reply through the arena: the sanitizer build
 * sees no leak); and no allocation for a reply once the chunks exist.
 *
 * A bare redisReader, fed by hand and freed the way the async context
 * frees each reply (reader->fn->freeObject); no Redis needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "alloc_count.h"
#include "worker_store_arena.h"

/* A reply like tix_buy_many's, with every kind of object in it. */
static const char s_reply[] = "*3\r\n"
                              "*6\r\n+PURCHASED\r\n:41\r\n$12\r\norder-0001-a\r\n:1700000000000\r\n$3\r\n1-0\r\n$-1\r\n"
                              "*2\r\n-ERR some error\r\n*0\r\n"
                              "*-1\r\n";

static void
s_assert_same(const redisReply *a, const redisReply *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->integer, b->integer);
    assert_int_equal(a->len, b->len);
    assert_int_equal(a->elements, b->elements);
    if (a->str) {
        assert_non_null(b->str);
        assert_memory_equal(a->str, b->str, a->len + 1);
    } else {
        assert_null(b->str);
    }
    for (size_t i = 0; i < a->elements; i++)
        s_assert_same(a->element[i], b->element[i]);
}

/* The reply hiredis's own functions build from text (caller frees it). */
static redisReply *
s_expected(const char *text, size_t len)
{
    redisReader *r = redisReaderCreate();
    assert_int_equal(redisReaderFeed(r, text, len), REDIS_OK);
    void *reply = NULL;
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(r);
    return reply;
}

static redisReader *
s_reader(worker_store_arena_t *arena)
{
    redisReader *r = redisReaderCreate();
    assert_non_null(r);
    worker_store_arena_attach(arena, r);
    return r;
}

static void
test_a_reply_read_at_once_or_byte_by_byte_is_hiredis_own(void **state)
{
    (void) state;
    size_t len = sizeof s_reply - 1;
    redisReply *want = s_expected(s_reply, len);
    worker_store_arena_t *arena = worker_store_arena_new();
    redisReader *r = s_reader(arena);
    void *got = NULL;
    assert_int_equal(redisReaderFeed(r, s_reply, len), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &got), REDIS_OK);
    s_assert_same(want, got);
    r->fn->freeObject(got);
    for (size_t i = 0; i < len; i++) {
        got = NULL;
        assert_int_equal(redisReaderFeed(r, s_reply + i, 1), REDIS_OK);
        assert_int_equal(redisReaderGetReply(r, &got), REDIS_OK);
        if (i + 1 < len)
            assert_null(got);
    }
    assert_non_null(got);
    s_assert_same(want, got);
    r->fn->freeObject(got);
    redisReaderFree(r);
    worker_store_arena_destroy(&arena);
    freeReplyObject(want);
}

static void
test_replies_in_one_read_each_come_whole(void **state)
{
    (void) state;
    const char text[] = ":1\r\n$2\r\nab\r\n*1\r\n:3\r\n";
    worker_store_arena_t *arena = worker_store_arena_new();
    redisReader *r = s_reader(arena);
    assert_int_equal(redisReaderFeed(r, text, sizeof text - 1), REDIS_OK);
    redisReply *got = NULL;
    assert_int_equal(redisReaderGetReply(r, (void **) &got), REDIS_OK);
    assert_int_equal(got->integer, 1);
    r->fn->freeObject(got);
    assert_int_equal(redisReaderGetReply(r, (void **) &got), REDIS_OK);
    assert_string_equal(got->str, "ab");
    r->fn->freeObject(got);
    assert_int_equal(redisReaderGetReply(r, (void **) &got), REDIS_OK);
    assert_int_equal(got->elements, 1);
    assert_int_equal(got->element[0]->integer, 3);
    r->fn->freeObject(got);
    redisReaderFree(r);
    worker_store_arena_destroy(&arena);
}

/* An array of n strings of 100 bytes, RESP-encoded (caller frees). */
static char *
s_big(size_t n, size_t *len)
{
    char *text = malloc(32 + n * 120);
    assert_non_null(text);
    size_t at = (size_t) sprintf(text, "*%zu\r\n", n);
    for (size_t i = 0; i < n; i++)
        at += (size_t) sprintf(text + at, "$100\r\n%0100zu\r\n", i);
    *len = at;
    return text;
}

static void
test_a_huge_reply_reads_whole_and_its_memory_goes_back(void **state)
{
    (void) state;
    enum { N = 100000 }; /* ~16 MB of objects: far over the chunk budget */
    size_t len;
    char *text = s_big(N, &len);
    worker_store_arena_t *arena = worker_store_arena_new();
    redisReader *r = s_reader(arena);
    redisReply *got = NULL;
    for (size_t at = 0; at < len && !got; at += 16384) {
        assert_int_equal(redisReaderFeed(r, text + at, len - at < 16384 ? len - at : 16384), REDIS_OK);
        assert_int_equal(redisReaderGetReply(r, (void **) &got), REDIS_OK);
    }
    assert_non_null(got);
    assert_int_equal(got->elements, N);
    char want[101];
    for (size_t i = 0; i < N; i += 9973) {
        snprintf(want, sizeof want, "%0100zu", i);
        assert_string_equal(got->element[i]->str, want);
    }
    assert_true(worker_store_arena_bytes(arena) > 8 * WORKER_STORE_ARENA_KEEP);
    r->fn->freeObject(got);
    assert_true(worker_store_arena_bytes(arena) <= WORKER_STORE_ARENA_KEEP);
    /* And the arena serves on. */
    assert_int_equal(redisReaderFeed(r, ":7\r\n", 4), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, (void **) &got), REDIS_OK);
    assert_int_equal(got->integer, 7);
    r->fn->freeObject(got);
    redisReaderFree(r);
    worker_store_arena_destroy(&arena);
    free(text);
}

static void
test_a_protocol_error_or_a_freed_reader_drops_the_half_read_reply(void **state)
{
    (void) state;
    worker_store_arena_t *arena = worker_store_arena_new();
    redisReader *r = s_reader(arena);
    void *got = NULL;
    assert_int_equal(redisReaderFeed(r, "*2\r\n:1\r\n!bad\r\n", 14), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &got), REDIS_ERR);
    assert_null(got);
    redisReaderFree(r);
    /* A new reader on the same arena, freed with half a reply in it. */
    r = s_reader(arena);
    assert_int_equal(redisReaderFeed(r, "*3\r\n$5\r\nhello\r\n:2\r\n", 19), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &got), REDIS_OK);
    assert_null(got);
    redisReaderFree(r);
    r = s_reader(arena); /* attach checks that nothing is left in it */
    redisReaderFree(r);
    worker_store_arena_destroy(&arena);
}

static void
test_a_reply_costs_no_allocation_once_the_chunks_exist(void **state)
{
    (void) state;
    worker_store_arena_t *arena = worker_store_arena_new();
    redisReader *r = s_reader(arena);
    uint64_t before = th_allocs;
    for (int round = 0; round < 3; round++) {
        void *got = NULL;
        assert_int_equal(redisReaderFeed(r, s_reply, sizeof s_reply - 1), REDIS_OK); /* the reader's buffer */
        th_alloc_counting = round > 0; /* the first reply makes the first chunk */
        assert_int_equal(redisReaderGetReply(r, &got), REDIS_OK);
        assert_non_null(got);
        r->fn->freeObject(got);
        th_alloc_counting = 0;
    }
    assert_int_equal(th_allocs - before, 0);
    redisReaderFree(r);
    worker_store_arena_destroy(&arena);
}

int
main(void)
{
    th_alloc_count_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_reply_read_at_once_or_byte_by_byte_is_hiredis_own),
        cmocka_unit_test(test_replies_in_one_read_each_come_whole),
        cmocka_unit_test(test_a_huge_reply_reads_whole_and_its_memory_goes_back),
        cmocka_unit_test(test_a_protocol_error_or_a_freed_reader_drops_the_half_read_reply),
        cmocka_unit_test(test_a_reply_costs_no_allocation_once_the_chunks_exist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
