/*
 * tix_health.h - a liveness file for supervisors without a network probe.
 *
 * Workers and the persister rewrite this file (its content: the Unix time
 * in ms) every second while they are healthy; a Kubernetes exec probe checks
 * its age. Writes go to PATH.tmp and are renamed into place, so a reader
 * never sees a torn file. Single-threaded.
 */
#ifndef TIX_HEALTH_H
#define TIX_HEALTH_H

#include <stdint.h>

#include "tix_err.h"

#define TIX_HEALTH_IVL_MS 1000

/* Rewrites path now. TIX_ERR_IO (logged once per failure streak) when it
 * cannot. path NULL or empty: nothing to do, TIX_OK. */
tix_err tix_health_touch(const char *path);
/* Calls tix_health_touch when healthy and at least TIX_HEALTH_IVL_MS
 * passed since *last_ms (monotonic); updates *last_ms. */
void tix_health_tick(const char *path, int healthy, int64_t *last_ms);

#endif
