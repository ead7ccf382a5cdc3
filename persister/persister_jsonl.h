/*
 * persister_jsonl.h - the file sink, for machines without MongoDB: the
 * same order documents, appended to PATH as MongoDB canonical Extended
 * JSON, one per line (`mongoimport --db tix --collection orders --file
 * PATH` loads them), with the same exactly-once rule as MongoDB.
 *
 * A file cannot upsert, so this sink remembers what the file holds. The
 * cursors live beside it in PATH.cursors, a small text file replaced
 * atomically (write, fsync, rename, fsync the directory):
 *   tix-persister-cursors 1
 *   data_bytes N      length of PATH when the cursors were stored
 *   scan_from M       every line beyond its sale's cursor starts at or after M
 *   sale S LOG_ID     one per sale
 * Appends are fsync'd before a write reports DONE, and cursors are stored
 * only after that. At start the sink reads PATH from scan_from to its end:
 * a torn last line (a crash mid-append) is cut off, and every line beyond
 * its sale's cursor is remembered, so an order appended just before a
 * SIGKILL, whose cursor was never stored, is recognised and not appended
 * again. A file shorter than data_bytes, or a corrupt line followed by
 * others, stops the start with a reason: the file was changed by someone
 * else, and guessing could lose or duplicate orders.
 *
 * One process per file: the sink holds an exclusive flock on PATH.
 * Memory: one entry per line beyond its sale's cursor (cursors advance
 * every catch-up, so this stays small while Redis is reachable).
 * Single-threaded.
 */
#ifndef PERSISTER_JSONL_H
#define PERSISTER_JSONL_H

#include <stddef.h>

#include "persister_sink.h"

/* Opens (creating if needed) PATH and PATH.cursors and reconciles them.
 * NULL, with a reason in why, when that fails (see above). */
persister_sink_t *persister_jsonl_new(const char *path, char *why, size_t why_size);

#endif
