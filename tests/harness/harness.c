/*
 * harness.c - starts and stops the real parts integration tests run on.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tix.h"
#include "tix_util.h"

static pid_t s_pids[256];
static int s_npids;
static char s_tmpdir[256];
static bool s_atexit_done;

static void s_at_exit(void);

static void
s_track(pid_t pid)
{
    if (!s_atexit_done) {
        atexit(s_at_exit);
        s_atexit_done = true;
    }
    for (int i = 0; i < s_npids; i++) {
        if (s_pids[i] == 0) {
            s_pids[i] = pid;
            return;
        }
    }
    if (s_npids < (int) TIX_ARRAY_LEN(s_pids))
        s_pids[s_npids++] = pid;
}

static void
s_untrack(pid_t pid)
{
    for (int i = 0; i < s_npids; i++) {
        if (s_pids[i] == pid)
            s_pids[i] = 0;
    }
}

void
th_cleanup_all(void)
{
    for (int i = 0; i < s_npids; i++) {
        if (s_pids[i] > 0) {
            kill(s_pids[i], SIGKILL);
            waitpid(s_pids[i], NULL, 0);
            s_pids[i] = 0;
        }
    }
}

static void
s_at_exit(void)
{
    th_cleanup_all();
    if (s_tmpdir[0] && !getenv("TIX_TEST_KEEP")) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "harness: could not remove %s\n", s_tmpdir);
    }
}

const char *
th_tmpdir(void)
{
    if (!s_tmpdir[0]) {
        snprintf(s_tmpdir, sizeof s_tmpdir, "/tmp/tix-test-XXXXXX");
        if (!mkdtemp(s_tmpdir)) {
            perror("mkdtemp");
            abort();
        }
        if (!s_atexit_done) {
            atexit(s_at_exit);
            s_atexit_done = true;
        }
    }
    return s_tmpdir;
}

int
th_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *) &a, &len) != 0) {
        perror("th_free_port");
        abort();
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* fork + exec with stderr (and stdout) to log; the child dies with us. */
static pid_t
s_spawn(const char *path, const char *const argv[], const char *const env[], const char *log)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        for (int i = 0; env && env[i]; i++)
            putenv((char *) env[i]);
        execv(path, (char *const *) argv);
        fprintf(stderr, "harness: exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    s_track(pid);
    return pid;
}

pid_t
th_spawn(const char *path, const char *const argv[], const char *log)
{
    return s_spawn(path, argv, NULL, log);
}

redisContext *
th_redis_connect(const th_redis_t *r)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, (struct timeval){10, 0});
    return c;
}

long long
th_redis_int(const th_redis_t *r, const char *fmt, ...)
{
    redisContext *c = th_redis_connect(r);
    if (!c)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(c, fmt, ap);
    va_end(ap);
    long long v = -1;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        v = reply->integer;
    else if (reply && reply->type == REDIS_REPLY_STRING)
        v = atoll(reply->str);
    if (reply)
        freeReplyObject(reply);
    redisFree(c);
    return v;
}

long long
th_redis_calls(const th_redis_t *r, const char *command)
{
    redisContext *c = th_redis_connect(r);
    redisReply *reply = c ? redisCommand(c, "INFO commandstats") : NULL;
    long long calls = -1;
    if (reply && reply->type == REDIS_REPLY_STRING) {
        char key[64];
        snprintf(key, sizeof key, "cmdstat_%s:calls=", command);
        const char *at = strstr(reply->str, key);
        calls = at ? atoll(at + strlen(key)) : 0;
    }
    if (reply)
        freeReplyObject(reply);
    if (c)
        redisFree(c);
    return calls;
}

static bool
s_redis_spawn(th_redis_t *r)
{
    char port[16], logfile[300];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(logfile, sizeof logfile, "%s/redis.log", r->dir);
    const char *argv[] = {
        "redis-server", "--port",        port,     "--bind", "127.0.0.1", "--dir",       r->dir, "--appendonly",
        "yes",          "--appendfsync", "always", "--save", "",          "--daemonize", "no",   "--protected-mode",
        "no",           "--logfile",     logfile,  NULL};
    r->pid = s_spawn("/usr/bin/redis-server", argv, NULL, logfile);
    return r->pid > 0 && th_redis_wait_ping(r);
}

bool
th_redis_wait_ping(const th_redis_t *r)
{
    for (int i = 0; i < 500; i++) {
        redisContext *c = th_redis_connect(r);
        if (c) {
            redisReply *reply = redisCommand(c, "PING");
            bool ok = reply && reply->type == REDIS_REPLY_STATUS;
            if (reply)
                freeReplyObject(reply);
            redisFree(c);
            if (ok)
                return true;
        }
        usleep(10000); /* a poll interval: the condition is PING answering */
    }
    fprintf(stderr, "harness: redis on port %d did not answer PING\n", r->port);
    return false;
}

bool
th_redis_start(th_redis_t *r)
{
    memset(r, 0, sizeof *r);
    r->port = th_free_port();
    snprintf(r->dir, sizeof r->dir, "%s/redis-%d", th_tmpdir(), r->port);
    mkdir(r->dir, 0755);
    snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d", r->port);
    return s_redis_spawn(r);
}

bool
th_redis_restart(th_redis_t *r)
{
    return s_redis_spawn(r);
}

void
th_redis_stop(th_redis_t *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
        s_untrack(r->pid);
        r->pid = 0;
    }
}

bool
th_proc_start(th_proc_t *p, const char *const argv[], const char *const env[])
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", TIX_BIN_DIR, argv[0]);
    if (!p->name[0])
        snprintf(p->name, sizeof p->name, "%s", argv[0]);
    snprintf(p->log, sizeof p->log, "%s/%s.log", th_tmpdir(), p->name);
    p->pid = s_spawn(path, argv, env, p->log);
    return p->pid > 0;
}

bool
th_proc_alive(th_proc_t *p)
{
    if (p->pid <= 0)
        return false;
    int status;
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid) {
        s_untrack(p->pid);
        p->pid = 0;
        return false;
    }
    return true;
}

int
th_proc_stop(th_proc_t *p, int sig, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    kill(p->pid, sig);
    int status = -1;
    for (int waited = 0;; waited += 10) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid)
            break;
        if (waited >= timeout_ms) {
            fprintf(stderr, "harness: %s did not stop within %d ms; killing it\n", p->name, timeout_ms);
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            status = -1;
            break;
        }
        usleep(10000);
    }
    s_untrack(p->pid);
    p->pid = 0;
    return status;
}

/* th_run and th_run_stderr: fd (1 or 2) of the program goes to out. */
static int
s_run(const char *const argv[], const char *const env[], int fd, char *out, size_t out_size)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", TIX_BIN_DIR, argv[0]);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pipefd[1], fd);
        close(pipefd[0]);
        close(pipefd[1]);
        for (int i = 0; env && env[i]; i++)
            putenv((char *) env[i]);
        execv(path, (char *const *) argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t used = 0;
    for (;;) {
        char buf[4096];
        ssize_t n = read(pipefd[0], buf, sizeof buf);
        if (n <= 0)
            break;
        size_t take = (size_t) n;
        if (out && used + take >= out_size)
            take = out_size - used - 1;
        if (out && take)
            memcpy(out + used, buf, take), used += take;
    }
    if (out && out_size)
        out[used] = '\0';
    close(pipefd[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
th_run(const char *const argv[], const char *const env[], char *out, size_t out_size)
{
    return s_run(argv, env, 1, out, out_size);
}

int
th_run_stderr(const char *const argv[], char *err, size_t err_size)
{
    return s_run(argv, NULL, 2, err, err_size);
}

static void
s_slurp(const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

int
th_run_both(const char *const argv[], const char *const env[], char *out, size_t out_size, char *err, size_t err_size)
{
    char path[512], opath[300], epath[300];
    snprintf(path, sizeof path, "%s/%s", TIX_BIN_DIR, argv[0]);
    snprintf(opath, sizeof opath, "%s/run.out", th_tmpdir());
    snprintf(epath, sizeof epath, "%s/run.err", th_tmpdir());
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int o = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0644), e = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1), dup2(e, 2);
        for (int i = 0; env && env[i]; i++)
            putenv((char *) env[i]);
        execv(path, (char *const *) argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    s_slurp(opath, out, out_size);
    s_slurp(epath, err, err_size);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
th_count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = strstr(text, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

bool
th_client_wait_serving(tix_client_t *c, int timeout_ms)
{
    bool serving = false;
    int64_t deadline = tix_now_ms() + timeout_ms;
    while (c && !serving && tix_now_ms() < deadline) {
        tix_result_t r;
        if (tix_health_check(c, "", 500, &r) == TIX_OK && r.code == TIX__V1__CODE__OK) {
            const Tix__V1__HealthCheckResponse *h = (const Tix__V1__HealthCheckResponse *) r.reply;
            serving = h->status == TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
        }
        tix_result_clear(&r);
        if (!serving)
            usleep(20000); /* a poll interval */
    }
    return serving;
}

bool
th_wait_serving(const char *frontend, int timeout_ms)
{
    tix_client_t *c = tix_client_new(frontend);
    bool serving = th_client_wait_serving(c, timeout_ms);
    tix_client_destroy(&c);
    return serving;
}

bool
th_stack_start_worker(th_stack_t *s, int i)
{
    char id[32], hb[16];
    snprintf(id, sizeof id, "w%d", i);
    snprintf(hb, sizeof hb, "%d", s->heartbeat_ms);
    snprintf(s->workers[i].name, sizeof s->workers[i].name, "tix-worker-%d", i);
    const char *argv[] = {"tix-worker", "--backend",   s->backend, "--events-in",    s->events_in, "--redis-url",
                          s->redis.url, "--worker-id", id,         "--heartbeat-ms", hb,           NULL};
    return th_proc_start(&s->workers[i], argv, NULL);
}

bool
th_stack_start(th_stack_t *s, int nworkers, const char *const extra_broker_args[])
{
    memset(s, 0, sizeof *s);
    s->heartbeat_ms = 200;
    s->nworkers = nworkers;
    if (!th_redis_start(&s->redis))
        return false;
    int fp = th_free_port(), bp = th_free_port(), ip = th_free_port(), op = th_free_port();
    snprintf(s->frontend, sizeof s->frontend, "tcp://127.0.0.1:%d", fp);
    snprintf(s->backend, sizeof s->backend, "tcp://127.0.0.1:%d", bp);
    snprintf(s->events_in, sizeof s->events_in, "tcp://127.0.0.1:%d", ip);
    snprintf(s->events_out, sizeof s->events_out, "tcp://127.0.0.1:%d", op);

    const char *argv[40] = {"tix-broker",  "--frontend", s->frontend,    "--backend",  s->backend,
                            "--events-in", s->events_in, "--events-out", s->events_out};
    int n = 9;
    for (int i = 0; extra_broker_args && extra_broker_args[i] && n < 38; i++)
        argv[n++] = extra_broker_args[i];
    argv[n] = NULL;
    if (!th_proc_start(&s->broker, argv, NULL))
        return false;
    for (int i = 0; i < nworkers; i++) {
        if (!th_stack_start_worker(s, i))
            return false;
    }
    /* Without workers nothing can serve: the caller starts its own. */
    return nworkers == 0 || th_wait_serving(s->frontend, 10000);
}

void
th_stack_stop(th_stack_t *s)
{
    for (int i = 0; i < s->nworkers; i++)
        th_proc_stop(&s->workers[i], SIGTERM, 5000);
    th_proc_stop(&s->broker, SIGTERM, 5000);
    th_redis_stop(&s->redis);
}

long
th_order_seq(const char *order_id, const char *sale)
{
    size_t len = strlen(sale);
    if (!order_id || strncmp(order_id, sale, len) != 0 || order_id[len] != ':')
        return -1;
    const char *inc = order_id + len + 1, *colon = strchr(inc, ':');
    if (!colon || colon == inc || strspn(inc, "0123456789abcdefghijklmnopqrstuvwxyz") != (size_t) (colon - inc))
        return -1;
    char *end;
    long n = strtol(colon + 1, &end, 10);
    return colon[1] >= '1' && colon[1] <= '9' && *end == '\0' ? n : -1;
}
