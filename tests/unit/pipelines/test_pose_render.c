/* test_pose_render.c — the skeleton renderer draws the OpenPose look: joints in the 18
 * colours, limbs at 60 %, blue hand joints, white face dots, black elsewhere; points far off
 * the canvas or absent are skipped safely; the overlay keeps the photo (dimmed) under it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/pose/pose_render.h"

static const uint8_t *px(const oma_image *im, int x, int y)
{
    return im->px + ((size_t)y * (size_t)im->w + (size_t)x) * (size_t)im->c;
}

static void assert_rgb(const oma_image *im, int x, int y, int r, int g, int b)
{
    const uint8_t *p = px(im, x, y);
    if (p[0] != r || p[1] != g || p[2] != b)
        fail_msg("pixel (%d,%d) = %d,%d,%d, want %d,%d,%d", x, y, p[0], p[1], p[2], r, g, b);
}

static void test_body(void **state)
{
    (void)state;
    oma_pose p;
    assert_int_equal(oma_pose_init(&p, 200, 100, 1), 0);
    p.people[0].body[1] = (oma_kp){100, 20, 1};   /* neck */
    p.people[0].body[2] = (oma_kp){60, 20, 1};    /* right shoulder */
    p.people[0].body[0] = (oma_kp){100, 5, 0};    /* nose absent */
    oma_image im;
    char err[128];
    assert_int_equal(oma_pose_render(&p, OMA_DRAW_ALL, &im, err, sizeof err), 0);
    assert_int_equal(im.w, 200);
    assert_int_equal(im.h, 100);
    assert_int_equal(im.c, 3);
    assert_rgb(&im, 100, 20, 255, 85, 0);   /* joint 1 colour */
    assert_rgb(&im, 60, 20, 255, 170, 0);   /* joint 2 colour */
    assert_rgb(&im, 80, 20, 153, 0, 0);     /* limb 0 (neck-r shoulder): red * 0.6 */
    assert_rgb(&im, 80, 23, 153, 0, 0);     /* within the 4 px half width */
    assert_rgb(&im, 80, 26, 0, 0, 0);       /* outside it */
    assert_rgb(&im, 100, 5, 0, 0, 0);       /* absent nose not drawn */
    assert_rgb(&im, 100, 12, 0, 0, 0);      /* nor the neck-nose limb */
    assert_rgb(&im, 0, 0, 0, 0, 0);
    int lit = 0;
    for (size_t i = 0; i < (size_t)im.w * im.h; i++) lit += (im.px[i * 3] | im.px[i * 3 + 1] | im.px[i * 3 + 2]) != 0;
    assert_true(lit > 300 && lit < 600);    /* an ellipse 40x8 plus two discs */
    free(im.px);
    oma_pose_free(&p);
}

static void test_hands_face_scale(void **state)
{
    (void)state;
    oma_pose p;
    assert_int_equal(oma_pose_init(&p, 100, 100, 1), 0);
    p.people[0].rhand[0] = (oma_kp){10, 10, 1};
    p.people[0].rhand[1] = (oma_kp){10, 40, 1};
    p.people[0].face[5] = (oma_kp){70, 70, 1};
    p.people[0].lhand[3] = (oma_kp){1e30f, -1e30f, 1};   /* far away: skipped, no crash */
    p.people[0].lhand[4] = (oma_kp){-5, -5, 1};
    uint8_t *buf = calloc(200 * 200, 3);
    assert_non_null(buf);
    oma_image im = {200, 200, 3, buf};   /* twice the canvas: coordinates scale by 2 */
    oma_pose_draw(&p, buf, 200, 200, OMA_DRAW_ALL);
    assert_rgb(&im, 20, 20, 0, 0, 255);     /* hand joint blue */
    assert_rgb(&im, 20, 50, 255, 0, 0);     /* edge 0 hue 0 = red */
    assert_rgb(&im, 140, 140, 255, 255, 255);
    assert_rgb(&im, 140, 145, 0, 0, 0);     /* face dot radius 3 */
    memset(buf, 0, 200 * 200 * 3);
    oma_pose_draw(&p, buf, 200, 200, OMA_DRAW_BODY);   /* nothing of the body present */
    for (size_t i = 0; i < 200 * 200 * 3; i++) assert_int_equal(buf[i], 0);
    free(buf);
    oma_pose_free(&p);
}

static void test_overlay_and_bad(void **state)
{
    (void)state;
    oma_pose p;
    assert_int_equal(oma_pose_init(&p, 10, 10, 1), 0);
    p.people[0].body[0] = (oma_kp){5, 5, 1};
    uint8_t photo_px[10 * 10 * 4];
    memset(photo_px, 200, sizeof photo_px);
    oma_image photo = {10, 10, 4, photo_px}, out;
    char err[128];
    assert_int_equal(oma_pose_overlay(&photo, &p, &out, err, sizeof err), 0);
    assert_int_equal(out.c, 3);
    assert_rgb(&out, 5, 5, 255, 0, 0);
    assert_rgb(&out, 0, 0, 120, 120, 120);
    free(out.px);
    p.canvas_w = 0;
    assert_int_equal(oma_pose_render(&p, OMA_DRAW_ALL, &out, err, sizeof err), -1);
    assert_null(out.px);
    oma_image bad = {0, 0, 3, NULL};
    assert_int_equal(oma_pose_overlay(&bad, &p, &out, err, sizeof err), -1);
    oma_pose_free(&p);
}

/* Against the annotator's own drawing (OpenCV, tools/pose_render_reference.py) of the synthetic
 * figure in tests/fixtures/pose/render_pose.json: shapes are rasterised a little differently
 * (sub-pixel details of OpenCV's fixed-point polygon filling), so the check is that at most
 * 1 % of the drawn pixels differ by more than 2 levels (0.34 % when written), and that every
 * joint's centre pixel has exactly the reference's colour. */
static void test_matches_reference(void **state)
{
    (void)state;
    const char *src = getenv("OMA_SOURCE_DIR");
    char path[4096], err[256];
    snprintf(path, sizeof path, "%s/tests/fixtures/pose/render_pose.json", src ? src : "..");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    oma_pose p;
    if (oma_pose_parse(buf, n, 0, 0, &p, err, sizeof err)) fail_msg("%s", err);
    oma_image ours, ref;
    assert_int_equal(oma_pose_render(&p, OMA_DRAW_ALL, &ours, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/tests/fixtures/pose/render_reference.png", src ? src : "..");
    if (oma_image_load(path, 3, NULL, &ref, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(ref.w, ours.w);
    assert_int_equal(ref.h, ours.h);
    size_t lit = 0, differ = 0;
    for (size_t i = 0; i < (size_t)ours.w * (size_t)ours.h; i++) {
        const uint8_t *a = ours.px + i * 3, *b = ref.px + i * 3;
        if (!(a[0] | a[1] | a[2] | b[0] | b[1] | b[2])) continue;
        lit++;
        for (int k = 0; k < 3; k++)
            if (abs(a[k] - b[k]) > 2) {
                differ++;
                break;
            }
    }
    printf("renderer vs OpenCV reference: %zu of %zu drawn pixels differ (%.2f %%)\n", differ, lit,
           100.0 * (double)differ / (double)lit);
    assert_true(lit > 2000);
    assert_true(differ * 100 <= lit * 1);
    /* every joint's centre pixel carries exactly its colour in both */
    for (int k = 0; k < OMA_OP_BODY; k++) {
        const oma_kp *q = &p.people[0].body[k];
        if (q->c <= 0) continue;
        size_t o = ((size_t)(int)q->y * (size_t)ours.w + (size_t)(int)q->x) * 3;
        if (k == 0) continue;   /* the nose sits under the face ring */
        assert_memory_equal(ours.px + o, ref.px + o, 3);
    }
    free(ours.px);
    oma_image_free(&ref);
    oma_pose_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_hands_face_scale),
        cmocka_unit_test(test_overlay_and_bad),
        cmocka_unit_test(test_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
