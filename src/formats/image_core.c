/* image_core.c — the image type itself: allocation, limits, format sniffing, the decode/probe
 * front door that dispatches to one codec per file, channel conversion, crop and file helpers.
 *
 * The idea: every codec decodes to its natural channel count after checking the header against
 * the limits; this file turns that into what the caller asked for, so the codecs stay small.
 */
#include "formats/image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OMA_IMAGE_MAX_FILE (256u << 20)   /* a file larger than this is not an image we take */

oma_image_limits oma_image_default_limits(void)
{
    oma_image_limits l = {8192, 40LL * 1000 * 1000};
    return l;
}

int oma_image_check_limits(const char *fmt, int w, int h, const oma_image_limits *lim,
                           char *err, size_t errlen)
{
    oma_image_limits d = oma_image_default_limits();
    if (!lim) lim = &d;
    if (w <= 0 || h <= 0) return oma_fail(err, errlen, "%s: invalid size %dx%d", fmt, w, h);
    if (w > lim->max_side || h > lim->max_side || (int64_t)w * h > lim->max_pixels)
        return oma_fail(err, errlen,
                        "%s: image is %dx%d, over the limit (%d per side, %lld pixels): "
                        "refused before decoding (decompression bomb?)",
                        fmt, w, h, lim->max_side, (long long)lim->max_pixels);
    return 0;
}

oma_image_format oma_image_sniff(const uint8_t *d, size_t len)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    if (!d) return OMA_IMG_UNKNOWN;
    if (len >= 8 && memcmp(d, png_sig, 8) == 0) return OMA_IMG_PNG;
    if (len >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff) return OMA_IMG_JPEG;
    if (len >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return OMA_IMG_WEBP;
    return OMA_IMG_UNKNOWN;
}

const char *oma_image_format_mime(oma_image_format f)
{
    switch (f) {
    case OMA_IMG_PNG: return "image/png";
    case OMA_IMG_JPEG: return "image/jpeg";
    case OMA_IMG_WEBP: return "image/webp";
    default: return "application/octet-stream";
    }
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int oma_image_probe(const uint8_t *data, size_t len, oma_image_format *fmt, int *w, int *h,
                    char *err, size_t errlen)
{
    int ww = 0, hh = 0, rc;
    oma_image_format f = oma_image_sniff(data, len);
    if (fmt) *fmt = f;
    switch (f) {
    case OMA_IMG_PNG:
        /* signature, then the first chunk must be IHDR of length 13 */
        if (len < 8 + 8 + 13) return oma_fail(err, errlen, "png: truncated");
        if (be32(data + 8) != 13 || memcmp(data + 12, "IHDR", 4) != 0)
            return oma_fail(err, errlen, "png: first chunk is not IHDR");
        if (be32(data + 16) > 0x7fffffffu || be32(data + 20) > 0x7fffffffu || be32(data + 16) == 0 ||
            be32(data + 20) == 0)
            return oma_fail(err, errlen, "png: invalid size in IHDR");
        ww = (int)be32(data + 16);
        hh = (int)be32(data + 20);
        rc = 0;
        break;
    case OMA_IMG_JPEG: rc = oma_image_jpeg_probe(data, len, &ww, &hh, err, errlen); break;
    case OMA_IMG_WEBP: rc = oma_image_webp_probe(data, len, &ww, &hh, err, errlen); break;
    default:
        if (!data || len == 0) return oma_fail(err, errlen, "image: empty input");
        return oma_fail(err, errlen, "image: not a PNG, JPEG or WebP file");
    }
    if (rc != 0) return -1;
    if (w) *w = ww;
    if (h) *h = hh;
    return 0;
}

int oma_image_decode(const uint8_t *data, size_t len, int want_c, int apply_exif,
                     const oma_image_limits *limits, oma_image *out, char *err, size_t errlen)
{
    oma_image nat = {0};
    int rc;
    if (!out) return oma_fail(err, errlen, "image: no output");
    memset(out, 0, sizeof *out);
    if (want_c != 0 && want_c != 1 && want_c != 3 && want_c != 4)
        return oma_fail(err, errlen, "image: unsupported channel count %d", want_c);
    switch (oma_image_sniff(data, len)) {
    case OMA_IMG_PNG: rc = oma_image_png_decode(data, len, limits, &nat, err, errlen); break;
    case OMA_IMG_JPEG: rc = oma_image_jpeg_decode(data, len, apply_exif, limits, &nat, err, errlen); break;
    case OMA_IMG_WEBP: rc = oma_image_webp_decode(data, len, limits, &nat, err, errlen); break;
    default:
        if (!data || len == 0) return oma_fail(err, errlen, "image: empty input");
        return oma_fail(err, errlen, "image: not a PNG, JPEG or WebP file");
    }
    if (rc != 0) return -1;
    if (want_c == 0 || want_c == nat.c) {
        *out = nat;
        return 0;
    }
    rc = oma_image_convert(&nat, want_c, out);
    oma_image_free(&nat);
    if (rc != 0) return oma_fail(err, errlen, "image: out of memory");
    return 0;
}

int oma_image_alloc(oma_image *img, int w, int h, int c)
{
    if (!img) return -1;
    memset(img, 0, sizeof *img);
    if (w <= 0 || h <= 0 || (c != 1 && c != 3 && c != 4)) return -1;
    if ((uint64_t)w * (uint64_t)h > (uint64_t)1 << 31) return -1;   /* 2^31 pixels: never sane */
    size_t n = (size_t)w * (size_t)h * (size_t)c;
    img->px = calloc(n, 1);
    if (!img->px) return -1;
    img->w = w;
    img->h = h;
    img->c = c;
    return 0;
}

void oma_image_free(oma_image *img)
{
    if (!img) return;
    free(img->px);
    img->px = NULL;
    img->w = img->h = img->c = 0;
}

static uint8_t luma(const uint8_t *p)
{
    return (uint8_t)((299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u);
}

int oma_image_convert(const oma_image *src, int c, oma_image *dst)
{
    if (!src || !src->px || !dst) return -1;
    if (oma_image_alloc(dst, src->w, src->h, c) != 0) return -1;
    size_t n = (size_t)src->w * (size_t)src->h;
    const uint8_t *s = src->px;
    uint8_t *d = dst->px;
    for (size_t i = 0; i < n; i++, s += src->c, d += c) {
        uint8_t rgb[3], a = 255;
        if (src->c == 1) {
            rgb[0] = rgb[1] = rgb[2] = s[0];
        } else {
            rgb[0] = s[0];
            rgb[1] = s[1];
            rgb[2] = s[2];
            if (src->c == 4) a = s[3];
        }
        if (c == 1) {
            d[0] = src->c == 1 ? s[0] : luma(rgb);
        } else {
            d[0] = rgb[0];
            d[1] = rgb[1];
            d[2] = rgb[2];
            if (c == 4) d[3] = a;
        }
    }
    return 0;
}

int oma_image_rgb_on_white(const oma_image *src, oma_image *dst)
{
    if (!src || !src->px || !dst) return -1;
    if (oma_image_alloc(dst, src->w, src->h, 3) != 0) return -1;
    size_t n = (size_t)src->w * (size_t)src->h;
    const uint8_t *s = src->px;
    uint8_t *d = dst->px;
    for (size_t i = 0; i < n; i++, s += src->c, d += 3)
        for (int k = 0; k < 3; k++) {
            unsigned v = s[src->c >= 3 ? k : 0];
            if (src->c == 4) v = (v * s[3] + 255u * (255u - s[3]) + 127u) / 255u;
            d[k] = (uint8_t)v;
        }
    return 0;
}

int oma_image_crop(const oma_image *src, int x, int y, int w, int h, oma_image *dst)
{
    if (!src || !src->px || !dst) return -1;
    if (x < 0 || y < 0 || w <= 0 || h <= 0 || x > src->w - w || y > src->h - h) return -1;
    if (oma_image_alloc(dst, w, h, src->c) != 0) return -1;
    size_t row = (size_t)w * (size_t)src->c;
    for (int j = 0; j < h; j++)
        memcpy(dst->px + (size_t)j * row,
               src->px + ((size_t)(y + j) * (size_t)src->w + (size_t)x) * (size_t)src->c, row);
    return 0;
}

int oma_image_orient(const oma_image *src, int o, oma_image *dst)
{
    if (!src || !src->px || !dst) return -1;
    if (o < 1 || o > 8) o = 1;
    int w = src->w, h = src->h, c = src->c;
    int W = o >= 5 ? h : w, H = o >= 5 ? w : h;
    if (oma_image_alloc(dst, W, H, c) != 0) return -1;
    for (int Y = 0; Y < H; Y++) {
        for (int X = 0; X < W; X++) {
            int x, y;
            switch (o) {
            case 2: x = w - 1 - X; y = Y; break;
            case 3: x = w - 1 - X; y = h - 1 - Y; break;
            case 4: x = X; y = h - 1 - Y; break;
            case 5: x = Y; y = X; break;
            case 6: x = Y; y = h - 1 - X; break;
            case 7: x = w - 1 - Y; y = h - 1 - X; break;
            case 8: x = w - 1 - Y; y = X; break;
            default: x = X; y = Y; break;
            }
            memcpy(dst->px + ((size_t)Y * (size_t)W + (size_t)X) * (size_t)c,
                   src->px + ((size_t)y * (size_t)w + (size_t)x) * (size_t)c, (size_t)c);
        }
    }
    return 0;
}

int oma_image_load(const char *path, int want_c, const oma_image_limits *limits, oma_image *out,
                   char *err, size_t errlen)
{
    if (out) memset(out, 0, sizeof *out);
    if (!path) return oma_fail(err, errlen, "image: no path");
    FILE *f = fopen(path, "rb");
    if (!f) return oma_fail(err, errlen, "%s: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;
    for (;;) {
        if (len == cap) {
            if (cap >= OMA_IMAGE_MAX_FILE) {
                oma_fail(err, errlen, "%s: file too large (over %u MiB)", path,
                         OMA_IMAGE_MAX_FILE >> 20);
                goto done;
            }
            size_t ncap = cap ? cap * 2 : 65536;
            if (ncap > OMA_IMAGE_MAX_FILE) ncap = OMA_IMAGE_MAX_FILE;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                oma_fail(err, errlen, "%s: out of memory", path);
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                oma_fail(err, errlen, "%s: read error", path);
                goto done;
            }
            break;
        }
    }
    rc = oma_image_decode(buf, len, want_c, 1, limits, out, err, errlen);
done:
    free(buf);
    fclose(f);
    return rc;
}

int oma_image_save_png(const char *path, const oma_image *img, char *err, size_t errlen)
{
    uint8_t *png = NULL;
    size_t len = 0;
    if (!path) return oma_fail(err, errlen, "image: no path");
    if (oma_image_encode_png(img, NULL, NULL, &png, &len, err, errlen) != 0) return -1;
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(png);
        return oma_fail(err, errlen, "%s: %s", path, strerror(errno));
    }
    size_t wr = fwrite(png, 1, len, f);
    int cl = fclose(f);
    free(png);
    if (wr != len || cl != 0) return oma_fail(err, errlen, "%s: write failed", path);
    return 0;
}
