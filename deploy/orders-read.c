/*
 * orders-read.c - the local-stack demo's last step: reads one sale's orders
 * back from the database the persister wrote (MongoDB or FerretDB) with
 * libmongoc, as a client of the business would.
 *
 *   tix-orders-read URI DATABASE SALE   prints "count N" (the sale's
 *                                       orders, cancelled ones included),
 *                                       its first order (by _id) as relaxed
 *                                       Extended JSON, and "cancelled N"
 *                                       (those with cancelled_at)
 *
 * Exit 0 when the server answered, 1 otherwise (the reason on stderr).
 * Built with the rest (CMakeLists.txt); a demo tool, not a service.
 */
#include <stdio.h>

#include <mongoc/mongoc.h>

/* Prints "cancelled N": the sale's orders that carry cancelled_at. */
static int
s_cancelled(mongoc_collection_t *orders, const char *sale)
{
    bson_t *filter = BCON_NEW("sale_id", BCON_UTF8(sale), "cancelled_at", "{", "$exists", BCON_BOOL(true), "}");
    bson_error_t error;
    int64_t n = mongoc_collection_count_documents(orders, filter, NULL, NULL, NULL, &error);
    bson_destroy(filter);
    if (n < 0) {
        fprintf(stderr, "orders-read: count of cancelled orders failed: %s\n", error.message);
        return 1;
    }
    printf("cancelled %lld\n", (long long) n);
    return 0;
}

static int
s_read(mongoc_client_t *client, const char *database, const char *sale)
{
    mongoc_collection_t *orders = mongoc_client_get_collection(client, database, "orders");
    bson_t *filter = BCON_NEW("sale_id", BCON_UTF8(sale));
    bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}", "limit", BCON_INT64(1));
    bson_error_t error;
    int rc = 1;
    int64_t n = mongoc_collection_count_documents(orders, filter, NULL, NULL, NULL, &error);
    if (n < 0) {
        fprintf(stderr, "orders-read: count failed: %s\n", error.message);
    } else {
        printf("count %lld\n", (long long) n);
        mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(orders, filter, opts, NULL);
        const bson_t *doc;
        if (mongoc_cursor_next(cursor, &doc)) {
            char *json = bson_as_relaxed_extended_json(doc, NULL);
            printf("%s\n", json);
            bson_free(json);
        }
        if (mongoc_cursor_error(cursor, &error))
            fprintf(stderr, "orders-read: find failed: %s\n", error.message);
        else
            rc = s_cancelled(orders, sale);
        mongoc_cursor_destroy(cursor);
    }
    bson_destroy(opts);
    bson_destroy(filter);
    mongoc_collection_destroy(orders);
    return rc;
}

int
main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: tix-orders-read URI DATABASE SALE\n");
        return 2;
    }
    mongoc_init();
    /* FerretDB lacks endSessions: libmongoc's warning about it at exit is noise here. */
    mongoc_log_set_handler(NULL, NULL);
    bson_error_t error;
    mongoc_client_t *client = NULL;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(argv[1], &error);
    if (uri)
        client = mongoc_client_new_from_uri_with_error(uri, &error);
    int rc = 1;
    if (!client)
        fprintf(stderr, "orders-read: %s\n", error.message);
    else
        rc = s_read(client, argv[2], argv[3]);
    mongoc_client_destroy(client);
    mongoc_uri_destroy(uri);
    mongoc_cleanup();
    return rc;
}
