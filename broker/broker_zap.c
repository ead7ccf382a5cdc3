/*
 * broker_zap.c - the broker's CURVE keys and allow-lists, and its ZAP
 * handler (RFC 27) polled in the broker loop.
 */
#include "broker_zap.h"

#include <stdio.h>
#include <string.h>

#include <czmq.h>

#include "tix_log.h"
#include "tix_util.h"

#define ZAP_BATCH 64 /* requests answered per wakeup */

struct broker_zap_curve {
    tix_curve_pair_t pair;                        /* the broker's keys */
    tix_curve_allow_t *allow[BROKER_ZAP_DOMAINS]; /* per domain; NULL: no one (events-out) */
    tix_curve_allow_t *admins;                    /* NULL: no admin */
    tix_curve_allow_t *owned[BROKER_ZAP_DOMAINS]; /* what to free (workers serves two domains) */
};

typedef struct {
    char key[TIX_CURVE_KEY_TXT_BYTES]; /* "" when free */
    int64_t logged_ms;                 /* last denial logged */
} zap_denied_t;

struct broker_zap {
    zsock_t *rep;              /* bound to BROKER_ZAP_ENDPOINT */
    broker_zap_curve_t *curve; /* borrowed */
    zap_denied_t denied[BROKER_ZAP_DENIED_SLOTS];
    uint64_t ndenied; /* denials, logged or not */
};

static const char *const s_domains[BROKER_ZAP_DOMAINS] = {"frontend", "backend", "events-in", "events-out"};

const char *
broker_zap_domain_name(broker_zap_domain_t domain)
{
    return s_domains[domain];
}

/* Loads an optional allow-list into *list; false (why set) on error. */
static bool
s_allow(const char *path, const char *flag, bool required, tix_curve_allow_t **list, char *why, size_t why_size)
{
    *list = NULL;
    if (!path || !*path) {
        if (required)
            snprintf(why, why_size, "--curve needs --%s (a certificate file or directory of them)", flag);
        return !required;
    }
    char sub[256];
    *list = tix_curve_allow_new(path, sub, sizeof sub);
    if (!*list)
        snprintf(why, why_size, "--%s: %s", flag, sub);
    return *list != NULL;
}

broker_zap_curve_t *
broker_zap_curve_load(const broker_zap_curve_paths_t *paths, char *why, size_t why_size)
{
    broker_zap_curve_t *self = xcalloc(1, sizeof *self);
    char sub[256];
    if (!paths->secret || !*paths->secret) {
        snprintf(why, why_size, "--curve needs --curve-secret (the broker's certificate, from tix keygen)");
        goto fail;
    }
    if (tix_curve_pair_load(paths->secret, &self->pair, sub, sizeof sub) != TIX_OK) {
        snprintf(why, why_size, "--curve-secret: %s", sub);
        goto fail;
    }
    if (!s_allow(paths->clients, "curve-clients", true, &self->owned[BROKER_ZAP_FRONTEND], why, why_size) ||
        !s_allow(paths->workers, "curve-workers", true, &self->owned[BROKER_ZAP_BACKEND], why, why_size) ||
        !s_allow(paths->subscribers, "curve-subscribers", false, &self->owned[BROKER_ZAP_EVENTS_OUT], why, why_size) ||
        !s_allow(paths->admins, "curve-admins", false, &self->admins, why, why_size))
        goto fail;
    self->allow[BROKER_ZAP_FRONTEND] = self->owned[BROKER_ZAP_FRONTEND];
    self->allow[BROKER_ZAP_BACKEND] = self->owned[BROKER_ZAP_BACKEND];
    self->allow[BROKER_ZAP_EVENTS_IN] = self->owned[BROKER_ZAP_BACKEND];
    self->allow[BROKER_ZAP_EVENTS_OUT] = self->owned[BROKER_ZAP_EVENTS_OUT];
    return self;
fail:
    broker_zap_curve_destroy(&self);
    return NULL;
}

void
broker_zap_curve_destroy(broker_zap_curve_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_zap_curve_t *self = *self_p;
    for (int i = 0; i < BROKER_ZAP_DOMAINS; i++)
        tix_curve_allow_destroy(&self->owned[i]);
    tix_curve_allow_destroy(&self->admins);
    memset(&self->pair, 0, sizeof self->pair); /* no secret left in freed memory */
    free(self);
    *self_p = NULL;
}

const tix_curve_pair_t *
broker_zap_curve_pair(const broker_zap_curve_t *self)
{
    return &self->pair;
}

bool
broker_zap_curve_allowed(broker_zap_curve_t *self, broker_zap_domain_t domain, const char *public_txt)
{
    return tix_curve_allow_has(self->allow[domain], public_txt);
}

bool
broker_zap_curve_is_admin(broker_zap_curve_t *self, const char *public_txt)
{
    return public_txt && *public_txt && tix_curve_allow_has(self->admins, public_txt);
}

broker_zap_t *
broker_zap_new(broker_zap_curve_t *curve)
{
    broker_zap_t *self = xcalloc(1, sizeof *self);
    self->curve = curve;
    self->rep = zsock_new(ZMQ_REP);
    if (!self->rep || zsock_bind(self->rep, BROKER_ZAP_ENDPOINT) != 0) {
        tix_error("cannot bind the ZAP handler\tendpoint=%s err=\"%s\"", BROKER_ZAP_ENDPOINT,
                  zmq_strerror(zmq_errno()));
        broker_zap_destroy(&self);
        return NULL;
    }
    zsock_set_linger(self->rep, 0);
    return self;
}

void
broker_zap_destroy(broker_zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_zap_t *self = *self_p;
    zsock_destroy(&self->rep);
    free(self);
    *self_p = NULL;
}

void *
broker_zap_handle(broker_zap_t *self)
{
    return zsock_resolve(self->rep);
}

uint64_t
broker_zap_denied(const broker_zap_t *self)
{
    return self->ndenied;
}

bool
broker_zap_should_log(broker_zap_t *self, const char *public_txt, int64_t now_ms)
{
    zap_denied_t *slot = NULL, *oldest = &self->denied[0];
    for (size_t i = 0; i < BROKER_ZAP_DENIED_SLOTS; i++) {
        zap_denied_t *d = &self->denied[i];
        if (strcmp(d->key, public_txt) == 0) {
            if (now_ms - d->logged_ms < BROKER_ZAP_DENIED_LOG_IVL_MS)
                return false;
            slot = d;
            break;
        }
        if (!slot && !d->key[0])
            slot = d; /* first free slot; keep looking for the key itself */
        if (d->logged_ms < oldest->logged_ms)
            oldest = d;
    }
    if (!slot)
        slot = oldest; /* full: forget the key logged longest ago */
    snprintf(slot->key, sizeof slot->key, "%s", public_txt);
    slot->logged_ms = now_ms;
    return true;
}

/* Decides one request: frames [version][request_id][domain][address]
 * [routing id][mechanism][credentials...]. Fills user_id on success. */
static bool
s_decide(broker_zap_t *self, zmsg_t *req, char *user_id, char *status_text, size_t text_size, int64_t now_ms)
{
    char *frames[6] = {NULL};
    zframe_t *f = zmsg_first(req);
    for (size_t i = 0; i < TIX_ARRAY_LEN(frames) && f; i++, f = zmsg_next(req))
        frames[i] = zframe_strdup(f);
    zframe_t *cred = f;
    bool ok = false;
    int domain = -1;
    for (int i = 0; frames[2] && i < BROKER_ZAP_DOMAINS; i++)
        domain = strcmp(frames[2], s_domains[i]) == 0 ? i : domain;
    if (!frames[5] || strcmp(frames[0], "1.0") != 0 || domain < 0 || strcmp(frames[5], "CURVE") != 0 || !cred ||
        zframe_size(cred) != 32) {
        snprintf(status_text, text_size, "only CURVE in a known domain");
        tix_debug("zap request refused\tdomain=%s mechanism=%s", frames[2] ? frames[2] : "?",
                  frames[5] ? frames[5] : "?");
    } else {
        char key[TIX_CURVE_KEY_TXT_BYTES];
        zmq_z85_encode(key, zframe_data(cred), 32);
        ok = broker_zap_curve_allowed(self->curve, (broker_zap_domain_t) domain, key);
        if (ok) {
            snprintf(user_id, TIX_CURVE_KEY_TXT_BYTES, "%s", key);
            snprintf(status_text, text_size, "OK");
        } else {
            snprintf(status_text, text_size, "key not allowed");
            self->ndenied++;
            if (broker_zap_should_log(self, key, now_ms))
                tix_warn("peer denied: CURVE key not on the allow-list (logged once a minute per key)\t"
                         "endpoint=%s key=%.*s address=%s",
                         s_domains[domain], TIX_CURVE_KEY_SHOWN, key, frames[3]);
        }
    }
    for (size_t i = 0; i < TIX_ARRAY_LEN(frames); i++)
        free(frames[i]);
    return ok;
}

void
broker_zap_recv(broker_zap_t *self, int64_t now_ms)
{
    for (int n = 0; n < ZAP_BATCH && (zsock_events(self->rep) & ZMQ_POLLIN); n++) {
        zmsg_t *req = zmsg_recv(self->rep);
        if (!req)
            return;
        char user_id[TIX_CURVE_KEY_TXT_BYTES] = "", text[64];
        bool ok = s_decide(self, req, user_id, text, sizeof text, now_ms);
        zmsg_t *rep = zmsg_new();
        zmsg_addstr(rep, "1.0");
        zframe_t *id = zmsg_first(req) ? zmsg_next(req) : NULL;
        zmsg_addmem(rep, id ? zframe_data(id) : NULL, id ? zframe_size(id) : 0);
        zmsg_addstr(rep, ok ? "200" : "400");
        zmsg_addstr(rep, text);
        zmsg_addstr(rep, user_id);
        zmsg_addmem(rep, NULL, 0); /* no metadata */
        if (zmsg_send(&rep, self->rep) != 0)
            zmsg_destroy(&rep);
        zmsg_destroy(&req);
    }
}
