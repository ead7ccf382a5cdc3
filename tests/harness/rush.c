/*
 * rush.c - the rush driver; call_id -> user through a small open-addressing
 * map, since replies come back in any order.
 */
#include "rush.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix_priv.h"
#include "tix_util.h"

typedef struct {
    uint64_t *keys; /* 0 = empty (libtix never uses call_id 0) */
    int *vals;
    size_t cap; /* power of two */
} callmap_t;

static size_t
s_home(const callmap_t *m, uint64_t key)
{
    return (size_t) (key * 0x9E3779B97F4A7C15ULL) & (m->cap - 1);
}

static void
s_map_put(callmap_t *m, uint64_t key, int val)
{
    size_t i = s_home(m, key);
    while (m->keys[i] != 0)
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = key;
    m->vals[i] = val;
}

/* Removes key; returns its value or -1. Backward-shift deletion keeps every
 * other key reachable from its home slot. */
static int
s_map_take(callmap_t *m, uint64_t key)
{
    size_t i = s_home(m, key);
    while (m->keys[i] != key) {
        if (m->keys[i] == 0)
            return -1;
        i = (i + 1) & (m->cap - 1);
    }
    int v = m->vals[i];
    for (size_t j = i;;) {
        m->keys[i] = 0;
        for (;;) {
            j = (j + 1) & (m->cap - 1);
            if (m->keys[j] == 0)
                return v;
            size_t home = s_home(m, m->keys[j]);
            bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
            if (movable)
                break;
        }
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        i = j;
    }
}

void
th_rush_user(char *buf, size_t size, const char *sale, int i)
{
    snprintf(buf, size, "%s-user-%06d", sale, i);
}

static bool
s_send(tix_client_t *c, callmap_t *m, const char *sale, int user)
{
    char name[96], req[32];
    th_rush_user(name, sizeof name, sale, user);
    snprintf(req, sizeof req, "req-%d", user);
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = (char *) sale;
    r.user_id = name;
    r.request_id = req;
    uint64_t call_id;
    if (tix_client_send(c, TIX_METHOD_PURCHASE, &r.base, 10000, &call_id) != TIX_OK)
        return false;
    s_map_put(m, call_id, user);
    return true;
}

/* Records one answer; returns 1 when final, 0 when retried, -1 on error. */
static int
s_on_reply(tix_client_t *c, callmap_t *m, const char *sale, th_rush_t *out, tix_result_t *r)
{
    int user = s_map_take(m, r->call_id);
    if (user < 0) {
        fprintf(stderr, "rush: reply for unknown call_id %llu\n", (unsigned long long) r->call_id);
        return -1;
    }
    if (r->code == TIX__V1__CODE__UNAVAILABLE || r->code == TIX__V1__CODE__RESOURCE_EXHAUSTED) {
        out->retries++;
        return s_send(c, m, sale, user) ? 0 : -1;
    }
    const Tix__V1__PurchaseReply *p = (const Tix__V1__PurchaseReply *) r->reply;
    if (r->code != TIX__V1__CODE__OK) {
        fprintf(stderr, "rush: user %d: %s: %s\n", user, tix_code_name(r->code), r->message);
        out->other++;
    } else if (p->outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED) {
        out->purchased++;
        if (out->order_of[user]) {
            fprintf(stderr, "rush: user %d answered twice\n", user);
            return -1;
        }
        out->order_of[user] = xstrdup(p->order_id);
    } else if (p->outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT) {
        out->sold_out++;
    } else {
        out->other++;
    }
    return 1;
}

bool
th_rush(const char *frontend, const char *sale, int users, int window, th_rush_t *out,
        void (*on_answer)(int answered, void *arg), void *arg)
{
    memset(out, 0, sizeof *out);
    out->users = users;
    out->order_of = xcalloc((size_t) users, sizeof(char *));
    callmap_t m = {.cap = 16};
    while (m.cap < (size_t) window * 4)
        m.cap <<= 1;
    m.keys = xcalloc(m.cap, sizeof *m.keys);
    m.vals = xcalloc(m.cap, sizeof *m.vals);
    tix_client_t *c = tix_client_new(frontend);
    bool ok = c != NULL;
    int next = 0, in_flight = 0, answered = 0;
    int64_t give_up = tix_now_ms() + 120000;
    while (ok && answered < users) {
        while (ok && in_flight < window && next < users) {
            ok = s_send(c, &m, sale, next++);
            in_flight++;
        }
        tix_result_t r;
        if (!ok || tix_now_ms() > give_up || tix_client_recv(c, 5000, &r) != TIX_OK) {
            fprintf(stderr, "rush: no answer (answered %d of %d)\n", answered, users);
            ok = false;
            break;
        }
        int rc = s_on_reply(c, &m, sale, out, &r);
        tix_result_clear(&r);
        ok = rc >= 0;
        if (rc == 1) {
            in_flight--;
            answered++;
            if (on_answer)
                on_answer(answered, arg);
        }
    }
    tix_client_destroy(&c);
    free(m.keys);
    free(m.vals);
    return ok;
}

void
th_rush_free(th_rush_t *rush)
{
    for (int i = 0; rush->order_of && i < rush->users; i++)
        free(rush->order_of[i]);
    free(rush->order_of);
    rush->order_of = NULL;
}
