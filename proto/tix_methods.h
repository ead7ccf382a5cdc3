/*
 * tix_methods.h - the method table and the field rules of each request.
 *
 * Below tix_codec in proto/: callers include tix_codec.h, which includes
 * this. Knows the generated messages, not the frames.
 * Thread-safe: no mutable state.
 */
#ifndef TIX_METHODS_H
#define TIX_METHODS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tix.pb-c.h"
#include "tix_worker.pb-c.h"

#define TIX_SALE_ID_MAX_BYTES 64
#define TIX_USER_ID_MAX_BYTES 128
#define TIX_REQUEST_ID_MAX_BYTES 64
#define TIX_SALE_TOTAL_MAX 10000000
#define TIX_CANCEL_REASON_MAX_BYTES 256
#define TIX_PAGE_SIZE_MAX 1000
#define TIX_PAGE_TOKEN_MAX_BYTES 128

/* ---- Methods ------------------------------------------------------------ */

typedef enum {
    TIX_METHOD_PURCHASE,
    TIX_METHOD_GET_SALE,
    TIX_METHOD_GET_ORDER,
    TIX_METHOD_CREATE_SALE,
    TIX_METHOD_HEALTH_CHECK,
    TIX_METHOD_CLOSE_SALE,
    TIX_METHOD_LIST_SALES,
    TIX_METHOD_CANCEL_ORDER,
    TIX_METHOD_LIST_ORDERS,
    TIX_METHOD_SALE_BUYERS, /* internal: broker -> worker only */
    TIX_METHOD_COUNT
} tix_method_id;

typedef struct tix_method {
    tix_method_id id;
    const char *name;                         /* "tix.v1.TicketService/Purchase" */
    const ProtobufCMessageDescriptor *input;  /* request type */
    const ProtobufCMessageDescriptor *output; /* reply type */
    bool admin;                               /* AdminService: the admin allow-list applies under CURVE */
    bool retry_safe;                          /* may be sent to another worker when its worker died */
    bool internal;                            /* broker -> worker only: clients get UNIMPLEMENTED */
    /* Checks field limits; on failure writes "field: reason" into why. */
    bool (*validate)(const ProtobufCMessage *request, char *why, size_t why_size);
} tix_method_t;

/* The public method with this full name, or NULL (UNIMPLEMENTED). */
const tix_method_t *tix_method_find(const char *name, size_t len);
/* Same, internal methods included: for workers taking jobs from the broker. */
const tix_method_t *tix_method_find_internal(const char *name, size_t len);
/* The method with this id; id must be < TIX_METHOD_COUNT. */
const tix_method_t *tix_method_get(tix_method_id id);

/* ---- Field validation (exposed for clients and tests) -------------------- */

bool tix_valid_sale_id(const char *s);
bool tix_valid_user_id(const char *s);
bool tix_valid_request_id(const char *s);
/* The length of the longest prefix of s, at most max bytes, that is
 * well-formed UTF-8 (messages are cut there rather than sent invalid). */
size_t tix_utf8_prefix_len(const char *s, size_t max);
/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool tix_utf8_valid(const uint8_t *s, size_t len, bool allow_controls);

#endif
