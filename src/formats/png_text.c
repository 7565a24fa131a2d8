/* png_text.c — walking a PNG's chunks for its text (see png_text.h).
 *
 * The idea: the text chunks are plain records (length, type, data, CRC) before and between the
 * image data, so they are read straight from the bytes; nothing is decoded but compressed text,
 * and that is inflated with a hard cap. Every length is checked against what is left.
 */
#include "formats/png_text.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "formats/fail.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Inflates a zlib stream into a NUL-terminated malloc'ed buffer of at most OMA_PNG_TEXT_MAX. */
static char *inflate_text(const uint8_t *d, size_t n, size_t *out_len)
{
    size_t cap = 4096;
    char *o = malloc(cap + 1);
    if (!o) return NULL;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) {
        free(o);
        return NULL;
    }
    z.next_in = (Bytef *)d;
    z.avail_in = (uInt)n;
    size_t len = 0;
    int rc = Z_OK;
    do {
        if (len == cap) {
            if (cap >= OMA_PNG_TEXT_MAX) break;
            cap = cap * 2 > OMA_PNG_TEXT_MAX ? OMA_PNG_TEXT_MAX : cap * 2;
            char *p = realloc(o, cap + 1);
            if (!p) break;
            o = p;
        }
        z.next_out = (Bytef *)o + len;
        z.avail_out = (uInt)(cap - len);
        rc = inflate(&z, Z_NO_FLUSH);
        len = cap - z.avail_out;
    } while (rc == Z_OK);
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(o);
        return NULL;
    }
    o[len] = '\0';
    *out_len = len;
    return o;
}

/* Latin-1 bytes to UTF-8 (malloc'ed, NUL-terminated). */
static char *latin1_to_utf8(const uint8_t *d, size_t n)
{
    char *o = malloc(2 * n + 1);
    if (!o) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < 0x80) {
            o[j++] = (char)d[i];
        } else {
            o[j++] = (char)(0xC0 | (d[i] >> 6));
            o[j++] = (char)(0x80 | (d[i] & 0x3F));
        }
    }
    o[j] = '\0';
    return o;
}

/* One chunk's text: key (NUL-terminated inside data, 1..79 bytes) and its value. 0 ok (or not a
 * usable chunk: skipped with *value NULL), -1 error. */
static int read_chunk(const uint8_t *d, size_t n, int kind, char *key, char **value)
{
    *value = NULL;
    const uint8_t *nul = memchr(d, 0, n < 80 ? n : 80);
    if (!nul || nul == d) return 0;   /* a chunk without a proper key: ignored, as readers do */
    size_t kl = (size_t)(nul - d);
    memcpy(key, d, kl);
    key[kl] = '\0';
    const uint8_t *p = nul + 1, *end = d + n;
    if (kind == 't') {
        if ((size_t)(end - p) > OMA_PNG_TEXT_MAX) return -1;
        *value = latin1_to_utf8(p, (size_t)(end - p));
        return *value ? 0 : -1;
    }
    if (kind == 'z') {
        if (p >= end || *p != 0) return 0;   /* compression method 0 only */
        size_t ul = 0;
        char *raw = inflate_text(p + 1, (size_t)(end - p - 1), &ul);
        if (!raw) return -1;
        *value = latin1_to_utf8((const uint8_t *)raw, ul);
        free(raw);
        return *value ? 0 : -1;
    }
    /* iTXt: compression flag, method, language tag\0, translated keyword\0, text */
    if (end - p < 2) return 0;
    int compressed = p[0];
    p += 2;
    for (int i = 0; i < 2; i++) {
        const uint8_t *z = memchr(p, 0, (size_t)(end - p));
        if (!z) return 0;
        p = z + 1;
    }
    if (compressed) {
        size_t ul = 0;
        *value = inflate_text(p, (size_t)(end - p), &ul);
        return *value ? 0 : -1;
    }
    size_t vl = (size_t)(end - p);
    if (vl > OMA_PNG_TEXT_MAX) return -1;
    *value = malloc(vl + 1);
    if (!*value) return -1;
    memcpy(*value, p, vl);
    (*value)[vl] = '\0';
    return 0;
}

int oma_png_text_each(const uint8_t *png, size_t len, int (*fn)(const char *key, const char *value, void *arg),
                      void *arg, char *err, size_t errlen)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len < 8 || memcmp(png, sig, 8) != 0) return oma_fail(err, errlen, "png: not a PNG");
    size_t off = 8;
    int texts = 0;
    while (off < len) {
        if (len - off < 12) return oma_fail(err, errlen, "png: truncated");
        uint32_t n = be32(png + off);
        const uint8_t *type = png + off + 4;
        if (n > 0x7fffffffu || n > len - off - 12) return oma_fail(err, errlen, "png: a chunk runs past the end");
        const uint8_t *d = png + off + 8;
        if (memcmp(type, "IEND", 4) == 0) return 0;
        int kind = memcmp(type, "tEXt", 4) == 0 ? 't' : memcmp(type, "zTXt", 4) == 0 ? 'z'
                 : memcmp(type, "iTXt", 4) == 0 ? 'i' : 0;
        if (kind) {
            if (++texts > OMA_PNG_TEXT_CHUNKS_MAX) return oma_fail(err, errlen, "png: too many text chunks");
            char key[80];
            char *value = NULL;
            if (read_chunk(d, n, kind, key, &value) != 0)
                return oma_fail(err, errlen, "png: a text chunk is corrupt or over %u bytes", OMA_PNG_TEXT_MAX);
            if (value) {
                int rc = fn(key, value, arg);
                free(value);
                if (rc) return rc;
            }
        }
        off += 12 + (size_t)n;
    }
    return oma_fail(err, errlen, "png: no IEND");
}
