/*
 * tix_wire.h - the one check made on protobuf wire bytes: NUL bytes inside
 * string fields.
 *
 * Below tix_codec in proto/: callers include tix_codec.h, which includes
 * this. Thread-safe: no state.
 */
#ifndef TIX_WIRE_H
#define TIX_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* True when a string field of the message of type d packed in data[0..size)
 * holds a NUL byte (nested messages and map entries included); field then
 * names it ("user_id", "metadata.key"). protobuf-c hands strings over as C
 * strings, cut at their first NUL, so only the wire bytes can tell. Meant for
 * bytes protobuf-c unpacked: on malformed input it returns false. */
bool tix_wire_has_nul(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t size, char *field,
                      size_t field_size);

#endif
