/*
 * fault.h - what the fault tests (tests/test_it_fault_*.c) need beyond
 * harness.h: a rush driver that survives a lost broker, the invariants
 * checked over Redis and the persister's jsonl file, and small probes of
 * processes (memory, log lines) and of conditions (waits with timeouts).
 *
 * The rush driver, tf_rush, differs from th_rush (rush.h) in what a fault
 * needs: it resends a call that got no answer within silence_ms (a broker
 * that restarted has forgotten it) with the same request_id, it can pace
 * arrivals (rate) so that a fault lands mid-rush, it waits retry_after_ms
 * before resending UNAVAILABLE and RESOURCE_EXHAUSTED, and it counts every
 * answer by code. Users and request ids are th_rush's: user i is
 * "<sale>-user-NNNNNN" with request_id "req-i".
 *
 * Single-threaded: one tf_rush at a time per thread; everything else may be
 * called from any thread that owns its arguments.
 */
#ifndef TIX_HARNESS_FAULT_H
#define TIX_HARNESS_FAULT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <czmq.h>

#include "harness.h"

#define TF_CODES 17 /* Code values 0..16 (PROTOCOL.md); codes[TF_CODES] counts any other */

typedef struct tf_rush_result tf_rush_result_t;

typedef struct {
    const char *frontend;
    const char *sale;
    int users;           /* users 0..users-1, one Purchase each */
    int window;          /* calls in flight or waiting to be resent, at most */
    int rate;            /* user arrivals per second; 0: as fast as the window allows */
    int call_timeout_ms; /* deadline each call carries (0: 10000) */
    int silence_ms;      /* resend a call unanswered this long, doubling up to 8 s (0: never) */
    int give_up_ms;      /* the whole run (0: 90000) */
    /* Called every loop turn (at most ~10 ms apart): inject faults here. */
    void (*on_tick)(const tf_rush_result_t *progress, int64_t elapsed_ms, void *arg);
    void *arg;
} tf_rush_opts_t;

struct tf_rush_result {
    int users;
    int answered;               /* users with a final answer */
    int purchased;              /* final PURCHASED */
    int sold_out;               /* final SOLD_OUT */
    int closed;                 /* final SALE_CLOSED */
    int cancelled;              /* final ORDER_CANCELLED: a retry of a cancelled order's request */
    int other;                  /* any other final answer: a failure in these tests */
    int sends;                  /* Purchase messages sent, resends included */
    int retried;                /* UNAVAILABLE / RESOURCE_EXHAUSTED answers, each resent */
    int retried_without_delay;  /* ... of which carried no retry_after_ms (PROTOCOL.md says they must) */
    int resent_silent;          /* calls resent after silence_ms without an answer */
    int codes[TF_CODES + 1];    /* every answer received, by code */
    int64_t elapsed_ms;         /* first send to last final answer */
    int64_t longest_silence_ms; /* longest time between two consecutive answers */
    char **order_of;            /* per user: order_id when PURCHASED, else NULL (owned) */
    char **cancelled_order_of;  /* per user: order_id when ORDER_CANCELLED, else NULL (owned) */
    int64_t *purchased_at_ms;   /* per user: the order's purchased_at_ms when PURCHASED (owned) */
    bool *resent_silent_of;     /* per user: some call of theirs was resent after silence (owned) */
};

/* Runs the rush. Returns false (after printing why) on a client error or
 * when it is not over within give_up_ms; out is filled in either case and
 * freed with tf_rush_free. */
bool tf_rush(const tf_rush_opts_t *opts, tf_rush_result_t *out);
void tf_rush_free(tf_rush_result_t *r);
/* Users whose order differs between two rushes of the same sale and users
 * (a retry must get the same order_id, and a loser no order). */
int tf_rush_mismatches(const tf_rush_result_t *a, const tf_rush_result_t *b);
/* One line: counts by outcome and by code. */
void tf_rush_print(const char *label, const tf_rush_result_t *r);

/* What Redis holds for a sale, read with plain commands. */
typedef struct {
    long long total;           /* tix:{S}:sale total, -1 when absent */
    long long remaining;       /* GET tix:{S}:stock, -1 when absent */
    long long log_len;         /* XLEN tix:{S}:log */
    long long buyers;          /* HLEN tix:{S}:buyers */
    long long distinct_orders; /* distinct order_id over the log's purchase entries */
    long long distinct_users;  /* distinct user_id over the log's purchase entries */
    long long purchases;       /* purchase entries in the log (every order ever sold) */
    long long cancels;         /* cancel entries in the log (kind "cancel") */
    long long cancelled;       /* HGET tix:{S}:sale cancelled (0 when absent) */
    long long users_two_live;  /* users with more than one live order (purchases - cancels > 1) */
    zhashx_t *user_of;         /* order_id -> user_id, from the purchase entries (owned) */
} tf_sale_facts_t;

bool tf_sale_facts(const th_redis_t *redis, const char *sale, tf_sale_facts_t *f);
void tf_sale_facts_free(tf_sale_facts_t *f);

/* Checks and prints, one line each, the invariants of a rush on sale, of
 * total tickets, cancellations accounted for: no oversell (client
 * PURCHASED + ORDER_CANCELLED == purchase entries, each user buying under
 * one request id; live = purchases - cancels == HLEN ==
 * total - remaining <= total; XLEN == purchases + cancels; cancels == the
 * sale's cancelled count), one per user (no order id twice in the log, no
 * user with two live orders; every client order is the log's order of
 * that user), every
 * call answered with a documented code (a final OK for every user, codes
 * only OK / UNAVAILABLE / RESOURCE_EXHAUSTED, each retryable one with
 * retry_after_ms). Returns the number of failed checks. */
int tf_check_invariants(const char *sale, const tf_sale_facts_t *f, long long total, const tf_rush_result_t *r);

/* What the jsonl sink holds of a sale (tf_jsonl_count). */
typedef struct {
    long lines;          /* all of the sale's lines */
    long purchase_lines; /* lines without cancelled_at */
    long orders;         /* distinct _id among them */
    long cancel_lines;   /* lines with cancelled_at: one per cancellation */
    long cancels;        /* distinct _id among them */
    long cancels_alone;  /* cancelled _ids with no purchase line */
    long unknown;        /* lines whose _id is no order of the log (when user_of is set) */
} tf_jsonl_counts_t;

/* Counts the jsonl sink's lines of sale into n. False when the file
 * cannot be read. */
bool tf_jsonl_count(const char *path, const char *sale, const zhashx_t *user_of, tf_jsonl_counts_t *n);
/* Checks and prints that the file holds every entry of the log exactly
 * once: one purchase line per order sold (distinct _id == purchase lines ==
 * purchase entries), one cancel line per cancel entry (distinct ==
 * lines == cancel entries), each on an order with its purchase line, none
 * unknown to the log. Returns 1 when broken, else 0. */
int tf_check_persisted(const char *path, const char *sale, const tf_sale_facts_t *f);
/* Waits until the file holds at least expected entries of sale's log:
 * distinct orders plus distinct cancellations (pass the log's length).
 * Returns the milliseconds it took, or -1 on timeout. */
int64_t tf_wait_persisted(const char *path, const char *sale, long expected, int timeout_ms);

/* Polls cond every 10 ms until it holds or timeout_ms passes. Returns the
 * milliseconds it took, or -1 on timeout. */
int64_t tf_wait(bool (*cond)(void *arg), void *arg, int timeout_ms);
/* Same, polling every poll_ms (a condition costly to evaluate). */
int64_t tf_wait_every(bool (*cond)(void *arg), void *arg, int timeout_ms, int poll_ms);
/* Waits until Health on frontend answers status (a
 * Tix__V1__HealthCheckResponse__ServingStatus), as tf_wait. */
int64_t tf_wait_health(const char *frontend, int status, int timeout_ms);

/* VmRSS of pid in KiB, or -1. */
long tf_rss_kb(pid_t pid);
/* utime + stime of pid, in clock ticks, or -1. */
long long tf_cpu_ticks(pid_t pid);
/* Waits (up to timeout_ms) until pid has used no CPU for 2 s: it has
 * handled everything sent to it. Folds the highest VmRSS seen meanwhile
 * into *peak_kb. */
void tf_wait_idle(pid_t pid, long *peak_kb, int timeout_ms);
/* Whether this build runs under AddressSanitizer (clang or gcc). */
bool tf_under_asan(void);
/* Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
 * default) so that a use after free is caught: every process's RSS then
 * grows with each free, leak or not. Asks for an 8 MiB one in ASAN_OPTIONS,
 * which the processes started afterwards inherit: the check stays and RSS
 * measures the program again. Nothing without AddressSanitizer; call before
 * starting the processes to measure. */
void tf_small_asan_quarantine(void);
/* Lines of a log file containing needle. */
int tf_log_count(const char *path, const char *needle);
/* Sum of the integer values of key=N on the lines containing needle. */
long tf_log_sum(const char *path, const char *needle, const char *key);
/* The integer value of key=N on the last line containing needle, or -1. */
long tf_log_last(const char *path, const char *needle, const char *key);

/* Starts s->broker again on s's endpoints after it was stopped or killed,
 * logging to its own file, <name>.log in the test's temp directory. */
bool tf_broker_restart(th_stack_t *s, const char *name);
/* Starts worker i of s as th_stack_start_worker does, at log_level. */
bool tf_worker_start(th_stack_t *s, int i, const char *log_level);
/* Starts tix-persister on s with the jsonl sink at path. */
bool tf_persister_start(th_proc_t *p, const th_stack_t *s, const char *path);
/* The fault tests' common setup after the stack is up: names a jsonl sink
 * "orders-<redis port>.jsonl" in the test's temp directory (into path) and
 * starts a persister on it (p is reset first). */
bool tf_persister_start_jsonl(th_proc_t *p, const th_stack_t *s, char *path, size_t path_size);
/* The fault tests' common teardown: says where the logs are, stops the
 * persister (SIGTERM, it flushes) and the stack. */
void tf_teardown(th_proc_t *persister, th_stack_t *s);
/* The fault tests' world: a stack of two workers and a persister writing
 * jsonl to jsonl. */
typedef struct {
    th_stack_t stack;
    th_proc_t persister;
    char jsonl[300];
} tf_world_t;
/* cmocka group fixtures: *state becomes a tf_world_t started as above
 * (tf_persister_start_jsonl); the teardown is tf_teardown's, then frees. */
int tf_world_setup(void **state);
int tf_world_teardown(void **state);
/* CreateSale of total tickets through tix; false (after saying why) when
 * it was not created. */
bool tf_create_sale(const char *frontend, const char *sale, uint32_t total);

#endif
