/*
 * stack.h - a whole tix stack with tix-persister as a process, for the
 * process-level MongoDB tests (tests/test_it_persist_mongo.c against the
 * mock, tests/test_it_persist_real_mongo.c against a real server): real
 * redis-server, broker and workers (th_stack_start), a rush, the persister
 * started (tests/harness/persister_proc.h) and its health file watched.
 *
 * Header-only (static inline); define TICKETS and USERS, and include after
 * <setjmp.h>, <stdarg.h>, <stddef.h> and <cmocka.h>. Single-threaded.
 */
#ifndef TIX_TEST_PERSIST_STACK_H
#define TIX_TEST_PERSIST_STACK_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "persister_proc.h"
#include "rush.h"
#include "tix.h"
#include "tix_util.h"

static th_stack_t s_stack;
static char s_health[300];

static inline void
s_create_sale(const char *sale)
{
    tix_client_t *c = tix_client_new(s_stack.frontend);
    tix_result_t r;
    assert_int_equal(tix_create_sale(c, sale, TICKETS, 0, 0, 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    tix_result_clear(&r);
    tix_client_destroy(&c);
}

static inline void
s_rush(const char *sale, th_rush_t *r)
{
    s_create_sale(sale);
    assert_true(th_rush(s_stack.frontend, sale, USERS, 4000, r, NULL, NULL));
    assert_int_equal(r->purchased, TICKETS);
    assert_int_equal(r->other, 0);
}

/* tix-persister on uri (and database), with extra args (NULL-terminated). */
static inline void
s_persister_start(th_proc_t *p, const char *name, const char *uri, ...)
{
    const char *args[] = {"--events-out",
                          s_stack.events_out,
                          "--redis-url",
                          s_stack.redis.url,
                          "--mongo-uri",
                          uri,
                          "--health-file",
                          s_health,
                          "--catchup-ms",
                          "300",
                          NULL};
    va_list ap;
    va_start(ap, uri);
    persister_proc_start(p, name, args, &ap);
    va_end(ap);
}

/* The health file's mtime in ms (0 when absent). */
static inline int64_t
s_health_mtime(void)
{
    struct stat st;
    if (stat(s_health, &st) != 0)
        return 0;
    return (int64_t) st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

/* Polls until the health file is rewritten after `after` (ms); false at
 * the deadline. */
static inline bool
s_health_rewritten(int64_t after, int timeout_ms)
{
    int64_t deadline = tix_now_ms() + timeout_ms;
    while (tix_now_ms() < deadline) {
        if (s_health_mtime() > after)
            return true;
        usleep(50000);
    }
    return false;
}

#endif
