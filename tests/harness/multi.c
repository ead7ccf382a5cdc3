/*
 * multi.c - a local stack with several brokers (multi.h).
 */
#include "multi.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void
s_list_add(char *list, size_t size, const char *item)
{
    size_t len = strlen(list);
    snprintf(list + len, size - len, "%s%s", len ? "," : "", item);
}

bool
th_multi_broker_start(th_multi_t *m, int i)
{
    th_multi_broker_t *b = &m->broker[i];
    memset(&b->proc, 0, sizeof b->proc);
    snprintf(b->proc.name, sizeof b->proc.name, "tix-broker-%d-%d", i, b->starts++);
    const char *argv[] = {"tix-broker",  "--frontend", b->frontend,    "--backend",   b->backend,
                          "--events-in", b->events_in, "--events-out", b->events_out, NULL};
    return th_proc_start(&b->proc, argv, NULL);
}

bool
th_multi_worker_start(th_multi_t *m, int i)
{
    char id[16], hb[16];
    snprintf(id, sizeof id, "w%d", i);
    snprintf(hb, sizeof hb, "%d", m->heartbeat_ms);
    memset(&m->workers[i], 0, sizeof m->workers[i]);
    snprintf(m->workers[i].name, sizeof m->workers[i].name, "tix-worker-%d", i);
    const char *argv[] = {"tix-worker",
                          "--backend",
                          m->backends,
                          "--events-in",
                          m->events_ins,
                          "--redis-url",
                          m->redis.url,
                          "--worker-id",
                          id,
                          "--heartbeat-ms",
                          hb,
                          NULL};
    return th_proc_start(&m->workers[i], argv, NULL);
}

bool
th_multi_persister_start(const th_multi_t *m, th_proc_t *p, const char *path)
{
    char sink[400];
    snprintf(sink, sizeof sink, "jsonl:%s", path);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "tix-persister");
    const char *argv[] = {"tix-persister", "--events-out", m->events_outs, "--redis-url",
                          m->redis.url,    "--sink",       sink,           NULL};
    return th_proc_start(p, argv, NULL);
}

/* One attempt at th_multi_start: NULL when everything is up, else the step
 * that failed (what is up stays up for th_multi_stop). */
static const char *
s_start(th_multi_t *m, int nbrokers, int nworkers)
{
    memset(m, 0, sizeof *m);
    m->nbrokers = nbrokers;
    m->nworkers = nworkers;
    m->heartbeat_ms = 200;
    if (nbrokers > TH_MULTI_BROKERS || nworkers > TH_MULTI_WORKERS)
        return "the sizes";
    if (!th_redis_start(&m->redis))
        return "redis-server";
    for (int i = 0; i < nbrokers; i++) {
        th_multi_broker_t *b = &m->broker[i];
        snprintf(b->frontend, sizeof b->frontend, "tcp://127.0.0.1:%d", th_free_port());
        snprintf(b->backend, sizeof b->backend, "tcp://127.0.0.1:%d", th_free_port());
        snprintf(b->events_in, sizeof b->events_in, "tcp://127.0.0.1:%d", th_free_port());
        snprintf(b->events_out, sizeof b->events_out, "tcp://127.0.0.1:%d", th_free_port());
        s_list_add(m->frontends, sizeof m->frontends, b->frontend);
        s_list_add(m->backends, sizeof m->backends, b->backend);
        s_list_add(m->events_ins, sizeof m->events_ins, b->events_in);
        s_list_add(m->events_outs, sizeof m->events_outs, b->events_out);
        if (!th_multi_broker_start(m, i))
            return "a broker";
    }
    for (int i = 0; i < nworkers; i++) {
        if (!th_multi_worker_start(m, i))
            return "a worker";
    }
    for (int i = 0; i < nbrokers && nworkers > 0; i++) {
        if (!th_wait_serving(m->broker[i].frontend, 10000))
            return "a broker's SERVING (10 s)";
    }
    return NULL;
}

bool
th_multi_start(th_multi_t *m, int nbrokers, int nworkers)
{
    /* Ports are picked free, then bound by another process: something else
     * on the machine may take one in between. A second attempt on new ports
     * tells that apart from a stack that cannot start, and says so. */
    for (int attempt = 1; attempt <= 2; attempt++) {
        const char *failed = s_start(m, nbrokers, nworkers);
        if (!failed)
            return true;
        fprintf(stderr, "th_multi_start: %s did not start (attempt %d of 2; logs in %s)\n", failed, attempt,
                th_tmpdir());
        th_multi_stop(m);
    }
    return false;
}

void
th_multi_stop(th_multi_t *m)
{
    for (int i = 0; i < m->nworkers; i++)
        th_proc_stop(&m->workers[i], SIGTERM, 5000);
    for (int i = 0; i < m->nbrokers; i++) {
        if (m->broker[i].proc.pid > 0)
            kill(m->broker[i].proc.pid, SIGCONT);
        th_proc_stop(&m->broker[i].proc, SIGTERM, 5000);
    }
    th_redis_stop(&m->redis);
}
