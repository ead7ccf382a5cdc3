/*
 * admin_call.c - a call on a raw DEALER: [""][TIX1][CallHeader][body] out,
 * [""][TIX1][ReplyHeader][body] back.
 */
#include "admin_call.h"

#include <czmq.h>

#include "tix_util.h"

bool
th_admin_call(const char *frontend, tix_method_id method, const ProtobufCMessage *request, int timeout_ms,
              tix_code *code, ProtobufCMessage **reply)
{
    *reply = NULL;
    const tix_method_t *m = tix_method_get(method);
    zsock_t *s = zsock_new(ZMQ_DEALER);
    if (!m || !s || zsock_connect(s, "%s", frontend) != 0) {
        zsock_destroy(&s);
        return false;
    }
    zsock_set_rcvtimeo(s, timeout_ms);
    zmsg_t *msg = zmsg_new();
    zmsg_addmem(msg, NULL, 0);
    tix_call_append(msg, m->name, 1, (uint32_t) timeout_ms, request);
    bool ok = zmsg_send(&msg, s) == 0;
    zmsg_t *answer = ok ? zmsg_recv(s) : NULL;
    tix_frame_t views[4];
    size_t n = answer ? tix_frames_view(answer, 1, views, TIX_ARRAY_LEN(views)) : 0;
    Tix__V1__ReplyHeader *header = NULL;
    tix_frame_t body;
    ok = n == 3 && tix_reply_decode(views, n, &header, &body) == TIX_OK;
    if (ok) {
        *code = header->code;
        if (header->code == TIX__V1__CODE__OK)
            *reply = protobuf_c_message_unpack(m->output, NULL, body.size, body.data);
        ok = header->code != TIX__V1__CODE__OK || *reply != NULL;
        tix__v1__reply_header__free_unpacked(header, NULL);
    }
    zmsg_destroy(&answer);
    zmsg_destroy(&msg);
    zsock_destroy(&s);
    return ok;
}
