/*
 * curve_stack.c - CURVE keys and a CURVE-on stack for integration tests.
 */
#include "curve_stack.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tix_curve.h"
#include "tix_util.h"

static bool
s_copy(const char *from, const char *dir, const char *name)
{
    char to[TC_PATH_MAX * 2];
    snprintf(to, sizeof to, "%s/%s", dir, name);
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    bool ok = in && out;
    char buf[4096];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    return ok;
}

static bool
s_gen(const tc_keys_t *k, const char *name, char *path)
{
    char pub[TIX_CURVE_KEY_TXT_BYTES], why[256];
    snprintf(path, TC_PATH_MAX, "%s/%s", k->dir, name);
    if (tix_curve_keygen(k->dir, name, pub, why, sizeof why) != TIX_OK) {
        fprintf(stderr, "curve_stack: keygen %s: %s\n", name, why);
        return false;
    }
    return true;
}

static bool
s_list(const tc_keys_t *k, const char *name, char *path)
{
    snprintf(path, TC_PATH_MAX, "%s/%s", k->dir, name);
    return mkdir(path, 0700) == 0;
}

bool
tc_keys_make(tc_keys_t *k)
{
    memset(k, 0, sizeof *k);
    snprintf(k->dir, sizeof k->dir, "%s/keys", th_tmpdir());
    if (mkdir(k->dir, 0700) != 0)
        return false;
    return s_gen(k, "broker", k->broker) && s_gen(k, "worker", k->worker) && s_gen(k, "client", k->client) &&
           s_gen(k, "admin", k->admin) && s_gen(k, "stranger", k->stranger) && s_list(k, "clients", k->clients) &&
           s_list(k, "workers", k->workers) && s_list(k, "subscribers", k->subscribers) &&
           s_list(k, "admins", k->admins) && s_copy(k->client, k->clients, "client") &&
           s_copy(k->admin, k->clients, "admin") && s_copy(k->worker, k->workers, "worker") &&
           s_copy(k->worker, k->subscribers, "worker") && s_copy(k->admin, k->admins, "admin");
}

bool
tc_worker_start(th_stack_t *s, const tc_keys_t *k, int i, const char *secret)
{
    char id[32], hb[16];
    snprintf(id, sizeof id, "w%d", i);
    snprintf(hb, sizeof hb, "%d", s->heartbeat_ms);
    snprintf(s->workers[i].name, sizeof s->workers[i].name, "tix-worker-%d", i);
    const char *argv[] = {"tix-worker", "--backend",          s->backend,   "--events-in",
                          s->events_in, "--redis-url",        s->redis.url, "--worker-id",
                          id,           "--heartbeat-ms",     hb,           "--curve-secret",
                          secret,       "--curve-server-key", k->broker,    NULL};
    return th_proc_start(&s->workers[i], argv, NULL);
}

tix_client_t *
tc_client(const th_stack_t *s, const tc_keys_t *k, const char *who)
{
    return tix_client_new_curve(s->frontend, who, k->broker);
}

bool
tc_wait_serving(const th_stack_t *s, const tc_keys_t *k, int timeout_ms)
{
    tix_client_t *c = tc_client(s, k, k->admin);
    bool serving = th_client_wait_serving(c, timeout_ms);
    tix_client_destroy(&c);
    return serving;
}

bool
tc_stack_start(th_stack_t *s, const tc_keys_t *k, int nworkers)
{
    char secret[TC_PATH_MAX + 16];
    snprintf(secret, sizeof secret, "%s_secret", k->broker);
    const char *args[] = {"--curve",      "--curve-secret",  secret,     "--curve-clients",
                          k->clients,     "--curve-workers", k->workers, "--curve-subscribers",
                          k->subscribers, "--curve-admins",  k->admins,  NULL};
    if (!th_stack_start(s, 0, args))
        return false;
    s->nworkers = nworkers;
    for (int i = 0; i < nworkers; i++) {
        if (!tc_worker_start(s, k, i, k->worker))
            return false;
    }
    return nworkers == 0 || tc_wait_serving(s, k, 10000);
}
