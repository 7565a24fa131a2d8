/* test_image_jpeg.c — JPEG decoding: round trip (lossy, so within a tolerance), grayscale,
 * 1x1, truncation, corrupt headers and scans, and all 8 EXIF orientations. JPEGs are written
 * here with libjpeg; the EXIF APP1 segment is built by hand (both byte orders) and spliced in
 * after SOI. The expected corner positions come from the EXIF specification's table, not from
 * the code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jpeglib.h>

#include "formats/image.h"

static uint8_t *encode_jpeg(const oma_image *img, int quality, size_t *out_len)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr je;
    unsigned char *buf = NULL;
    unsigned long len = 0;
    ci.err = jpeg_std_error(&je);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &buf, &len);
    ci.image_width = (JDIMENSION)img->w;
    ci.image_height = (JDIMENSION)img->h;
    ci.input_components = img->c;
    ci.in_color_space = img->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, quality, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW r = img->px + (size_t)ci.next_scanline * img->w * img->c;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    *out_len = len;
    return buf;
}

static void wr16(uint8_t *p, unsigned v, int le)
{
    if (le) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
    else { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
}
static void wr32(uint8_t *p, uint32_t v, int le)
{
    if (le) { wr16(p, v & 0xffff, 1); wr16(p + 2, v >> 16, 1); }
    else { wr16(p, v >> 16, 0); wr16(p + 2, v & 0xffff, 0); }
}

/* Returns a new JPEG: SOI, an APP1 EXIF segment with IFD0 = {0x010F Make, 0x0112 orientation},
 * then the rest of jpg. */
static uint8_t *splice_exif(const uint8_t *jpg, size_t len, int orientation, int le, size_t *out_len)
{
    uint8_t tiff[8 + 2 + 2 * 12 + 4 + 8];
    memset(tiff, 0, sizeof tiff);
    tiff[0] = tiff[1] = le ? 'I' : 'M';
    wr16(tiff + 2, 42, le);
    wr32(tiff + 4, 8, le);
    wr16(tiff + 8, 2, le);
    uint8_t *e = tiff + 10;
    wr16(e, 0x010f, le);      /* Make, ASCII, 8 bytes at offset 38 */
    wr16(e + 2, 2, le);
    wr32(e + 4, 8, le);
    wr32(e + 8, 38, le);
    e += 12;
    wr16(e, 0x0112, le);      /* Orientation, SHORT, 1 */
    wr16(e + 2, 3, le);
    wr32(e + 4, 1, le);
    wr16(e + 8, (unsigned)orientation, le);
    memcpy(tiff + 38, "OmaCam\0\0", 8);
    size_t seg = 2 + 6 + sizeof tiff;
    uint8_t *out = malloc(len + 2 + seg);
    memcpy(out, jpg, 2);
    out[2] = 0xff;
    out[3] = 0xe1;
    out[4] = (uint8_t)(seg >> 8);
    out[5] = (uint8_t)seg;
    memcpy(out + 6, "Exif\0\0", 6);
    memcpy(out + 12, tiff, sizeof tiff);
    memcpy(out + 2 + 2 + seg, jpg + 2, len - 2);
    *out_len = len + 2 + seg;
    return out;
}

static void test_roundtrip(void **st)
{
    (void)st;
    oma_image a, b;
    char err[256];
    size_t len;
    assert_int_equal(oma_image_alloc(&a, 64, 40, 3), 0);
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < 64; x++) {
            uint8_t *p = a.px + (y * 64 + x) * 3;
            p[0] = (uint8_t)(x * 4);
            p[1] = (uint8_t)(y * 6);
            p[2] = 128;
        }
    uint8_t *jpg = encode_jpeg(&a, 95, &len);
    assert_int_equal(oma_image_sniff(jpg, len), OMA_IMG_JPEG);
    int w, h;
    assert_int_equal(oma_image_probe(jpg, len, NULL, &w, &h, err, sizeof err), 0);
    assert_int_equal(w, 64);
    assert_int_equal(h, 40);
    assert_int_equal(oma_image_decode(jpg, len, 0, 1, NULL, &b, err, sizeof err), 0);
    assert_int_equal(b.c, 3);
    double sum = 0;
    for (size_t i = 0; i < 64 * 40 * 3; i++) sum += abs((int)a.px[i] - (int)b.px[i]);
    assert_true(sum / (64 * 40 * 3) < 3.0);   /* smooth gradient at q95: tiny mean error */
    oma_image_free(&b);
    assert_int_equal(oma_image_decode(jpg, len, 4, 1, NULL, &b, err, sizeof err), 0);
    assert_int_equal(b.c, 4);
    assert_int_equal(b.px[3], 255);
    oma_image_free(&b);
    free(jpg);
    oma_image_free(&a);

    /* grayscale and 1x1 */
    assert_int_equal(oma_image_alloc(&a, 1, 1, 1), 0);
    a.px[0] = 200;
    jpg = encode_jpeg(&a, 100, &len);
    assert_int_equal(oma_image_decode(jpg, len, 0, 1, NULL, &b, err, sizeof err), 0);
    assert_int_equal(b.w, 1);
    assert_int_equal(b.h, 1);
    assert_int_equal(b.c, 1);
    assert_true(abs((int)b.px[0] - 200) <= 2);
    oma_image_free(&b);
    free(jpg);
    oma_image_free(&a);
}

static void test_truncated_and_corrupt(void **st)
{
    (void)st;
    oma_image a, b;
    char err[256];
    size_t len;
    assert_int_equal(oma_image_alloc(&a, 96, 64, 3), 0);
    uint32_t s = 1;
    for (size_t i = 0; i < 96 * 64 * 3; i++) {
        s = s * 1664525u + 1013904223u;
        a.px[i] = (uint8_t)(s >> 24);
    }
    uint8_t *jpg = encode_jpeg(&a, 90, &len);
    size_t cuts[] = {3, 10, 100, len / 2, len - 50, len - 2};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        uint8_t *copy = malloc(cuts[i]);
        memcpy(copy, jpg, cuts[i]);
        err[0] = 0;
        assert_int_equal(oma_image_decode(copy, cuts[i], 0, 1, NULL, &b, err, sizeof err), -1);
        assert_true(strlen(err) > 0);
        assert_null(b.px);
        free(copy);
    }
    /* find SOF0 and set the height to 0 (illegal), then the component count to 7 */
    size_t sof = 0;
    for (size_t i = 2; i + 1 < len; i++)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xc0) { sof = i; break; }
    assert_true(sof > 0);
    uint8_t *copy = malloc(len);
    memcpy(copy, jpg, len);
    copy[sof + 5] = copy[sof + 6] = 0;
    assert_int_equal(oma_image_decode(copy, len, 0, 1, NULL, &b, err, sizeof err), -1);
    memcpy(copy, jpg, len);
    copy[sof + 9] = 7;
    assert_int_equal(oma_image_decode(copy, len, 0, 1, NULL, &b, err, sizeof err), -1);
    /* an EOI marker planted in the middle of the entropy-coded data */
    memcpy(copy, jpg, len);
    copy[len / 2] = 0xff;
    copy[len / 2 + 1] = 0xd9;
    assert_int_equal(oma_image_decode(copy, len, 0, 1, NULL, &b, err, sizeof err), -1);
    /* SOI followed by garbage */
    memcpy(copy, jpg, len);
    for (size_t i = 3; i < len; i++) copy[i] = (uint8_t)(i * 37);
    assert_int_equal(oma_image_decode(copy, len, 0, 1, NULL, &b, err, sizeof err), -1);
    free(copy);
    free(jpg);
    oma_image_free(&a);
}

/* Colour of the 8x8 block whose top-left is at (x, y) in b (centre pixel). */
static const uint8_t *at(const oma_image *b, int x, int y)
{
    return b->px + ((size_t)(y + 4) * b->w + (size_t)(x + 4)) * b->c;
}

static int is(const uint8_t *p, int r, int g, int bl)
{
    return abs(p[0] - r) < 40 && abs(p[1] - g) < 40 && abs(p[2] - bl) < 40;
}

static void test_exif_orientations(void **st)
{
    (void)st;
    /* stored image 48x32, gray, with a red 16x16 block in its top-left corner and a green one in
     * its top-right corner */
    const int W = 48, H = 32;
    oma_image a, b;
    char err[256];
    assert_int_equal(oma_image_alloc(&a, W, H, 3), 0);
    memset(a.px, 128, (size_t)W * H * 3);
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) {
            uint8_t *r = a.px + ((size_t)y * W + x) * 3, *g = a.px + ((size_t)y * W + (W - 16 + x)) * 3;
            r[0] = 255; r[1] = 0; r[2] = 0;
            g[0] = 0; g[1] = 255; g[2] = 0;
        }
    size_t len, elen;
    uint8_t *jpg = encode_jpeg(&a, 95, &len);
    /* EXIF table: where the stored top-left (red) and top-right (green) corners are displayed.
     * 0 = TL, 1 = TR, 2 = BR, 3 = BL */
    static const int red_at[9] = {0, 0, 1, 2, 3, 0, 1, 2, 3};
    static const int green_at[9] = {0, 1, 0, 3, 2, 3, 2, 1, 0};
    for (int le = 0; le <= 1; le++) {
        for (int o = 1; o <= 8; o++) {
            uint8_t *ej = splice_exif(jpg, len, o, le, &elen);
            assert_int_equal(oma_image_decode(ej, elen, 3, 1, NULL, &b, err, sizeof err), 0);
            int dw = o >= 5 ? H : W, dh = o >= 5 ? W : H;
            assert_int_equal(b.w, dw);
            assert_int_equal(b.h, dh);
            const int cx[4] = {0, dw - 16, dw - 16, 0}, cy[4] = {0, 0, dh - 16, dh - 16};
            for (int k = 0; k < 4; k++) {
                const uint8_t *p = at(&b, cx[k], cy[k]);
                if (k == red_at[o]) assert_true(is(p, 255, 0, 0));
                else if (k == green_at[o]) assert_true(is(p, 0, 255, 0));
                else assert_true(is(p, 128, 128, 128));
            }
            oma_image_free(&b);
            /* without apply_exif the stored layout comes back */
            assert_int_equal(oma_image_decode(ej, elen, 3, 0, NULL, &b, err, sizeof err), 0);
            assert_int_equal(b.w, W);
            assert_true(is(at(&b, 0, 0), 255, 0, 0));
            oma_image_free(&b);
            free(ej);
        }
    }
    free(jpg);
    oma_image_free(&a);
}

static void test_exif_parser_bounds(void **st)
{
    (void)st;
    /* malformed EXIF payloads give 1, never a read outside the buffer (ASan checks) */
    uint8_t buf[64];
    memset(buf, 0, sizeof buf);
    memcpy(buf, "Exif\0\0MM", 8);
    buf[8] = 0; buf[9] = 42;
    buf[10] = 0xff; buf[11] = 0xff; buf[12] = 0xff; buf[13] = 0xf0;   /* IFD offset far outside */
    for (size_t n = 0; n <= sizeof buf; n++) {
        uint8_t *c = malloc(n ? n : 1);
        memcpy(c, buf, n);
        assert_int_equal(oma_image_exif_orientation(c, n), 1);
        free(c);
    }
    /* IFD at 8 claiming 1000 entries in a short buffer */
    buf[10] = buf[11] = buf[12] = 0; buf[13] = 8;
    buf[14] = 0x03; buf[15] = 0xe8;
    assert_int_equal(oma_image_exif_orientation(buf, sizeof buf), 1);
    /* one good entry with orientation 6; then value 9 (out of range) gives 1 */
    buf[14] = 0; buf[15] = 1;
    uint8_t *e = buf + 16;
    e[0] = 0x01; e[1] = 0x12; e[2] = 0; e[3] = 3; e[4] = e[5] = e[6] = 0; e[7] = 1; e[8] = 0; e[9] = 6;
    assert_int_equal(oma_image_exif_orientation(buf, sizeof buf), 6);
    e[9] = 9;
    assert_int_equal(oma_image_exif_orientation(buf, sizeof buf), 1);
    assert_int_equal(oma_image_exif_orientation(buf, 16 + 11), 1);   /* entry cut short */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_truncated_and_corrupt),
        cmocka_unit_test(test_exif_orientations),
        cmocka_unit_test(test_exif_parser_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
