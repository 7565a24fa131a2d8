/* test_colorspace.c — sRGB <-> CIELAB against published reference values (D65), and the
 * round trip of a grid of 8-bit colours back to within one level. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "pipelines/style/colorspace.h"

static void near(float got, float want, float tol)
{
    if (fabsf(got - want) > tol) fail_msg("got %f, want %f (+-%f)", got, want, tol);
}

static void test_reference_values(void **state)
{
    (void)state;
    oma_lab w = oma_rgb_to_lab(255, 255, 255), k = oma_rgb_to_lab(0, 0, 0);
    near(w.L, 100, 0.05f); near(w.a, 0, 0.05f); near(w.b, 0, 0.05f);
    near(k.L, 0, 0.01f);
    /* sRGB primaries: L*a*b* from the standard formulas (Lindbloom's calculator, D65). */
    oma_lab r = oma_rgb_to_lab(255, 0, 0), g = oma_rgb_to_lab(0, 255, 0), b = oma_rgb_to_lab(0, 0, 255);
    near(r.L, 53.24f, 0.1f); near(r.a, 80.09f, 0.2f); near(r.b, 67.20f, 0.2f);
    near(g.L, 87.73f, 0.1f); near(g.a, -86.18f, 0.2f); near(g.b, 83.18f, 0.2f);
    near(b.L, 32.30f, 0.1f); near(b.a, 79.19f, 0.2f); near(b.b, -107.86f, 0.2f);
    oma_lab m = oma_rgb_to_lab(128, 128, 128);
    near(m.L, 53.59f, 0.1f); near(m.a, 0, 0.05f); near(m.b, 0, 0.05f);
    near(oma_luma(255, 255, 255), 255, 0.01f);
    near(oma_hsv_saturation(255, 0, 0), 1, 1e-6f);
    near(oma_hsv_saturation(100, 100, 100), 0, 1e-6f);
    near(oma_hsv_saturation(0, 0, 0), 0, 1e-6f);
}

static void test_round_trip(void **state)
{
    (void)state;
    int worst = 0;
    for (int r = 0; r < 256; r += 5)
        for (int g = 0; g < 256; g += 5)
            for (int b = 0; b < 256; b += 5) {
                uint8_t o[3];
                oma_lab_to_rgb(oma_rgb_to_lab((uint8_t)r, (uint8_t)g, (uint8_t)b), o);
                int d = abs(o[0] - r) + abs(o[1] - g) + abs(o[2] - b);
                if (d > worst) worst = d;
            }
    assert_true(worst <= 2);
    /* Out of gamut Lab clamps instead of wrapping. */
    uint8_t o[3];
    oma_lab_to_rgb((oma_lab){150, 200, -200}, o);
    assert_int_equal(o[0], 255);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_reference_values), cmocka_unit_test(test_round_trip)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
