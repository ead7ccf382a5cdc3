/*
 * ferretdb.h - a FerretDB (MongoDB wire protocol over SQLite) for the tests
 * that need a real server they can kill and restart, through
 * deploy/ferretdb.sh: pinned version, built once, loopback port, telemetry
 * off, its own state directory under th_tmpdir().
 *
 * th_mongo_uri_or_ferretdb is what every real-server test starts with: the
 * MongoDB named by TIX_TEST_MONGO_URI when set, else a FerretDB of its own,
 * else nothing, with the reason (the test then skips itself; it never
 * passes without a server). Single-threaded.
 */
#ifndef TIX_HARNESS_FERRETDB_H
#define TIX_HARNESS_FERRETDB_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char dir[512]; /* state directory (data/, ferretdb.pid, ferretdb.log) */
    char uri[128]; /* "mongodb://127.0.0.1:<port>/" */
    bool running;
} th_ferretdb_t;

/* True when FerretDB is built or Go can build it (why says otherwise). */
bool th_ferretdb_available(char *why, size_t why_size);
/* Builds if needed, then starts on a new state directory named after
 * name; false (and why on stderr) when it does not answer hello. */
bool th_ferretdb_start(th_ferretdb_t *f, const char *name);
/* Starts again on the same state directory; false when it does not come
 * back on the same URI. */
bool th_ferretdb_restart(th_ferretdb_t *f);
/* Stops it with sig ("TERM", "KILL") and waits for its exit. Idempotent. */
void th_ferretdb_stop(th_ferretdb_t *f, const char *sig);

/* uri (size bytes) for a real-server test: TIX_TEST_MONGO_URI, else f
 * started; false with why when neither is possible. */
bool th_mongo_uri_or_ferretdb(th_ferretdb_t *f, char *uri, size_t size, char *why, size_t why_size);

#endif
