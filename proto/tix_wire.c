/*
 * tix_wire.c - the one check that must read protobuf wire bytes: NUL bytes
 * inside string fields.
 *
 * protobuf-c unpacks a string field into a copy of its bytes with a NUL
 * added, and does not look inside: "alice\0mallory" arrives as "alice" for
 * every strlen, strcmp and Redis call that follows, so a validator working
 * on the unpacked message cannot see the tail. The length is gone by then.
 * Re-packing and comparing sizes is no substitute: a field may legally come
 * twice (the last one wins) and varints may be overlong, so sizes differ for
 * honest input too. So the packed bytes are walked, tag by tag, with the
 * message's descriptor: each length-delimited field that the descriptor
 * declares a string is searched for a NUL, each declared message (map
 * entries are messages too) is walked in turn; bytes fields and unknown
 * fields may hold anything. A NUL in any occurrence of a field counts, even
 * one a later occurrence overrides: refusing is the safe side.
 */
#include <stdio.h>
#include <string.h>

#include "tix_wire.h"

#define WIRE_MAX_DEPTH 8        /* deeper messages are not searched: tix's nest 2 deep */
#define WIRE_PATH_MAX_BYTES 200 /* a field path such as "metadata.key"; fits a reply message */

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

/* Reads a varint at *pos; false when it runs past len or past 10 bytes. */
static bool
s_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 70 && *pos < len; shift += 7) {
        uint8_t b = p[(*pos)++];
        if (shift < 64)
            r |= (uint64_t) (b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

/* Puts name in front of the field path: "key" becomes "metadata.key". */
static void
s_path_prepend(char *path, size_t size, const char *name)
{
    size_t nlen = strlen(name), plen = strlen(path), dot = plen > 0;
    if (nlen + dot + plen >= size)
        return; /* keep the inner name rather than a cut path */
    memmove(path + nlen + dot, path, plen + 1);
    memcpy(path, name, nlen); /* NOLINT(bugprone-not-null-terminated-result): a prefix; path keeps its NUL */
    if (dot)
        path[nlen] = '.';
}

/* Skips the value of a non-length-delimited field; false when malformed. */
static bool
s_skip(unsigned wire_type, const uint8_t *p, size_t len, size_t *pos)
{
    uint64_t v;
    switch (wire_type) {
    case WIRE_VARINT: return s_varint(p, len, pos, &v);
    case WIRE_FIXED64:
    case WIRE_FIXED32: {
        size_t n = wire_type == WIRE_FIXED64 ? 8 : 4;
        if (len - *pos < n)
            return false;
        *pos += n;
        return true;
    }
    default: return false; /* groups (3, 4): protobuf-c refuses them; 6, 7: not protobuf */
    }
}

static bool
s_has_nul(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, int depth, char *path, size_t size)
{
    size_t pos = 0;
    while (pos < len) {
        uint64_t key, flen;
        if (!s_varint(p, len, &pos, &key))
            return false;
        unsigned wire_type = (unsigned) (key & 7);
        if (wire_type != WIRE_LEN) {
            if (!s_skip(wire_type, p, len, &pos))
                return false;
            continue;
        }
        if (!s_varint(p, len, &pos, &flen) || flen > len - pos)
            return false;
        const uint8_t *value = p + pos;
        pos += (size_t) flen;
        const ProtobufCFieldDescriptor *f =
            key >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned) (key >> 3)) : NULL;
        if (!f)
            continue; /* unknown field: kept as bytes, never read as a string */
        if ((f->type == PROTOBUF_C_TYPE_STRING && memchr(value, '\0', (size_t) flen)) ||
            (f->type == PROTOBUF_C_TYPE_MESSAGE && depth < WIRE_MAX_DEPTH &&
             s_has_nul(f->descriptor, value, (size_t) flen, depth + 1, path, size))) {
            s_path_prepend(path, size, f->name);
            return true;
        }
    }
    return false;
}

bool
tix_wire_has_nul(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t size, char *field, size_t field_size)
{
    char path[WIRE_PATH_MAX_BYTES];
    path[0] = '\0';
    bool found = s_has_nul(d, data, size, 0, path, sizeof path);
    /* Every call's header and body pass here: no formatting unless found. */
    if (field_size > 0 && found)
        snprintf(field, field_size, "%s", path);
    else if (field_size > 0)
        field[0] = '\0';
    return found;
}
