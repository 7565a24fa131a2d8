/* image_png.c — PNG decoding and encoding with libpng, from and to memory.
 *
 * libpng reports errors by longjmp. The setjmp lives in a function that keeps all of its
 * changing state in a struct owned by the caller (reached through a pointer), so nothing the
 * caller frees afterwards is an indeterminate local. The header is read and checked against
 * the limits before any pixel buffer exists; a read past the end of the data is "truncated".
 */
#include "formats/image.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct png_dec {
    png_structp png;
    png_infop info;
    const uint8_t *data;
    size_t len, pos;
    const oma_image_limits *lim;
    oma_image img;
    png_bytep *rows;
    char msg[200];
} png_dec;

static void dec_read(png_structp png, png_bytep out, size_t n)
{
    png_dec *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) png_error(png, "truncated");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static void dec_error(png_structp png, png_const_charp msg)
{
    png_dec *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "png: %s", msg ? msg : "error");
    png_longjmp(png, 1);
}

static void quiet_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static int dec_run(png_dec *s)
{
    png_uint_32 w, h;
    int depth, ctype, interlace;
    if (setjmp(png_jmpbuf(s->png))) return -1;
    png_set_read_fn(s->png, s, dec_read);
    png_set_chunk_malloc_max(s->png, 16u << 20);   /* bounds ancillary chunks (iCCP, zTXt...) */
    png_read_info(s->png, s->info);
    png_get_IHDR(s->png, s->info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    if (w > 0x7fffffffu || h > 0x7fffffffu ||
        oma_image_check_limits("png", (int)w, (int)h, s->lim, s->msg, sizeof s->msg) != 0) {
        if (!s->msg[0]) snprintf(s->msg, sizeof s->msg, "png: invalid size");
        return -1;
    }
    /* Everything to 8-bit gray, RGB or RGBA. */
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(s->png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(s->png);
    int has_trns = png_get_valid(s->png, s->info, PNG_INFO_tRNS) != 0;
    if (has_trns) png_set_tRNS_to_alpha(s->png);
    if (depth == 16) png_set_strip_16(s->png);
    if ((ctype == PNG_COLOR_TYPE_GRAY && has_trns) || ctype == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(s->png);
    png_set_interlace_handling(s->png);
    png_read_update_info(s->png, s->info);
    int c = png_get_channels(s->png, s->info);
    if ((c != 1 && c != 3 && c != 4) || png_get_rowbytes(s->png, s->info) != (size_t)w * (size_t)c) {
        snprintf(s->msg, sizeof s->msg, "png: unsupported pixel layout");
        return -1;
    }
    if (oma_image_alloc(&s->img, (int)w, (int)h, c) != 0) {
        snprintf(s->msg, sizeof s->msg, "png: out of memory");
        return -1;
    }
    s->rows = malloc(sizeof *s->rows * h);
    if (!s->rows) {
        snprintf(s->msg, sizeof s->msg, "png: out of memory");
        return -1;
    }
    for (png_uint_32 y = 0; y < h; y++) s->rows[y] = s->img.px + (size_t)y * w * (size_t)c;
    png_read_image(s->png, s->rows);
    png_read_end(s->png, NULL);
    return 0;
}

int oma_image_png_decode(const uint8_t *data, size_t len, const oma_image_limits *lim,
                         oma_image *out, char *err, size_t errlen)
{
    png_dec *s = calloc(1, sizeof *s);
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (!s) return oma_fail(err, errlen, "png: out of memory");
    s->data = data;
    s->len = len;
    s->lim = lim;
    s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, dec_error, quiet_warning);
    if (s->png) s->info = png_create_info_struct(s->png);
    if (!s->png || !s->info) {
        oma_fail(err, errlen, "png: out of memory");
    } else if (dec_run(s) == 0) {
        *out = s->img;
        s->img.px = NULL;
        rc = 0;
    } else {
        oma_fail(err, errlen, "%s", s->msg[0] ? s->msg : "png: corrupt data");
    }
    if (s->png) png_destroy_read_struct(&s->png, s->info ? &s->info : NULL, NULL);
    free(s->rows);
    oma_image_free(&s->img);
    free(s);
    return rc;
}

/* ---- encoding */

typedef struct png_enc {
    png_structp png;
    png_infop info;
    const oma_image *img;
    const char *key, *value;
    uint8_t *buf;
    size_t len, cap;
    png_bytep *rows;
    char msg[200];
} png_enc;

static void enc_write(png_structp png, png_bytep p, size_t n)
{
    png_enc *s = png_get_io_ptr(png);
    if (n > s->cap - s->len) {
        size_t ncap = s->cap ? s->cap : 65536;
        while (ncap - s->len < n) {
            if (ncap > SIZE_MAX / 2) png_error(png, "output too large");
            ncap *= 2;
        }
        uint8_t *nb = realloc(s->buf, ncap);
        if (!nb) png_error(png, "out of memory");
        s->buf = nb;
        s->cap = ncap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static void enc_flush(png_structp png) { (void)png; }

static void enc_error(png_structp png, png_const_charp msg)
{
    png_enc *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "png: %s", msg ? msg : "error");
    png_longjmp(png, 1);
}

static int enc_run(png_enc *s)
{
    const oma_image *img = s->img;
    if (setjmp(png_jmpbuf(s->png))) return -1;
    png_set_write_fn(s->png, s, enc_write, enc_flush);
    int ctype = img->c == 1 ? PNG_COLOR_TYPE_GRAY : img->c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA;
    png_set_IHDR(s->png, s->info, (png_uint_32)img->w, (png_uint_32)img->h, 8, ctype,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(s->png, 6);
    if (s->key && s->value) {
        png_text t;
        memset(&t, 0, sizeof t);
        /* tEXt is Latin-1: UTF-8 text (a prompt in another script) goes in an iTXt chunk, as
         * PIL writes it, so that A1111 and PIL read the same characters back */
        int ascii = 1;
        for (const unsigned char *c = (const unsigned char *)s->value; *c && ascii; c++) ascii = *c < 0x80;
        t.compression = ascii ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
        t.key = (png_charp)s->key;
        t.text = (png_charp)s->value;
        if (ascii) {
            t.text_length = strlen(s->value);
        } else {
            t.itxt_length = strlen(s->value);
            t.lang = (png_charp) "";
            t.lang_key = (png_charp) "";
        }
        png_set_text(s->png, s->info, &t, 1);
    }
    s->rows = malloc(sizeof *s->rows * (size_t)img->h);
    if (!s->rows) {
        snprintf(s->msg, sizeof s->msg, "png: out of memory");
        return -1;
    }
    for (int y = 0; y < img->h; y++) s->rows[y] = img->px + (size_t)y * (size_t)img->w * (size_t)img->c;
    png_set_rows(s->png, s->info, s->rows);
    png_write_png(s->png, s->info, PNG_TRANSFORM_IDENTITY, NULL);
    return 0;
}

int oma_image_encode_png(const oma_image *img, const char *text_key, const char *text_value,
                         uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
    if (!out || !out_len) return oma_fail(err, errlen, "png: no output");
    *out = NULL;
    *out_len = 0;
    if (!img || !img->px || img->w <= 0 || img->h <= 0 || (img->c != 1 && img->c != 3 && img->c != 4))
        return oma_fail(err, errlen, "png: invalid image");
    if (text_key) {
        size_t kl = strlen(text_key);
        if (kl < 1 || kl > 79) return oma_fail(err, errlen, "png: text key must be 1..79 bytes");
        if (!text_value) text_key = NULL;
    }
    png_enc *s = calloc(1, sizeof *s);
    if (!s) return oma_fail(err, errlen, "png: out of memory");
    s->img = img;
    s->key = text_key;
    s->value = text_value;
    int rc = -1;
    s->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, s, enc_error, quiet_warning);
    if (s->png) s->info = png_create_info_struct(s->png);
    if (!s->png || !s->info) {
        oma_fail(err, errlen, "png: out of memory");
    } else if (enc_run(s) == 0) {
        *out = s->buf;
        *out_len = s->len;
        s->buf = NULL;
        rc = 0;
    } else {
        oma_fail(err, errlen, "%s", s->msg[0] ? s->msg : "png: encoding failed");
    }
    if (s->png) png_destroy_write_struct(&s->png, s->info ? &s->info : NULL);
    free(s->rows);
    free(s->buf);
    free(s);
    return rc;
}
