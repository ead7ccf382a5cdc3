/*
 * rush.h - a flash-sale rush for integration tests: many distinct users, one
 * Purchase each, many calls in flight on one libtix client.
 *
 * User i is "<sale>-user-NNNNNN" with request_id "req-i". UNAVAILABLE and
 * RESOURCE_EXHAUSTED answers are retried unchanged (same request_id), so the
 * result holds one final answer per user. Single-threaded.
 */
#ifndef TIX_HARNESS_RUSH_H
#define TIX_HARNESS_RUSH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    int users;
    int purchased;   /* PURCHASED answers */
    int sold_out;    /* SOLD_OUT answers */
    int other;       /* any other final answer (a failure in these tests) */
    int retries;     /* UNAVAILABLE / RESOURCE_EXHAUSTED answers retried */
    char **order_of; /* per user: the order_id when PURCHASED, else NULL (owned) */
} th_rush_t;

/* Runs the rush against frontend with up to window calls in flight; calls
 * on_answer(answered, arg) after each final answer when set. Returns false
 * (after printing why) on a client error or when it takes over 120 s.
 * Free out with th_rush_free. */
bool th_rush(const char *frontend, const char *sale, int users, int window, th_rush_t *out,
             void (*on_answer)(int answered, void *arg), void *arg);
void th_rush_free(th_rush_t *rush);
/* Formats user i's id into buf. */
void th_rush_user(char *buf, size_t size, const char *sale, int i);

#endif
