/*
 * persister_mongo.c - the MongoDB sink.
 */
#include "persister_mongo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "persister_config.h"
#include "tix_log.h"
#include "tix_util.h"

#define CONNECT_TIMEOUT_MS 2000          /* default connectTimeoutMS */
#define SERVER_SELECTION_TIMEOUT_MS 2000 /* default serverSelectionTimeoutMS */
#define SOCKET_TIMEOUT_SLACK_MS 5000     /* socketTimeoutMS beyond wtimeout */
#define MONGO_DUPLICATE_KEY 11000
/* MongoDB's document limit (maxBsonObjectSize; FerretDB's default too).
 * libmongoc refuses a larger update for the whole bulk, so it is checked
 * per order before sending. */
#define MONGO_MAX_DOCUMENT_BYTES (16 * 1024 * 1024)

typedef struct {
    mongoc_client_t *client;
    mongoc_database_t *db;
    mongoc_collection_t *orders;
    mongoc_collection_t *cursors;
    mongoc_write_concern_t *wc;
    bool indexed; /* createIndexes succeeded */
} s_mongo_t;

static bool s_inited; /* mongoc_init ran */

/* libmongoc's own messages, as tix log lines. */
static void
s_mongoc_log(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
    (void) data;
    if (level <= MONGOC_LOG_LEVEL_ERROR)
        tix_error("libmongoc: %s\tdomain=%s", message, domain);
    else if (level == MONGOC_LOG_LEVEL_WARNING)
        tix_warn("libmongoc: %s\tdomain=%s", message, domain);
    else if (level <= MONGOC_LOG_LEVEL_INFO)
        tix_debug("libmongoc: %s\tdomain=%s", message, domain);
}

void
persister_mongo_cleanup(void)
{
    if (s_inited) {
        mongoc_cleanup();
        s_inited = false;
    }
}

/* The tix_err that a libmongoc error stands for. */
static tix_err
s_err(const bson_error_t *error)
{
    if (error->domain == MONGOC_ERROR_WRITE_CONCERN)
        return error->code == 64 ? TIX_ERR_TIMEOUT : TIX_ERR_UNAVAILABLE;
    if (error->domain == MONGOC_ERROR_STREAM && error->code == MONGOC_ERROR_STREAM_SOCKET)
        return TIX_ERR_TIMEOUT;
    return TIX_ERR_UNAVAILABLE;
}

static void
s_warn(const char *what, const bson_error_t *error)
{
    tix_warn("mongodb %s failed\tdomain=%u code=%u err=\"%s\"", what, error->domain, error->code, error->message);
}

static tix_err
s_ensure_index(s_mongo_t *m)
{
    if (m->indexed)
        return TIX_OK;
    bson_t cmd = BSON_INITIALIZER, indexes, index, key, opts = BSON_INITIALIZER, reply;
    BSON_APPEND_UTF8(&cmd, "createIndexes", "orders");
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &indexes);
    BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
    BSON_APPEND_DOCUMENT_BEGIN(&index, "key", &key);
    BSON_APPEND_INT32(&key, "sale_id", 1);
    BSON_APPEND_INT32(&key, "user_id", 1);
    bson_append_document_end(&index, &key);
    BSON_APPEND_UTF8(&index, "name", PERSISTER_MONGO_INDEX_NAME);
    BSON_APPEND_BOOL(&index, "unique", true);
    bson_append_document_end(&indexes, &index);
    bson_append_array_end(&cmd, &indexes);
    mongoc_write_concern_append(m->wc, &opts);
    bson_error_t error;
    bool ok = mongoc_database_write_command_with_opts(m->db, &cmd, &opts, &reply, &error);
    bson_destroy(&reply);
    bson_destroy(&opts);
    bson_destroy(&cmd);
    if (!ok) {
        s_warn("createIndexes (unique sale_id, user_id)", &error);
        return s_err(&error);
    }
    m->indexed = true;
    tix_info("unique index ready\tcollection=orders index=%s", PERSISTER_MONGO_INDEX_NAME);
    return TIX_OK;
}

static int64_t
s_reply_int(const bson_t *reply, const char *field)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, reply, field) && BSON_ITER_HOLDS_NUMBER(&it) ? bson_iter_as_int64(&it) : 0;
}

/* Number of documents in reply's array field (0 when absent). */
static uint32_t
s_reply_count(const bson_t *reply, const char *field)
{
    bson_iter_t it, child;
    uint32_t n = 0;
    if (bson_iter_init_find(&it, reply, field) && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &child)) {
        while (bson_iter_next(&child))
            n++;
    }
    return n;
}

/* True when a duplicate-key write error is about the _id index. */
static bool
s_dup_on_id(const bson_t *werr, const char *errmsg)
{
    bson_iter_t it, key;
    if (bson_iter_init_find(&it, werr, "keyPattern") && BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &key)) {
        bool has_id = false, has_other = false;
        while (bson_iter_next(&key)) {
            if (strcmp(bson_iter_key(&key), "_id") == 0)
                has_id = true;
            else
                has_other = true;
        }
        return has_id && !has_other;
    }
    /* Servers before 4.4 name the index only in the message. */
    return errmsg && strstr(errmsg, "index: _id_ ") != NULL;
}

/* Write error codes that a later retry may not meet again: the server was
 * shutting down, stepping down or busy. Any other write error is the
 * server refusing this order as it is, which no retry changes. */
static bool
s_transient_code(int32_t code)
{
    static const int32_t codes[] = {6,     7,     50,    89,    91,    112,   189,   262, 9001,
                                    10107, 11600, 11601, 11602, 13435, 13436, 10058, 64};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (codes[i] == code)
            return true;
    }
    return false;
}

/* The status of one order whose write error is werr. */
static persister_write_status
s_write_error_status(persister_order_t *o, const bson_t *werr)
{
    bson_iter_t it;
    int32_t code = bson_iter_init_find(&it, werr, "code") && BSON_ITER_HOLDS_INT32(&it) ? bson_iter_int32(&it) : 0;
    const char *msg =
        bson_iter_init_find(&it, werr, "errmsg") && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : "";
    if (code != MONGO_DUPLICATE_KEY && s_transient_code(code)) {
        tix_warn("mongodb refused an order for now; will retry\torder=%s code=%d err=\"%s\"", o->order_id, code, msg);
        return PERSISTER_WRITE_RETRY;
    }
    if (code != MONGO_DUPLICATE_KEY) {
        tix_error("mongodb refused an order for good; order not written (the order log keeps it)\torder=%s sale=%s "
                  "user=%s code=%d err=\"%s\"",
                  o->order_id, o->sale_id, o->user_id, code, msg);
        return PERSISTER_WRITE_REFUSED;
    }
    if (!s_dup_on_id(werr, msg)) {
        tix_error("another order holds this user's ticket in mongodb; order not written\torder=%s sale=%s user=%s "
                  "err=\"%s\"",
                  o->order_id, o->sale_id, o->user_id, msg);
        return PERSISTER_WRITE_CONFLICT;
    }
    if (++o->dup_id_errors < PERSISTER_MONGO_DUP_ID_LIMIT) {
        tix_debug("duplicate key on _id (concurrent upsert?); will retry\torder=%s", o->order_id);
        return PERSISTER_WRITE_RETRY;
    }
    tix_error("order id already names another user's order in mongodb; order not written\torder=%s sale=%s user=%s",
              o->order_id, o->sale_id, o->user_id);
    return PERSISTER_WRITE_CONFLICT;
}

/* Sets status[] from a failed bulk's reply; returns the error to report. */
static tix_err
s_bulk_outcome(const bson_t *reply, const bson_error_t *error, persister_order_t *orders, const size_t *at, size_t n,
               persister_write_status *status)
{
    uint32_t nerrors = s_reply_count(reply, "writeErrors");
    int64_t done = s_reply_int(reply, "nMatched") + s_reply_int(reply, "nUpserted");
    if (s_reply_count(reply, "writeConcernErrors") > 0 || error->domain == MONGOC_ERROR_WRITE_CONCERN) {
        /* Applied on the primary perhaps, but not acknowledged as durable:
         * the retry's own write concern wait is what counts. */
        s_warn("bulk write (write concern)", error);
        return s_err(error);
    }
    if (nerrors == 0 || done + nerrors != (int64_t) n) {
        s_warn("bulk write", error); /* the command did not complete */
        return s_err(error);
    }
    for (size_t i = 0; i < n; i++)
        status[at[i]] = PERSISTER_WRITE_DONE;
    bson_iter_t it, child;
    if (bson_iter_init_find(&it, reply, "writeErrors") && bson_iter_recurse(&it, &child)) {
        while (bson_iter_next(&child)) {
            bson_t werr;
            uint32_t len;
            const uint8_t *data;
            bson_iter_t idx;
            if (!BSON_ITER_HOLDS_DOCUMENT(&child))
                continue;
            bson_iter_document(&child, &len, &data);
            if (!bson_init_static(&werr, data, len) || !bson_iter_init_find(&idx, &werr, "index"))
                continue;
            int64_t i = bson_iter_as_int64(&idx);
            if (i >= 0 && (size_t) i < n)
                status[at[i]] = s_write_error_status(&orders[at[i]], &werr);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (status[at[i]] == PERSISTER_WRITE_RETRY)
            return TIX_ERR_UNAVAILABLE;
    }
    return TIX_OK;
}

/* Adds o's upsert to bulk; *added false (and o REFUSED, logged) when its
 * document could never be stored. False when the bulk cannot be built. */
static bool
s_add_upsert(mongoc_bulk_operation_t *bulk, const persister_order_t *o, int64_t now_ms, const bson_t *upsert,
             bool *added)
{
    bson_t selector = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    persister_order_append_identity(o, &selector);
    if (persister_order_is_cancel(o)) {
        /* Always set, so that the cancel lands whether the purchase's
         * document is there or not; a purchase's upsert never touches
         * these fields, so replaying it keeps them. */
        BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
        persister_order_append_cancel(o, &set);
        bson_append_document_end(&update, &set);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$setOnInsert", &set);
    persister_order_append_details(o, now_ms, &set);
    bson_append_document_end(&update, &set);
    bool ok = true;
    *added = selector.len + update.len <= MONGO_MAX_DOCUMENT_BYTES;
    if (!*added) {
        tix_error("order too large for mongodb; order not written (the order log keeps it)\torder=%s sale=%s "
                  "bytes=%u max=%d",
                  o->order_id, o->sale_id, selector.len + update.len, MONGO_MAX_DOCUMENT_BYTES);
    } else {
        bson_error_t error;
        ok = mongoc_bulk_operation_update_one_with_opts(bulk, &selector, &update, upsert, &error);
        if (!ok)
            tix_error("cannot build an upsert\torder=%s err=\"%s\"", o->order_id, error.message);
    }
    bson_destroy(&update);
    bson_destroy(&selector);
    return ok;
}

/* An unordered bulk on coll with the sink's write concern. */
static mongoc_bulk_operation_t *
s_bulk_new(s_mongo_t *m, mongoc_collection_t *coll)
{
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "ordered", false);
    mongoc_write_concern_append(m->wc, &opts);
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, &opts);
    bson_destroy(&opts);
    return bulk;
}

/* One unordered bulk of the orders whose is_cancel() is `cancels`. */
static tix_err
s_write_kind(s_mongo_t *m, persister_order_t *orders, size_t n, bool cancels, persister_write_status *status)
{
    mongoc_bulk_operation_t *bulk = s_bulk_new(m, m->orders);
    bson_t upsert = BSON_INITIALIZER, reply;
    BSON_APPEND_BOOL(&upsert, "upsert", true);
    int64_t now = tix_wall_ms();
    size_t *at = xcalloc(n ? n : 1, sizeof *at); /* bulk index -> orders index */
    size_t sent = 0;
    tix_err err = TIX_OK;
    for (size_t i = 0; i < n && err == TIX_OK; i++) {
        bool added;
        if (persister_order_is_cancel(&orders[i]) != cancels)
            continue;
        if (!s_add_upsert(bulk, &orders[i], now, &upsert, &added))
            err = TIX_ERR_INTERNAL; /* indexes in the reply would not line up */
        else if (added)
            at[sent++] = i;
        else
            status[i] = PERSISTER_WRITE_REFUSED;
    }
    if (err == TIX_OK && sent > 0) {
        bson_error_t error;
        if (mongoc_bulk_operation_execute(bulk, &reply, &error)) {
            for (size_t i = 0; i < sent; i++)
                status[at[i]] = PERSISTER_WRITE_DONE;
        } else {
            err = s_bulk_outcome(&reply, &error, orders, at, sent, status);
        }
        bson_destroy(&reply);
    }
    free(at);
    bson_destroy(&upsert);
    mongoc_bulk_operation_destroy(bulk);
    return err;
}

/* Purchases first, then cancels, each in one bulk: an unordered bulk may
 * apply in any order, and a purchase applied after its cancel would find
 * the document there and never set log_id. Cancels wait for their
 * purchases' bulk to succeed. */
static tix_err
s_write(void *impl, persister_order_t *orders, size_t n, persister_write_status *status)
{
    s_mongo_t *m = impl;
    for (size_t i = 0; i < n; i++)
        status[i] = PERSISTER_WRITE_RETRY;
    tix_err err = s_ensure_index(m);
    if (err != TIX_OK)
        return err;
    err = s_write_kind(m, orders, n, false, status);
    if (err == TIX_OK)
        err = s_write_kind(m, orders, n, true, status);
    return err;
}

static tix_err
s_ping(void *impl)
{
    s_mongo_t *m = impl;
    tix_err err = s_ensure_index(m);
    if (err != TIX_OK)
        return err;
    bson_t cmd = BSON_INITIALIZER, reply;
    bson_error_t error;
    BSON_APPEND_INT32(&cmd, "ping", 1);
    bool ok = mongoc_client_command_simple(m->client, "admin", &cmd, NULL, &reply, &error);
    bson_destroy(&reply);
    bson_destroy(&cmd);
    if (!ok) {
        s_warn("ping", &error);
        return s_err(&error);
    }
    return TIX_OK;
}

static tix_err
s_load_cursor(void *impl, const char *sale_id, persister_log_id_t *log_id)
{
    s_mongo_t *m = impl;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", sale_id);
    BSON_APPEND_INT64(&opts, "limit", 1);
    mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(m->cursors, &filter, &opts, NULL);
    const bson_t *doc;
    bson_error_t error;
    tix_err err = TIX_OK;
    *log_id = (persister_log_id_t){0, 0};
    if (mongoc_cursor_next(cursor, &doc)) {
        bson_iter_t it;
        if (!bson_iter_init_find(&it, doc, "log_id") || !BSON_ITER_HOLDS_UTF8(&it) ||
            !persister_log_id_parse(bson_iter_utf8(&it, NULL), log_id)) {
            /* Starting over is safe (writes are idempotent), stopping is not. */
            tix_warn("stored cursor unreadable; reading the log from its start\tsale=%s", sale_id);
            *log_id = (persister_log_id_t){0, 0};
        }
    } else if (mongoc_cursor_error(cursor, &error)) {
        s_warn("find cursor", &error);
        err = s_err(&error);
    }
    mongoc_cursor_destroy(cursor);
    bson_destroy(&opts);
    bson_destroy(&filter);
    return err;
}

static tix_err
s_store_cursors(void *impl, const persister_cursor_t *cursors, size_t n)
{
    s_mongo_t *m = impl;
    mongoc_bulk_operation_t *bulk = s_bulk_new(m, m->cursors);
    bson_t upsert = BSON_INITIALIZER, reply;
    BSON_APPEND_BOOL(&upsert, "upsert", true);
    int64_t now = tix_wall_ms();
    bson_error_t error;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        char log_id[PERSISTER_LOG_ID_MAX_BYTES];
        persister_log_id_format(cursors[i].log_id, log_id, sizeof log_id);
        bson_t selector = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
        BSON_APPEND_UTF8(&selector, "_id", cursors[i].sale_id);
        BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
        BSON_APPEND_UTF8(&set, "log_id", log_id);
        BSON_APPEND_DATE_TIME(&set, "updated_at", now);
        bson_append_document_end(&update, &set);
        ok = mongoc_bulk_operation_update_one_with_opts(bulk, &selector, &update, &upsert, &error);
        bson_destroy(&update);
        bson_destroy(&selector);
    }
    if (ok) {
        ok = mongoc_bulk_operation_execute(bulk, &reply, &error) != 0;
        bson_destroy(&reply);
    }
    if (!ok)
        s_warn("cursor update", &error);
    bson_destroy(&upsert);
    mongoc_bulk_operation_destroy(bulk);
    return ok ? TIX_OK : s_err(&error);
}

static void
s_destroy(void *impl)
{
    s_mongo_t *m = impl;
    mongoc_collection_destroy(m->cursors);
    mongoc_collection_destroy(m->orders);
    mongoc_database_destroy(m->db);
    mongoc_client_destroy(m->client);
    mongoc_write_concern_destroy(m->wc);
    free(m);
}

static const persister_sink_ops_t s_ops = {
    .kind = "mongodb",
    .ping = s_ping,
    .write = s_write,
    .load_cursor = s_load_cursor,
    .store_cursors = s_store_cursors,
    .destroy = s_destroy,
};

static void
s_uri_default(mongoc_uri_t *uri, const char *option, int32_t value)
{
    if (!mongoc_uri_has_option(uri, option))
        mongoc_uri_set_option_as_int32(uri, option, value);
}

/* "mongodb://host:port,host:port/db" without credentials, for logs. */
static void
s_where(const mongoc_uri_t *uri, const char *database, char *buf, size_t size)
{
    size_t used = (size_t) snprintf(buf, size, "mongodb://");
    const mongoc_host_list_t *h = mongoc_uri_get_hosts(uri);
    if (!h && mongoc_uri_get_srv_hostname(uri))
        used +=
            (size_t) snprintf(buf + used, used < size ? size - used : 0, "%s(srv)", mongoc_uri_get_srv_hostname(uri));
    for (; h && used < size; h = h->next)
        used += (size_t) snprintf(buf + used, size - used, "%s%s", h->host_and_port, h->next ? "," : "");
    if (used < size)
        snprintf(buf + used, size - used, "/%s", database);
}

static mongoc_write_concern_t *
s_write_concern(int write_w, int wtimeout_ms)
{
    mongoc_write_concern_t *wc = mongoc_write_concern_new();
    if (write_w == PERSISTER_W_MAJORITY)
        mongoc_write_concern_set_wmajority(wc, wtimeout_ms);
    else {
        mongoc_write_concern_set_w(wc, write_w);
        mongoc_write_concern_set_wtimeout_int64(wc, wtimeout_ms);
    }
    /* Acknowledged only once in the journal, also on a standalone mongod
     * (w:1) or a replica set without writeConcernMajorityJournalDefault. */
    mongoc_write_concern_set_journal(wc, true);
    return wc;
}

persister_sink_t *
persister_mongo_new(const char *uri_text, const char *database, int write_w, int wtimeout_ms, char *why,
                    size_t why_size)
{
    if (!s_inited) {
        mongoc_init();
        mongoc_log_set_handler(s_mongoc_log, NULL);
        s_inited = true;
    }
    bson_error_t error;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_text, &error);
    if (!uri) {
        snprintf(why, why_size, "--mongo-uri: %s", error.message);
        return NULL;
    }
    s_uri_default(uri, MONGOC_URI_CONNECTTIMEOUTMS, CONNECT_TIMEOUT_MS);
    s_uri_default(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, SERVER_SELECTION_TIMEOUT_MS);
    s_uri_default(uri, MONGOC_URI_SOCKETTIMEOUTMS, (wtimeout_ms ? wtimeout_ms : 10000) + SOCKET_TIMEOUT_SLACK_MS);
    if (!mongoc_uri_get_appname(uri))
        mongoc_uri_set_appname(uri, "tix-persister");
    mongoc_client_t *client = mongoc_client_new_from_uri_with_error(uri, &error);
    char where[300];
    s_where(uri, database, where, sizeof where);
    mongoc_uri_destroy(uri);
    if (!client) {
        snprintf(why, why_size, "--mongo-uri: %s", error.message);
        return NULL;
    }
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    s_mongo_t *m = xcalloc(1, sizeof *m);
    m->client = client;
    m->db = mongoc_client_get_database(client, database);
    m->orders = mongoc_client_get_collection(client, database, "orders");
    m->cursors = mongoc_client_get_collection(client, database, "cursors");
    m->wc = s_write_concern(write_w, wtimeout_ms);
    return persister_sink_new(&s_ops, m, where);
}
