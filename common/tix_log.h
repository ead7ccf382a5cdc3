/*
 * tix_log.h - one-line key=value logs on stderr.
 *
 * Every binary logs through this module. The level comes from TIX_LOG_LEVEL
 * (debug, info, warn, error; default info) or tix_log_set_level. Each line:
 *   ts=2026-11-29T07:50:01.123Z level=info comp=broker msg="..." key=value ...
 * The caller formats its own key=value pairs after the message. Nothing per
 * request is logged at info. Thread-safe (one write per line).
 *
 * With TIX_LOG_FORMAT=json (or --log-format json, both read by tix_opts)
 * each line is one JSON object instead, for log shippers:
 *   {"ts":"2026-11-29T07:50:01.123Z","level":"info","comp":"broker","msg":"...","key":"value",...}
 * Every pair becomes a string field (a quoted value loses its quotes; a
 * pair named ts, level, comp or msg becomes field_<name>); control bytes
 * are escaped and invalid UTF-8 becomes U+FFFD, so every line parses.
 */
#ifndef TIX_LOG_H
#define TIX_LOG_H

#include <stdbool.h>

typedef enum { TIX_LOG_DEBUG, TIX_LOG_INFO, TIX_LOG_WARN, TIX_LOG_ERROR } tix_log_level;

/* Sets the component name printed as comp=... (borrowed; keep it static). */
void tix_log_init(const char *component);
/* Parses "debug".."error"; returns false (level unchanged) on an unknown name. */
bool tix_log_set_level_name(const char *name);
/* Parses "kv" (the default) or "json"; false (format unchanged) otherwise.
 * Call before any thread logs. */
bool tix_log_set_format_name(const char *name);
bool tix_log_enabled(tix_log_level level);

/* fmt is the message text (printf-style) and may be followed by "\t" and then
 * raw key=value pairs: tix_log(INFO, "worker ready\tid=%s", id). */
void tix_log(tix_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define tix_debug(...)                                                                                                 \
    do {                                                                                                               \
        if (tix_log_enabled(TIX_LOG_DEBUG))                                                                            \
            tix_log(TIX_LOG_DEBUG, __VA_ARGS__);                                                                       \
    } while (0)
#define tix_info(...) tix_log(TIX_LOG_INFO, __VA_ARGS__)
#define tix_warn(...) tix_log(TIX_LOG_WARN, __VA_ARGS__)
#define tix_error(...) tix_log(TIX_LOG_ERROR, __VA_ARGS__)

#endif
