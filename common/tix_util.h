/*
 * tix_util.h - allocation, clocks and signals shared by every binary.
 *
 * Out-of-memory is not an error tix handles: xmalloc and friends abort, so
 * callers never check for NULL. Clocks: tix_now_ms is monotonic (for
 * deadlines and intervals), tix_wall_ms is Unix time (for timestamps).
 * Thread-safe.
 */
#ifndef TIX_UTIL_H
#define TIX_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Monotonic milliseconds, for deadlines and intervals only. */
int64_t tix_now_ms(void);
/* Wall-clock Unix milliseconds. */
int64_t tix_wall_ms(void);

/* Installs SIGINT/SIGTERM handlers that set a flag read by tix_stopping();
 * also ignores SIGPIPE. Call once from main before any socket exists. */
void tix_signals_install(void);
/* True once SIGINT or SIGTERM arrived. */
bool tix_stopping(void);

/* Uniform random integer in [0, bound); not cryptographic. */
uint32_t tix_rand_below(uint32_t bound);

#define TIX_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
