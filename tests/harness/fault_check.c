/*
 * fault_check.c - the fault tests' invariant checks over Redis and the
 * persister's jsonl file, waits on conditions, and probes of processes and
 * logs. See fault.h.
 */
#define _GNU_SOURCE
#include "fault.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rush.h"
#include "tix.h"
#include "tix_util.h"

static void *
s_str_dup(const void *s)
{
    return xstrdup(s);
}

static void
s_str_free(void **s)
{
    free(*s);
    *s = NULL;
}

/* A map of strings to strings, both copied and owned. */
static zhashx_t *
s_str_map_new(void)
{
    zhashx_t *h = zhashx_new();
    zhashx_set_duplicator(h, s_str_dup);
    zhashx_set_destructor(h, s_str_free);
    return h;
}

/* ---- Invariants ------------------------------------------------------------------ */

static const char *
s_field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        if (strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1]->str;
    }
    return NULL;
}

/* Counts one log entry into f: a purchase (order -> user, the user's live
 * orders + 1) or a cancel (- 1). False when it lacks its ids. */
static bool
s_count_entry(const redisReply *fields, zhashx_t *users, zhashx_t *live, tf_sale_facts_t *f)
{
    const char *order = s_field(fields, "order_id");
    const char *user = s_field(fields, "user_id");
    const char *kind = s_field(fields, "kind");
    if (!order || !user)
        return false;
    intptr_t n = (intptr_t) zhashx_lookup(live, user);
    if (kind && strcmp(kind, "cancel") == 0) {
        f->cancels++;
        zhashx_update(live, user, (void *) (n - 1));
        return true;
    }
    f->purchases++;
    if (zhashx_insert(f->user_of, order, (void *) user) == 0)
        f->distinct_orders++;
    if (zhashx_insert(users, user, (void *) "") == 0)
        f->distinct_users++;
    zhashx_update(live, user, (void *) (n + 1));
    return true;
}

/* Reads one XRANGE page after *from into f; false on an error. Sets
 * *more when the page was full. */
static bool
s_read_log_page(redisContext *c, const char *sale, char *from, size_t from_size, zhashx_t *users, zhashx_t *live,
                tf_sale_facts_t *f, bool *more)
{
    redisReply *page = redisCommand(c, "XRANGE tix:{%s}:log %s + COUNT 1000", sale, from);
    bool ok = page && page->type == REDIS_REPLY_ARRAY;
    for (size_t i = 0; ok && i < page->elements; i++) {
        const redisReply *entry = page->element[i];
        ok = s_count_entry(entry->element[1], users, live, f);
        snprintf(from, from_size, "(%s", entry->element[0]->str);
    }
    *more = ok && page->elements == 1000;
    if (page)
        freeReplyObject(page);
    return ok;
}

bool
tf_sale_facts(const th_redis_t *redis, const char *sale, tf_sale_facts_t *f)
{
    memset(f, 0, sizeof *f);
    f->total = th_redis_int(redis, "HGET tix:{%s}:sale total", sale);
    f->remaining = th_redis_int(redis, "GET tix:{%s}:stock", sale);
    f->log_len = th_redis_int(redis, "XLEN tix:{%s}:log", sale);
    f->buyers = th_redis_int(redis, "HLEN tix:{%s}:buyers", sale);
    f->cancelled = th_redis_int(redis, "HGET tix:{%s}:sale cancelled", sale);
    if (f->cancelled < 0)
        f->cancelled = 0; /* none yet */
    f->user_of = s_str_map_new();
    redisContext *c = th_redis_connect(redis);
    if (!c)
        return false;
    zhashx_t *users = s_str_map_new();
    zhashx_t *live = zhashx_new(); /* user -> live orders, as an integer */
    char from[64] = "-";
    bool more = true, ok = true;
    while (ok && more)
        ok = s_read_log_page(c, sale, from, sizeof from, users, live, f, &more);
    for (void *n = zhashx_first(live); n; n = zhashx_next(live))
        f->users_two_live += (intptr_t) n > 1;
    zhashx_destroy(&live);
    zhashx_destroy(&users);
    redisFree(c);
    return ok;
}

void
tf_sale_facts_free(tf_sale_facts_t *f)
{
    zhashx_destroy(&f->user_of);
}

static int s_check(const char *label, const char *what, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
s_check(const char *label, const char *what, bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: invariant %-28s %s  ", label, what, ok ? "holds " : "BROKEN");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return ok ? 0 : 1;
}

/* Client orders (PURCHASED or ORDER_CANCELLED) that are not the log's
 * order of that user, and order ids the clients saw twice. */
static void
s_client_orders(const tf_sale_facts_t *f, const tf_rush_result_t *r, const char *sale, int *wrong, int *dup)
{
    zhashx_t *seen = s_str_map_new();
    *wrong = *dup = 0;
    for (int i = 0; i < r->users; i++) {
        const char *order = r->order_of[i] ? r->order_of[i] : r->cancelled_order_of ? r->cancelled_order_of[i] : NULL;
        if (!order)
            continue;
        char user[96];
        th_rush_user(user, sizeof user, sale, i);
        const char *in_log = zhashx_lookup(f->user_of, order);
        if (!in_log || strcmp(in_log, user) != 0)
            (*wrong)++;
        if (zhashx_insert(seen, order, (void *) "") != 0)
            (*dup)++;
    }
    zhashx_destroy(&seen);
}

int
tf_check_invariants(const char *sale, const tf_sale_facts_t *f, long long total, const tf_rush_result_t *r)
{
    const char *label = sale;
    int bad = 0, wrong, dup;
    bad += s_check(label, "sale not lost or reset", f->total == total, "total=%lld expected=%lld", f->total, total);
    long long live = f->purchases - f->cancels;
    bad += s_check(label, "no oversell",
                   r->purchased + r->cancelled == f->purchases && f->buyers == live && total - f->remaining == live &&
                       live <= total && f->log_len == f->purchases + f->cancels && f->cancels == f->cancelled,
                   "purchased=%d order_cancelled=%d log purchases=%lld cancels=%lld (sale says %lld) live=%lld "
                   "HLEN=%lld total-remaining=%lld total=%lld XLEN=%lld",
                   r->purchased, r->cancelled, f->purchases, f->cancels, f->cancelled, live, f->buyers,
                   total - f->remaining, total, f->log_len);
    bad += s_check(label, "one per user (log)", f->distinct_orders == f->purchases && f->users_two_live == 0,
                   "purchases=%lld distinct_orders=%lld users=%lld users_with_two_live_orders=%lld", f->purchases,
                   f->distinct_orders, f->distinct_users, f->users_two_live);
    s_client_orders(f, r, sale, &wrong, &dup);
    bad += s_check(label, "one per user (clients)", wrong == 0 && dup == 0,
                   "client orders not the log's order of that user=%d, order ids seen twice=%d", wrong, dup);
    int documented = r->codes[TIX__V1__CODE__OK] + r->codes[TIX__V1__CODE__UNAVAILABLE] +
                     r->codes[TIX__V1__CODE__RESOURCE_EXHAUSTED];
    int all = 0;
    for (int c = 0; c <= TF_CODES; c++)
        all += r->codes[c];
    bad += s_check(label, "every call answered",
                   r->answered == r->users && r->other == 0 &&
                       r->purchased + r->sold_out + r->closed + r->cancelled == r->users,
                   "users=%d answered=%d purchased+sold_out+sale_closed+order_cancelled=%d other=%d", r->users,
                   r->answered, r->purchased + r->sold_out + r->closed + r->cancelled, r->other);
    bad += s_check(label, "documented codes only", documented == all && r->retried_without_delay == 0,
                   "answers=%d OK=%d UNAVAILABLE=%d RESOURCE_EXHAUSTED=%d other_codes=%d without_retry_after=%d", all,
                   r->codes[TIX__V1__CODE__OK], r->codes[TIX__V1__CODE__UNAVAILABLE],
                   r->codes[TIX__V1__CODE__RESOURCE_EXHAUSTED], all - documented, r->retried_without_delay);
    return bad;
}

/* ---- The persister's jsonl file ---------------------------------------------------- */

/* Copies the string value of "key" : "..." in line into out. */
static bool
s_json_str(const char *line, const char *key, char *out, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\" : \"", key);
    const char *p = strstr(line, pat);
    if (!p)
        return false;
    p += strlen(pat);
    const char *end = strchr(p, '"');
    if (!end || (size_t) (end - p) >= size)
        return false;
    memcpy(out, p, (size_t) (end - p));
    out[end - p] = '\0';
    return true;
}

/* Counts one line of the sale, whose _id is id, into n. */
static void
s_count_line(const char *line, const char *id, zhashx_t *orders, zhashx_t *cancels, const zhashx_t *user_of,
             tf_jsonl_counts_t *n)
{
    /* A cancellation is one more line for its order, after the purchase's
     * (docs/PERSISTENCE.md): the one that carries cancelled_at. */
    bool cancel = strstr(line, "\"cancelled_at\" : ") != NULL;
    n->lines++;
    if (cancel) {
        n->cancel_lines++;
        n->cancels += zhashx_insert(cancels, id, (void *) "") == 0;
    } else {
        n->purchase_lines++;
        n->orders += zhashx_insert(orders, id, (void *) "") == 0;
    }
    if (user_of && !zhashx_lookup((zhashx_t *) user_of, id))
        n->unknown++;
}

bool
tf_jsonl_count(const char *path, const char *sale, const zhashx_t *user_of, tf_jsonl_counts_t *n)
{
    memset(n, 0, sizeof *n);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    zhashx_t *orders = s_str_map_new(), *cancels = s_str_map_new();
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        char id[256], s[128];
        if (s_json_str(line, "sale_id", s, sizeof s) && strcmp(s, sale) == 0 && s_json_str(line, "_id", id, sizeof id))
            s_count_line(line, id, orders, cancels, user_of, n);
    }
    for (const void *v = zhashx_first(cancels); v; v = zhashx_next(cancels))
        n->cancels_alone += zhashx_lookup(orders, zhashx_cursor(cancels)) == NULL;
    free(line);
    fclose(f);
    zhashx_destroy(&orders);
    zhashx_destroy(&cancels);
    return true;
}

int
tf_check_persisted(const char *path, const char *sale, const tf_sale_facts_t *f)
{
    tf_jsonl_counts_t n;
    bool read = tf_jsonl_count(path, sale, f->user_of, &n);
    /* One purchase line per order sold, cancelled or not, and one cancel
     * line per cancellation, on an order that has its purchase line. */
    return s_check(sale, "persisted exactly once",
                   read && n.orders == f->purchases && n.purchase_lines == n.orders && n.cancels == f->cancels &&
                       n.cancel_lines == n.cancels && n.cancels_alone == 0 && n.unknown == 0,
                   "orders=%lld cancels=%lld jsonl: purchase_lines=%ld distinct=%ld cancel_lines=%ld distinct=%ld "
                   "cancels_without_purchase=%ld not_in_log=%ld",
                   f->purchases, f->cancels, n.purchase_lines, n.orders, n.cancel_lines, n.cancels, n.cancels_alone,
                   n.unknown);
}

typedef struct {
    const char *path, *sale;
    long expected;
} s_persisted_t;

static bool
s_persisted(void *arg)
{
    s_persisted_t *p = arg;
    tf_jsonl_counts_t n;
    return tf_jsonl_count(p->path, p->sale, NULL, &n) && n.orders + n.cancels >= p->expected;
}

int64_t
tf_wait_persisted(const char *path, const char *sale, long expected, int timeout_ms)
{
    s_persisted_t p = {path, sale, expected};
    return tf_wait(s_persisted, &p, timeout_ms);
}

/* ---- Waits, processes, logs ------------------------------------------------------- */

int64_t
tf_wait_every(bool (*cond)(void *arg), void *arg, int timeout_ms, int poll_ms)
{
    int64_t start = tix_now_ms();
    for (;;) {
        if (cond(arg))
            return tix_now_ms() - start;
        if (tix_now_ms() - start >= timeout_ms)
            return -1;
        zclock_sleep(poll_ms); /* a poll interval, not a settling delay */
    }
}

int64_t
tf_wait(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    return tf_wait_every(cond, arg, timeout_ms, 10);
}

typedef struct {
    tix_client_t *client;
    int status;
} s_health_t;

static bool
s_health_is(void *arg)
{
    s_health_t *h = arg;
    tix_result_t r;
    bool match = tix_health_check(h->client, "", 500, &r) == TIX_OK && r.code == TIX__V1__CODE__OK &&
                 (int) ((const Tix__V1__HealthCheckResponse *) r.reply)->status == h->status;
    tix_result_clear(&r);
    return match;
}

int64_t
tf_wait_health(const char *frontend, int status, int timeout_ms)
{
    s_health_t h = {tix_client_new(frontend), status};
    int64_t took = h.client ? tf_wait(s_health_is, &h, timeout_ms) : -1;
    tix_client_destroy(&h.client);
    return took;
}

long
tf_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = atol(line + 6);
            break;
        }
    }
    fclose(f);
    return kb;
}

long long
tf_cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long) (ut + st);
}

void
tf_wait_idle(pid_t pid, long *peak_kb, int timeout_ms)
{
    int64_t deadline = tix_now_ms() + timeout_ms;
    long long last = -2;
    int64_t still_since = tix_now_ms();
    while (tix_now_ms() < deadline) {
        long rss = tf_rss_kb(pid);
        if (rss > *peak_kb)
            *peak_kb = rss;
        long long now = tf_cpu_ticks(pid);
        if (now != last) {
            last = now;
            still_since = tix_now_ms();
        } else if (tix_now_ms() - still_since >= 2000) {
            return;
        }
        zclock_sleep(20); /* a sampling interval: the condition is 2 s without CPU */
    }
}

/* clang says so through __has_feature, gcc through __SANITIZE_ADDRESS__. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define S_ASAN 1
#endif

bool
tf_under_asan(void)
{
#ifdef S_ASAN
    return true;
#else
    return false;
#endif
}

void
tf_small_asan_quarantine(void)
{
    if (!tf_under_asan())
        return;
    const char *old = getenv("ASAN_OPTIONS");
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%squarantine_size_mb=8", old ? old : "", old && *old ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
}

/* Calls fn on each line of path containing needle. */
static void
s_each_line(const char *path, const char *needle, void (*fn)(const char *line, void *arg), void *arg)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (strstr(line, needle))
            fn(line, arg);
    }
    free(line);
    fclose(f);
}

typedef struct {
    const char *key;
    long count, sum, last;
} s_tally_t;

static void
s_tally_line(const char *line, void *arg)
{
    s_tally_t *t = arg;
    t->count++;
    if (!t->key)
        return;
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", t->key);
    const char *p = strstr(line, pat);
    if (p) {
        t->last = atol(p + strlen(pat));
        t->sum += t->last;
    }
}

int
tf_log_count(const char *path, const char *needle)
{
    s_tally_t t = {0};
    s_each_line(path, needle, s_tally_line, &t);
    return (int) t.count;
}

long
tf_log_sum(const char *path, const char *needle, const char *key)
{
    s_tally_t t = {.key = key};
    s_each_line(path, needle, s_tally_line, &t);
    return t.sum;
}

long
tf_log_last(const char *path, const char *needle, const char *key)
{
    s_tally_t t = {.key = key, .last = -1};
    s_each_line(path, needle, s_tally_line, &t);
    return t.last;
}

bool
tf_broker_restart(th_stack_t *s, const char *name)
{
    snprintf(s->broker.name, sizeof s->broker.name, "%s", name);
    const char *argv[] = {"tix-broker",  "--frontend", s->frontend,    "--backend",   s->backend,
                          "--events-in", s->events_in, "--events-out", s->events_out, NULL};
    return th_proc_start(&s->broker, argv, NULL);
}

bool
tf_worker_start(th_stack_t *s, int i, const char *log_level)
{
    char id[32], hb[16];
    snprintf(id, sizeof id, "w%d", i);
    snprintf(hb, sizeof hb, "%d", s->heartbeat_ms);
    snprintf(s->workers[i].name, sizeof s->workers[i].name, "tix-worker-%d", i);
    const char *argv[] = {"tix-worker", "--backend",   s->backend, "--events-in",    s->events_in, "--redis-url",
                          s->redis.url, "--worker-id", id,         "--heartbeat-ms", hb,           "--log-level",
                          log_level,    NULL};
    return th_proc_start(&s->workers[i], argv, NULL);
}

bool
tf_persister_start(th_proc_t *p, const th_stack_t *s, const char *path)
{
    char sink[400];
    snprintf(sink, sizeof sink, "jsonl:%s", path);
    snprintf(p->name, sizeof p->name, "tix-persister");
    const char *argv[] = {"tix-persister", "--events-out", s->events_out, "--redis-url",
                          s->redis.url,    "--sink",       sink,          NULL};
    return th_proc_start(p, argv, NULL);
}
