/* test_tone.c — screentone and tone classes: the disc coverage formula is exact (checked by
 * sampling), dot and line screens put down the asked ink coverage at several angles and
 * frequencies, the dot period matches the frequency, tone classes count and order. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "pipelines/style/tone.h"

static void test_disc_coverage(void **state)
{
    (void)state;
    const float rs[] = {0.1f, 0.3f, 0.5f, 0.6f, 0.68f};
    for (size_t k = 0; k < sizeof rs / sizeof rs[0]; k++) {
        int in = 0, n = 400;
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) {
                float u = (x + 0.5f) / n - 0.5f, v = (y + 0.5f) / n - 0.5f;
                in += u * u + v * v < rs[k] * rs[k];
            }
        assert_true(fabsf(oma_disc_coverage(rs[k]) - (float)in / (n * n)) < 0.002f);
    }
    assert_true(oma_disc_coverage(0.8f) == 1.0f && oma_disc_coverage(0) == 0);
}

static float coverage(oma_tone_type t, float freq, float angle, float density)
{
    oma_screen sc;
    oma_screen_init(&sc, t, freq, angle);
    int ink = 0;
    for (int y = 0; y < 256; y++)
        for (int x = 0; x < 256; x++) ink += oma_screen_ink(&sc, x, y, density);
    return (float)ink / (256 * 256);
}

static void test_screen_coverage(void **state)
{
    (void)state;
    const float dens[] = {0.1f, 0.3f, 0.5f, 0.8f};
    for (size_t i = 0; i < 4; i++) {
        assert_true(fabsf(coverage(OMA_TONE_DOTS, 0.125f, 45, dens[i]) - dens[i]) < 0.04f);
        assert_true(fabsf(coverage(OMA_TONE_DOTS, 0.1f, 15, dens[i]) - dens[i]) < 0.04f);
        /* axis-aligned lines can only be whole pixels wide: within one pixel of the period */
        assert_true(fabsf(coverage(OMA_TONE_LINES, 0.125f, 0, dens[i]) - dens[i]) <= 0.125f + 0.01f);
        assert_true(fabsf(coverage(OMA_TONE_LINES, 0.2f, 30, dens[i]) - dens[i]) < 0.05f);
    }
    assert_true(coverage(OMA_TONE_NONE, 0.125f, 45, 0.5f) == 0);
    assert_true(coverage(OMA_TONE_DOTS, 0.125f, 45, 0) == 0);
    assert_true(coverage(OMA_TONE_DOTS, 0.125f, 45, 1) == 1);
}

static void test_dot_period(void **state)
{
    (void)state;
    /* At angle 0 and frequency 1/8 the pattern repeats every 8 pixels and not every 4. */
    oma_screen sc;
    oma_screen_init(&sc, OMA_TONE_DOTS, 0.125f, 0);
    int same8 = 0, same4 = 0;
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++) {
            int v = oma_screen_ink(&sc, x, y, 0.3f);
            same8 += v == oma_screen_ink(&sc, x + 8, y, 0.3f);
            same4 += v == oma_screen_ink(&sc, x + 4, y, 0.3f);
        }
    assert_int_equal(same8, 64 * 64);
    assert_true(same4 < 64 * 64 * 3 / 4);
}

static void test_tone_classes(void **state)
{
    (void)state;
    enum { N = 4000 };
    float lum[N], c[8];
    uint8_t cls[N];
    for (int i = 0; i < N; i++) lum[i] = (float)(i * 256 / N);   /* a ramp */
    for (int k = 2; k <= 8; k++) {
        assert_int_equal(oma_tone_classes(lum, N, k, c, cls), k);
        for (int j = 1; j < k; j++) assert_true(c[j] > c[j - 1]);
        for (int i = 1; i < N; i++) assert_true(cls[i] >= cls[i - 1]);  /* monotone */
        assert_int_equal(cls[0], 0);
        assert_int_equal(cls[N - 1], k - 1);
    }
    for (int i = 0; i < N; i++) lum[i] = 77;  /* flat: one class */
    assert_int_equal(oma_tone_classes(lum, N, 4, c, cls), 1);
    assert_int_equal(oma_tone_classes(lum, 0, 4, c, cls), -1);
    assert_int_equal(oma_tone_type_parse("dots"), OMA_TONE_DOTS);
    assert_int_equal(oma_tone_type_parse("lines"), OMA_TONE_LINES);
    assert_int_equal(oma_tone_type_parse("none"), OMA_TONE_NONE);
    assert_int_equal(oma_tone_type_parse("stripes"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_disc_coverage), cmocka_unit_test(test_screen_coverage),
                                       cmocka_unit_test(test_dot_period), cmocka_unit_test(test_tone_classes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
