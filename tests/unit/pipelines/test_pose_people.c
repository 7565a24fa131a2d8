/* test_pose_people.c — the default estimator (MoveNet MultiPose finds the people, BlazePose
 * refines them) end to end.
 * - Photos (tests/data/pose, fetched by scripts/fetch-test-data.sh; skipped, said so, when
 *   absent) against tests/fixtures/pose/multipose.people.jsonl, MoveNet MultiPose run by
 *   pure-JS tfjs (tools/pose_multipose.mjs, same input preparation): every reference person
 *   with >= 8 visible points (score >= 0.3) is found, and over their visible points our 17 body
 *   points agree at PCK@0.10 (of the box around the reference's visible points) >= 0.95.
 * - Bad input, never a crash: a blank picture gives nobody; 1x1 is refused with a clear error;
 *   a 40-person contact sheet gives at most OMA_POSE_MAX_FOUND people, largest first; an
 *   8192x8192 blank picture gives nobody; a fully transparent RGBA picture (put on white)
 *   gives nobody, the same photo as RGBA (opaque) and as greyscale gives the people the RGB one
 *   gives.
 * - A crowd: the astronaut on a 3x3 sheet gives one person in each of the 9 cells. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipelines/pose/pose_estimate.h"
#include "pipelines/pose/pose_people.h"

static oma_pose_estimator *est;
static char src_dir[2048];

static int group_setup(void **state)
{
    (void)state;
    const char *s = getenv("OMA_SOURCE_DIR");
    snprintf(src_dir, sizeof src_dir, "%s", s ? s : "..");
    char err[512];
    if (oma_pose_estimator_open(NULL, &est, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    oma_pose_estimator_close(est);
    return 0;
}

/* Loads tests/data/pose/<name>.png with want_c channels; skips the test when not fetched. */
static void load_photo(const char *name, int want_c, oma_image *img)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/tests/data/pose/%s.png", src_dir, name);
    if (access(path, R_OK) != 0) {
        printf("SKIP %s: photo not fetched (run scripts/fetch-test-data.sh)\n", name);
        skip();
    }
    if (oma_image_load(path, want_c, NULL, img, err, sizeof err)) fail_msg("%s", err);
}

static float side_of(json_t *kp)
{
    float x0 = 1e30f, y0 = 1e30f, x1 = -1e30f, y1 = -1e30f;
    for (size_t k = 0; k < 17; k++) {
        json_t *q = json_array_get(kp, k);
        if (json_number_value(json_array_get(q, 2)) < 0.3) continue;
        float x = (float)json_number_value(json_array_get(q, 0)), y = (float)json_number_value(json_array_get(q, 1));
        x0 = fminf(x0, x), x1 = fmaxf(x1, x), y0 = fminf(y0, y), y1 = fmaxf(y1, y);
    }
    return fmaxf(fmaxf(x1 - x0, y1 - y0), 1.0f);
}

static void check_photo(const char *name)
{
    oma_image img;
    load_photo(name, 0, &img);
    char path[4096], err[512], want[256];
    snprintf(path, sizeof path, "%s/tests/fixtures/pose/multipose.people.jsonl", src_dir);
    snprintf(want, sizeof want, "%s.png", name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    json_t *ref = NULL;
    char line[65536];
    while (!ref && fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (j && !strcmp(json_string_value(json_object_get(j, "image")), want)) ref = j;
        else json_decref(j);
    }
    fclose(f);
    if (!ref) fail_msg("%s not in %s", want, path);
    oma_pose_result r;
    if (oma_pose_estimate(est, &img, 0, 0, &r, err, sizeof err)) fail_msg("%s", err);
    json_t *people = json_object_get(ref, "people");
    int n = 0, ok = 0, refs = 0, found = 0;
    char *used = calloc((size_t)r.pose.n_people + 1, 1);
    assert_non_null(used);
    for (size_t p = 0; p < json_array_size(people); p++) {
        json_t *kp = json_object_get(json_array_get(people, p), "kp");
        int visible = 0;
        for (size_t k = 0; k < 17; k++) visible += json_number_value(json_array_get(json_array_get(kp, k), 2)) >= 0.3;
        if (visible < 8) continue;
        refs++;
        float thr = 0.10f * side_of(kp);
        int best = -1, best_ok = -1;
        for (int m = 0; m < r.pose.n_people; m++) {
            if (used[m]) continue;
            const oma_kp *wb = r.wholebody + (size_t)m * OMA_WB_POINTS;
            int c = 0;
            for (size_t k = 0; k < 17; k++) {
                json_t *q = json_array_get(kp, k);
                if (json_number_value(json_array_get(q, 2)) < 0.3) continue;
                c += wb[k].c >= 0.3f && hypotf(wb[k].x - (float)json_number_value(json_array_get(q, 0)),
                                               wb[k].y - (float)json_number_value(json_array_get(q, 1))) <= thr;
            }
            if (c > best_ok) best_ok = c, best = m;
        }
        int matched = best >= 0 && 2 * best_ok >= visible;
        if (matched) used[best] = 1, found++;
        n += visible;
        ok += matched ? best_ok : 0;
        printf("%s reference person %zu: %d visible points, %s (%d agree at PCK@0.10)\n", name, p, visible,
               matched ? "found" : "MISSED", matched ? best_ok : 0);
    }
    printf("%s: %d people (reference %zu, %d with >= 8 visible points, %d found); PCK@0.10 %d/%d\n", name,
           r.pose.n_people, json_array_size(people), refs, found, ok, n);
    assert_int_equal(found, refs);
    assert_true(ok >= 0.95 * n);
    free(used);
    oma_pose_result_free(&r);
    oma_image_free(&img);
    json_decref(ref);
}

static void test_basketball1(void **s) { (void)s; check_photo("basketball1"); }
static void test_basketball2(void **s) { (void)s; check_photo("basketball2"); }
static void test_camera(void **s) { (void)s; check_photo("camera"); }

static int people_in(const oma_image *img, oma_pose_result *r)
{
    char err[512];
    if (oma_pose_estimate(est, img, 0, 0, r, err, sizeof err)) fail_msg("%s", err);
    return r->pose.n_people;
}

static void test_blank_tiny_huge(void **s)
{
    (void)s;
    char err[512];
    oma_image img;
    oma_pose_result r;
    assert_int_equal(oma_image_alloc(&img, 320, 240, 3), 0);
    memset(img.px, 200, (size_t)320 * 240 * 3);
    assert_int_equal(people_in(&img, &r), 0);
    oma_pose_result_free(&r);
    oma_image_free(&img);
    assert_int_equal(oma_image_alloc(&img, 1, 1, 3), 0);
    assert_int_equal(oma_pose_estimate(est, &img, 1, 1, &r, err, sizeof err), -1);
    printf("1x1: %s\n", err);
    assert_non_null(strstr(err, "too small"));
    oma_image_free(&img);
    assert_int_equal(oma_image_alloc(&img, 8192, 8192, 3), 0);
    memset(img.px, 90, (size_t)8192 * 8192 * 3);
    assert_int_equal(people_in(&img, &r), 0);
    oma_pose_result_free(&r);
    oma_image_free(&img);
}

/* Small people (issue 14): the astronaut shrunk to 48x48 (nearest) on a 400x320 grey-green
 * frame is too small for MoveNet's whole-picture pass (the former estimator found nobody) and
 * is found by the small-people tiles, where it is. */
static void test_small_person(void **s)
{
    (void)s;
    oma_image ph, img;
    oma_pose_result r;
    load_photo("astronaut", 3, &ph);
    assert_int_equal(oma_image_alloc(&img, 400, 320, 3), 0);
    for (size_t i = 0; i < (size_t)400 * 320; i++) img.px[i * 3] = 90, img.px[i * 3 + 1] = 110, img.px[i * 3 + 2] = 90;
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 48; x++)
            memcpy(img.px + ((size_t)(150 + y) * 400 + (size_t)(250 + x)) * 3,
                   ph.px + ((size_t)(y * ph.h / 48) * (size_t)ph.w + (size_t)(x * ph.w / 48)) * 3, 3);
    assert_true(people_in(&img, &r) >= 1);
    const oma_kp *nose = &r.pose.people[0].body[0];
    printf("small person: %d found, nose at %.1f, %.1f (%.2f)\n", r.pose.n_people, nose->x, nose->y, nose->c);
    assert_true(nose->c > 0 && nose->x >= 250 && nose->x <= 298 && nose->y >= 150 && nose->y <= 198);
    oma_pose_result_free(&r);
    oma_image_free(&img);
    oma_image_free(&ph);
}

static void test_transparent_and_grey(void **s)
{
    (void)s;
    oma_image rgb, rgba, grey;
    oma_pose_result r;
    load_photo("basketball2", 3, &rgb);
    load_photo("basketball2", 4, &rgba);   /* opaque alpha */
    load_photo("basketball2", 1, &grey);
    int n = people_in(&rgb, &r);
    oma_pose_result_free(&r);
    printf("basketball2: RGB %d people\n", n);
    assert_true(n >= 2);
    assert_int_equal(people_in(&rgba, &r), n);
    oma_pose_result_free(&r);
    int ng = people_in(&grey, &r);
    printf("basketball2: greyscale %d people\n", ng);
    assert_true(ng >= 2);
    oma_pose_result_free(&r);
    for (size_t i = 0; i < (size_t)rgba.w * (size_t)rgba.h; i++) rgba.px[i * 4 + 3] = 0;   /* all clear */
    assert_int_equal(people_in(&rgba, &r), 0);
    oma_pose_result_free(&r);
    oma_image_free(&rgb);
    oma_image_free(&rgba);
    oma_image_free(&grey);
}

/* 40 people: the cameraman photo, shrunk to 128x128, repeated on an 8 x 5 sheet (1024x640). */
/* The bench's crowd: the astronaut on a 3x3 sheet (512x512, white between cells). MoveNet's
 * whole-picture pass sees 5 of the 9; the passes with those painted out find the rest (before
 * them the tiles found 8). Every cell holds exactly one reported person (by the centre of the
 * shoulders and hips). */
static void test_crowd_sheet(void **s)
{
    (void)s;
    oma_image ph, sheet;
    oma_pose_result r;
    load_photo("astronaut", 3, &ph);
    const int g = 3, cw = 512 / g, ch = 512 / g;
    assert_int_equal(oma_image_alloc(&sheet, 512, 512, 3), 0);
    memset(sheet.px, 255, (size_t)512 * 512 * 3);
    for (int t = 0; t < g * g; t++)
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++)
                memcpy(sheet.px + ((size_t)((t / g) * ch + y) * 512 + (size_t)((t % g) * cw + x)) * 3,
                       ph.px + ((size_t)(y * ph.h / ch) * (size_t)ph.w + (size_t)(x * ph.w / cw)) * 3, 3);
    int n = people_in(&sheet, &r), cells[9] = {0};
    for (int p = 0; p < n; p++) {
        const oma_kp *wb = r.wholebody + (size_t)p * OMA_WB_POINTS;
        float cx = 0, cy = 0;
        int k = 0;
        for (int q = 5; q <= 12; q++)
            if ((q <= 6 || q >= 11) && wb[q].c >= 0.3f) cx += wb[q].x, cy += wb[q].y, k++;
        if (!k) continue;
        int col = (int)(cx / (float)k) / cw, row = (int)(cy / (float)k) / ch;
        if (col >= 0 && col < g && row >= 0 && row < g) cells[row * g + col]++;
    }
    printf("3x3 astronaut sheet: %d people reported; per cell %d %d %d / %d %d %d / %d %d %d\n", n, cells[0],
           cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7], cells[8]);
    for (int c = 0; c < g * g; c++) assert_int_equal(cells[c], 1);
    oma_pose_result_free(&r);
    oma_image_free(&sheet);
    oma_image_free(&ph);
}

static void test_forty_people(void **s)
{
    (void)s;
    oma_image ph, sheet;
    oma_pose_result r;
    load_photo("camera", 3, &ph);
    const int cw = 128, ch = 128, cols = 8, rows = 5;
    assert_int_equal(oma_image_alloc(&sheet, cw * cols, ch * rows, 3), 0);
    for (int t = 0; t < cols * rows; t++)
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++) {
                const uint8_t *sp = ph.px + ((size_t)(y * ph.h / ch) * (size_t)ph.w + (size_t)(x * ph.w / cw)) * 3;
                uint8_t *dp = sheet.px + ((size_t)((t / cols) * ch + y) * (size_t)sheet.w + (size_t)((t % cols) * cw + x)) * 3;
                memcpy(dp, sp, 3);
            }
    int n = people_in(&sheet, &r);
    printf("40-person sheet (%dx%d): %d people reported\n", sheet.w, sheet.h, n);
    assert_true(n >= 1 && n <= OMA_POSE_MAX_FOUND);
    float prev = 1e30f;
    for (int p = 0; p < n; p++) {   /* largest first */
        const oma_kp *wb = r.wholebody + (size_t)p * OMA_WB_POINTS;
        float x0 = 1e30f, y0 = 1e30f, x1 = -1e30f, y1 = -1e30f;
        for (int k = 0; k < 23; k++)
            if (wb[k].c >= OMA_POSE_KP_THRESHOLD)
                x0 = fminf(x0, wb[k].x), x1 = fmaxf(x1, wb[k].x), y0 = fminf(y0, wb[k].y), y1 = fmaxf(y1, wb[k].y);
        float a = x1 > x0 && y1 > y0 ? (x1 - x0) * (y1 - y0) : 0;
        assert_true(a <= prev * 1.0001f);
        prev = a;
    }
    oma_pose_result_free(&r);
    oma_image_free(&sheet);
    oma_image_free(&ph);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basketball1),
        cmocka_unit_test(test_basketball2),
        cmocka_unit_test(test_camera),
        cmocka_unit_test(test_blank_tiny_huge),
        cmocka_unit_test(test_small_person),
        cmocka_unit_test(test_transparent_and_grey),
        cmocka_unit_test(test_crowd_sheet),
        cmocka_unit_test(test_forty_people),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
