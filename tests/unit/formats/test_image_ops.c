/* test_image_ops.c — format sniffing, empty and garbage input, alloc bounds, channel
 * conversion, crop, orientation and resizing (area average down, bilinear up, alpha kept
 * from bleeding colour). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "formats/image.h"

static void test_sniff_empty_garbage(void **st)
{
    (void)st;
    oma_image b;
    char err[256];
    uint8_t one = 0x89;
    assert_int_equal(oma_image_sniff(NULL, 0), OMA_IMG_UNKNOWN);
    assert_int_equal(oma_image_sniff(&one, 1), OMA_IMG_UNKNOWN);
    assert_int_equal(oma_image_decode(NULL, 0, 4, 1, NULL, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
    assert_int_equal(oma_image_decode(&one, 0, 4, 1, NULL, &b, err, sizeof err), -1);
    assert_int_equal(oma_image_probe(NULL, 0, NULL, NULL, NULL, err, sizeof err), -1);
    uint8_t garbage[4096];
    uint32_t s = 3;
    for (size_t i = 0; i < sizeof garbage; i++) {
        s = s * 1103515245u + 12345u;
        garbage[i] = (uint8_t)(s >> 16);
    }
    assert_int_equal(oma_image_decode(garbage, sizeof garbage, 4, 1, NULL, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a PNG"));
    /* garbage behind each magic number */
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    memcpy(garbage, png_sig, 8);
    assert_int_equal(oma_image_decode(garbage, sizeof garbage, 4, 1, NULL, &b, err, sizeof err), -1);
    assert_int_equal(oma_image_probe(garbage, sizeof garbage, NULL, NULL, NULL, err, sizeof err), -1);
    garbage[0] = 0xff; garbage[1] = 0xd8; garbage[2] = 0xff;
    assert_int_equal(oma_image_decode(garbage, sizeof garbage, 4, 1, NULL, &b, err, sizeof err), -1);
    memcpy(garbage, "RIFF\x10\0\0\0WEBPVP8 ", 16);
    assert_int_equal(oma_image_decode(garbage, sizeof garbage, 4, 1, NULL, &b, err, sizeof err), -1);
    assert_int_equal(oma_image_decode(garbage, 12, 4, 1, NULL, &b, err, sizeof err), -1);
    /* err may be NULL */
    assert_int_equal(oma_image_decode(garbage, 12, 4, 1, NULL, &b, NULL, 0), -1);
    /* bad channel request */
    assert_int_equal(oma_image_decode(garbage, 12, 2, 1, NULL, &b, err, sizeof err), -1);
}

/* transparency over white: (c * a + 255 * (255 - a) + 127) / 255; grey and RGB copied */
static void test_rgb_on_white(void **st)
{
    (void)st;
    oma_image a, b;
    assert_int_equal(oma_image_alloc(&a, 4, 1, 4), 0);
    static const uint8_t px[16] = {0, 0, 0, 0,   10, 200, 90, 255,   0, 100, 255, 128,   255, 255, 255, 1};
    memcpy(a.px, px, sizeof px);
    assert_int_equal(oma_image_rgb_on_white(&a, &b), 0);
    assert_int_equal(b.c, 3);
    static const uint8_t want[12] = {255, 255, 255,  10, 200, 90,
                                     127, 177, 255,  /* (0 + 255 * 127 + 127) / 255 = 127, (12800 + 32512) / 255 = 177 */
                                     255, 255, 255};
    assert_memory_equal(b.px, want, sizeof want);
    oma_image_free(&a);
    oma_image_free(&b);
    assert_int_equal(oma_image_alloc(&a, 2, 1, 1), 0);
    a.px[0] = 7, a.px[1] = 250;
    assert_int_equal(oma_image_rgb_on_white(&a, &b), 0);
    static const uint8_t grey[6] = {7, 7, 7, 250, 250, 250};
    assert_memory_equal(b.px, grey, sizeof grey);
    oma_image_free(&b);
    oma_image empty = {0};
    assert_int_equal(oma_image_rgb_on_white(&empty, &b), -1);
    oma_image_free(&a);
}

static void test_alloc_convert_crop(void **st)
{
    (void)st;
    oma_image a, b, c;
    assert_int_equal(oma_image_alloc(&a, 0, 5, 3), -1);
    assert_int_equal(oma_image_alloc(&a, 5, -1, 3), -1);
    assert_int_equal(oma_image_alloc(&a, 5, 5, 2), -1);
    assert_int_equal(oma_image_alloc(&a, 100000, 100000, 4), -1);
    assert_int_equal(oma_image_alloc(&a, 3, 2, 3), 0);
    for (int i = 0; i < 18; i++) a.px[i] = (uint8_t)(i * 10);
    assert_int_equal(oma_image_convert(&a, 4, &b), 0);
    assert_int_equal(b.px[4], 30);
    assert_int_equal(b.px[7], 255);
    assert_int_equal(oma_image_convert(&b, 1, &c), 0);
    /* luma of (30,40,50) = 0.299*30 + 0.587*40 + 0.114*50 = 38.15 */
    assert_int_equal(c.px[1], 38);
    oma_image_free(&b);
    assert_int_equal(oma_image_convert(&c, 3, &b), 0);
    assert_int_equal(b.px[3], 38);
    assert_int_equal(b.px[5], 38);
    oma_image_free(&b);
    oma_image_free(&c);
    /* crop */
    assert_int_equal(oma_image_crop(&a, 1, 1, 2, 1, &b), 0);
    assert_int_equal(b.w, 2);
    assert_int_equal(b.h, 1);
    assert_int_equal(b.px[0], 120);   /* pixel (1,1) = index 4 -> byte 12 */
    oma_image_free(&b);
    assert_int_equal(oma_image_crop(&a, 2, 0, 2, 1, &b), -1);
    assert_int_equal(oma_image_crop(&a, -1, 0, 1, 1, &b), -1);
    assert_int_equal(oma_image_crop(&a, 0, 0, 0, 1, &b), -1);
    assert_int_equal(oma_image_crop(&a, 0, 1, 3, 2, &b), -1);
    oma_image_free(&a);
}

static void test_orient(void **st)
{
    (void)st;
    /* 2x1 image [A B]: orientation 6 (rotate 90 cw) gives a 1x2 image [A; B] */
    oma_image a, b;
    assert_int_equal(oma_image_alloc(&a, 2, 1, 1), 0);
    a.px[0] = 1;
    a.px[1] = 2;
    assert_int_equal(oma_image_orient(&a, 6, &b), 0);
    assert_int_equal(b.w, 1);
    assert_int_equal(b.h, 2);
    assert_int_equal(b.px[0], 1);
    assert_int_equal(b.px[1], 2);
    oma_image_free(&b);
    assert_int_equal(oma_image_orient(&a, 8, &b), 0);
    assert_int_equal(b.px[0], 2);
    assert_int_equal(b.px[1], 1);
    oma_image_free(&b);
    assert_int_equal(oma_image_orient(&a, 2, &b), 0);
    assert_int_equal(b.w, 2);
    assert_int_equal(b.px[0], 2);
    oma_image_free(&b);
    assert_int_equal(oma_image_orient(&a, 42, &b), 0);   /* unknown: copy */
    assert_int_equal(b.px[0], 1);
    oma_image_free(&b);
    oma_image_free(&a);
}

static void test_resize(void **st)
{
    (void)st;
    oma_image a, b, c;
    /* 4x4 gray checkerboard of 2x2 blocks (0/200) shrunk to 2x2 by area: exact block values */
    assert_int_equal(oma_image_alloc(&a, 4, 4, 1), 0);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) a.px[y * 4 + x] = ((x / 2 + y / 2) & 1) ? 200 : 0;
    assert_int_equal(oma_image_resize(&a, 2, 2, &b), 0);
    assert_int_equal(b.px[0], 0);
    assert_int_equal(b.px[1], 200);
    assert_int_equal(b.px[2], 200);
    assert_int_equal(b.px[3], 0);
    oma_image_free(&b);
    /* to 1x1: the mean */
    assert_int_equal(oma_image_resize(&a, 1, 1, &b), 0);
    assert_int_equal(b.px[0], 100);
    oma_image_free(&b);
    /* non-integer factor keeps the mean (area averaging preserves it) */
    assert_int_equal(oma_image_resize(&a, 3, 3, &b), 0);
    int sum = 0;
    for (int i = 0; i < 9; i++) sum += b.px[i];
    assert_true(abs(sum / 9 - 100) <= 2);
    oma_image_free(&b);
    oma_image_free(&a);

    /* upscale a horizontal ramp 0..255 over 2 pixels to 8: monotonic, ends clamped */
    assert_int_equal(oma_image_alloc(&a, 2, 1, 1), 0);
    a.px[0] = 0;
    a.px[1] = 255;
    assert_int_equal(oma_image_resize(&a, 8, 3, &b), 0);
    assert_int_equal(b.px[0], 0);
    assert_int_equal(b.px[7], 255);
    for (int x = 1; x < 8; x++) assert_true(b.px[x] >= b.px[x - 1]);
    assert_true(b.px[3] > 60 && b.px[3] < 150);
    assert_int_equal(b.px[8 + 3], b.px[3]);   /* rows identical */
    oma_image_free(&b);
    oma_image_free(&a);

    /* RGBA: a transparent black pixel next to opaque red must not darken the red */
    assert_int_equal(oma_image_alloc(&a, 2, 1, 4), 0);
    a.px[0] = 255; a.px[3] = 255;   /* opaque red */
    /* pixel 1: transparent black (all zero) */
    assert_int_equal(oma_image_resize(&a, 1, 1, &b), 0);
    assert_int_equal(b.px[0], 255);
    assert_true(abs(b.px[3] - 128) <= 1);
    oma_image_free(&b);
    assert_int_equal(oma_image_resize(&a, 6, 1, &b), 0);
    for (int x = 0; x < 6; x++)
        if (b.px[x * 4 + 3] > 0) assert_int_equal(b.px[x * 4], 255);
    oma_image_free(&b);
    oma_image_free(&a);

    /* big random image: down then up keeps size and is close to a blurred version */
    assert_int_equal(oma_image_alloc(&a, 301, 157, 3), 0);
    for (int i = 0; i < 301 * 157 * 3; i++) a.px[i] = (uint8_t)(i % 251);
    assert_int_equal(oma_image_resize(&a, 100, 51, &b), 0);
    assert_int_equal(oma_image_resize(&b, 301, 157, &c), 0);
    assert_int_equal(c.w, 301);
    assert_int_equal(c.h, 157);
    oma_image_free(&c);
    oma_image_free(&b);
    /* mixed: shrink one axis, grow the other */
    assert_int_equal(oma_image_resize(&a, 50, 400, &b), 0);
    assert_int_equal(b.w, 50);
    assert_int_equal(b.h, 400);
    oma_image_free(&b);
    assert_int_equal(oma_image_resize(&a, 0, 10, &b), -1);
    oma_image_free(&a);
}

/* Independent 2-D reference: per axis either exact coverage (shrink) or centre-aligned
 * linear interpolation (grow), evaluated directly per destination pixel in doubles. */
static double ref_weight(int src, int dst, int i, int s)
{
    double scale = (double)src / dst;
    if (dst <= src) {
        double lo = i * scale, hi = (i + 1) * scale;
        double ov = (hi < s + 1.0 ? hi : s + 1.0) - (lo > s ? lo : (double)s);
        return ov > 0 ? ov / scale : 0;
    }
    double x = (i + 0.5) * scale - 0.5;
    if (x < 0) x = 0;
    if (x > src - 1) x = src - 1;
    double d = x - s;
    if (d < 0) d = -d;
    return d < 1 ? 1 - d : 0;
}

static void check_against_reference(int sw, int sh, int dw, int dh)
{
    oma_image a, b;
    assert_int_equal(oma_image_alloc(&a, sw, sh, 3), 0);
    uint32_t s = (uint32_t)(sw * 1000 + sh);
    for (int i = 0; i < sw * sh * 3; i++) {
        s = s * 1664525u + 1013904223u;
        a.px[i] = (uint8_t)(s >> 24);
    }
    assert_int_equal(oma_image_resize(&a, dw, dh, &b), 0);
    for (int j = 0; j < dh; j++)
        for (int i = 0; i < dw; i++)
            for (int ch = 0; ch < 3; ch++) {
                double v = 0;
                for (int y = 0; y < sh; y++) {
                    double wy = ref_weight(sh, dh, j, y);
                    if (wy == 0) continue;
                    for (int x = 0; x < sw; x++) {
                        double wx = ref_weight(sw, dw, i, x);
                        if (wx != 0) v += wx * wy * a.px[(y * sw + x) * 3 + ch];
                    }
                }
                int got = b.px[(j * dw + i) * 3 + ch];
                if (abs(got - (int)(v + 0.5)) > 1) {
                    print_error("%dx%d->%dx%d at (%d,%d,%d): got %d want %.2f\n", sw, sh, dw, dh, i, j, ch, got, v);
                    fail();
                }
            }
    oma_image_free(&b);
    oma_image_free(&a);
}

static void test_resize_reference(void **st)
{
    (void)st;
    check_against_reference(37, 29, 10, 7);    /* shrink, non-integer factors */
    check_against_reference(40, 40, 13, 40);   /* one axis unchanged */
    check_against_reference(11, 9, 31, 23);    /* grow */
    check_against_reference(50, 6, 17, 19);    /* shrink x, grow y */
    check_against_reference(3, 60, 9, 4);      /* grow x, strong shrink y */
    check_against_reference(1, 1, 5, 3);
    check_against_reference(7, 5, 1, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff_empty_garbage),
        cmocka_unit_test(test_alloc_convert_crop),
        cmocka_unit_test(test_rgb_on_white),
        cmocka_unit_test(test_orient),
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_resize_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
