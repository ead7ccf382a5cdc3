/*
 * persister_jsonl_file.h - the jsonl sink's files, below its operations
 * (persister_jsonl.c): opening, locking and reconciling PATH, and reading
 * and atomically replacing PATH.cursors (the format: persister_jsonl.h).
 * Not for other modules. Single-threaded.
 */
#ifndef PERSISTER_JSONL_FILE_H
#define PERSISTER_JSONL_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#include "persister_sink.h"

#define PERSISTER_JSONL_CURSORS_SUFFIX ".cursors"

/* A line of the data file whose log id is beyond its sale's stored cursor. */
typedef struct {
    char *sale_id;             /* owned */
    persister_log_id_t log_id; /* the line's log id */
    int64_t offset;            /* where the line starts in the file */
} persister_jsonl_file_line_t;

typedef struct {
    char *path;         /* the data file (owned) */
    char *cursors_path; /* PATH.cursors (owned) */
    char *tmp_path;     /* PATH.cursors.tmp (owned) */
    int fd;             /* data file, O_APPEND, flock'ed */
    int64_t size;       /* bytes of complete lines in the data file */
    zhashx_t *cursors;  /* sale_id -> persister_log_id_t * (stored cursors) */
    zhashx_t *beyond;   /* persister_order_key -> persister_jsonl_file_line_t * */
    bool broken;        /* a failed append could not be undone: no more writes */
} persister_jsonl_file_t;

/* Opens and reconciles (see persister_jsonl.h); NULL with a reason. */
persister_jsonl_file_t *persister_jsonl_file_open(const char *path, char *why, size_t why_size);
void persister_jsonl_file_close(persister_jsonl_file_t *self);

/* The stored cursor of sale_id ({0, 0} when none). */
persister_log_id_t persister_jsonl_file_cursor(const persister_jsonl_file_t *self, const char *sale_id);
/* Remembers a line beyond its cursor (no-op when key is known); key is
 * the line's persister_order_key. */
void persister_jsonl_file_remember(persister_jsonl_file_t *self, const char *key, const char *sale_id,
                                   persister_log_id_t log_id, int64_t offset);

/* Writes PATH.cursors atomically with cursors[] merged over the stored
 * ones; on success adopts them and forgets the lines they now cover. */
tix_err persister_jsonl_file_store_cursors(persister_jsonl_file_t *self, const persister_cursor_t *cursors, size_t n);

/* fsync of the directory holding path (a rename or a new file in it). */
bool persister_jsonl_file_fsync_dir(const char *path);

#endif
