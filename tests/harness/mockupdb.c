/*
 * mockupdb.c - a scriptable MongoDB for the persister's tests (see
 * mockupdb.h).
 */
#include "mockupdb.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tix_util.h"

static pid_t s_pids[16]; /* for the exit handler */

static void
s_kill_all(void)
{
    for (size_t i = 0; i < TIX_ARRAY_LEN(s_pids); i++) {
        if (s_pids[i] > 0) {
            kill(s_pids[i], SIGKILL);
            waitpid(s_pids[i], NULL, 0);
            s_pids[i] = 0;
        }
    }
}

static void
s_track(pid_t pid, pid_t old)
{
    static bool registered;
    if (!registered) {
        atexit(s_kill_all);
        registered = true;
    }
    for (size_t i = 0; i < TIX_ARRAY_LEN(s_pids); i++) {
        if (s_pids[i] == old) {
            s_pids[i] = pid;
            return;
        }
    }
}

/* True once the record file holds the "ready" line. */
static bool
s_ready(const mu_t *m)
{
    FILE *f = fopen(m->record, "r");
    char line[256];
    bool ready = false;
    while (f && !ready && fgets(line, sizeof line, f))
        ready = strstr(line, "\"event\": \"ready\"") != NULL;
    if (f)
        fclose(f);
    return ready;
}

bool
mu_start_on(mu_t *m, const char *script)
{
    static int serial;
    snprintf(m->record, sizeof m->record, "%s/mockupdb-%d-%d.jsonl", th_tmpdir(), m->port, ++serial);
    snprintf(m->log, sizeof m->log, "%s/mockupdb-%d-%d.log", th_tmpdir(), m->port, serial);
    char port[16];
    snprintf(port, sizeof port, "%d", m->port);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        FILE *log = freopen(m->log, "a", stdout);
        if (log)
            dup2(fileno(log), 2);
        execl(MU_PYTHON, MU_PYTHON, MU_SCRIPT, "--port", port, "--record", m->record, "--script",
              script ? script : "{}", (char *) NULL);
        _exit(127);
    }
    if (pid < 0)
        return false;
    s_track(pid, 0);
    m->pid = pid;
    for (int i = 0; i < 1000; i++) {
        if (s_ready(m))
            return true;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            break;
        usleep(10000);
    }
    fprintf(stderr, "mockupdb: did not start (see %s)\n", m->log);
    return false;
}

bool
mu_start(mu_t *m, const char *script)
{
    m->port = th_free_port();
    return mu_start_on(m, script);
}

void
mu_stop(mu_t *m)
{
    if (m->pid <= 0)
        return;
    kill(m->pid, SIGTERM);
    for (int i = 0; i < 500 && waitpid(m->pid, NULL, WNOHANG) != m->pid; i++)
        usleep(10000);
    kill(m->pid, SIGKILL);
    waitpid(m->pid, NULL, 0);
    s_track(0, m->pid);
    m->pid = 0;
}

void
mu_uri(const mu_t *m, const char *options, char *buf, size_t size)
{
    snprintf(buf, size, "mongodb://127.0.0.1:%d/%s", m->port, options ? options : "");
}

int
mu_each(const mu_t *m, void (*each)(const bson_t *line, void *arg), void *arg)
{
    FILE *f = fopen(m->record, "r");
    char *text = NULL;
    size_t cap = 0;
    ssize_t len;
    int n = 0;
    while (f && (len = getline(&text, &cap, f)) > 0) {
        bson_t line;
        bson_error_t error;
        bson_iter_t it;
        if (!bson_init_from_json(&line, text, len, &error))
            continue; /* the last line may be half-written while the mock runs */
        if (bson_iter_init_find(&it, &line, "event") && strcmp(bson_iter_utf8(&it, NULL), "command") == 0) {
            each(&line, arg);
            n++;
        }
        bson_destroy(&line);
    }
    free(text);
    if (f)
        fclose(f);
    return n;
}

const char *
mu_str(const bson_t *doc, const char *path)
{
    bson_iter_t it, found;
    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &found) && BSON_ITER_HOLDS_UTF8(&found))
        return bson_iter_utf8(&found, NULL);
    return NULL;
}

bool
mu_is(const bson_t *line, const char *name, const char *coll)
{
    const char *n = mu_str(line, "name");
    if (!n || strcasecmp(n, name) != 0)
        return false;
    if (!coll)
        return true;
    char path[64];
    snprintf(path, sizeof path, "doc.%s", n);
    const char *c = mu_str(line, path);
    return c && strcmp(c, coll) == 0;
}

typedef struct {
    const char *name, *coll;
    int count;
} mu_count_t;

static void
s_count(const bson_t *line, void *arg)
{
    mu_count_t *c = arg;
    if (mu_is(line, c->name, c->coll))
        c->count++;
}

int
mu_count(const mu_t *m, const char *name, const char *coll)
{
    mu_count_t c = {name, coll, 0};
    mu_each(m, s_count, &c);
    return c.count;
}

typedef struct {
    const char *coll;
    zhashx_t *ids; /* _id -> times inserted */
    int inserts;
} mu_inserted_t;

static void
s_inserted(const bson_t *line, void *arg)
{
    mu_inserted_t *x = arg;
    bson_iter_t it, arr, id;
    const char *name = mu_str(line, "name");
    if (!name || !x->coll || !bson_iter_init(&it, line))
        return;
    char path[64];
    snprintf(path, sizeof path, "doc.%s", name);
    const char *coll = mu_str(line, path);
    if (!coll || strcmp(coll, x->coll) != 0 || !bson_iter_init_find(&it, line, "inserted") ||
        !bson_iter_recurse(&it, &arr))
        return;
    while (bson_iter_next(&arr)) {
        if (bson_iter_recurse(&arr, &id) && bson_iter_find(&id, "_id") && BSON_ITER_HOLDS_UTF8(&id)) {
            const char *key = bson_iter_utf8(&id, NULL);
            zhashx_update(x->ids, key, (void *) ((uintptr_t) zhashx_lookup(x->ids, key) + 1));
            x->inserts++;
        }
    }
}

int
mu_inserted(const mu_t *m, const char *coll, zhashx_t *ids)
{
    mu_inserted_t x = {coll, ids, 0};
    mu_each(m, s_inserted, &x);
    return x.inserts;
}

typedef struct {
    const char *sale;
    char *buf;
    size_t size;
} mu_cursor_t;

static void
s_cursor(const bson_t *line, void *arg)
{
    mu_cursor_t *x = arg;
    bson_iter_t it;
    if (!mu_is(line, "update", "cursors") || mu_str(line, "fault") || !bson_iter_init_find(&it, line, "reply") ||
        !BSON_ITER_HOLDS_DOCUMENT(&it))
        return;
    for (int i = 0;; i++) {
        char path[64];
        snprintf(path, sizeof path, "doc.updates.%d.q._id", i);
        const char *sale = mu_str(line, path);
        if (!sale)
            return;
        snprintf(path, sizeof path, "doc.updates.%d.u.$set.log_id", i);
        if (strcmp(sale, x->sale) == 0 && mu_str(line, path))
            snprintf(x->buf, x->size, "%s", mu_str(line, path));
    }
}

void
mu_cursor(const mu_t *m, const char *sale, char *buf, size_t size)
{
    mu_cursor_t x = {sale, buf, size};
    buf[0] = '\0';
    mu_each(m, s_cursor, &x);
}
