/*
 * persister_unit.h - what the persister's unit tests (tests/test_persister*.c)
 * share: log ids and orders made up to order. Single-threaded.
 */
#ifndef TIX_PERSISTER_UNIT_H
#define TIX_PERSISTER_UNIT_H

#include <stdint.h>

#include "persister_order.h"

/* The log id ms-seq. */
persister_log_id_t persister_unit_id(uint64_t ms, uint64_t seq);

/* Fills o (persister_order_clear frees it) with order i of sale at log id
 * id: order "<sale>:<i>", a user id with quotes and a non-ASCII letter
 * (for the sinks' escaping), request "req-<i>", bought at a fixed time + i
 * ms. */
void persister_unit_order(persister_order_t *o, const char *sale, int i, persister_log_id_t id);

/* Fills the wire event ev, log id "10-1", around o: order order_id of sale
 * "s1", user "u", request "r", bought at 5 ms (o's strings are literals). */
void persister_unit_event(Tix__V1__OrderEvent *ev, Tix__V1__Order *o, const char *order_id);

/* Lines of the file at path that contain containing (every line when it
 * is NULL); 0 when the file cannot be read. */
int persister_unit_lines(const char *path, const char *containing);

#endif
