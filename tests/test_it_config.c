/*
 * test_it_config.c - every binary refuses a setting that cannot work at
 * start, in one stderr line naming the flag at fault, with exit status 2;
 * and a worker refuses a Redis that is not durable unless told, loudly.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "tix_curve.h"
#include "tix_util.h"

#define ERR_MAX 8192
#define RUN_TIMEOUT_MS 15000

static char s_err[ERR_MAX];

/* libmongoc's shared-memory counters file for pid (it names it so). */
static void
s_shm_path(pid_t pid, char *path, size_t size)
{
    snprintf(path, size, "/dev/shm/mongoc-%d", (int) pid);
}

/* Starts TIX_BIN_DIR/argv[0] with stderr into a file of the temp dir.
 * A stale libmongoc counters file is planted at the child's pid first, as
 * a killed process with the same pid leaves it: with its shared-memory
 * counters on, libmongoc then prints a line of its own before main (CI saw
 * it once). The launchers set MONGOC_DISABLE_SHM, so the line must not come. */
static pid_t
s_spawn(const char *const argv[], const char *const env[], char *epath, size_t epath_size)
{
    static int n;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", TIX_BIN_DIR, argv[0]);
    snprintf(epath, epath_size, "%s/config-%d.err", th_tmpdir(), n++);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char shm[64];
        s_shm_path(getpid(), shm, sizeof shm);
        int e = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0644), o = open("/dev/null", O_WRONLY);
        close(open(shm, O_WRONLY | O_CREAT, 0600));
        dup2(o, 1), dup2(e, 2);
        for (int i = 0; env && env[i]; i++)
            putenv((char *) env[i]);
        execv(path, (char *const *) argv);
        _exit(127);
    }
    return pid;
}

static void
s_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(s_err, 1, ERR_MAX - 1, f) : 0;
    s_err[n] = '\0';
    if (f)
        fclose(f);
}

/* Reaps pid if it has ended (blocking when wait): true then, with its
 * status, and the file planted for it is gone. */
static bool
s_reap(pid_t pid, bool wait, int *status)
{
    if (waitpid(pid, status, wait ? 0 : WNOHANG) != pid)
        return false;
    char shm[64];
    s_shm_path(pid, shm, sizeof shm);
    unlink(shm);
    return true;
}

/* Waits for pid to exit (SIGKILL after timeout_ms); its exit status, or -1. */
static int
s_wait(pid_t pid, int timeout_ms)
{
    int status = 0;
    int64_t end = tix_now_ms() + timeout_ms;
    while (!s_reap(pid, false, &status)) {
        if (tix_now_ms() > end) {
            kill(pid, SIGKILL);
            s_reap(pid, true, &status);
            return -1;
        }
        usleep(10000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs a binary to its end; its exit status, stderr in s_err. */
static int
s_run(const char *const argv[], const char *const env[])
{
    char epath[300];
    int code = s_wait(s_spawn(argv, env, epath, sizeof epath), RUN_TIMEOUT_MS);
    s_slurp(epath);
    return code;
}

/* Exit 2 and exactly one stderr line, which names flag. */
static void
s_expect_refused(const char *const argv[], const char *const env[], const char *flag)
{
    int code = s_run(argv, env);
    size_t lines = 0;
    for (const char *p = s_err; *p; p++)
        lines += *p == '\n';
    if (code != 2 || lines != 1 || !strstr(s_err, flag))
        print_error("%s %s: exit %d, stderr:\n%s", argv[0], argv[1] ? argv[1] : "", code, s_err);
    assert_int_equal(code, 2);
    assert_int_equal(lines, 1);
    assert_non_null(strstr(s_err, flag));
}

#define REFUSED(flag, ...)                                                                                             \
    do {                                                                                                               \
        const char *const argv_[] = {__VA_ARGS__, NULL};                                                               \
        s_expect_refused(argv_, NULL, flag);                                                                           \
    } while (0)

static void
test_broker_refuses_settings_that_cannot_work(void **state)
{
    (void) state;
    REFUSED("--queue-limit", "tix-broker", "--queue-limit", "0");
    REFUSED("--frontend", "tix-broker", "--frontend", "bogus");
    REFUSED("--backend", "tix-broker", "--backend", "tcp://127.0.0.1");
    REFUSED("--events-out", "tix-broker", "--events-out", "tcp://127.0.0.1:99999");
    REFUSED("--max-message-bytes", "tix-broker", "--max-message-bytes", "1024");
    REFUSED("--default-timeout-ms", "tix-broker", "--default-timeout-ms", "9000", "--max-timeout-ms", "100");
    REFUSED("--user-burst", "tix-broker", "--user-burst", "0");
    const char *const env[] = {"TIX_QUEUE_LIMIT=0", NULL};
    const char *const argv[] = {"tix-broker", NULL};
    s_expect_refused(argv, env, "TIX_QUEUE_LIMIT");
}

static void
test_worker_and_persister_refuse_settings_that_cannot_work(void **state)
{
    (void) state;
    REFUSED("--capacity", "tix-worker", "--capacity", "0");
    REFUSED("--heartbeat-ms", "tix-worker", "--heartbeat-ms", "0");
    REFUSED("--backend", "tix-worker", "--backend", "bogus");
    REFUSED("--backend", "tix-worker", "--backend", /* 17 brokers: one more than a worker serves */
            "tcp://b:1,tcp://b:2,tcp://b:3,tcp://b:4,tcp://b:5,tcp://b:6,tcp://b:7,tcp://b:8,tcp://b:9,tcp://b:10,"
            "tcp://b:11,tcp://b:12,tcp://b:13,tcp://b:14,tcp://b:15,tcp://b:16,tcp://b:17");
    REFUSED("--events-in", "tix-worker", "--events-in", "tcp://*:5557"); /* * is for binding */
    REFUSED("--redis-url", "tix-worker", "--redis-url", "http://x");
    char sink[400];
    snprintf(sink, sizeof sink, "jsonl:%s/orders.jsonl", th_tmpdir());
    REFUSED("--events-out", "tix-persister", "--sink", sink, "--events-out", "bogus");
    REFUSED("--redis-url", "tix-persister", "--sink", sink, "--redis-url", "bogus");
    REFUSED("--batch-max", "tix-persister", "--sink", sink, "--batch-max", "0");
    REFUSED("--catchup-ms", "tix-persister", "--sink", sink, "--catchup-ms", "0");
}

static void
test_clients_name_the_flag_at_fault(void **state)
{
    (void) state;
    REFUSED("--frontend", "tix", "--frontend", "bogus", "health");
    REFUSED("--timeout-ms", "tix", "--timeout-ms", "0", "health");
    REFUSED("--frontend", "tix-rush", "--frontend", "bogus");
    REFUSED("--in-flight", "tix-rush", "--in-flight", "0");
    /* One --log-level check for both (tix_opts_log_level), one wording. */
    REFUSED("--log-level: expected debug, info, warn or error, got 'loud'", "tix", "--log-level", "loud", "health");
    REFUSED("--log-level: expected debug, info, warn or error, got 'loud'", "tix-rush", "--log-level", "loud");
    /* With good CURVE keys a bad --frontend was blamed on --curve-secret. */
    char pub[TIX_CURVE_KEY_TXT_BYTES], why[256], client[300], server[300];
    assert_int_equal(tix_curve_keygen(th_tmpdir(), "cli", pub, why, sizeof why), TIX_OK);
    assert_int_equal(tix_curve_keygen(th_tmpdir(), "srv", pub, why, sizeof why), TIX_OK);
    snprintf(client, sizeof client, "%s/cli_secret", th_tmpdir());
    snprintf(server, sizeof server, "%s/srv", th_tmpdir());
    REFUSED("--frontend", "tix", "--frontend", "bogus", "--curve-secret", client, "--curve-server-key", server,
            "health");
    REFUSED("--frontend", "tix-rush", "--frontend", "bogus", "--curve-secret", client, "--curve-server-key", server);
    REFUSED("--curve-secret", "tix", "--curve-secret", "/nonexistent/key", "--curve-server-key", server, "health");
}

/* ---- A worker and a Redis that is not durable ------------------------------ */

static void
s_redis_set(const th_redis_t *r, const char *name, const char *value)
{
    redisContext *c = th_redis_connect(r);
    assert_non_null(c);
    redisReply *reply = redisCommand(c, "CONFIG SET %s %s", name, value);
    assert_true(reply && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    redisFree(c);
}

/* A worker on r: the exit status when it ends by itself within timeout_ms,
 * or -2 after it logged want and was stopped (SIGTERM). stderr in s_err. */
static int
s_worker(const char *redis_url, bool allow, const char *want, int timeout_ms)
{
    char backend[64], events[64], epath[300];
    snprintf(backend, sizeof backend, "tcp://127.0.0.1:%d", th_free_port());
    snprintf(events, sizeof events, "tcp://127.0.0.1:%d", th_free_port());
    const char *const argv[] = {
        "tix-worker",  "--redis-url", redis_url,     "--backend", backend,
        "--events-in", events,        "--worker-id", "w-conf",    allow ? "--allow-unsafe-redis" : NULL,
        NULL};
    pid_t pid = s_spawn(argv, NULL, epath, sizeof epath);
    int64_t end = tix_now_ms() + timeout_ms;
    int status;
    while (tix_now_ms() < end) {
        if (s_reap(pid, false, &status)) {
            s_slurp(epath);
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        s_slurp(epath);
        if (want && strstr(s_err, want)) {
            kill(pid, SIGTERM);
            assert_int_equal(s_wait(pid, 5000), 0);
            s_slurp(epath);
            return -2;
        }
        usleep(20000);
    }
    kill(pid, SIGKILL);
    s_wait(pid, 5000);
    s_slurp(epath);
    print_error("worker neither exited nor logged '%s':\n%s", want ? want : "", s_err);
    return -3;
}

static void
test_worker_refuses_a_redis_that_is_not_durable_unless_allowed(void **state)
{
    (void) state;
    th_redis_t r;
    assert_true(th_redis_start(&r)); /* appendonly yes, appendfsync always */
    assert_int_equal(s_worker(r.url, false, "redis connected", RUN_TIMEOUT_MS), -2);

    s_redis_set(&r, "appendfsync", "everysec");
    assert_int_equal(s_worker(r.url, false, NULL, RUN_TIMEOUT_MS), 2);
    assert_non_null(strstr(s_err, "--redis-url: redis at 127.0.0.1"));
    assert_non_null(strstr(s_err, "appendfsync is 'everysec', need 'always'"));
    assert_non_null(strstr(s_err, "--allow-unsafe-redis"));
    assert_null(strstr(s_err, "redis connected"));

    /* Allowed for development: it serves, and says so at warn. */
    assert_int_equal(s_worker(r.url, true, "redis connected", RUN_TIMEOUT_MS), -2);
    assert_non_null(strstr(s_err, "level=warn"));
    assert_non_null(strstr(s_err, "UNSAFE"));

    s_redis_set(&r, "appendfsync", "always");
    s_redis_set(&r, "maxmemory-policy", "allkeys-lru");
    assert_int_equal(s_worker(r.url, false, NULL, RUN_TIMEOUT_MS), 2);
    assert_non_null(strstr(s_err, "maxmemory-policy is 'allkeys-lru', need 'noeviction'"));
    s_redis_set(&r, "maxmemory-policy", "noeviction");
    s_redis_set(&r, "appendonly", "no");
    assert_int_equal(s_worker(r.url, false, NULL, RUN_TIMEOUT_MS), 2);
    assert_non_null(strstr(s_err, "appendonly is 'no', need 'yes'"));
    s_redis_set(&r, "appendonly", "yes");

    /* A Redis that will not show its configuration (CONFIG not permitted,
     * as on managed services that rename or disable it): refused too. */
    redisContext *c = th_redis_connect(&r);
    redisReply *reply = redisCommand(c, "ACL SETUSER app on >pw ~* &* +@all -config");
    assert_true(reply && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    redisFree(c);
    char url[128];
    snprintf(url, sizeof url, "redis://app:pw@127.0.0.1:%d", r.port);
    assert_int_equal(s_worker(url, false, NULL, RUN_TIMEOUT_MS), 2);
    assert_non_null(strstr(s_err, "CONFIG GET appendonly refused"));
    assert_int_equal(s_worker(url, true, "redis connected", RUN_TIMEOUT_MS), -2);
    th_redis_stop(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broker_refuses_settings_that_cannot_work),
        cmocka_unit_test(test_worker_and_persister_refuse_settings_that_cannot_work),
        cmocka_unit_test(test_clients_name_the_flag_at_fault),
        cmocka_unit_test(test_worker_refuses_a_redis_that_is_not_durable_unless_allowed),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    th_cleanup_all();
    return failed;
}
