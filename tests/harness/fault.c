/*
 * fault.c - the fault tests' rush driver, tf_rush: paced arrivals, resends
 * after silence and after retryable answers, every answer counted. The
 * checks and probes are in fault_check.c. See fault.h.
 */
#define _GNU_SOURCE
#include "fault.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rush.h"
#include "tix.h"
#include "tix_util.h"

#define TF_SILENCE_MAX_MS 8000
#define TF_RECV_WAIT_MS 10
#define TF_RECV_BATCH 1000

/* ---- The rush driver ---------------------------------------------------------- */

typedef struct {
    uint64_t call_id; /* the call in flight, 0 when none */
    int64_t sent_ms;  /* when it was sent */
    int64_t due_ms;   /* when to resend after a retryable answer, -1 when not waiting */
    int silence_ms;   /* resend after this much silence */
    bool done;        /* final answer received */
} tf_user_t;

typedef struct {
    const tf_rush_opts_t *o;
    tf_rush_result_t *out;
    tix_client_t *client;
    zhashx_t *calls; /* call_id -> user + 1 */
    tf_user_t *users;
    int next_user; /* users below it have arrived */
    int low;       /* every user below it is done */
    int active;    /* arrived and not done */
    int64_t start_ms;
    int64_t last_answer_ms;
} tf_run_t;

static size_t
s_u64_hash(const void *key)
{
    uint64_t k = (uint64_t) (uintptr_t) key;
    return (size_t) (k * 0x9E3779B97F4A7C15ULL);
}

static int
s_u64_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) a, y = (uintptr_t) b;
    return x < y ? -1 : x > y;
}

static zhashx_t *
s_u64_map_new(void)
{
    zhashx_t *h = zhashx_new();
    zhashx_set_key_hasher(h, s_u64_hash);
    zhashx_set_key_comparator(h, s_u64_cmp);
    zhashx_set_key_duplicator(h, NULL);
    zhashx_set_key_destructor(h, NULL);
    return h;
}

/* Sends user u's Purchase; false on a client error. A full socket is not
 * an error: the user is resent a little later. */
static bool
s_send(tf_run_t *run, int u, int64_t now)
{
    char name[96], req[32];
    th_rush_user(name, sizeof name, run->o->sale, u);
    snprintf(req, sizeof req, "req-%d", u);
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = (char *) run->o->sale;
    r.user_id = name;
    r.request_id = req;
    uint64_t id;
    uint32_t timeout = run->o->call_timeout_ms > 0 ? (uint32_t) run->o->call_timeout_ms : 10000;
    tix_err err = tix_client_send(run->client, TIX_METHOD_PURCHASE, &r.base, timeout, &id);
    tf_user_t *user = &run->users[u];
    if (err == TIX_ERR_UNAVAILABLE) {
        user->due_ms = now + 5;
        return true;
    }
    if (err != TIX_OK) {
        fprintf(stderr, "tf_rush: send failed: %s\n", tix_strerror(err));
        return false;
    }
    zhashx_insert(run->calls, (void *) (uintptr_t) id, (void *) (intptr_t) (u + 1));
    user->call_id = id;
    user->sent_ms = now;
    user->due_ms = -1;
    run->out->sends++;
    return true;
}

static void
s_final(tf_run_t *run, int u, const tix_result_t *r)
{
    tf_rush_result_t *out = run->out;
    run->users[u].done = true;
    run->active--;
    out->answered++;
    const Tix__V1__PurchaseReply *p = (const Tix__V1__PurchaseReply *) r->reply;
    if (r->code != TIX__V1__CODE__OK) {
        if (out->other < 5)
            fprintf(stderr, "tf_rush: user %d: %s: %s\n", u, tix_code_name(r->code), r->message);
        out->other++;
    } else if (p->outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED) {
        out->purchased++;
        out->order_of[u] = xstrdup(p->order_id);
        out->purchased_at_ms[u] = p->purchased_at_ms;
    } else if (p->outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT) {
        out->sold_out++;
    } else if (p->outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED) {
        out->closed++;
    } else if (p->outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__ORDER_CANCELLED) {
        out->cancelled++;
        out->cancelled_order_of[u] = xstrdup(p->order_id);
    } else {
        if (out->other < 5)
            fprintf(stderr, "tf_rush: user %d: outcome %d\n", u, (int) p->outcome);
        out->other++;
    }
}

static void
s_on_reply(tf_run_t *run, const tix_result_t *r, int64_t now)
{
    void *v = zhashx_lookup(run->calls, (void *) (uintptr_t) r->call_id);
    if (!v)
        return; /* cannot happen: libtix drops replies to forgotten calls */
    zhashx_delete(run->calls, (void *) (uintptr_t) r->call_id);
    int u = (int) (intptr_t) v - 1;
    tf_rush_result_t *out = run->out;
    tf_user_t *user = &run->users[u];
    user->call_id = 0;
    if (run->last_answer_ms && now - run->last_answer_ms > out->longest_silence_ms)
        out->longest_silence_ms = now - run->last_answer_ms;
    run->last_answer_ms = now;
    out->codes[(unsigned) r->code < TF_CODES ? (int) r->code : TF_CODES]++;
    if (r->code == TIX__V1__CODE__UNAVAILABLE || r->code == TIX__V1__CODE__RESOURCE_EXHAUSTED) {
        out->retried++;
        if (r->retry_after_ms == 0)
            out->retried_without_delay++;
        int64_t wait = r->retry_after_ms ? r->retry_after_ms : 25;
        user->due_ms = now + wait + tix_rand_below((uint32_t) (wait / 2 + 1));
        return;
    }
    s_final(run, u, r);
}

/* Lets users arrive: all at once (rate 0) or rate per second. */
static bool
s_admit(tf_run_t *run, int64_t now)
{
    const tf_rush_opts_t *o = run->o;
    while (run->next_user < o->users && run->active < o->window) {
        if (o->rate > 0 && (int64_t) run->next_user * 1000 > (now - run->start_ms) * o->rate)
            break;
        run->active++;
        run->users[run->next_user].silence_ms = o->silence_ms;
        if (!s_send(run, run->next_user++, now))
            return false;
    }
    return true;
}

/* Resends what is due: retryable answers after their wait, silent calls. */
static bool
s_resend_due(tf_run_t *run, int64_t now)
{
    while (run->low < run->next_user && run->users[run->low].done)
        run->low++;
    for (int u = run->low; u < run->next_user; u++) {
        tf_user_t *user = &run->users[u];
        if (user->done)
            continue;
        if (user->due_ms >= 0 && user->due_ms <= now) {
            if (!s_send(run, u, now))
                return false;
        } else if (user->call_id && user->silence_ms > 0 && now - user->sent_ms >= user->silence_ms) {
            tix_client_forget(run->client, user->call_id);
            zhashx_delete(run->calls, (void *) (uintptr_t) user->call_id);
            user->call_id = 0;
            user->silence_ms = user->silence_ms * 2 > TF_SILENCE_MAX_MS ? TF_SILENCE_MAX_MS : user->silence_ms * 2;
            run->out->resent_silent++;
            run->out->resent_silent_of[u] = true;
            if (!s_send(run, u, now))
                return false;
        }
    }
    return true;
}

/* Reads the replies that came, waiting up to TF_RECV_WAIT_MS for the first. */
static bool
s_receive(tf_run_t *run)
{
    for (int i = 0; i < TF_RECV_BATCH; i++) {
        tix_result_t r;
        tix_err err = tix_client_recv(run->client, i == 0 ? TF_RECV_WAIT_MS : 0, &r);
        if (err == TIX_ERR_TIMEOUT)
            return true;
        if (err != TIX_OK) {
            fprintf(stderr, "tf_rush: receive failed: %s\n", tix_strerror(err));
            tix_result_clear(&r);
            return false;
        }
        s_on_reply(run, &r, tix_now_ms());
        tix_result_clear(&r);
    }
    return true;
}

bool
tf_rush(const tf_rush_opts_t *o, tf_rush_result_t *out)
{
    memset(out, 0, sizeof *out);
    out->users = o->users;
    out->order_of = xcalloc((size_t) o->users, sizeof(char *));
    out->cancelled_order_of = xcalloc((size_t) o->users, sizeof(char *));
    out->purchased_at_ms = xcalloc((size_t) o->users, sizeof(int64_t));
    out->resent_silent_of = xcalloc((size_t) o->users, sizeof(bool));
    tf_run_t run = {.o = o, .out = out, .calls = s_u64_map_new()};
    run.users = xcalloc((size_t) o->users, sizeof *run.users);
    run.client = tix_client_new(o->frontend);
    run.start_ms = tix_now_ms();
    int64_t give_up = run.start_ms + (o->give_up_ms > 0 ? o->give_up_ms : 90000);
    bool ok = run.client != NULL;
    while (ok && out->answered < o->users) {
        int64_t now = tix_now_ms();
        if (now > give_up) {
            fprintf(stderr, "tf_rush: gave up after %lld ms (answered %d of %d)\n", (long long) (now - run.start_ms),
                    out->answered, o->users);
            ok = false;
            break;
        }
        ok = s_admit(&run, now) && s_resend_due(&run, now) && s_receive(&run);
        out->elapsed_ms = tix_now_ms() - run.start_ms;
        if (o->on_tick)
            o->on_tick(out, out->elapsed_ms, o->arg);
    }
    tix_client_destroy(&run.client);
    zhashx_destroy(&run.calls);
    free(run.users);
    return ok;
}

void
tf_rush_free(tf_rush_result_t *r)
{
    for (int i = 0; r->order_of && i < r->users; i++)
        free(r->order_of[i]);
    for (int i = 0; r->cancelled_order_of && i < r->users; i++)
        free(r->cancelled_order_of[i]);
    free(r->order_of);
    free(r->cancelled_order_of);
    r->cancelled_order_of = NULL;
    free(r->purchased_at_ms);
    free(r->resent_silent_of);
    r->order_of = NULL;
    r->purchased_at_ms = NULL;
    r->resent_silent_of = NULL;
}

int
tf_rush_mismatches(const tf_rush_result_t *a, const tf_rush_result_t *b)
{
    int bad = 0;
    for (int i = 0; i < a->users && i < b->users; i++) {
        const char *x = a->order_of[i], *y = b->order_of[i];
        if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0))
            bad++;
    }
    return bad + abs(a->users - b->users);
}

void
tf_rush_print(const char *label, const tf_rush_result_t *r)
{
    fprintf(stderr,
            "%s: users=%d answered=%d purchased=%d sold_out=%d sale_closed=%d order_cancelled=%d other=%d "
            "sends=%d retried=%d "
            "retried_without_delay=%d resent_silent=%d elapsed_ms=%lld longest_silence_ms=%lld codes:",
            label, r->users, r->answered, r->purchased, r->sold_out, r->closed, r->cancelled, r->other, r->sends,
            r->retried, r->retried_without_delay, r->resent_silent, (long long) r->elapsed_ms,
            (long long) r->longest_silence_ms);
    for (int c = 0; c <= TF_CODES; c++) {
        if (r->codes[c])
            fprintf(stderr, " %s=%d", c < TF_CODES ? tix_code_name((tix_code) c) : "undocumented", r->codes[c]);
    }
    fprintf(stderr, "\n");
}

bool
tf_persister_start_jsonl(th_proc_t *p, const th_stack_t *s, char *path, size_t path_size)
{
    snprintf(path, path_size, "%s/orders-%d.jsonl", th_tmpdir(), s->redis.port);
    memset(p, 0, sizeof *p);
    return tf_persister_start(p, s, path);
}

void
tf_teardown(th_proc_t *persister, th_stack_t *s)
{
    fprintf(stderr, "logs: %s (kept with TIX_TEST_KEEP=1)\n", th_tmpdir());
    th_proc_stop(persister, SIGTERM, 15000);
    th_stack_stop(s);
}

int
tf_world_setup(void **state)
{
    tf_world_t *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    *state = w;
    if (!th_stack_start(&w->stack, 2, NULL))
        return -1;
    return tf_persister_start_jsonl(&w->persister, &w->stack, w->jsonl, sizeof w->jsonl) ? 0 : -1;
}

int
tf_world_teardown(void **state)
{
    tf_world_t *w = *state;
    if (w)
        tf_teardown(&w->persister, &w->stack);
    free(w);
    return 0;
}

bool
tf_create_sale(const char *frontend, const char *sale, uint32_t total)
{
    tix_client_t *c = tix_client_new(frontend);
    tix_result_t r;
    bool ok = c && tix_create_sale(c, sale, total, 0, 0, 5000, &r) == TIX_OK && r.code == TIX__V1__CODE__OK;
    if (c && !ok)
        fprintf(stderr, "create sale %s: %s %s\n", sale, tix_code_name(r.code), r.message);
    if (c)
        tix_result_clear(&r);
    tix_client_destroy(&c);
    return ok;
}
