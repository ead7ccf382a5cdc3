/*
 * broker_dispatch.h - the way out to workers: commands on the backend,
 * queued jobs sent by credit (round-robin over workers with room), and the
 * jobs of a worker that is gone. Below the frontend and the backend, which
 * call it; above broker_reply.h, through which it answers.
 *
 * Threading: the broker's loop thread only.
 */
#ifndef BROKER_DISPATCH_H
#define BROKER_DISPATCH_H

#include <stdbool.h>

#include "broker_state.h"

/* Sends [rid][TXW1][command][body] on the backend (body may be NULL);
 * false when the worker is unreachable. */
bool broker_dispatch_send(broker_t *self, const uint8_t *rid, size_t rid_size, tix_wp_command command,
                          const ProtobufCMessage *body);
/* Sends queued jobs to workers with free credit; a job whose deadline
 * passed before it ever started is answered DEADLINE_EXCEEDED instead. */
void broker_dispatch(broker_t *self);
/* Answers (or requeues, when safe to run twice) every job the worker held,
 * then removes the worker (*worker is set NULL). Does not dispatch: the
 * caller does, once it is done. */
void broker_dispatch_lost(broker_t *self, broker_worker_t **worker, const char *why);

#endif
