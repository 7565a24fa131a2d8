/* test_image_fuzz.c — mutation fuzzing of the decoders: valid PNG, JPEG (baseline and
 * progressive) and WebP (lossy and lossless) files built here get random byte flips, byte runs,
 * insertions and truncations, a few hundred times each, with a fixed seed. Every result must be
 * either a clean error with a message or a well-formed image within the limits; ASan and UBSan
 * watch every read. Also probes each mutant. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jpeglib.h>
#include <webp/encode.h>

#include "formats/image.h"

static uint32_t rng = 20261125u;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void picture(oma_image *img, int w, int h, int c)
{
    assert_int_equal(oma_image_alloc(img, w, h, c), 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++)
                img->px[((size_t)y * w + x) * c + ch] = (uint8_t)((x * (ch + 1) * 9) ^ (y * 7) ^ (int)(rnd() & 15));
}

static uint8_t *jpeg_of(const oma_image *img, int progressive, size_t *len)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr je;
    unsigned char *buf = NULL;
    unsigned long n = 0;
    ci.err = jpeg_std_error(&je);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &buf, &n);
    ci.image_width = (JDIMENSION)img->w;
    ci.image_height = (JDIMENSION)img->h;
    ci.input_components = img->c;
    ci.in_color_space = img->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 85, TRUE);
    if (progressive) jpeg_simple_progression(&ci);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW r = img->px + (size_t)ci.next_scanline * img->w * img->c;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    *len = n;
    return buf;
}

/* One random mutation of src into a fresh exact-size buffer. */
static uint8_t *mutate(const uint8_t *src, size_t len, size_t *out_len)
{
    size_t n = len;
    uint8_t *d = malloc(len + 64);
    assert_non_null(d);
    memcpy(d, src, len);
    int kind = (int)(rnd() % 5);
    if (kind == 0) {   /* flip a few bits */
        int k = 1 + (int)(rnd() % 4);
        while (k--) d[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
    } else if (kind == 1) {   /* overwrite a run with one value (0, 0xff or random) */
        size_t at = rnd() % n, run = 1 + rnd() % 16;
        uint8_t v = (uint8_t)(rnd() % 3 == 0 ? 0 : rnd() % 2 ? 0xff : rnd());
        for (size_t i = at; i < n && i < at + run; i++) d[i] = v;
    } else if (kind == 2) {   /* truncate */
        n = rnd() % len;
    } else if (kind == 3) {   /* insert random bytes */
        size_t at = rnd() % n, k = 1 + rnd() % 32;
        memmove(d + at + k, d + at, n - at);
        for (size_t i = 0; i < k; i++) d[at + i] = (uint8_t)rnd();
        n += k;
    } else {   /* a header field: one of the first 64 bytes set to a large value */
        d[rnd() % (n < 64 ? n : 64)] = (uint8_t)(0x80 | rnd());
    }
    uint8_t *exact = malloc(n ? n : 1);   /* exact size, so ASan sees any overread */
    assert_non_null(exact);
    memcpy(exact, d, n);
    free(d);
    *out_len = n;
    return exact;
}

static void hammer(const char *what, const uint8_t *file, size_t len, int rounds)
{
    oma_image_limits lim = {512, 512 * 512};
    int ok = 0, bad = 0;
    for (int r = 0; r < rounds; r++) {
        size_t n;
        uint8_t *m = mutate(file, len, &n);
        oma_image img;
        char err[256] = "";
        int w = 0, h = 0;
        (void)oma_image_probe(m, n, NULL, &w, &h, err, sizeof err);
        err[0] = 0;
        int want_c = (int)(rnd() % 5);
        if (want_c == 2) want_c = 4;
        if (oma_image_decode(m, n, want_c, (int)(rnd() & 1), &lim, &img, err, sizeof err) == 0) {
            assert_true(img.w >= 1 && img.h >= 1 && img.w <= 512 && img.h <= 512);
            assert_true(img.c == 1 || img.c == 3 || img.c == 4);
            if (want_c) assert_int_equal(img.c, want_c);
            volatile unsigned sum = 0;   /* touch every byte: the buffer really is w*h*c */
            for (size_t i = 0; i < (size_t)img.w * img.h * img.c; i++) sum += img.px[i];
            (void)sum;
            oma_image_free(&img);
            ok++;
        } else {
            assert_null(img.px);
            if (strlen(err) == 0) {
                print_error("%s: round %d failed without a message\n", what, r);
                fail();
            }
            bad++;
        }
        free(m);
    }
    print_message("%s: %d mutants decoded, %d refused\n", what, ok, bad);
    assert_true(bad > 0);   /* the mutations do bite */
}

static void test_fuzz_png(void **st)
{
    (void)st;
    for (int c = 1; c <= 4; c += (c == 1 ? 2 : 1)) {
        oma_image img;
        uint8_t *png;
        size_t len;
        char err[256];
        picture(&img, 40, 30, c);
        assert_int_equal(oma_image_encode_png(&img, "k", "v", &png, &len, err, sizeof err), 0);
        hammer("png", png, len, 300);
        free(png);
        oma_image_free(&img);
    }
}

static void test_fuzz_jpeg(void **st)
{
    (void)st;
    for (int prog = 0; prog <= 1; prog++)
        for (int c = 1; c <= 3; c += 2) {
            oma_image img;
            size_t len;
            picture(&img, 48, 32, c);
            uint8_t *jpg = jpeg_of(&img, prog, &len);
            hammer(prog ? "jpeg progressive" : "jpeg", jpg, len, 250);
            free(jpg);
            oma_image_free(&img);
        }
}

static void test_fuzz_webp(void **st)
{
    (void)st;
    oma_image img;
    uint8_t *webp = NULL;
    picture(&img, 40, 30, 4);
    size_t len = WebPEncodeLosslessRGBA(img.px, 40, 30, 160, &webp);
    assert_true(len > 0);
    hammer("webp lossless", webp, len, 300);
    WebPFree(webp);
    oma_image_free(&img);
    picture(&img, 40, 30, 3);
    len = WebPEncodeRGB(img.px, 40, 30, 120, 80, &webp);
    assert_true(len > 0);
    hammer("webp lossy", webp, len, 300);
    WebPFree(webp);
    oma_image_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuzz_png),
        cmocka_unit_test(test_fuzz_jpeg),
        cmocka_unit_test(test_fuzz_webp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
