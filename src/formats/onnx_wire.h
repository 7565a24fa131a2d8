/* onnx_wire.h — the protobuf wire format, read by hand for the ONNX reader (internal).
 *
 * A message is a sequence of (tag varint = field << 3 | wire type, value). Wire types used:
 * 0 varint, 1 fixed64, 2 length-delimited (strings, bytes, sub-messages, packed repeated),
 * 5 fixed32. Every read is checked against the bytes left; groups (3/4) are refused. The
 * message parsers in onnx_parse.c/onnx_data.c walk fields with pb_next and skip unknown ones.
 */
#ifndef OMA_FORMATS_ONNX_WIRE_H
#define OMA_FORMATS_ONNX_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "formats/onnx.h"

typedef struct pb_reader {
    const uint8_t *p, *end;
} pb_reader;

typedef struct pb_field {
    uint32_t num;
    int wire;
    uint64_t v;                     /* varint / fixed values */
    const uint8_t *data;            /* length-delimited payload */
    size_t len;
} pb_field;

/* Reads a varint; -1 when truncated or longer than 10 bytes. */
int pb_varint(pb_reader *r, uint64_t *out);
/* Next field: 1 when one was read, 0 at the end, -1 when malformed (why in *why). */
int pb_next(pb_reader *r, pb_field *f, const char **why);

/* Shared context of one load: the folder external data may come from, the file name for
 * messages, and the error buffer. */
typedef struct onnx_ctx {
    const char *dir;
    const char *file;
    char *err;
    size_t errlen;
} onnx_ctx;

int onnx_err(onnx_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A NUL-terminated copy of a string field (bounded by OMA_ONNX_MAX_NAME, no NUL inside). */
char *onnx_strdup(onnx_ctx *c, const pb_field *f, const char *what);
/* Parses a TensorProto (data included, external data read from ctx->dir). */
int onnx_parse_tensor(onnx_ctx *c, const uint8_t *p, size_t len, oma_onnx_tensor *t);
void onnx_tensor_free(oma_onnx_tensor *t);
/* Graph validation and topological ordering (onnx_check.c). */
int onnx_check_graph(onnx_ctx *c, oma_onnx_model *m);

#endif
