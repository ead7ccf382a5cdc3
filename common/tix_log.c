#include "tix_log.h"
#include "tix_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *s_component = "tix";
static tix_log_level s_level = TIX_LOG_INFO;
static const char *const s_names[] = {"debug", "info", "warn", "error"};

void
tix_log_init(const char *component)
{
    s_component = component;
}

bool
tix_log_set_level_name(const char *name)
{
    for (size_t i = 0; i < TIX_ARRAY_LEN(s_names); i++) {
        if (strcmp(name, s_names[i]) == 0) {
            s_level = (tix_log_level) i;
            return true;
        }
    }
    return false;
}

bool
tix_log_enabled(tix_log_level level)
{
    return level >= s_level;
}

void
tix_log(tix_log_level level, const char *fmt, ...)
{
    if (level < s_level)
        return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);

    /* Split "message\tkey=value ..." so the message can be quoted. */
    char *pairs = strchr(text, '\t');
    if (pairs)
        *pairs++ = '\0';
    for (char *p = text; *p; p++) {
        if (*p == '"' || *p == '\n')
            *p = '\'';
    }

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "ts=%s.%03ldZ level=%s comp=%s msg=\"%s\"%s%s\n", when, ts.tv_nsec / 1000000, s_names[level],
            s_component, text, pairs ? " " : "", pairs ? pairs : "");
}
