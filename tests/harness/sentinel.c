/*
 * sentinel.c - one primary, two replicas, three Sentinels on loopback, and
 * tix processes that reach them through a redis-sentinel:// URL.
 */
#include "sentinel.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tix_util.h"

static void
s_name(th_redis_t *n, const char *kind)
{
    memset(n, 0, sizeof *n);
    n->port = th_free_port();
    snprintf(n->dir, sizeof n->dir, "%s/%s-%d", th_tmpdir(), kind, n->port);
    snprintf(n->url, sizeof n->url, "redis://127.0.0.1:%d", n->port);
}

bool
th_repl_node_start(th_repl_t *r, int i, int replicaof)
{
    th_redis_t *n = &r->nodes[i];
    char port[16], primary[16], lag[16], logfile[300];
    snprintf(port, sizeof port, "%d", n->port);
    snprintf(primary, sizeof primary, "%d", replicaof);
    snprintf(lag, sizeof lag, "%d", TH_REPL_MAX_LAG_S);
    snprintf(logfile, sizeof logfile, "%s/redis.log", n->dir);
    mkdir(n->dir, 0755);
    const char *argv[40] = {"redis-server",
                            "--port",
                            port,
                            "--bind",
                            "127.0.0.1",
                            "--dir",
                            n->dir,
                            "--appendonly",
                            "yes",
                            "--appendfsync",
                            "always",
                            "--save",
                            "",
                            "--maxmemory-policy",
                            "noeviction",
                            "--min-replicas-to-write",
                            "1",
                            "--min-replicas-max-lag",
                            lag,
                            "--protected-mode",
                            "no",
                            "--logfile",
                            logfile};
    int argc = 23;
    if (replicaof > 0) {
        argv[argc++] = "--replicaof";
        argv[argc++] = "127.0.0.1";
        argv[argc++] = primary;
    }
    argv[argc] = NULL;
    n->pid = th_spawn("/usr/bin/redis-server", argv, logfile);
    return n->pid > 0 && th_redis_wait_ping(n);
}

bool
th_repl_sentinel_start(th_repl_t *r, int i)
{
    th_redis_t *n = &r->sentinels[i];
    char conf[300], logfile[300];
    snprintf(conf, sizeof conf, "%s/sentinel.conf", n->dir);
    snprintf(logfile, sizeof logfile, "%s/sentinel.log", n->dir);
    struct stat st;
    if (stat(conf, &st) != 0) { /* first start; later ones keep what Sentinel rewrote */
        mkdir(n->dir, 0755);
        FILE *f = fopen(conf, "w");
        if (!f)
            return false;
        fprintf(f,
                "port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\nlogfile %s\n"
                "sentinel monitor %s 127.0.0.1 %d 2\nsentinel down-after-milliseconds %s 1000\n"
                "sentinel failover-timeout %s 10000\nsentinel parallel-syncs %s 2\n",
                n->port, n->dir, logfile, TH_REPL_MASTER, r->nodes[0].port, TH_REPL_MASTER, TH_REPL_MASTER,
                TH_REPL_MASTER);
        fclose(f);
    }
    const char *argv[] = {"redis-server", conf, "--sentinel", NULL};
    n->pid = th_spawn("/usr/bin/redis-server", argv, logfile);
    return n->pid > 0 && th_redis_wait_ping(n);
}

/* ROLE of node i: "master", "slave", or "" when it does not answer. */
static void
s_role(const th_redis_t *n, char *out, size_t size)
{
    out[0] = '\0';
    redisContext *c = n->pid > 0 ? th_redis_connect(n) : NULL;
    if (!c)
        return;
    redisReply *reply = redisCommand(c, "ROLE");
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
        reply->element[0]->type == REDIS_REPLY_STRING)
        snprintf(out, size, "%s", reply->element[0]->str);
    if (reply)
        freeReplyObject(reply);
    redisFree(c);
}

/* The port Sentinel s names for the master, or 0. */
static int
s_sentinel_says(const th_redis_t *s)
{
    redisContext *c = s->pid > 0 ? th_redis_connect(s) : NULL;
    if (!c)
        return 0;
    int port = 0;
    redisReply *reply = redisCommand(c, "SENTINEL get-master-addr-by-name %s", TH_REPL_MASTER);
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2)
        port = atoi(reply->element[1]->str);
    if (reply)
        freeReplyObject(reply);
    redisFree(c);
    return port;
}

int
th_repl_primary(const th_repl_t *r)
{
    int port = 0;
    for (int i = 0; i < TH_REPL_SENTINELS; i++) {
        int p = s_sentinel_says(&r->sentinels[i]);
        if (p && port && p != port)
            return -1; /* they disagree: still under way */
        if (p)
            port = p;
    }
    for (int i = 0; i < TH_REPL_NODES; i++) {
        char role[16];
        if (r->nodes[i].port != port)
            continue;
        s_role(&r->nodes[i], role, sizeof role);
        return strcmp(role, "master") == 0 ? i : -1;
    }
    return -1;
}

/* connected_slaves of node i with state=online. */
static int
s_online_replicas(const th_redis_t *n)
{
    redisContext *c = th_redis_connect(n);
    if (!c)
        return 0;
    int online = 0;
    redisReply *reply = redisCommand(c, "INFO replication");
    for (const char *p = reply && reply->str ? reply->str : ""; (p = strstr(p, "state=online")); p++)
        online++;
    if (reply)
        freeReplyObject(reply);
    redisFree(c);
    return online;
}

int
th_repl_wait_primary(const th_repl_t *r, int old, int replicas, int timeout_ms)
{
    int64_t deadline = tix_now_ms() + timeout_ms;
    while (tix_now_ms() < deadline) {
        int p = th_repl_primary(r);
        if (p >= 0 && p != old && s_online_replicas(&r->nodes[p]) >= replicas)
            return p;
        usleep(20000);
    }
    return -1;
}

bool
th_repl_start_nodes(th_repl_t *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < TH_REPL_NODES; i++)
        s_name(&r->nodes[i], "node");
    for (int i = 0; i < TH_REPL_SENTINELS; i++)
        s_name(&r->sentinels[i], "sentinel");
    for (int i = 0; i < TH_REPL_NODES; i++) {
        if (!th_repl_node_start(r, i, i == 0 ? 0 : r->nodes[0].port))
            return false;
    }
    int64_t deadline = tix_now_ms() + 20000;
    while (s_online_replicas(&r->nodes[0]) < TH_REPL_NODES - 1) {
        if (tix_now_ms() > deadline)
            return false;
        usleep(20000);
    }
    return true;
}

bool
th_repl_start(th_repl_t *r)
{
    if (!th_repl_start_nodes(r))
        return false;
    for (int i = 0; i < TH_REPL_SENTINELS; i++) {
        if (!th_repl_sentinel_start(r, i))
            return false;
    }
    snprintf(r->url, sizeof r->url, "redis-sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/%s", r->sentinels[0].port,
             r->sentinels[1].port, r->sentinels[2].port, TH_REPL_MASTER);
    return th_repl_wait_primary(r, -1, TH_REPL_NODES - 1, 20000) == 0;
}

/* SIGKILL, then reaped: the test is over and its data goes with its
 * directory. (A replica restarted mid-test once sat through SIGTERM
 * without a log line, and th_redis_stop's waitpid with it.) */
static void
s_kill(th_redis_t *n)
{
    if (n->pid > 0)
        kill(n->pid, SIGKILL);
    th_redis_stop(n);
}

void
th_repl_stop(th_repl_t *r)
{
    for (int i = 0; i < TH_REPL_SENTINELS; i++)
        s_kill(&r->sentinels[i]);
    for (int i = 0; i < TH_REPL_NODES; i++)
        s_kill(&r->nodes[i]);
}

bool
th_repl_worker_start(th_stack_t *s, int i, const th_repl_t *r, int min_replicas)
{
    char id[32], hb[16], gate[16];
    snprintf(id, sizeof id, "w%d", i);
    snprintf(hb, sizeof hb, "%d", s->heartbeat_ms);
    snprintf(gate, sizeof gate, "%d", min_replicas);
    snprintf(s->workers[i].name, sizeof s->workers[i].name, "tix-worker-%d", i);
    const char *argv[] = {
        "tix-worker", "--backend",   s->backend, "--events-in",    s->events_in, "--redis-url",
        r->url,       "--worker-id", id,         "--heartbeat-ms", hb,           "--redis-min-replicas",
        gate,         NULL};
    if (i >= s->nworkers)
        s->nworkers = i + 1;
    return th_proc_start(&s->workers[i], argv, NULL);
}

bool
th_repl_persister_start(th_proc_t *p, const th_stack_t *s, const th_repl_t *r, int min_replicas, const char *path)
{
    char sink[400], gate[16];
    snprintf(sink, sizeof sink, "jsonl:%s", path);
    snprintf(gate, sizeof gate, "%d", min_replicas);
    snprintf(p->name, sizeof p->name, "tix-persister");
    const char *argv[] = {"tix-persister", "--events-out", s->events_out,          "--redis-url", r->url,
                          "--sink",        sink,           "--redis-min-replicas", gate,          NULL};
    return th_proc_start(p, argv, NULL);
}
