/*
 * broker_reply.h - the way out to clients, below every other module of the
 * broker: replies on the frontend, and the answer to a job, which goes to
 * its client or, for an internal job, to the job's completion hook
 * (broker_jobs.h). Nothing here calls back up; a module that must hear an
 * answer registers a hook on its job.
 *
 * Counts replied and unroutable (broker_stats.h), and every answer by
 * method, code and outcome (broker_metrics.h); the caller counts why.
 * broker_reply_send answers the call being handled (broker_state.h's call_*
 * fields say which); broker_reply_answer answers a job's call.
 * Threading: the broker's loop thread only.
 */
#ifndef BROKER_REPLY_H
#define BROKER_REPLY_H

#include "broker_state.h"

/* Sends [client][empty][TIX1][ReplyHeader][body] on the frontend, client
 * being the routing id (borrowed). No heap allocation for a reply whose
 * frames are small (broker_park.h), as every SOLD_OUT answer's are. A
 * client that left or stops reading loses the reply (counted unroutable);
 * the loop never waits. body may be NULL. */
void broker_reply_send(broker_t *self, const tix_frame_t *client, const tix_status_t *status, const void *body,
                       size_t body_size);
/* broker_reply_send of a reply without a body. */
void broker_reply_status(broker_t *self, const tix_frame_t *client, uint64_t call_id, tix_code code,
                         const char *message, uint32_t retry_after_ms);
/* Answers job and frees it: to its client, or (an internal job) to its
 * completion hook, which takes it. body may be NULL. */
void broker_reply_answer(broker_t *self, broker_job_t *job, tix_code code, const char *message, uint32_t retry_after_ms,
                         const void *body, size_t body_size);

#endif
