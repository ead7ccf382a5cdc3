/*
 * persister_jsonl_priv.h - state shared by persister_jsonl.c (the sink
 * operations) and persister_jsonl_open.c (opening, reconciling, cursor
 * file). Not for other modules.
 */
#ifndef PERSISTER_JSONL_PRIV_H
#define PERSISTER_JSONL_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#include "persister_jsonl.h"

/* A line of the data file whose log id is beyond its sale's stored cursor. */
typedef struct {
    char *sale_id;             /* owned */
    persister_log_id_t log_id; /* the line's log id */
    int64_t offset;            /* where the line starts in the file */
} persister_jsonl_line_t;

typedef struct {
    char *path;         /* the data file (owned) */
    char *cursors_path; /* PATH.cursors (owned) */
    char *tmp_path;     /* PATH.cursors.tmp (owned) */
    int fd;             /* data file, O_APPEND, flock'ed */
    int64_t size;       /* bytes of complete lines in the data file */
    zhashx_t *cursors;  /* sale_id -> persister_log_id_t * (stored cursors) */
    zhashx_t *beyond;   /* order_id -> persister_jsonl_line_t * */
    bool broken;        /* a failed append could not be undone: no more writes */
} persister_jsonl_t;

/* Opens and reconciles (see persister_jsonl.h); NULL with a reason. */
persister_jsonl_t *persister_jsonl_open(const char *path, char *why, size_t why_size);
void persister_jsonl_close(persister_jsonl_t *self);

/* The stored cursor of sale_id ({0, 0} when none). */
persister_log_id_t persister_jsonl_cursor(const persister_jsonl_t *self, const char *sale_id);
/* Remembers a line beyond its cursor (no-op when order_id is known). */
void persister_jsonl_remember(persister_jsonl_t *self, const char *order_id, const char *sale_id,
                              persister_log_id_t log_id, int64_t offset);

/* Writes PATH.cursors atomically with cursors[] merged over the stored
 * ones; on success adopts them and forgets the lines they now cover. */
tix_err persister_jsonl_store_cursors(persister_jsonl_t *self, const persister_cursor_t *cursors, size_t n);

/* fsync of the directory holding path (a rename or a new file in it). */
bool persister_jsonl_fsync_dir(const char *path);

#endif
