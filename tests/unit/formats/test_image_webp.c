/* test_image_webp.c — WebP decoding: lossless RGBA round trip (exact), lossy RGB (close),
 * 1x1, truncation and corrupt bytes. The WebP files are encoded here with libwebp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <webp/encode.h>

#include "formats/image.h"

static void fill(oma_image *img)
{
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++) {
            uint8_t *p = img->px + ((size_t)y * img->w + x) * img->c;
            p[0] = (uint8_t)(x * 5);
            p[1] = (uint8_t)(y * 3);
            p[2] = (uint8_t)(x + y);
            if (img->c == 4) p[3] = (uint8_t)(x < img->w / 2 ? 255 : 60);
        }
}

static void test_lossless_rgba(void **st)
{
    (void)st;
    oma_image a, b;
    char err[256];
    uint8_t *webp = NULL;
    assert_int_equal(oma_image_alloc(&a, 50, 30, 4), 0);
    fill(&a);
    size_t len = WebPEncodeLosslessRGBA(a.px, 50, 30, 50 * 4, &webp);
    assert_true(len > 0);
    assert_int_equal(oma_image_sniff(webp, len), OMA_IMG_WEBP);
    assert_string_equal(oma_image_format_mime(OMA_IMG_WEBP), "image/webp");
    int w, h;
    assert_int_equal(oma_image_probe(webp, len, NULL, &w, &h, err, sizeof err), 0);
    assert_int_equal(w, 50);
    assert_int_equal(h, 30);
    assert_int_equal(oma_image_decode(webp, len, 0, 1, NULL, &b, err, sizeof err), 0);
    assert_int_equal(b.c, 4);
    assert_memory_equal(a.px, b.px, 50 * 30 * 4);
    oma_image_free(&b);
    /* truncated at several points */
    size_t cuts[] = {1, 11, 12, 20, 30, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        uint8_t *c = malloc(cuts[i]);
        memcpy(c, webp, cuts[i]);
        err[0] = 0;
        assert_int_equal(oma_image_decode(c, cuts[i], 4, 1, NULL, &b, err, sizeof err), -1);
        assert_true(strlen(err) > 0);
        free(c);
    }
    /* limits */
    oma_image_limits lim = {40, 100000};
    assert_int_equal(oma_image_decode(webp, len, 4, 1, &lim, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "limit"));
    WebPFree(webp);
    oma_image_free(&a);
}

static void test_lossy_rgb_and_1x1(void **st)
{
    (void)st;
    oma_image a, b;
    char err[256];
    uint8_t *webp = NULL;
    assert_int_equal(oma_image_alloc(&a, 40, 40, 3), 0);
    fill(&a);
    size_t len = WebPEncodeRGB(a.px, 40, 40, 40 * 3, 95, &webp);
    assert_true(len > 0);
    assert_int_equal(oma_image_decode(webp, len, 0, 1, NULL, &b, err, sizeof err), 0);
    assert_int_equal(b.c, 3);
    double sum = 0;
    for (size_t i = 0; i < 40 * 40 * 3; i++) sum += abs((int)a.px[i] - (int)b.px[i]);
    assert_true(sum / (40 * 40 * 3) < 6.0);
    oma_image_free(&b);
    /* corrupt the VP8 payload */
    for (size_t i = 30; i < len; i += 3) webp[i] ^= 0xa5;
    assert_int_equal(oma_image_decode(webp, len, 0, 1, NULL, &b, err, sizeof err), -1);
    WebPFree(webp);
    oma_image_free(&a);

    assert_int_equal(oma_image_alloc(&a, 1, 1, 4), 0);
    a.px[0] = 10; a.px[1] = 20; a.px[2] = 30; a.px[3] = 255;
    len = WebPEncodeLosslessRGBA(a.px, 1, 1, 4, &webp);
    assert_true(len > 0);
    assert_int_equal(oma_image_decode(webp, len, 4, 1, NULL, &b, err, sizeof err), 0);
    assert_int_equal(b.w, 1);
    assert_int_equal(b.h, 1);
    assert_memory_equal(a.px, b.px, 4);
    oma_image_free(&b);
    WebPFree(webp);
    oma_image_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lossless_rgba),
        cmocka_unit_test(test_lossy_rgb_and_1x1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
