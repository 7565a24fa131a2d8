/* test_pose_warp_photo.c — the pose warp on a real photo (NASA's public-domain astronaut
 * portrait from Debian's python3-skimage, put in tests/data/pose by scripts/fetch-test-data.sh)
 * with hand-placed head and shoulder keypoints. Small coloured markers are painted at the nose
 * and an eye; the head is tilted (a small move: the region round the figure is deformed with
 * its rim pinned) and then shifted far (a big move: the region is cut out, moved and the hole
 * filled). Properties: the markers land within a few pixels of the target keypoints, and no
 * pixel far from both poses changes. Skipped, saying why, when the photo was not fetched. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "formats/image.h"
#include "formats/openpose.h"
#include "pipelines/pose/pose_warp.h"

/* nose, neck, r/l shoulder, r/l eye, r/l ear (OpenPose 18 indices) */
static const int IDX[8] = {0, 1, 2, 5, 14, 15, 16, 17};
static const float PTS[8][2] = {{222, 135}, {220, 245}, {95, 290}, {335, 290},
                                {197, 113}, {250, 113}, {160, 122}, {295, 122}};
static const uint8_t MAGENTA[3] = {255, 0, 255}, CYAN[3] = {0, 255, 255};

static int load_photo(oma_image *img)
{
    const char *dir = getenv("OMA_SOURCE_DIR");
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/tests/data/pose/astronaut.png", dir ? dir : ".");
    if (oma_image_load(path, 3, NULL, img, err, sizeof err) != 0) {
        print_message("skipping: %s (run scripts/fetch-test-data.sh)\n", err);
        return -1;
    }
    assert_int_equal(img->w, 512);
    assert_int_equal(img->h, 512);
    return 0;
}

static void paint(oma_image *img, float cx, float cy, const uint8_t col[3])
{
    for (int y = (int)cy - 5; y <= (int)cy + 5; y++)
        for (int x = (int)cx - 5; x <= (int)cx + 5; x++) {
            float dx = x + 0.5f - cx, dy = y + 0.5f - cy;
            if (dx * dx + dy * dy <= 16) memcpy(img->px + ((size_t)y * img->w + x) * 3, col, 3);
        }
}

static void find(const oma_image *img, const uint8_t col[3], float tx, float ty)
{
    double sx = 0, sy = 0;
    int n = 0;
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++) {
            const uint8_t *p = img->px + ((size_t)y * img->w + x) * 3;
            if (abs(p[0] - col[0]) < 60 && abs(p[1] - col[1]) < 60 && abs(p[2] - col[2]) < 60) {
                sx += x + 0.5;
                sy += y + 0.5;
                n++;
            }
        }
    float cx = n ? (float)(sx / n) : -1, cy = n ? (float)(sy / n) : -1;
    if (n < 25 || hypotf(cx - tx, cy - ty) > 4) {
        print_error("marker %d,%d,%d: %d px at (%.1f,%.1f), target (%.1f,%.1f)\n", col[0], col[1], col[2], n, cx, cy,
                    tx, ty);
        fail();
    }
}

static void make_pose(oma_pose *p, float t[8][2])
{
    assert_int_equal(oma_pose_init(p, 512, 512, 1), 0);
    for (int i = 0; i < 8; i++) p->people[0].body[IDX[i]] = (oma_kp){t[i][0], t[i][1], 0.9f};
}

/* Warps with the head moved by move(); checks markers, unchanged far pixels and the mode. */
static void run(int big, int want_mode)
{
    oma_image img, out;
    if (load_photo(&img) != 0) {
        skip();
        return;
    }
    float src[8][2], tgt[8][2];
    memcpy(src, PTS, sizeof src);
    memcpy(tgt, PTS, sizeof tgt);
    for (int i = 0; i < 8; i++) {
        if (i == 1 || i == 2 || i == 3) continue;   /* neck and shoulders stay */
        if (big) {
            tgt[i][0] += 120;
            tgt[i][1] += 20;
        } else {   /* tilt 14 degrees about the neck */
            float a = -14 * 3.14159265f / 180, x = src[i][0] - src[1][0], y = src[i][1] - src[1][1];
            tgt[i][0] = src[1][0] + cosf(a) * x - sinf(a) * y;
            tgt[i][1] = src[1][1] + sinf(a) * x + cosf(a) * y;
        }
    }
    paint(&img, src[0][0], src[0][1], MAGENTA);
    paint(&img, src[4][0], src[4][1], CYAN);
    oma_pose from, to;
    make_pose(&from, src);
    make_pose(&to, tgt);
    char err[256];
    /* the mode the mask picks */
    oma_warp_handle *h = NULL;
    int n = 0, mode = -1;
    uint8_t *mask = NULL;
    assert_int_equal(oma_warp_handles(&from, &to, 512, 512, 3, &h, &n, err, sizeof err), 0);
    assert_int_equal(oma_warp_mask(&img, h, n, 20, &mask, &mode, err, sizeof err), 0);
    assert_int_equal(mode, want_mode);
    free(mask);

    assert_int_equal(oma_pose_warp(&img, &from, &to, NULL, &out, err, sizeof err), 0);
    assert_int_equal(out.c, 3);
    const char *dbg = getenv("OMA_WARP_DEBUG");
    if (dbg) {
        char path[512];
        snprintf(path, sizeof path, "%s/astronaut_%s.png", dbg, big ? "shift" : "tilt");
        oma_image_save_png(path, &out, err, sizeof err);
    }
    find(&out, MAGENTA, tgt[0][0], tgt[0][1]);
    find(&out, CYAN, tgt[4][0], tgt[4][1]);
    /* pixels further than 160 px from every source and target keypoint are untouched (the head's
     * reach is its nose-neck distance, 110 px, plus the region's margin) */
    int far = 0, far_changed = 0, changed = 0;
    for (int y = 0; y < 512; y++)
        for (int x = 0; x < 512; x++) {
            float best = 1e9f;
            for (int i = 0; i < 8; i++) {
                best = fminf(best, hypotf(x - src[i][0], y - src[i][1]));
                best = fminf(best, hypotf(x - tgt[i][0], y - tgt[i][1]));
            }
            int d = memcmp(img.px + ((size_t)y * 512 + x) * 3, out.px + ((size_t)y * 512 + x) * 3, 3) != 0;
            changed += d;
            if (best > 160) {
                far++;
                far_changed += d;
            }
        }
    assert_true(far > 20000);
    assert_true(changed > 2000);
    assert_int_equal(far_changed, 0);
    free(h);
    oma_pose_free(&from);
    oma_pose_free(&to);
    oma_image_free(&img);
    oma_image_free(&out);
}

static void test_tilt(void **st)
{
    (void)st;
    run(0, OMA_WARP_MASK_REGION);
}

static void test_shift(void **st)
{
    (void)st;
    run(1, OMA_WARP_MASK_CUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_tilt), cmocka_unit_test(test_shift)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
