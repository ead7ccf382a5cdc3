/*
 * persister_proc.c - tix-persister as its own process for the tests; see
 * persister_proc.h.
 */
#include "persister_proc.h"

#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tix_util.h"

void
persister_proc_start(th_proc_t *p, const char *name, const char *const *args, va_list *extra)
{
    const char *argv[PERSISTER_PROC_MAX_ARGS + 1] = {"tix-persister"};
    int n = 1;
    for (; n < PERSISTER_PROC_MAX_ARGS && args[n - 1]; n++)
        argv[n] = args[n - 1];
    for (const char *a; extra && n < PERSISTER_PROC_MAX_ARGS && (a = va_arg(*extra, const char *));)
        argv[n++] = a;
    argv[n] = NULL;
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    assert_true(th_proc_start(p, argv, NULL));
}

void
persister_proc_stop(th_proc_t *p)
{
    int status = th_proc_stop(p, SIGTERM, 10000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

void
persister_proc_wait_healthy(th_proc_t *p, const char *health, int timeout_ms)
{
    struct stat st;
    int64_t deadline = tix_now_ms() + timeout_ms;
    while (stat(health, &st) != 0 && tix_now_ms() < deadline) {
        assert_true(th_proc_alive(p));
        usleep(20000);
    }
    assert_int_equal(stat(health, &st), 0);
}

void
persister_proc_jsonl_paths(char *path, size_t path_size, char *health, size_t health_size)
{
    static int serial;
    snprintf(path, path_size, "%s/orders-%d.jsonl", th_tmpdir(), ++serial);
    snprintf(health, health_size, "%s.health", path);
}

int
persister_proc_count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

int
persister_proc_wait_lines(const char *path, int n, int timeout_ms)
{
    int64_t deadline = tix_now_ms() + timeout_ms;
    int have;
    while ((have = persister_proc_count_lines(path)) < n && tix_now_ms() < deadline)
        usleep(20000);
    return have;
}

void
persister_proc_last_log_id(const th_redis_t *redis, const char *sale, char *buf, size_t size)
{
    redisContext *c = th_redis_connect(redis);
    redisReply *r = redisCommand(c, "XREVRANGE tix:{%s}:log + - COUNT 1", sale);
    assert_true(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    snprintf(buf, size, "%s", r->element[0]->element[0]->str);
    freeReplyObject(r);
    redisFree(c);
}
