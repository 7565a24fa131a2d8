/* image_webp.c — WebP decoding with libwebp (still images; animations are refused).
 *
 * WebPGetFeatures reads only the header, so the limits are checked before the pixel buffer is
 * allocated; libwebp then decodes straight into our buffer. Truncated data fails the decode.
 */
#include "formats/image.h"

#include <string.h>
#include <webp/decode.h>

static int features(const uint8_t *data, size_t len, WebPBitstreamFeatures *f, char *err, size_t errlen)
{
    if (!data || len == 0) return oma_fail(err, errlen, "webp: empty input");
    VP8StatusCode st = WebPGetFeatures(data, len, f);
    if (st == VP8_STATUS_NOT_ENOUGH_DATA) return oma_fail(err, errlen, "webp: truncated");
    if (st != VP8_STATUS_OK) return oma_fail(err, errlen, "webp: corrupt header (status %d)", (int)st);
    if (f->width <= 0 || f->height <= 0) return oma_fail(err, errlen, "webp: invalid size");
    return 0;
}

int oma_image_webp_probe(const uint8_t *data, size_t len, int *w, int *h, char *err, size_t errlen)
{
    WebPBitstreamFeatures f;
    if (features(data, len, &f, err, errlen) != 0) return -1;
    *w = f.width;
    *h = f.height;
    return 0;
}

int oma_image_webp_decode(const uint8_t *data, size_t len, const oma_image_limits *lim,
                          oma_image *out, char *err, size_t errlen)
{
    WebPBitstreamFeatures f;
    memset(out, 0, sizeof *out);
    if (features(data, len, &f, err, errlen) != 0) return -1;
    if (f.has_animation) return oma_fail(err, errlen, "webp: animated WebP is not supported");
    if (oma_image_check_limits("webp", f.width, f.height, lim, err, errlen) != 0) return -1;
    int c = f.has_alpha ? 4 : 3;
    if (oma_image_alloc(out, f.width, f.height, c) != 0) return oma_fail(err, errlen, "webp: out of memory");
    size_t size = (size_t)f.width * (size_t)f.height * (size_t)c;
    int stride = f.width * c;
    uint8_t *r = c == 4 ? WebPDecodeRGBAInto(data, len, out->px, size, stride)
                        : WebPDecodeRGBInto(data, len, out->px, size, stride);
    if (!r) {
        oma_image_free(out);
        return oma_fail(err, errlen, "webp: truncated or corrupt data");
    }
    return 0;
}
