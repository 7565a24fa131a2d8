/* image.h — 8-bit images in memory, and decoding/encoding them (PNG, JPEG, WebP in; PNG out).
 *
 * Every byte here comes from outside (uploads, files), so decoding is defensive: the header is
 * read first and width, height and pixel count are checked against limits *before* any pixel
 * buffer is allocated (a decompression bomb is refused by its header), truncated or corrupt
 * data gives an error string, never a crash. Pixels are interleaved, row-major, top-down,
 * 1 (gray), 3 (RGB) or 4 (RGBA) channels.
 */
#ifndef OMA_FORMATS_IMAGE_H
#define OMA_FORMATS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "formats/fail.h"  /* oma_fail: how the codecs and their users fill err */

typedef struct oma_image {
    int w, h, c;        /* width, height, channels (1, 3 or 4) */
    uint8_t *px;        /* w*h*c bytes, owned */
} oma_image;

typedef enum { OMA_IMG_UNKNOWN = 0, OMA_IMG_PNG, OMA_IMG_JPEG, OMA_IMG_WEBP } oma_image_format;

typedef struct oma_image_limits {
    int max_side;           /* largest width or height accepted (default 8192) */
    int64_t max_pixels;     /* largest w*h accepted (default 40 megapixels) */
} oma_image_limits;

/* Default limits (8192 per side, 40 Mpx). */
oma_image_limits oma_image_default_limits(void);

/* Sniffs the format from the first bytes; OMA_IMG_UNKNOWN if none of ours. */
oma_image_format oma_image_sniff(const uint8_t *data, size_t len);
const char *oma_image_format_mime(oma_image_format f);   /* "image/png", ... */

/* Reads only the header: format, width, height. 0 on success, -1 with err filled. */
int oma_image_probe(const uint8_t *data, size_t len, oma_image_format *fmt, int *w, int *h,
                    char *err, size_t errlen);

/* Decodes to RGBA (want_c = 4), RGB (3) or gray (1); want_c = 0 keeps the source's
 * natural count (1, 3 or 4). JPEG EXIF orientation is applied when apply_exif is non-zero.
 * limits may be NULL for the defaults. 0 on success, -1 with err filled ("png: truncated"). */
int oma_image_decode(const uint8_t *data, size_t len, int want_c, int apply_exif,
                     const oma_image_limits *limits, oma_image *out, char *err, size_t errlen);

/* Encodes as PNG. text_key/text_value (may be NULL) add one tEXt chunk (A1111 "parameters"; iTXt
 * when the UTF-8 value is not ASCII, as PIL writes it).
 * *out is malloc'ed; 0 on success, -1 with err. */
int oma_image_encode_png(const oma_image *img, const char *text_key, const char *text_value,
                         uint8_t **out, size_t *out_len, char *err, size_t errlen);

/* File helpers. */
int oma_image_load(const char *path, int want_c, const oma_image_limits *limits, oma_image *out,
                   char *err, size_t errlen);
int oma_image_save_png(const char *path, const oma_image *img, char *err, size_t errlen);

/* Allocates a zeroed image; 0 on success, -1 on bad size or out of memory. */
int oma_image_alloc(oma_image *img, int w, int h, int c);
void oma_image_free(oma_image *img);

/* Converts channel count (1/3/4) into a new image. */
int oma_image_convert(const oma_image *src, int c, oma_image *dst);

/* RGB copy with grey expanded and transparency composited over white, rounded:
 * (c * a + 255 * (255 - a) + 127) / 255 (a cut-out character then stands on paper rather than
 * on whatever colour its transparent pixels hold, often black). */
int oma_image_rgb_on_white(const oma_image *src, oma_image *dst);

/* Resizes with a good-quality filter (area averaging when shrinking, bilinear when growing). */
int oma_image_resize(const oma_image *src, int w, int h, oma_image *dst);

/* Resizes exactly as Pillow's Image.resize (image_resize_pil.c): what reference pipelines do
 * (CLIP preprocessing: BICUBIC; diffusers' VaeImageProcessor: LANCZOS). */
enum { OMA_PIL_BICUBIC = 3, OMA_PIL_LANCZOS = 1 };
int oma_image_resize_pil(const oma_image *src, int w, int h, int filter, oma_image *dst);

/* Copies the rectangle (x, y, w, h), which must lie inside src. */
int oma_image_crop(const oma_image *src, int x, int y, int w, int h, oma_image *dst);

/* Applies an EXIF orientation (1..8) to src, giving the image as it should be displayed
 * (5..8 swap width and height). Any other value copies src unchanged. */
int oma_image_orient(const oma_image *src, int orientation, oma_image *dst);

/* Reads the orientation tag (0x0112) from the payload of a JPEG APP1 segment (the bytes after
 * the length, starting "Exif\0\0"). Returns 1..8, or 1 when absent or malformed. */
int oma_image_exif_orientation(const uint8_t *app1, size_t len);

/* ---- per-format codecs (used by oma_image_decode/probe; decode to the natural channel count) */
int oma_image_png_decode(const uint8_t *data, size_t len, const oma_image_limits *lim,
                         oma_image *out, char *err, size_t errlen);
int oma_image_jpeg_probe(const uint8_t *data, size_t len, int *w, int *h, char *err, size_t errlen);
int oma_image_jpeg_decode(const uint8_t *data, size_t len, int apply_exif,
                          const oma_image_limits *lim, oma_image *out, char *err, size_t errlen);
int oma_image_webp_probe(const uint8_t *data, size_t len, int *w, int *h, char *err, size_t errlen);
int oma_image_webp_decode(const uint8_t *data, size_t len, const oma_image_limits *lim,
                          oma_image *out, char *err, size_t errlen);
/* Checks w x h against lim (NULL = defaults); -1 with "<fmt>: ..." in err when refused. */
int oma_image_check_limits(const char *fmt, int w, int h, const oma_image_limits *lim,
                           char *err, size_t errlen);

#endif
