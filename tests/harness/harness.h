/*
 * harness.h - real parts for integration tests: redis-server, tix processes.
 *
 * Every test process starts its own redis-server on a free port in its own
 * temp directory (AOF on, fsync always, as production), starts tix binaries
 * from the build tree as child processes, and stops all of them - also on a
 * failed assertion (th_cleanup_all runs from atexit). Nothing is left
 * running. Single-threaded.
 */
#ifndef TIX_HARNESS_H
#define TIX_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>

#include "tix_priv.h"

#define TH_MAX_PROCS 32

typedef struct {
    pid_t pid; /* 0 when stopped */
    int port;
    char dir[256]; /* temp directory, removed by th_redis_stop */
    char url[64];  /* redis://127.0.0.1:PORT */
} th_redis_t;

/* A tix process started by the harness. */
typedef struct {
    pid_t pid; /* 0 when stopped */
    char name[32];
    char log[300]; /* its stderr, kept in the test's temp directory */
} th_proc_t;

/* A returns a TCP port that was free a moment ago. */
int th_free_port(void);
/* A fresh temp directory (removed at exit). */
const char *th_tmpdir(void);

/* fork + exec of path (not a tix binary) with stdout and stderr to log;
 * tracked like every process of the harness (killed at exit). */
pid_t th_spawn(const char *path, const char *const argv[], const char *log);
/* Starts redis-server on a free port; waits until it answers PING. */
bool th_redis_start(th_redis_t *r);
/* Restarts a stopped redis on the same port and directory (AOF replay). */
bool th_redis_restart(th_redis_t *r);
void th_redis_stop(th_redis_t *r);
/* A new synchronous connection to r (caller frees with redisFree). */
redisContext *th_redis_connect(const th_redis_t *r);
/* Polls PING on r's port until it answers (5 s); false, and a line on
 * stderr, if it never does. */
bool th_redis_wait_ping(const th_redis_t *r);
/* Runs a command and returns its integer reply (or -1 on error). */
long long th_redis_int(const th_redis_t *r, const char *fmt, ...);
/* Calls of command (lower case, e.g. "fcall") so far, from INFO
 * commandstats: 0 when never called, -1 when Redis does not answer. */
long long th_redis_calls(const th_redis_t *r, const char *command);

/* Starts TIX_BIN_DIR/<argv[0]> (e.g. "tix-broker") with argv and extra
 * environment "KEY=VALUE" strings (NULL-terminated, may be NULL). */
bool th_proc_start(th_proc_t *p, const char *const argv[], const char *const env[]);
/* Sends sig and waits up to timeout_ms for exit; SIGKILLs after that.
 * Returns the exit status as from waitpid, or -1. */
int th_proc_stop(th_proc_t *p, int sig, int timeout_ms);
bool th_proc_alive(th_proc_t *p);

/* Runs a program to completion, capturing stdout into out (NUL-terminated,
 * truncated to out_size). Returns its exit code, or -1. */
int th_run(const char *const argv[], const char *const env[], char *out, size_t out_size);
/* Same, capturing stderr (stdout is left alone). */
int th_run_stderr(const char *const argv[], char *err, size_t err_size);
/* Same, capturing stdout into out and stderr into err apart (each
 * NUL-terminated, truncated to its size; through files in th_tmpdir, so a
 * chatty program cannot block on a full pipe). */
int th_run_both(const char *const argv[], const char *const env[], char *out, size_t out_size, char *err,
                size_t err_size);
/* How many times what occurs in text (overlapping ones too). */
int th_count(const char *text, const char *what);

/* A whole local stack: redis, a broker on free ports, n workers. */
typedef struct {
    th_redis_t redis;
    th_proc_t broker;
    th_proc_t workers[8];
    int nworkers;
    char frontend[64]; /* tcp://127.0.0.1:PORT, for clients */
    char backend[64];
    char events_in[64];
    char events_out[64];
    int heartbeat_ms; /* worker heartbeat interval (0 = default 200 in tests) */
} th_stack_t;

/* Starts redis, the broker and nworkers workers; when nworkers > 0, waits
 * until Health answers SERVING (up to 10 s). extra_broker_args:
 * NULL-terminated or NULL. */
bool th_stack_start(th_stack_t *s, int nworkers, const char *const extra_broker_args[]);
bool th_stack_start_worker(th_stack_t *s, int i);
void th_stack_stop(th_stack_t *s);

/* Waits until Health on frontend answers SERVING, up to timeout_ms. */
bool th_wait_serving(const char *frontend, int timeout_ms);
/* Same, through the caller's client (e.g. a CURVE client); false for NULL. */
bool th_client_wait_serving(tix_client_t *client, int timeout_ms);

/* The ticket number n of an order id of `sale` (`<sale>:<incarnation>:<n>`,
 * docs/REDIS.md), or -1 when order_id does not have that shape. */
long th_order_seq(const char *order_id, const char *sale);

/* Stops every process and redis the harness started (also runs at exit). */
void th_cleanup_all(void);

#endif
