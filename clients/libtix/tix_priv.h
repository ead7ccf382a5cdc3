/*
 * tix_priv.h - libtix for the code built with it: the tix CLI, tix-rush,
 * the tests and libtix itself.
 *
 * Not installed. Adds to tix.h the project's own types that the installed
 * header keeps out (it needs only the C standard library): tix_err,
 * tix_code, tix_method_id and the generated protobuf-c messages, and checks
 * at compile time that tix.h's plain numbers agree with them.
 */
#ifndef TIX_PRIV_H
#define TIX_PRIV_H

#include "tix.h"
#include "tix_codec.h"
#include "tix_err.h"

_Static_assert(TIX_RC_OK == TIX_OK && TIX_RC_INVALID == TIX_ERR_INVALID && TIX_RC_TIMEOUT == TIX_ERR_TIMEOUT &&
                   TIX_RC_UNAVAILABLE == TIX_ERR_UNAVAILABLE && TIX_RC_PROTOCOL == TIX_ERR_PROTOCOL &&
                   TIX_RC_IO == TIX_ERR_IO && TIX_RC_INTERRUPTED == TIX_ERR_INTERRUPTED,
               "tix.h's TIX_RC_* match tix_err");
_Static_assert(TIX_STATUS_OK == TIX__V1__CODE__OK &&
                   TIX_STATUS_RESOURCE_EXHAUSTED == TIX__V1__CODE__RESOURCE_EXHAUSTED &&
                   TIX_STATUS_UNAVAILABLE == TIX__V1__CODE__UNAVAILABLE &&
                   TIX_STATUS_UNAUTHENTICATED == TIX__V1__CODE__UNAUTHENTICATED,
               "tix.h's TIX_STATUS_* match tix.proto's Code");
_Static_assert(TIX_CALL_PURCHASE == TIX_METHOD_PURCHASE && TIX_CALL_GET_SALE == TIX_METHOD_GET_SALE &&
                   TIX_CALL_GET_ORDER == TIX_METHOD_GET_ORDER && TIX_CALL_CREATE_SALE == TIX_METHOD_CREATE_SALE &&
                   TIX_CALL_HEALTH_CHECK == TIX_METHOD_HEALTH_CHECK && TIX_CALL_CLOSE_SALE == TIX_METHOD_CLOSE_SALE &&
                   TIX_CALL_LIST_SALES == TIX_METHOD_LIST_SALES && TIX_CALL_CANCEL_ORDER == TIX_METHOD_CANCEL_ORDER &&
                   TIX_CALL_LIST_ORDERS == TIX_METHOD_LIST_ORDERS,
               "tix.h's TIX_CALL_* match tix_method_id");
_Static_assert(TIX_RESULT_MESSAGE_BYTES == TIX_MESSAGE_MAX_BYTES, "tix_result_t.message holds a reply's message");

#endif
