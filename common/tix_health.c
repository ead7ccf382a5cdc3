#include "tix_health.h"

#include <stdbool.h>
#include <stdio.h>

#include "tix_log.h"
#include "tix_util.h"

static bool s_failing; /* log a failure once, not every second */

tix_err
tix_health_touch(const char *path)
{
    if (!path || !*path)
        return TIX_OK;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int) sizeof tmp)
        return TIX_ERR_CONFIG;
    FILE *f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "%lld\n", (long long) tix_wall_ms()) > 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok && !s_failing)
        tix_warn("cannot write the health file\tpath=%s", path);
    s_failing = !ok;
    return ok ? TIX_OK : TIX_ERR_IO;
}

void
tix_health_tick(const char *path, int healthy, int64_t *last_ms)
{
    int64_t now = tix_now_ms();
    if (!path || !*path || !healthy || now - *last_ms < TIX_HEALTH_IVL_MS)
        return;
    *last_ms = now;
    tix_health_touch(path);
}
