/*
 * persister_jsonl_file.c - the jsonl sink's files: opening and locking the
 * data file, reading and atomically replacing PATH.cursors, and the start
 * reconciliation that makes a restart never append a line twice.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bson/bson.h>

#include "persister_jsonl_file.h"
#include "tix_log.h"
#include "tix_util.h"

#define CURSORS_MAGIC "tix-persister-cursors 1"
#define SCAN_CHUNK_BYTES 65536

static bool s_fail(char *why, size_t why_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool
s_fail(char *why, size_t why_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return false;
}

static void
s_line_destroy(void **item)
{
    persister_jsonl_file_line_t *line = *item;
    if (line) {
        free(line->sale_id);
        free(line);
        *item = NULL;
    }
}

static void
s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

bool
persister_jsonl_file_fsync_dir(const char *path)
{
    char *copy = xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    bool ok = fd >= 0 && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

persister_log_id_t
persister_jsonl_file_cursor(const persister_jsonl_file_t *self, const char *sale_id)
{
    const persister_log_id_t *c = zhashx_lookup(self->cursors, sale_id);
    return c ? *c : (persister_log_id_t){0, 0};
}

static void
s_set_cursor(persister_jsonl_file_t *self, const char *sale_id, persister_log_id_t id)
{
    persister_log_id_t *c = zhashx_lookup(self->cursors, sale_id);
    if (!c) {
        c = xmalloc(sizeof *c);
        zhashx_insert(self->cursors, sale_id, c);
    }
    *c = id;
}

void
persister_jsonl_file_remember(persister_jsonl_file_t *self, const char *key, const char *sale_id,
                              persister_log_id_t log_id, int64_t offset)
{
    if (zhashx_lookup(self->beyond, key))
        return;
    persister_jsonl_file_line_t *line = xmalloc(sizeof *line);
    line->sale_id = xstrdup(sale_id);
    line->log_id = log_id;
    line->offset = offset;
    zhashx_insert(self->beyond, key, line);
}

/* One "sale S LOG_ID" line of PATH.cursors. */
static bool
s_cursor_line(persister_jsonl_file_t *self, const char *line)
{
    char sale[128], id_text[64];
    persister_log_id_t id;
    if (sscanf(line, "sale %127s %63s", sale, id_text) != 2 || !persister_log_id_parse(id_text, &id))
        return false;
    s_set_cursor(self, sale, id);
    return true;
}

/* Reads PATH.cursors (absent: nothing stored yet) into self->cursors. */
static bool
s_read_cursors(persister_jsonl_file_t *self, int64_t *data_bytes, int64_t *scan_from, char *why, size_t why_size)
{
    *data_bytes = *scan_from = 0;
    FILE *f = fopen(self->cursors_path, "re");
    if (!f) {
        if (errno == ENOENT)
            return true;
        return s_fail(why, why_size, "cannot read %s: %s", self->cursors_path, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    bool ok = true;
    while (ok && getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        lineno++;
        if (lineno == 1)
            ok = strcmp(line, CURSORS_MAGIC) == 0;
        else if (lineno == 2)
            ok = sscanf(line, "data_bytes %" SCNd64, data_bytes) == 1 && *data_bytes >= 0;
        else if (lineno == 3)
            ok = sscanf(line, "scan_from %" SCNd64, scan_from) == 1 && *scan_from >= 0 && *scan_from <= *data_bytes;
        else
            ok = s_cursor_line(self, line);
    }
    free(line);
    fclose(f);
    if (ok && lineno < 3)
        ok = false;
    if (!ok)
        return s_fail(why, why_size, "%s is not a cursor file this persister wrote (line %d)", self->cursors_path,
                      lineno);
    return true;
}

/* A cancel line's key, as persister_order_key makes it (caller frees). */
static char *
s_cancel_key(const char *order_id)
{
    size_t size = strlen(order_id) + sizeof PERSISTER_ORDER_CANCEL_SUFFIX;
    char *key = xmalloc(size);
    snprintf(key, size, "%s" PERSISTER_ORDER_CANCEL_SUFFIX, order_id);
    return key;
}

/* Takes one complete line (without its '\n') found at offset. */
static bool
s_take_line(persister_jsonl_file_t *self, const char *text, size_t len, int64_t offset)
{
    bson_t doc;
    bson_error_t error;
    bson_iter_t it;
    const char *order_id = NULL, *sale_id = NULL;
    persister_log_id_t id;
    if (len == 0 || !bson_init_from_json(&doc, text, (ssize_t) len, &error))
        return false;
    /* A cancel's line has no log_id; its place in the log is cancel_log_id. */
    bool cancel = bson_iter_init_find(&it, &doc, "cancel_log_id");
    bool ok = bson_iter_init_find(&it, &doc, "_id") && BSON_ITER_HOLDS_UTF8(&it) &&
              (order_id = bson_iter_utf8(&it, NULL)) && bson_iter_init_find(&it, &doc, "sale_id") &&
              BSON_ITER_HOLDS_UTF8(&it) && (sale_id = bson_iter_utf8(&it, NULL)) &&
              bson_iter_init_find(&it, &doc, cancel ? "cancel_log_id" : "log_id") && BSON_ITER_HOLDS_UTF8(&it) &&
              persister_log_id_parse(bson_iter_utf8(&it, NULL), &id);
    if (ok && persister_log_id_cmp(id, persister_jsonl_file_cursor(self, sale_id)) > 0) {
        char *key = cancel ? s_cancel_key(order_id) : NULL;
        persister_jsonl_file_remember(self, key ? key : order_id, sale_id, id, offset);
        free(key);
    }
    bson_destroy(&doc);
    return ok;
}

/* Handles the complete lines in buf[0..len) (buf starts at file offset
 * pos). Returns the bytes consumed; sets *bad to the offset of a line
 * that does not parse (and stops there), or leaves it alone. */
static size_t
s_take_lines(persister_jsonl_file_t *self, const char *buf, size_t len, int64_t pos, int64_t *bad)
{
    size_t start = 0;
    for (const char *nl; (nl = memchr(buf + start, '\n', len - start));) {
        size_t line_len = (size_t) (nl - (buf + start));
        if (!s_take_line(self, buf + start, line_len, pos + (int64_t) start)) {
            *bad = pos + (int64_t) start;
            return start;
        }
        start += line_len + 1;
    }
    return start;
}

/* Reads the data file from `from` to its end, remembering the lines beyond
 * their cursors; sets *good_end to the end of the last good line. */
static bool
s_scan(persister_jsonl_file_t *self, int64_t from, int64_t file_size, int64_t *good_end, char *why, size_t why_size)
{
    char *buf = xmalloc(SCAN_CHUNK_BYTES);
    size_t cap = SCAN_CHUNK_BYTES, len = 0;
    int64_t pos = from, off = from, bad = -1; /* pos: file offset of buf[0] */
    bool ok = true;
    while (ok && bad < 0 && off < file_size) {
        if (cap - len < SCAN_CHUNK_BYTES / 2)
            buf = xrealloc(buf, cap *= 2);
        ssize_t r = pread(self->fd, buf + len, cap - len, off);
        if (r <= 0) {
            ok = s_fail(why, why_size, "cannot read %s: %s", self->path, r < 0 ? strerror(errno) : "file shrank");
            break;
        }
        off += r;
        len += (size_t) r;
        size_t used = s_take_lines(self, buf, len, pos, &bad);
        memmove(buf, buf + used, len - used);
        len -= used;
        pos += (int64_t) used;
    }
    free(buf);
    *good_end = pos;
    if (ok && bad >= 0) {
        /* A bad line is a torn append only when nothing follows it. */
        char c;
        int64_t nl = bad;
        while (nl < file_size && pread(self->fd, &c, 1, nl) == 1 && c != '\n')
            nl++;
        if (nl + 1 < file_size)
            ok = s_fail(why, why_size, "%s: line at byte %" PRId64 " is not an order document and more follow",
                        self->path, bad);
    }
    return ok;
}

/* Reconciles the data file with the stored cursors (see persister_jsonl.h). */
static bool
s_reconcile(persister_jsonl_file_t *self, char *why, size_t why_size)
{
    int64_t data_bytes, scan_from, good_end;
    struct stat st;
    if (!s_read_cursors(self, &data_bytes, &scan_from, why, why_size))
        return false;
    if (fstat(self->fd, &st) != 0)
        return s_fail(why, why_size, "cannot stat %s: %s", self->path, strerror(errno));
    if (st.st_size < data_bytes)
        return s_fail(why, why_size,
                      "%s holds %lld bytes but %lld were durable when its cursors were stored: it was truncated or "
                      "replaced (move %s away to rebuild from the order log)",
                      self->path, (long long) st.st_size, (long long) data_bytes, self->cursors_path);
    char c;
    if (scan_from > 0 && (pread(self->fd, &c, 1, scan_from - 1) != 1 || c != '\n'))
        return s_fail(why, why_size, "%s: scan_from does not start a line in %s", self->cursors_path, self->path);
    if (!s_scan(self, scan_from, st.st_size, &good_end, why, why_size))
        return false;
    if (good_end < st.st_size) {
        if (ftruncate(self->fd, good_end) != 0 || fsync(self->fd) != 0)
            return s_fail(why, why_size, "cannot cut the torn end of %s: %s", self->path, strerror(errno));
        tix_warn("cut a torn last line (an append interrupted by a crash)\tpath=%s bytes=%lld", self->path,
                 (long long) (st.st_size - good_end));
    }
    self->size = good_end;
    tix_info("jsonl sink ready\tpath=%s bytes=%lld sales=%zu lines_beyond_cursors=%zu", self->path,
             (long long) self->size, zhashx_size(self->cursors), zhashx_size(self->beyond));
    return true;
}

persister_jsonl_file_t *
persister_jsonl_file_open(const char *path, char *why, size_t why_size)
{
    persister_jsonl_file_t *self = xcalloc(1, sizeof *self);
    self->path = xstrdup(path);
    self->cursors_path = xmalloc(strlen(path) + 16);
    sprintf(self->cursors_path, "%s%s", path, PERSISTER_JSONL_CURSORS_SUFFIX);
    self->tmp_path = xmalloc(strlen(path) + 16);
    sprintf(self->tmp_path, "%s%s.tmp", path, PERSISTER_JSONL_CURSORS_SUFFIX);
    self->cursors = zhashx_new();
    zhashx_set_destructor(self->cursors, s_free_item);
    self->beyond = zhashx_new();
    zhashx_set_destructor(self->beyond, s_line_destroy);
    bool created = access(path, F_OK) != 0;
    self->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    bool ok = self->fd >= 0 || s_fail(why, why_size, "cannot open %s: %s", path, strerror(errno));
    if (ok && flock(self->fd, LOCK_EX | LOCK_NB) != 0)
        ok = s_fail(why, why_size, "%s is in use by another process (%s)", path, strerror(errno));
    if (ok && created && !persister_jsonl_file_fsync_dir(path))
        ok = s_fail(why, why_size, "cannot fsync the directory of %s: %s", path, strerror(errno));
    if (ok)
        ok = s_reconcile(self, why, why_size);
    if (!ok) {
        persister_jsonl_file_close(self);
        return NULL;
    }
    return self;
}

void
persister_jsonl_file_close(persister_jsonl_file_t *self)
{
    if (!self)
        return;
    if (self->fd >= 0)
        close(self->fd); /* also releases the flock */
    zhashx_destroy(&self->beyond);
    zhashx_destroy(&self->cursors);
    free(self->tmp_path);
    free(self->cursors_path);
    free(self->path);
    free(self);
}

/* The cursor of sale after cursors[] are applied over the stored ones. */
static persister_log_id_t
s_merged(const persister_jsonl_file_t *self, const persister_cursor_t *cursors, size_t n, const char *sale)
{
    persister_log_id_t c = persister_jsonl_file_cursor(self, sale);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cursors[i].sale_id, sale) == 0 && persister_log_id_cmp(cursors[i].log_id, c) > 0)
            c = cursors[i].log_id;
    }
    return c;
}

/* Offset of the first remembered line still beyond its merged cursor. */
static int64_t
s_scan_from(persister_jsonl_file_t *self, const persister_cursor_t *cursors, size_t n)
{
    int64_t from = self->size;
    for (persister_jsonl_file_line_t *l = zhashx_first(self->beyond); l; l = zhashx_next(self->beyond)) {
        if (l->offset < from && persister_log_id_cmp(l->log_id, s_merged(self, cursors, n, l->sale_id)) > 0)
            from = l->offset;
    }
    return from;
}

/* Writes the cursor file's text (stored cursors merged with cursors[]). */
static bool
s_write_cursor_file(persister_jsonl_file_t *self, FILE *f, const persister_cursor_t *cursors, size_t n)
{
    char text[PERSISTER_LOG_ID_MAX_BYTES];
    fprintf(f, "%s\ndata_bytes %" PRId64 "\nscan_from %" PRId64 "\n", CURSORS_MAGIC, self->size,
            s_scan_from(self, cursors, n));
    zlistx_t *sales = zhashx_keys(self->cursors); /* s_merged looks up while we walk */
    for (const char *sale = zlistx_first(sales); sale; sale = zlistx_next(sales)) {
        persister_log_id_format(s_merged(self, cursors, n, sale), text, sizeof text);
        fprintf(f, "sale %s %s\n", sale, text);
    }
    zlistx_destroy(&sales);
    for (size_t i = 0; i < n; i++) {
        if (!zhashx_lookup(self->cursors, cursors[i].sale_id)) {
            persister_log_id_format(s_merged(self, cursors, n, cursors[i].sale_id), text, sizeof text);
            fprintf(f, "sale %s %s\n", cursors[i].sale_id, text); /* a new sale; repeats are harmless */
        }
    }
    return fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
}

/* Adopts cursors[] and forgets the remembered lines they cover. */
static void
s_adopt(persister_jsonl_file_t *self, const persister_cursor_t *cursors, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s_set_cursor(self, cursors[i].sale_id, s_merged(self, cursors, n, cursors[i].sale_id));
    zlistx_t *covered = zlistx_new();
    for (persister_jsonl_file_line_t *l = zhashx_first(self->beyond); l; l = zhashx_next(self->beyond)) {
        if (persister_log_id_cmp(l->log_id, persister_jsonl_file_cursor(self, l->sale_id)) <= 0)
            zlistx_add_end(covered, (void *) zhashx_cursor(self->beyond));
    }
    for (const char *key = zlistx_first(covered); key; key = zlistx_next(covered))
        zhashx_delete(self->beyond, key);
    zlistx_destroy(&covered);
}

tix_err
persister_jsonl_file_store_cursors(persister_jsonl_file_t *self, const persister_cursor_t *cursors, size_t n)
{
    FILE *f = fopen(self->tmp_path, "we");
    bool ok = f && s_write_cursor_file(self, f, cursors, n);
    if (f && fclose(f) != 0)
        ok = false;
    if (ok)
        ok = rename(self->tmp_path, self->cursors_path) == 0 && persister_jsonl_file_fsync_dir(self->cursors_path);
    if (!ok) {
        tix_error("cannot store cursors\tpath=%s err=\"%s\"", self->cursors_path, strerror(errno));
        unlink(self->tmp_path);
        return TIX_ERR_IO;
    }
    s_adopt(self, cursors, n);
    return TIX_OK;
}
