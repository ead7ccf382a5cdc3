/*
 * persist_fixture.c - the process-level persister tests' fixture; see
 * persist_fixture.h.
 */
#include "persist_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "persister_proc.h"
#include "tix.h"
#include "tix_util.h"

static int
s_setup(void **state, int nworkers)
{
    persist_fixture_t *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    *state = fx;
    persister_proc_jsonl_paths(fx->path, sizeof fx->path, fx->health, sizeof fx->health);
    return nworkers < 0 || th_stack_start(&fx->stack, nworkers, NULL) ? 0 : -1;
}

int
persist_fixture_setup(void **state)
{
    return s_setup(state, 2);
}

int
persist_fixture_setup_1(void **state)
{
    return s_setup(state, 1);
}

int
persist_fixture_setup_idle(void **state)
{
    return s_setup(state, -1);
}

int
persist_fixture_teardown(void **state)
{
    persist_fixture_t *fx = *state;
    if (fx)
        th_stack_stop(&fx->stack);
    free(fx);
    *state = NULL;
    return 0;
}

void
persist_fixture_start(persist_fixture_t *fx, th_proc_t *p, const char *name, const char *events_out,
                      const char *mongo_uri, ...)
{
    char sink[420];
    snprintf(sink, sizeof sink, "jsonl:%s", fx->path);
    const char *args[] = {"--events-out",
                          events_out,
                          "--redis-url",
                          fx->stack.redis.url,
                          mongo_uri ? "--mongo-uri" : "--sink",
                          mongo_uri ? mongo_uri : sink,
                          "--health-file",
                          fx->health,
                          "--catchup-ms",
                          "300",
                          NULL};
    va_list ap;
    va_start(ap, mongo_uri);
    persister_proc_start(p, name, args, &ap);
    va_end(ap);
}

void
persist_fixture_create_sale(persist_fixture_t *fx, const char *sale, uint32_t total)
{
    tix_client_t *c = tix_client_new(fx->stack.frontend);
    tix_result_t r;
    assert_int_equal(tix_create_sale(c, sale, total, 0, 0, 5000, &r), TIX_OK);
    assert_true(r.code == TIX__V1__CODE__OK || r.code == TIX__V1__CODE__ALREADY_EXISTS);
    tix_result_clear(&r);
    tix_client_destroy(&c);
}

void
persist_fixture_rush(persist_fixture_t *fx, const char *sale, int tickets, int users, int window, th_rush_t *r,
                     void (*on_answer)(int answered, void *arg), void *arg)
{
    persist_fixture_create_sale(fx, sale, (uint32_t) tickets);
    assert_true(th_rush(fx->stack.frontend, sale, users, window, r, on_answer, arg));
    assert_int_equal(r->purchased, tickets);
    assert_int_equal(r->other, 0);
}

int64_t
persist_fixture_health_mtime(const persist_fixture_t *fx)
{
    struct stat st;
    if (stat(fx->health, &st) != 0)
        return 0;
    return (int64_t) st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

bool
persist_fixture_health_rewritten(const persist_fixture_t *fx, int64_t after, int timeout_ms)
{
    int64_t deadline = tix_now_ms() + timeout_ms;
    while (tix_now_ms() < deadline) {
        if (persist_fixture_health_mtime(fx) > after)
            return true;
        usleep(50000); /* a poll interval: the condition is the file's mtime */
    }
    return false;
}
