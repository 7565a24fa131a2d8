/* fuzz_multipart.c — libFuzzer target: an upload's multipart/form-data body. The input's
 * first line is the Content-Type header value (the boundary comes from it), the rest is the
 * body, fed in chunks whose sizes come from the input too (parts split anywhere, boundaries
 * across chunks); the callbacks copy what a real upload keeps, bounded. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "server/http/multipart.h"

typedef struct sink {
    size_t bytes, parts;
    char name[64];
} sink;

static int on_begin(void *ud, const char *name, const char *filename, const char *ctype)
{
    sink *s = ud;
    s->parts++;
    size_t n = strlen(name) + strlen(filename) + strlen(ctype);
    (void)n;
    strncpy(s->name, name, sizeof s->name - 1);
    return 0;
}

static int on_data(void *ud, const uint8_t *d, size_t n)
{
    sink *s = ud;
    if (n && d[0] == 0xFF && d[n - 1] == 0xFF) return 1;   /* a callback may abort */
    s->bytes += n;
    return s->bytes > (1u << 20);
}

static int on_end(void *ud)
{
    (void)ud;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    const uint8_t *nl = memchr(data, '\n', len < 256 ? len : 256);
    if (!nl) return 0;
    char ctype[257];
    size_t cl = (size_t)(nl - data);
    memcpy(ctype, data, cl);
    ctype[cl] = '\0';
    char boundary[OMA_MP_MAX_BOUNDARY + 1];
    if (oma_multipart_boundary(ctype, boundary, sizeof boundary) != 0) return 0;
    sink s = {0};
    oma_multipart_cb cb = {on_begin, on_data, on_end, &s};
    oma_multipart *mp = oma_multipart_new(boundary, &cb);
    if (!mp) return 0;
    const uint8_t *p = nl + 1;
    size_t left = len - cl - 1, step = 1 + (cl * 7) % 13;
    int rc = 0;
    while (left && rc == 0) {
        size_t n = step < left ? step : left;
        rc = oma_multipart_feed(mp, p, n);
        p += n;
        left -= n;
        step = step * 3 % 61 + 1;
    }
    if (rc == 0) (void)oma_multipart_finish(mp);
    (void)oma_multipart_errmsg(mp);
    oma_multipart_free(mp);
    return 0;
}
