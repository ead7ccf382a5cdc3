/*
 * broker_zap.h - CURVE for the broker: its key pair and allow-lists
 * (broker_zap_curve_t), and the ZAP handler that checks every connecting peer
 * (broker_zap_t).
 *
 * Each of the broker's four sockets is a CURVE server in its own ZAP
 * domain, and each domain has its allow-list: frontend -> clients,
 * backend and events-in -> workers, events-out -> subscribers. The ZAP
 * handler is a REP socket bound to inproc://zeromq.zap.01 in czmq's context
 * and polled in the broker's own loop (no thread): libzmq's handshake waits
 * for its answer asynchronously. A listed key is answered 200 with the Z85
 * public key as User-Id (the frontend reads it back from each call for the
 * admin allow-list and Job.client); any other is answered 400, so the peer
 * never completes the handshake and never gets a reply: libzmq sends it an
 * ERROR command with that status, which libtix reports as UNAUTHENTICATED
 * (a 300 would hang up silently, looking like a broker that is down, so it
 * is never used). Denied keys are
 * logged at most once a minute each (a bounded table).
 *
 * Only one ZAP handler may exist per ZeroMQ context: one CURVE broker per
 * process. Threading: the broker's thread.
 */
#ifndef BROKER_ZAP_H
#define BROKER_ZAP_H

#include <stdbool.h>
#include <stdint.h>

#include "tix_curve.h"
#include "tix_err.h"

#define BROKER_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define BROKER_ZAP_DENIED_SLOTS 1024       /* denied keys remembered for the log's rate limit */
#define BROKER_ZAP_DENIED_LOG_IVL_MS 60000 /* a denied key is logged at most this often */

/* The ZAP domains, one per broker socket. */
typedef enum {
    BROKER_ZAP_FRONTEND,
    BROKER_ZAP_BACKEND,
    BROKER_ZAP_EVENTS_IN,
    BROKER_ZAP_EVENTS_OUT,
    BROKER_ZAP_DOMAINS
} broker_zap_domain_t;

/* File or directory paths, as given by flags (NULL: not given). */
typedef struct {
    const char *secret;      /* the broker's certificate (secret file) */
    const char *clients;     /* allow-list: frontend */
    const char *workers;     /* allow-list: backend and events-in */
    const char *subscribers; /* allow-list: events-out (NULL: no one) */
    const char *admins;      /* allow-list: AdminService methods (NULL: no one) */
} broker_zap_curve_paths_t;

typedef struct broker_zap_curve broker_zap_curve_t;
typedef struct broker_zap broker_zap_t;

/* Loads the broker's key pair and allow-lists. NULL with one line in why
 * when a file is missing or unsafe (secret file readable by others) or a
 * required one (secret, clients, workers) is not given. Caller owns it. */
broker_zap_curve_t *broker_zap_curve_load(const broker_zap_curve_paths_t *paths, char *why, size_t why_size);
void broker_zap_curve_destroy(broker_zap_curve_t **self_p);
/* The broker's key pair (borrowed). */
const tix_curve_pair_t *broker_zap_curve_pair(const broker_zap_curve_t *self);
/* The ZAP domain name of a socket. */
const char *broker_zap_domain_name(broker_zap_domain_t domain);
/* True when public_txt may connect to domain. */
bool broker_zap_curve_allowed(broker_zap_curve_t *self, broker_zap_domain_t domain, const char *public_txt);
/* True when public_txt is on the admin allow-list. */
bool broker_zap_curve_is_admin(broker_zap_curve_t *self, const char *public_txt);

/* Binds the ZAP handler. curve is borrowed and must outlive it. NULL (after
 * logging why) when the endpoint is taken. */
broker_zap_t *broker_zap_new(broker_zap_curve_t *curve);
void broker_zap_destroy(broker_zap_t **self_p);
/* The REP socket's libzmq handle, for zmq_poll. */
void *broker_zap_handle(broker_zap_t *self);
/* Answers the ZAP requests waiting (up to a batch). */
void broker_zap_recv(broker_zap_t *self, int64_t now_ms);
/* Peers denied so far (counted even when not logged). */
uint64_t broker_zap_denied(const broker_zap_t *self);
/* True when a denial of public_txt at now_ms should be logged, and
 * remembers it (exposed for tests). */
bool broker_zap_should_log(broker_zap_t *self, const char *public_txt, int64_t now_ms);

#endif
