/* onnx_wire.c — protobuf wire primitives for the ONNX reader (see onnx_wire.h): varints and
 * field iteration with every length checked against the bytes left, plus the shared error and
 * string helpers. */
#include "formats/onnx_wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pb_varint(pb_reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (r->p >= r->end) return -1;
        uint8_t b = *r->p++;
        if (i == 9 && b > 1) return -1;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) { *out = v; return 0; }
    }
    return -1;
}

int pb_next(pb_reader *r, pb_field *f, const char **why)
{
    if (r->p >= r->end) return 0;
    uint64_t tag;
    if (pb_varint(r, &tag) != 0) { *why = "truncated field tag"; return -1; }
    f->num = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    if (f->num == 0 || (tag >> 3) > 0x1fffffff) { *why = "invalid field number"; return -1; }
    f->data = NULL;
    f->len = 0;
    f->v = 0;
    switch (f->wire) {
    case 0:
        if (pb_varint(r, &f->v) != 0) { *why = "truncated varint"; return -1; }
        return 1;
    case 1:
        if (r->end - r->p < 8) { *why = "truncated fixed64"; return -1; }
        memcpy(&f->v, r->p, 8);
        r->p += 8;
        return 1;
    case 5: {
        if (r->end - r->p < 4) { *why = "truncated fixed32"; return -1; }
        uint32_t x;
        memcpy(&x, r->p, 4);
        f->v = x;
        r->p += 4;
        return 1;
    }
    case 2: {
        uint64_t n;
        if (pb_varint(r, &n) != 0) { *why = "truncated length"; return -1; }
        if (n > (uint64_t)(r->end - r->p)) { *why = "length runs past the end of the message"; return -1; }
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
        return 1;
    }
    default:
        *why = "unsupported wire type (groups or invalid)";
        return -1;
    }
}

int onnx_err(onnx_ctx *c, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(c->err, c->errlen, "oma: onnx: %s: %s", c->file, msg);
    }
    return -1;
}

char *onnx_strdup(onnx_ctx *c, const pb_field *f, const char *what)
{
    if (f->wire != 2) { onnx_err(c, "%s: not a string field", what); return NULL; }
    if (f->len > OMA_ONNX_MAX_NAME) { onnx_err(c, "%s: longer than %d bytes", what, OMA_ONNX_MAX_NAME); return NULL; }
    if (f->len && memchr(f->data, 0, f->len)) { onnx_err(c, "%s: contains a NUL byte", what); return NULL; }
    char *s = malloc(f->len + 1);
    if (!s) { onnx_err(c, "%s: out of memory", what); return NULL; }
    if (f->len) memcpy(s, f->data, f->len);
    s[f->len] = 0;
    return s;
}
