/* test_style_data.c — the recipe's data pieces: an image the size of the resolution comes out
 * as (v/255 - 0.5)/0.5 in CHW order; a wider image is resized on its shorter side and
 * centre-cropped; flip mirrors rows; jitter stays within its +-10 % brightness/contrast and in
 * range; the RNG is deterministic per seed with uniform, unbiased integers and unit normals. */
#include "check.h"
#include "train/style_data.h"
#include "train/train_rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_plain(void)
{
    oma_image im;
    CHECK(oma_image_alloc(&im, 16, 16, 3) == 0);
    for (int i = 0; i < 16 * 16 * 3; i++)
        im.px[i] = (uint8_t)(i * 37 % 256);
    float out[3 * 16 * 16];
    char err[256];
    oma_train_rng r;
    oma_train_rng_seed(&r, 1);
    CHECK(oma_style_prepare_image(&im, 16, 0, 0, &r, out, err, sizeof err) == 0);
    int bad = 0;
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++)
            for (int c = 0; c < 3; c++) {
                float want = (im.px[(y * 16 + x) * 3 + c] / 255.0f - 0.5f) / 0.5f;
                bad += fabsf(out[c * 256 + y * 16 + x] - want) > 1e-6f;
            }
    CHECK(bad == 0);
    /* flip: with p = 1/2 some seed flips; a flipped result mirrors every row */
    int flipped = 0, same = 0;
    for (uint64_t seed = 0; seed < 16; seed++) {
        float f[3 * 16 * 16];
        oma_train_rng_seed(&r, seed);
        CHECK(oma_style_prepare_image(&im, 16, 0, 1, &r, f, err, sizeof err) == 0);
        if (!memcmp(f, out, sizeof f)) {
            same++;
            continue;
        }
        int mirror = 1;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 16; y++)
                for (int x = 0; x < 16; x++)
                    mirror &= f[c * 256 + y * 16 + x] == out[c * 256 + y * 16 + 15 - x];
        CHECK(mirror);
        flipped++;
    }
    CHECK(flipped > 2 && same > 2);
    /* jitter: values in range, the mean moved by at most ~10 % */
    oma_train_rng_seed(&r, 3);
    float j[3 * 16 * 16];
    CHECK(oma_style_prepare_image(&im, 16, 1, 0, &r, j, err, sizeof err) == 0);
    double m0 = 0, m1 = 0;
    for (int i = 0; i < 3 * 256; i++) {
        CHECK(j[i] >= -1.0f && j[i] <= 1.0f);
        m0 += out[i] * 0.5 + 0.5;
        m1 += j[i] * 0.5 + 0.5;
    }
    CHECK(fabs(m1 / m0 - 1.0) < 0.25 && memcmp(j, out, sizeof j) != 0);
    oma_image_free(&im);
}

static void test_crop(void)
{
    /* 32x16, left half black, right half white, a 4-px grey band in the middle */
    oma_image im;
    CHECK(oma_image_alloc(&im, 32, 16, 3) == 0);
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 32; x++)
            for (int c = 0; c < 3; c++)
                im.px[(y * 32 + x) * 3 + c] = x < 14 ? 0 : x < 18 ? 128 : 255;
    float out[3 * 16 * 16];
    char err[256];
    oma_train_rng r;
    oma_train_rng_seed(&r, 1);
    /* shorter side 16 = the resolution: no resize, the centre 16 columns (8..23) */
    CHECK(oma_style_prepare_image(&im, 16, 0, 0, &r, out, err, sizeof err) == 0);
    CHECK(out[0] == -1.0f && out[15] == 1.0f);
    CHECK(fabsf(out[7] - (128 / 255.0f - 0.5f) / 0.5f) < 1e-6f);
    /* resolution 8: resized to 16x8 first, then the centre 8 */
    float small[3 * 8 * 8];
    CHECK(oma_style_prepare_image(&im, 8, 0, 0, &r, small, err, sizeof err) == 0);
    CHECK(small[0] < -0.9f && small[7] > 0.9f);
    CHECK(oma_style_prepare_image(&im, 4, 0, 0, &r, small, err, sizeof err) == -1);
    oma_image_free(&im);
}

static void test_rng(void)
{
    oma_train_rng a, b;
    oma_train_rng_seed(&a, 42);
    oma_train_rng_seed(&b, 42);
    int same = 1;
    for (int i = 0; i < 100; i++)
        same &= oma_train_rng_u64(&a) == oma_train_rng_u64(&b);
    CHECK(same);
    oma_train_rng_seed(&b, 43);
    CHECK(oma_train_rng_u64(&a) != oma_train_rng_u64(&b));
    int counts[19] = {0};
    for (int i = 0; i < 19000; i++) {
        int64_t v = oma_train_rng_below(&a, 19);
        CHECK(v >= 0 && v < 19);
        if (v >= 0 && v < 19)
            counts[v]++;
    }
    for (int i = 0; i < 19; i++)
        CHECK(counts[i] > 850 && counts[i] < 1150);
    double s = 0, s2 = 0;
    for (int i = 0; i < 20000; i++) {
        double x = oma_train_rng_normal(&a);
        s += x;
        s2 += x * x;
    }
    CHECK(fabs(s / 20000) < 0.03 && fabs(s2 / 20000 - 1.0) < 0.05);
}

int main(void)
{
    test_plain();
    test_crop();
    test_rng();
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
