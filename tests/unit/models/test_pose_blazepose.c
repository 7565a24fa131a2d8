/* test_pose_blazepose.c — the BlazePose glue that is not a network: MediaPipe's 2254 anchors
 * (grid sizes 28/14/7, 2/2/6 anchors per cell), decoding of one confident anchor into a box and
 * keypoints in letterbox pixels, weighted NMS (overlapping boxes merge into their score-weighted
 * mean, separate ones stay apart, low scores are dropped, NaN logits ignored), the landmark
 * region (upright body -> angle 0, side 2.5 x hip-to-scale distance; lying body -> +-90 deg),
 * and the rotated crop (a rotated region samples the image rotated).
 * Palm detector (handdetect): 2944 anchors (32x32x2, 16x16x2, 8x8x6 on 256), one confident
 * anchor decoded into box and 7 palm points, overlapping palms merged, the hand region from a
 * palm (fingers up -> angle 0, side 2.6 x box, shifted half a box towards the fingers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/pose/pose_blazepose.h"
#include "models/pose/pose_parts.h"

static float anchors[OMA_BP_ANCHORS][2];

static float palm_anchors[OMA_PALM_ANCHORS][2];

static void test_palm_anchors(void **s)
{
    (void)s;
    oma_palm_anchors(palm_anchors);
    assert_float_equal(palm_anchors[0][0], 0.5f / 32, 1e-6);
    assert_float_equal(palm_anchors[1][0], 0.5f / 32, 1e-6);
    assert_float_equal(palm_anchors[2][0], 1.5f / 32, 1e-6);
    assert_float_equal(palm_anchors[2048][0], 0.5f / 16, 1e-6);
    assert_float_equal(palm_anchors[2048 + 512][0], 0.5f / 8, 1e-6);
    assert_float_equal(palm_anchors[2048 + 512 + 6][0], 1.5f / 8, 1e-6);
    assert_float_equal(palm_anchors[OMA_PALM_ANCHORS - 1][0], 7.5f / 8, 1e-6);
    assert_float_equal(palm_anchors[OMA_PALM_ANCHORS - 1][1], 7.5f / 8, 1e-6);
}

static void test_palm_decode(void **s)
{
    (void)s;
    oma_palm_anchors(palm_anchors);
    float *raw = malloc(sizeof(float) * OMA_PALM_ANCHORS * 19);
    assert_non_null(raw);
    for (int i = 0; i < OMA_PALM_ANCHORS * 19; i++) raw[i] = (i % 19) ? 1.0f : -20.0f;
    /* anchor 2048 + 2 * (16 * 5 + 3): cell (3, 5) of the 16x16 grid, centre (56, 88) */
    int a = 2048 + 2 * (16 * 5 + 3);
    float *r = raw + (size_t)a * 19;
    r[0] = 5;
    r[1] = 4, r[2] = -8, r[3] = 20, r[4] = 20;
    for (int k = 0; k < 7; k++) r[5 + 2 * k] = (float)k, r[6 + 2 * k] = -(float)k;
    /* a weaker, overlapping twin on the neighbouring anchor: merges into the first */
    float *t = raw + (size_t)(a + 1) * 19;
    memcpy(t, r, sizeof(float) * 19);
    t[0] = 0.5f;
    t[1] = 6;
    /* NaN and a far, weak palm below the threshold are ignored */
    raw[(size_t)7 * 19] = NAN;
    raw[(size_t)9 * 19] = -1;
    oma_palm out[4];
    int n = oma_palm_decode((const float(*)[2])palm_anchors, raw, 0.5f, out, 4);
    assert_int_equal(n, 1);
    float w1 = 1 / (1 + expf(-5.0f)), w2 = 1 / (1 + expf(-0.5f));
    assert_float_equal(out[0].score, w1, 1e-5);
    assert_float_equal(out[0].cx, 56 + (4 * w1 + 6 * w2) / (w1 + w2), 1e-3);
    assert_float_equal(out[0].cy, 88 - 8, 1e-3);
    assert_float_equal(out[0].w, 20, 1e-3);
    assert_float_equal(out[0].kp[6][0], 56 + 6, 1e-3);
    assert_float_equal(out[0].kp[6][1], 88 - 6, 1e-3);
    free(raw);
    /* hand region: wrist below the middle knuckle -> upright, side 2.6 x 20, centre moved up */
    oma_palm p = {0.9f, 100, 100, 20, 16, {{100, 110}, {0, 0}, {100, 90}, {0, 0}, {0, 0}, {0, 0}, {0, 0}}};
    oma_bp_roi roi = oma_palm_hand_roi(&p);
    assert_float_equal(roi.angle, 0, 1e-5);
    assert_float_equal(roi.size, 52, 1e-4);
    assert_float_equal(roi.cx, 100, 1e-4);
    assert_float_equal(roi.cy, 90, 1e-4);
    /* fingers pointing right -> rotated +90 degrees, centre moved right */
    p.kp[0][0] = 90, p.kp[0][1] = 100, p.kp[2][0] = 110, p.kp[2][1] = 100;
    roi = oma_palm_hand_roi(&p);
    assert_float_equal(roi.angle, (float)M_PI / 2, 1e-5);
    assert_float_equal(roi.cx, 110, 1e-4);
    assert_float_equal(roi.cy, 100, 1e-4);
}

static void test_anchors(void **s)
{
    (void)s;
    oma_blazepose_anchors(anchors);
    /* first layer: 28x28 cells, 2 anchors each */
    assert_float_equal(anchors[0][0], 0.5f / 28, 1e-6);
    assert_float_equal(anchors[1][0], 0.5f / 28, 1e-6);
    assert_float_equal(anchors[2][0], 1.5f / 28, 1e-6);
    assert_float_equal(anchors[2 * 28][1], 1.5f / 28, 1e-6);
    /* second layer starts at 1568 with a 14x14 grid */
    assert_float_equal(anchors[1568][0], 0.5f / 14, 1e-6);
    assert_float_equal(anchors[1568 + 2][0], 1.5f / 14, 1e-6);
    /* the three stride-32 layers share a 7x7 grid with 6 anchors per cell */
    assert_float_equal(anchors[1960][0], 0.5f / 7, 1e-6);
    assert_float_equal(anchors[1960 + 5][0], 0.5f / 7, 1e-6);
    assert_float_equal(anchors[1960 + 6][0], 1.5f / 7, 1e-6);
    assert_float_equal(anchors[OMA_BP_ANCHORS - 1][0], 6.5f / 7, 1e-6);
    assert_float_equal(anchors[OMA_BP_ANCHORS - 1][1], 6.5f / 7, 1e-6);
}

static void set(float *raw, int i, float logit, float dx, float dy, float w, float h)
{
    float *r = raw + (size_t)i * 13;
    r[0] = logit;
    r[1] = dx, r[2] = dy, r[3] = w, r[4] = h;
    for (int k = 0; k < 4; k++) r[5 + 2 * k] = dx + (float)k, r[6 + 2 * k] = dy - (float)k;
}

static void test_decode_nms(void **s)
{
    (void)s;
    oma_blazepose_anchors(anchors);
    float *raw = calloc((size_t)OMA_BP_ANCHORS * 13, sizeof(float));
    assert_non_null(raw);
    for (int i = 0; i < OMA_BP_ANCHORS; i++) raw[(size_t)i * 13] = -10;   /* nobody */
    oma_bp_detection d[8];
    assert_int_equal(oma_blazepose_decode((const float(*)[2])anchors, raw, 0.5f, d, 8), 0);

    int a = 2 * (28 * 10 + 10);   /* cell (10, 10) of the 28 grid: centre 10.5 * 8 = 84 px */
    set(raw, a, 3.0f, 2, -4, 40, 60);
    assert_int_equal(oma_blazepose_decode((const float(*)[2])anchors, raw, 0.5f, d, 8), 1);
    assert_float_equal(d[0].score, 1 / (1 + expf(-3)), 1e-6);
    assert_float_equal(d[0].cx, 86, 1e-3);
    assert_float_equal(d[0].cy, 80, 1e-3);
    assert_float_equal(d[0].w, 40, 1e-3);
    assert_float_equal(d[0].kp[3][0], 89, 1e-3);
    assert_float_equal(d[0].kp[3][1], 77, 1e-3);

    /* a weaker overlapping box 4 px to the right merges into the score-weighted mean */
    set(raw, a + 1, 0.0f, 6, -4, 40, 60);   /* score 0.5 exactly: kept by >= 0.5 */
    assert_int_equal(oma_blazepose_decode((const float(*)[2])anchors, raw, 0.5f, d, 8), 1);
    float s1 = 1 / (1 + expf(-3)), s2 = 0.5f;
    assert_float_equal(d[0].cx, (s1 * 86 + s2 * 90) / (s1 + s2), 1e-3);
    assert_float_equal(d[0].score, s1, 1e-6);
    /* a far box stays separate; a NaN logit is ignored */
    set(raw, 1960 + 6 * (7 * 6 + 6), 1.0f, 0, 0, 30, 30);
    raw[(size_t)(a + 2) * 13] = NAN;
    assert_int_equal(oma_blazepose_decode((const float(*)[2])anchors, raw, 0.5f, d, 8), 2);
    assert_true(d[0].score > d[1].score);
    assert_float_equal(d[1].cx, 6.5f * 32, 1e-3);
    /* max caps the count */
    assert_int_equal(oma_blazepose_decode((const float(*)[2])anchors, raw, 0.5f, d, 1), 1);
    free(raw);
}

static void test_roi(void **s)
{
    (void)s;
    oma_bp_detection d;
    memset(&d, 0, sizeof d);
    d.kp[0][0] = 100, d.kp[0][1] = 200;   /* hip centre */
    d.kp[1][0] = 100, d.kp[1][1] = 120;   /* scale point straight above */
    oma_bp_roi r = oma_blazepose_roi(&d);
    assert_float_equal(r.angle, 0, 1e-6);
    assert_float_equal(r.size, 2 * 80 * 1.25f, 1e-3);
    assert_float_equal(r.cx, 100, 0);
    d.kp[1][0] = 180, d.kp[1][1] = 200;   /* lying, head to the right */
    r = oma_blazepose_roi(&d);
    assert_float_equal(fabsf(r.angle), (float)M_PI / 2, 1e-5);
}

static void test_crop(void **s)
{
    (void)s;
    oma_image img;
    assert_int_equal(oma_image_alloc(&img, 40, 40, 3), 0);
    /* a bright pixel block at the top-left quadrant */
    for (int y = 0; y < 20; y++)
        for (int x = 0; x < 20; x++) img.px[((size_t)y * 40 + (size_t)x) * 3] = 255;
    float out[8 * 8 * 3];
    oma_bp_roi r = {20, 20, 40, 0};
    oma_blazepose_crop(&img, &r, 8, 1.0f / 255, 0, out);
    assert_float_equal(out[0], 1, 1e-6);                      /* top-left bright */
    assert_float_equal(out[(7 * 8 + 7) * 3], 0, 1e-6);        /* bottom-right dark */
    r.angle = (float)M_PI / 2;   /* a quarter turn: crop x runs down the image, crop y runs left */
    oma_blazepose_crop(&img, &r, 8, 1.0f / 255, 0, out);
    assert_float_equal(out[0], 0, 1e-6);                      /* crop top-left <- image top-right */
    assert_float_equal(out[(0 * 8 + 7) * 3], 0, 1e-6);        /* crop top-right <- image bottom-right */
    assert_float_equal(out[(7 * 8 + 0) * 3], 1, 1e-6);        /* crop bottom-left <- image top-left */
    oma_bp_roi outside = {-500, -500, 40, 0};                  /* fully outside: zeros, no crash */
    oma_blazepose_crop(&img, &outside, 8, 1.0f / 255, 0.5f, out);
    for (int i = 0; i < 8 * 8 * 3; i++) assert_float_equal(out[i], 0.5f, 1e-6);
    /* regions a hostile model could place (huge, infinite, NaN): zeros, no float->int overflow */
    const oma_bp_roi bad[3] = {{20, 20, 1e30f, 0.3f}, {INFINITY, 20, 40, 0}, {NAN, NAN, NAN, NAN}};
    for (int k = 0; k < 3; k++) {
        oma_blazepose_crop(&img, &bad[k], 8, 1.0f / 255, 0.25f, out);
        for (int i = 0; i < 8 * 8 * 3; i++) assert_true(out[i] == 0.25f || (k == 0 && out[i] >= 0.25f));
    }
    oma_image_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anchors),
        cmocka_unit_test(test_palm_anchors),
        cmocka_unit_test(test_palm_decode),
        cmocka_unit_test(test_decode_nms),
        cmocka_unit_test(test_roi),
        cmocka_unit_test(test_crop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
