/*
 * ferretdb.c - FerretDB for the tests, through deploy/ferretdb.sh.
 */
#include "ferretdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define SCRIPT TIX_SOURCE_DIR "/deploy/ferretdb.sh"

/* Runs the script with args; its first output line into out. */
static int
s_script(const char *args, char *out, size_t size)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s", SCRIPT, args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[512] = "";
    if (!fgets(line, sizeof line, p))
        line[0] = '\0';
    line[strcspn(line, "\n")] = '\0';
    while (fgetc(p) != EOF)
        ;
    if (out)
        snprintf(out, size, "%s", line);
    return pclose(p);
}

bool
th_ferretdb_available(char *why, size_t why_size)
{
    if (s_script("available", NULL, 0) == 0)
        return true;
    snprintf(why, why_size, "neither TIX_TEST_MONGO_URI (a MongoDB) nor Go to build FerretDB is available");
    return false;
}

static bool
s_start(th_ferretdb_t *f)
{
    char args[700], uri[sizeof f->uri];
    snprintf(args, sizeof args, "start '%s'", f->dir);
    if (s_script(args, uri, sizeof uri) != 0 || strncmp(uri, "mongodb://", 10) != 0) {
        fprintf(stderr, "ferretdb: did not start in %s (see its ferretdb.log)\n", f->dir);
        return false;
    }
    if (f->uri[0] && strcmp(uri, f->uri) != 0) {
        fprintf(stderr, "ferretdb: came back on %s, not %s\n", uri, f->uri);
        snprintf(args, sizeof args, "stop '%s'", f->dir);
        s_script(args, NULL, 0);
        return false;
    }
    snprintf(f->uri, sizeof f->uri, "%s", uri);
    f->running = true;
    return true;
}

bool
th_ferretdb_start(th_ferretdb_t *f, const char *name)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/%s", th_tmpdir(), name);
    char bin[512];
    if (s_script("build", bin, sizeof bin) != 0) {
        fprintf(stderr, "ferretdb: build failed\n");
        return false;
    }
    return s_start(f);
}

bool
th_ferretdb_restart(th_ferretdb_t *f)
{
    return s_start(f);
}

void
th_ferretdb_stop(th_ferretdb_t *f, const char *sig)
{
    if (!f->running)
        return;
    char args[700];
    snprintf(args, sizeof args, "stop '%s' %s", f->dir, sig);
    s_script(args, NULL, 0);
    f->running = false;
}

bool
th_mongo_uri_or_ferretdb(th_ferretdb_t *f, char *uri, size_t size, char *why, size_t why_size)
{
    memset(f, 0, sizeof *f);
    why[0] = '\0';
    const char *env = getenv("TIX_TEST_MONGO_URI");
    if (env && env[0]) {
        snprintf(uri, size, "%s", env);
        return true;
    }
    if (!th_ferretdb_available(why, why_size) || !th_ferretdb_start(f, "ferretdb")) {
        if (!why[0])
            snprintf(why, why_size, "FerretDB could not be built or started");
        return false;
    }
    snprintf(uri, size, "%s", f->uri);
    return true;
}
