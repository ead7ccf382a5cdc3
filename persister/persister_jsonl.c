/*
 * persister_jsonl.c - the jsonl sink's operations: idempotent appends of
 * canonical Extended JSON lines, fsync'd before they count as written.
 */
#include "persister_jsonl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bson/bson.h>

#include "persister_jsonl_file.h"
#include "tix_log.h"
#include "tix_util.h"

/* True when the file already holds the entry (as a remembered line, or
 * under its sale's stored cursor). A purchase and its cancel are two
 * lines, told apart by persister_order_key. */
static bool
s_already(const persister_jsonl_file_t *j, const persister_order_t *o)
{
    return zhashx_lookup(j->beyond, persister_order_key(o)) != NULL ||
           persister_log_id_cmp(o->log_id, persister_jsonl_file_cursor(j, o->sale_id)) <= 0;
}

/* The order's document as one canonical Extended JSON text (caller frees
 * with bson_free), or NULL when libbson cannot render it (bad UTF-8). */
static char *
s_json(const persister_order_t *o, int64_t now_ms, size_t *len)
{
    bson_t doc = BSON_INITIALIZER;
    persister_order_append_bson(o, now_ms, &doc);
    char *json = bson_as_canonical_extended_json(&doc, len);
    bson_destroy(&doc);
    return json;
}

/* Appends buf and makes it durable; on failure cuts the file back so that
 * no partial line is left for the next append to glue onto. */
static bool
s_append(persister_jsonl_file_t *j, const char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(j->fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t) w;
    }
    if (done == len && fdatasync(j->fd) == 0)
        return true;
    tix_error("append failed; will retry\tpath=%s err=\"%s\"", j->path, strerror(errno));
    if (ftruncate(j->fd, j->size) != 0 || fsync(j->fd) != 0) {
        j->broken = true;
        tix_error("cannot undo a failed append; refusing writes until a restart reconciles the file\tpath=%s", j->path);
    }
    return false;
}

static tix_err
s_write(void *impl, persister_order_t *orders, size_t n, persister_write_status *status)
{
    persister_jsonl_file_t *j = impl;
    size_t *pending = xmalloc(n * sizeof *pending), npending = 0, len = 0, cap = 4096;
    int64_t *offsets = xmalloc(n * sizeof *offsets), now = tix_wall_ms();
    char *buf = xmalloc(cap);
    bool retry = false;
    for (size_t i = 0; i < n; i++) {
        status[i] = s_already(j, &orders[i]) ? PERSISTER_WRITE_DONE : PERSISTER_WRITE_RETRY;
        if (status[i] == PERSISTER_WRITE_DONE || j->broken)
            continue;
        size_t jlen;
        char *json = s_json(&orders[i], now, &jlen);
        if (!json) {
            tix_error("order cannot be rendered as JSON (bad UTF-8?); will retry\torder=%s", orders[i].order_id);
            continue;
        }
        while (len + jlen + 2 > cap)
            buf = xrealloc(buf, cap *= 2);
        offsets[npending] = j->size + (int64_t) len;
        pending[npending++] = i;
        memcpy(buf + len, json, jlen);
        len += jlen;
        buf[len++] = '\n';
        bson_free(json);
    }
    if (npending > 0 && s_append(j, buf, len)) {
        for (size_t k = 0; k < npending; k++) {
            const persister_order_t *o = &orders[pending[k]];
            persister_jsonl_file_remember(j, persister_order_key(o), o->sale_id, o->log_id, offsets[k]);
            status[pending[k]] = PERSISTER_WRITE_DONE;
        }
        j->size += (int64_t) len;
    }
    for (size_t i = 0; i < n; i++)
        retry = retry || status[i] == PERSISTER_WRITE_RETRY;
    free(buf);
    free(offsets);
    free(pending);
    return retry ? TIX_ERR_IO : TIX_OK;
}

static tix_err
s_ping(void *impl)
{
    const persister_jsonl_file_t *j = impl;
    return j->broken ? TIX_ERR_IO : TIX_OK;
}

static tix_err
s_load_cursor(void *impl, const char *sale_id, persister_log_id_t *log_id)
{
    *log_id = persister_jsonl_file_cursor(impl, sale_id);
    return TIX_OK;
}

static tix_err
s_store_cursors(void *impl, const persister_cursor_t *cursors, size_t n)
{
    return persister_jsonl_file_store_cursors(impl, cursors, n);
}

static void
s_destroy(void *impl)
{
    persister_jsonl_file_close(impl);
}

static const persister_sink_ops_t s_ops = {
    .kind = "jsonl",
    .ping = s_ping,
    .write = s_write,
    .load_cursor = s_load_cursor,
    .store_cursors = s_store_cursors,
    .destroy = s_destroy,
};

persister_sink_t *
persister_jsonl_new(const char *path, char *why, size_t why_size)
{
    persister_jsonl_file_t *j = persister_jsonl_file_open(path, why, why_size);
    if (!j)
        return NULL;
    char *real = realpath(path, NULL);
    size_t size = strlen(real ? real : path) + 8;
    char *where = xmalloc(size);
    snprintf(where, size, "jsonl:%s", real ? real : path);
    persister_sink_t *sink = persister_sink_new(&s_ops, j, where);
    free(where);
    free(real);
    return sink;
}
