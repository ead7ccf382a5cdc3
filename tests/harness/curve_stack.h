/*
 * curve_stack.h - CURVE keys and a CURVE-on stack for integration tests.
 *
 * tc_keys_make writes key pairs with tix_curve_keygen into a fresh temp
 * directory - broker, worker, client, admin, stranger (never listed) - and
 * allow-list directories holding copies of the public files: clients/
 * (client, admin), workers/ (worker), subscribers/ (worker), admins/
 * (admin). tc_stack_start starts redis, a broker with --curve and those
 * lists, and workers holding the worker key, through harness.h.
 * Single-threaded.
 */
#ifndef TIX_CURVE_STACK_H
#define TIX_CURVE_STACK_H

#include <stdbool.h>

#include "harness.h"
#include "tix.h"

#define TC_PATH_MAX 320

typedef struct {
    char dir[TC_PATH_MAX - 64]; /* room for the names below */
    char broker[TC_PATH_MAX];   /* certificate base paths: NAME; NAME_secret beside */
    char worker[TC_PATH_MAX];
    char client[TC_PATH_MAX];
    char admin[TC_PATH_MAX];
    char stranger[TC_PATH_MAX];
    char clients[TC_PATH_MAX]; /* allow-list directories */
    char workers[TC_PATH_MAX];
    char subscribers[TC_PATH_MAX];
    char admins[TC_PATH_MAX];
} tc_keys_t;

/* Writes the keys and allow-lists above; false on any failure. */
bool tc_keys_make(tc_keys_t *k);
/* Starts redis, a CURVE broker and nworkers workers with the worker key;
 * when nworkers > 0 waits (10 s) until Health, asked by the admin client,
 * answers SERVING. */
bool tc_stack_start(th_stack_t *s, const tc_keys_t *k, int nworkers);
/* Starts worker i of s with the certificate secret (base path). */
bool tc_worker_start(th_stack_t *s, const tc_keys_t *k, int i, const char *secret);
/* A libtix client of s holding the certificate who (base path). */
tix_client_t *tc_client(const th_stack_t *s, const tc_keys_t *k, const char *who);
/* Waits until Health (asked as the admin) is SERVING, up to timeout_ms. */
bool tc_wait_serving(const th_stack_t *s, const tc_keys_t *k, int timeout_ms);

#endif
