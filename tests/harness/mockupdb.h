/*
 * mockupdb.h - drives tests/mockupdb/mock_mongo.py (a scriptable MongoDB
 * on python3-mockupdb) from cmocka tests, and reads what it recorded.
 *
 * Shared by tests/test_it_persist_wire*.c, test_it_persist_mongo.c and
 * test_it_fault_mongo.c. The mock runs under /usr/bin/python3 (where
 * Debian installs python3-mockupdb), on a free port, recording every
 * command to a JSON-lines file in the test's temp directory; it is killed
 * at exit if a test fails first. Single-threaded.
 */
#ifndef TIX_TEST_MOCKUPDB_H
#define TIX_TEST_MOCKUPDB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <bson/bson.h>
#include <czmq.h>

#include "harness.h"

#define MU_PYTHON "/usr/bin/python3"
#define MU_SCRIPT TIX_SOURCE_DIR "/tests/mockupdb/mock_mongo.py"

typedef struct {
    pid_t pid;        /* 0 when stopped */
    int port;         /* kept across mu_stop/mu_start_on */
    char record[300]; /* the JSON-lines record */
    char log[300];    /* the mock's stdout/stderr */
} mu_t;

/* Starts the mock on m->port (set it first) with script (JSON, or NULL),
 * recording to a new file; waits until it listens (up to 10 s). */
bool mu_start_on(mu_t *m, const char *script);

/* Starts the mock on a free port. */
bool mu_start(mu_t *m, const char *script);

void mu_stop(mu_t *m);

/* "mongodb://127.0.0.1:PORT/" plus options (e.g. "?socketTimeoutMS=300"). */
void mu_uri(const mu_t *m, const char *options, char *buf, size_t size);

/* Calls each(doc, arg) for every recorded command (a bson_t of the line:
 * name, db, doc, fault, reply, inserted). Returns the number of lines. */
int mu_each(const mu_t *m, void (*each)(const bson_t *line, void *arg), void *arg);

/* A string field at a dotted path of doc, or NULL. */
const char *mu_str(const bson_t *doc, const char *path);

/* True when line is command name (case-insensitive) on collection coll
 * (NULL: any). */
bool mu_is(const bson_t *line, const char *name, const char *coll);

/* Commands named name on coll (NULL: any collection). */
int mu_count(const mu_t *m, const char *name, const char *coll);

/* Fills ids (_id -> times inserted, caller's zhashx) with the documents
 * the mock's store took into collection coll; returns the inserts. */
int mu_inserted(const mu_t *m, const char *coll, zhashx_t *ids);

/* The last cursor of sale the mock acknowledged ("" when none). */
void mu_cursor(const mu_t *m, const char *sale, char *buf, size_t size);

#endif
