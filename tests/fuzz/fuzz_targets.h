/*
 * fuzz_targets.h - the entry points of tix's fuzz harnesses, one per decoder
 * or message handler that takes bytes from the network, and the framing that
 * turns one fuzz input into frames and messages.
 *
 * Used by the libFuzzer mains (tests/fuzz/fuzz_main.c, clang with
 * -fsanitize=fuzzer, one binary per target) and by the regression replay
 * (tests/test_fuzz_regressions.c, any compiler), so that a saved crash runs
 * through the very same code in every build.
 *
 * Framing of every input (docs in tests/fuzz/README.md):
 *
 *   input   := message*
 *   message := head frame{head & 0x0f}
 *   frame   := len:u16 big-endian, then len bytes
 *
 * The low nibble of head is the message's frame count (0-15); the high
 * nibble is an operation code that only the multi-message harnesses use
 * (fuzz_broker_backend, fuzz_store_reply, ...). A frame longer than what is
 * left is cut to what is left; once the input runs out, the frames still
 * owed are empty, so that the count in head always holds.
 *
 * Every target returns 0. It checks invariants (every call answered once,
 * reply messages are valid UTF-8, round trips agree) and abort()s, after a
 * line on stderr, when one fails: a finding, like a sanitizer report.
 *
 * Ownership: frames view the input; nothing here outlives one call except
 * the fixtures (a broker, a worker and its fake Redis), created on first use
 * and freed by fuzz_targets_shutdown. Threading: one thread.
 */
#ifndef FUZZ_TARGETS_H
#define FUZZ_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <czmq.h>

#include "tix_codec.h"

#define FUZZ_MAX_FRAMES 15 /* head & 0x0f */

/* ---- Framing -------------------------------------------------------------- */

typedef struct {
    const uint8_t *data; /* the input (borrowed) */
    size_t size;
    size_t pos; /* next byte to read */
} fuzz_reader_t;

typedef struct {
    uint8_t op;                              /* head >> 4 */
    size_t nframes;                          /* head & 0x0f */
    tix_frame_t frames[FUZZ_MAX_FRAMES + 1]; /* views into the input */
} fuzz_message_t;

/* Starts reading data[0..size). */
void fuzz_reader_init(fuzz_reader_t *r, const uint8_t *data, size_t size);
/* Reads the next message into m; false when the input is used up. */
bool fuzz_next_message(fuzz_reader_t *r, fuzz_message_t *m);
/* A new zmsg_t holding copies of frames [first, m->nframes) (caller owns). */
zmsg_t *fuzz_message_zmsg(const fuzz_message_t *m, size_t first);

/* True unless data announces a RESP array of more than FUZZ_RESP_MAX_ELEMENTS
 * elements ("*<n>" anywhere): hiredis 0.14 allocates the announced count up
 * front, before any element arrives, so "*600000000" alone asks for 4.8 GB.
 * A known limit of the library (tix trusts its Redis), not fed to it. */
#define FUZZ_RESP_MAX_ELEMENTS (1 << 20)
bool fuzz_resp_small(const uint8_t *data, size_t size);

/* ---- Checks --------------------------------------------------------------- */

/* Aborts, naming the target and the broken invariant, when cond is false. */
#define FUZZ_CHECK(cond, what)                                                                                         \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            fuzz_fail(__FILE__, __LINE__, (what));                                                                     \
    } while (0)
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

/* Checks what every peer decodes from a ReplyHeader or JobReply: a known
 * code and a message that is valid UTF-8 (proto3 strings must be). */
void fuzz_check_status(uint32_t code, const char *message);

/* ---- Targets -------------------------------------------------------------- */

typedef int(fuzz_fn)(const uint8_t *data, size_t size);

typedef struct {
    const char *name; /* the harness is fuzz_<name>, its corpus corpus/<name>/ */
    fuzz_fn *run;
} fuzz_target_t;

/* The target called name, or NULL. */
const fuzz_target_t *fuzz_target_find(const char *name);
size_t fuzz_target_count(void);
/* The i-th target, i < fuzz_target_count(). */
const fuzz_target_t *fuzz_target_at(size_t i);

/* Once per process, before any target: logs at TIX_LOG_LEVEL (default
 * error), no czmq signal handlers, SIGPIPE ignored, and
 * fuzz_targets_shutdown registered to run at exit. Idempotent. */
void fuzz_targets_init(void);
/* Frees the fixtures (broker, worker, fake Redis). Idempotent. */
void fuzz_targets_shutdown(void);
/* Each fixture's part of that (fuzz_broker.c, fuzz_worker.c). */
void fuzz_broker_fixture_free(void);
void fuzz_worker_fixture_free(void);

/* Decoders (fuzz_targets.c). Each message of the input is one case. */
int fuzz_call_decode(const uint8_t *data, size_t size);     /* [TIX1][CallHeader][body] */
int fuzz_reply_decode(const uint8_t *data, size_t size);    /* [TIX1][ReplyHeader][body], as libtix reads it */
int fuzz_worker_protocol(const uint8_t *data, size_t size); /* [TXW1][command][body] */
int fuzz_order_event(const uint8_t *data, size_t size);     /* [topic][OrderEvent], as the persister files it */
int fuzz_store_reply(const uint8_t *data, size_t size);     /* RESP from Redis, read for every function */

/* Handlers (fuzz_broker.c, fuzz_worker.c). The input is a conversation. */
int fuzz_broker_frontend(const uint8_t *data, size_t size); /* client messages [rid][empty][TIX1]... */
int fuzz_broker_backend(const uint8_t *data, size_t size);  /* worker messages and events, by op */
int fuzz_worker_job(const uint8_t *data, size_t size);      /* broker messages; frame 3 = Redis's answer */

#endif
