/*
 * tix_procstat.h - the standard process_* metrics (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_start_time_seconds,
 * process_open_fds), read from /proc/self at scrape time (Linux). A value
 * that cannot be read is left out. Any thread; allocates (scrape time only).
 */
#ifndef TIX_PROCSTAT_H
#define TIX_PROCSTAT_H

#include "tix_metrics.h"

/* Writes the process_* families into w. */
void tix_procstat_write(tix_metrics_t *w);

#endif
