/*
 * tix_err.h - the project's one error enum.
 *
 * Used by every module. Fallible functions return a tix_err and hand results
 * through out-parameters; constructors return NULL instead. Business outcomes
 * (sold out, already purchased) are protocol values, never tix_err.
 * Thread-safe: tix_strerror returns static strings.
 */
#ifndef TIX_ERR_H
#define TIX_ERR_H

typedef enum {
    TIX_OK = 0,
    TIX_ERR_INVALID,     /* malformed input or bad argument */
    TIX_ERR_CONFIG,      /* bad configuration (flag, environment, file) */
    TIX_ERR_TIMEOUT,     /* a deadline passed before an answer came */
    TIX_ERR_UNAVAILABLE, /* a peer or backing service cannot be reached */
    TIX_ERR_PROTOCOL,    /* a peer broke the wire contract */
    TIX_ERR_IO,          /* a socket or file operation failed */
    TIX_ERR_REDIS,       /* Redis answered an unexpected error */
    TIX_ERR_INTERRUPTED, /* stopped by SIGINT/SIGTERM */
    TIX_ERR_INTERNAL,    /* an impossible state; a bug */
} tix_err;

/* Returns a short, static, human-readable description of err. */
const char *tix_strerror(tix_err err);

#endif
