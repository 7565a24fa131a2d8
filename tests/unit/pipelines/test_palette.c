/* test_palette.c — weighted k-means++ in Lab: three known clusters are found with the right
 * centres and weights, the result is deterministic for a seed, fewer distinct colours than k
 * give fewer clusters, bad arguments are refused; 1-D k-means finds separated levels. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pipelines/style/palette.h"

static void test_three_clusters(void **state)
{
    (void)state;
    const oma_lab truth[3] = {{30, 40, 20}, {70, -30, 10}, {50, 5, -45}};
    const int count[3] = {600, 300, 100};
    oma_lab pts[1000];
    size_t n = 0;
    uint32_t s = 12345;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < count[c]; i++) {
            s = s * 1664525u + 1013904223u;
            float j1 = (float)((s >> 8) % 200) / 100.0f - 1.0f;
            s = s * 1664525u + 1013904223u;
            float j2 = (float)((s >> 8) % 200) / 100.0f - 1.0f;
            pts[n++] = (oma_lab){truth[c].L + j1, truth[c].a + j2, truth[c].b - j1};
        }
    oma_palette p, q;
    assert_int_equal(oma_palette_kmeans(pts, NULL, n, 3, 7, &p), 0);
    assert_int_equal(p.n, 3);
    /* sorted by weight: 0.6, 0.3, 0.1, centres within ~1.5 of the truth (8-bit rounding) */
    for (int c = 0; c < 3; c++) {
        assert_true(fabsf(p.weight[c] - count[c] / 1000.0f) < 1e-3f);
        assert_true(sqrtf(oma_lab_dist2(p.lab[c], truth[c])) < 1.5f);
        assert_int_equal(oma_palette_nearest(&p, truth[c]), c);
    }
    assert_int_equal(oma_palette_kmeans(pts, NULL, n, 3, 7, &q), 0);
    assert_memory_equal(&p, &q, sizeof p);
    /* k larger than the distinct colours: no empty clusters come back */
    oma_lab two[4] = {{10, 0, 0}, {10, 0, 0}, {90, 0, 0}, {90, 0, 0}};
    assert_int_equal(oma_palette_kmeans(two, NULL, 4, 8, 1, &p), 0);
    assert_int_equal(p.n, 2);
    /* weights move the balance */
    float w[4] = {3, 3, 1, 1};
    assert_int_equal(oma_palette_kmeans(two, w, 4, 2, 1, &p), 0);
    assert_true(fabsf(p.weight[0] - 0.75f) < 1e-4f && p.lab[0].L < 20);
    float mean[3], sd[3];
    oma_palette_stats(&p, mean, sd);
    assert_true(fabsf(mean[0] - (0.75f * p.lab[0].L + 0.25f * p.lab[1].L)) < 0.01f);
    assert_true(sd[0] > 30);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    oma_palette p;
    oma_lab one = {50, 0, 0};
    assert_int_equal(oma_palette_kmeans(NULL, NULL, 1, 3, 1, &p), -1);
    assert_int_equal(oma_palette_kmeans(&one, NULL, 0, 3, 1, &p), -1);
    assert_int_equal(oma_palette_kmeans(&one, NULL, 1, 0, 1, &p), -1);
    assert_int_equal(oma_palette_kmeans(&one, NULL, 1, OMA_PALETTE_MAX + 1, 1, &p), -1);
    assert_int_equal(oma_palette_kmeans(&one, NULL, 1, 4, 1, &p), 0);
    assert_int_equal(p.n, 1);
}

static void test_kmeans_1d(void **state)
{
    (void)state;
    float v[300], out[4];
    for (int i = 0; i < 300; i++) v[i] = (float)(i % 3) * 100.0f + (float)(i % 7) * 0.5f;
    assert_int_equal(oma_kmeans_1d(v, NULL, 300, 3, NULL, out), 3);
    assert_true(fabsf(out[0] - 1.5f) < 1 && fabsf(out[1] - 101.5f) < 1 && fabsf(out[2] - 201.5f) < 1);
    assert_int_equal(oma_kmeans_1d(v, NULL, 0, 3, NULL, out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_three_clusters), cmocka_unit_test(test_bad_arguments),
                                       cmocka_unit_test(test_kmeans_1d)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
