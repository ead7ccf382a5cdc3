/*
 * persister_log_id.h - order-log ids: the id of an entry of a sale's Redis
 * Stream ("<ms>-<seq>"), which orders the sale's orders and is what the
 * durable per-sale cursor counts in. Thread-safe: no shared state.
 */
#ifndef PERSISTER_LOG_ID_H
#define PERSISTER_LOG_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PERSISTER_LOG_ID_MAX_BYTES 44 /* "<u64>-<u64>" and its NUL */

/* A Redis Stream entry id. {0, 0} sorts before every real entry. */
typedef struct {
    uint64_t ms;  /* milliseconds part */
    uint64_t seq; /* sequence within the millisecond */
} persister_log_id_t;

/* Parses "<ms>-<seq>" (both decimal, no sign, no spaces). False when text
 * is anything else; *id is then untouched. */
bool persister_log_id_parse(const char *text, persister_log_id_t *id);
/* <0, 0, >0 as a sorts before, with, after b. */
int persister_log_id_cmp(persister_log_id_t a, persister_log_id_t b);
/* Writes "<ms>-<seq>" into buf (PERSISTER_LOG_ID_MAX_BYTES is enough). */
void persister_log_id_format(persister_log_id_t id, char *buf, size_t size);

#endif
