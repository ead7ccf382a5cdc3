/*
 * persist_fixture.h - the world of the process-level persister tests
 * (tests/test_it_persist_{jsonl,hints,mongo,real_mongo,cancel_stack}.c) as a
 * cmocka fixture: a whole stack (th_stack_start: redis-server, broker,
 * workers), the names of a fresh jsonl sink and health file, tix-persister
 * started on it (persister_proc.h) and its health file watched, and a rush.
 *
 * *state becomes a persist_fixture_t, stopped and freed by the teardown.
 * Failures are cmocka assertions unless a function says otherwise; call
 * from a cmocka test. Single-threaded.
 */
#ifndef TIX_PERSIST_FIXTURE_H
#define TIX_PERSIST_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "harness.h"
#include "rush.h"

typedef struct {
    th_stack_t stack; /* redis-server, broker, workers */
    char path[400];   /* the jsonl sink of the running test */
    char health[420]; /* the persister's health file */
} persist_fixture_t;

/* cmocka fixtures: the stack with two workers (persist_fixture_setup) or
 * one (persist_fixture_setup_1); fresh sink and health names each test. */
int persist_fixture_setup(void **state);
int persist_fixture_setup_1(void **state);
/* Allocates the fixture and names its files without starting a stack:
 * for a test that may skip itself before it needs one. */
int persist_fixture_setup_idle(void **state);
int persist_fixture_teardown(void **state);

/* Starts tix-persister as p (named name) on fx's stack, reading events
 * from events_out, with the health file fx->health and --catchup-ms 300:
 * the MongoDB sink at mongo_uri, or the jsonl sink at fx->path when
 * mongo_uri is NULL. Extra args follow (NULL-terminated); a later
 * --catchup-ms wins. Does not wait for it (persister_proc_wait_healthy). */
void persist_fixture_start(persist_fixture_t *fx, th_proc_t *p, const char *name, const char *events_out,
                           const char *mongo_uri, ...);

/* CreateSale of total tickets; OK or ALREADY_EXISTS. */
void persist_fixture_create_sale(persist_fixture_t *fx, const char *sale, uint32_t total);

/* Creates sale (tickets; unless it exists) and rushes it with users,
 * window calls in flight: every ticket is PURCHASED, no other answer.
 * on_answer/arg as th_rush's. r is freed with th_rush_free. */
void persist_fixture_rush(persist_fixture_t *fx, const char *sale, int tickets, int users, int window, th_rush_t *r,
                          void (*on_answer)(int answered, void *arg), void *arg);

/* The health file's mtime in ms (0 when absent). */
int64_t persist_fixture_health_mtime(const persist_fixture_t *fx);
/* Polls until the health file is rewritten after `after` (ms); false at
 * the deadline. */
bool persist_fixture_health_rewritten(const persist_fixture_t *fx, int64_t after, int timeout_ms);

#endif
