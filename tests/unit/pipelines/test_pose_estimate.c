/* test_pose_estimate.c — whole-body estimation end to end, and its job kinds.
 * - Photos (public-domain, fetched by scripts/fetch-test-data.sh into tests/data/pose/), with
 *   people found by BlazePose's detector (oma_pose_estimator_set_model "blazepose", the pipeline
 *   tools/pose_reference.mjs mirrors; MoveNet MultiPose, the default, is test_pose_people.c's):
 *   each reference person's (matched to ours by the best agreement: we list people by size)
 *   BlazePose 33 keypoints must agree with tools/pose_reference.mjs (tfjs, same models) — PCK at
 *   5 % of the reference person box >= 0.95 over the points the reference is sure of (>= 0.5);
 *   face (68) and hands (21) are present exactly when the reference has them and agree the same
 *   way; the cat photo has nobody in it. When the photos are absent these cases are skipped (said so).
 * - Always: a blank image gives no people; 1x1 is refused; pose.estimate refuses not-an-image
 *   and a 20000x20000 PNG header before decoding; pose.estimate on a blank PNG writes all four
 *   outputs with people 0; pose.render validates and renders. */
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
#include <zlib.h>

#include "pipelines/job_kind.h"
#include "pipelines/pose/pose_estimate.h"

static oma_pose_estimator *est;
static char src_dir[2048];

static int group_setup(void **state)
{
    (void)state;
    const char *s = getenv("OMA_SOURCE_DIR");
    snprintf(src_dir, sizeof src_dir, "%s", s ? s : "..");
    char err[512];
    if (oma_pose_estimator_open(NULL, &est, err, sizeof err) ||
        oma_pose_estimator_set_model(est, "blazepose", err, sizeof err)) {
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

/* BlazePose index of each COCO-WholeBody body/foot point we fill (mirror of pose_estimate.c). */
static const int bp_of_wb[23] = {0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28,
                                 31, -1, 29, 32, -1, 30};

static void check_photo(const char *name)
{
    char img_path[4096], fx_path[4096], err[512];
    snprintf(img_path, sizeof img_path, "%s/tests/data/pose/%s.png", src_dir, name);
    snprintf(fx_path, sizeof fx_path, "%s/tests/fixtures/pose/%s.keypoints.json", src_dir, name);
    if (access(img_path, R_OK) != 0) {
        printf("SKIP %s: photo not fetched (run scripts/fetch-test-data.sh)\n", name);
        skip();
    }
    json_error_t je;
    json_t *fx = json_load_file(fx_path, 0, &je);
    if (!fx) fail_msg("%s: %s", fx_path, je.text);
    oma_image img;
    if (oma_image_load(img_path, 3, NULL, &img, err, sizeof err)) fail_msg("%s", err);
    oma_pose_result r;
    if (oma_pose_estimate(est, &img, 1, 1, &r, err, sizeof err)) fail_msg("%s", err);
    json_t *people = json_object_get(fx, "people");
    int face_ref = 0, hand_ref = 0, palm_ref = 0;
    assert_int_equal(r.pose.n_people, (int)json_array_size(people));
    for (int p = 0; p < r.pose.n_people; p++) {
        json_t *ref = json_object_get(json_array_get(people, (size_t)p), "blazepose33");
        float x0 = 1e9f, y0 = 1e9f, x1 = -1e9f, y1 = -1e9f;
        for (size_t k = 0; k < json_array_size(ref); k++) {
            json_t *q = json_array_get(ref, k);
            float x = (float)json_number_value(json_array_get(q, 0)), y = (float)json_number_value(json_array_get(q, 1));
            if (json_number_value(json_array_get(q, 2)) < 0.5) continue;
            x0 = fminf(x0, x), x1 = fmaxf(x1, x), y0 = fminf(y0, y), y1 = fmaxf(y1, y);
        }
        float thr = 0.05f * fmaxf(x1 - x0, y1 - y0);
        int n = 0, ok = -1;
        float worst = 0;
        const oma_kp *wb = NULL;
        for (int m = 0; m < r.pose.n_people; m++) {   /* our person that agrees best */
            const oma_kp *cand = r.wholebody + (size_t)m * OMA_WB_POINTS;
            int cn = 0, cok = 0;
            float cworst = 0;
            for (int k = 0; k < 23; k++) {
                if (bp_of_wb[k] < 0) continue;
                json_t *q = json_array_get(ref, (size_t)bp_of_wb[k]);
                if (json_number_value(json_array_get(q, 2)) < 0.5) continue;
                float d = hypotf(cand[k].x - (float)json_number_value(json_array_get(q, 0)),
                                 cand[k].y - (float)json_number_value(json_array_get(q, 1)));
                cn++;
                cok += d <= thr;
                cworst = fmaxf(cworst, d);
            }
            if (cok > ok) n = cn, ok = cok, worst = cworst, wb = cand;
        }
        printf("%s person %d: PCK@0.05 %d/%d (threshold %.1f px, worst %.2f px)\n", name, p, ok, n, thr, worst);
        assert_true(n >= 5);
        assert_true(ok >= 0.95 * n);
        /* Face (68) and hands (21 each): present exactly when the reference found them, and
         * then at the same places (PCK at the same threshold). */
        static const struct { const char *key; int first, count; } parts[3] = {
            {"face68", OMA_WB_FACE0, 68}, {"left_hand21", OMA_WB_LHAND0, 21}, {"right_hand21", OMA_WB_RHAND0, 21}};
        palm_ref += json_is_true(json_object_get(json_array_get(people, (size_t)p), "left_hand_from_palm"));
        palm_ref += json_is_true(json_object_get(json_array_get(people, (size_t)p), "right_hand_from_palm"));
        for (int q = 0; q < 3; q++) {
            json_t *rp = json_object_get(json_array_get(people, (size_t)p), parts[q].key);
            int ours = 0;
            for (int k = 0; k < parts[q].count; k++) ours += wb[parts[q].first + k].c > 0;
            if (q == 0) face_ref += json_is_array(rp);
            else hand_ref += json_is_array(rp);
            if (!json_is_array(rp)) {
                printf("%s person %d: no %s in the reference; ours has %d points\n", name, p, parts[q].key, ours);
                assert_int_equal(ours, 0);
                continue;
            }
            int pok = 0;
            float pworst = 0;
            for (int k = 0; k < parts[q].count; k++) {
                json_t *e = json_array_get(rp, (size_t)k);
                float d = hypotf(wb[parts[q].first + k].x - (float)json_number_value(json_array_get(e, 0)),
                                 wb[parts[q].first + k].y - (float)json_number_value(json_array_get(e, 1)));
                pok += d <= thr && wb[parts[q].first + k].c > 0;
                pworst = fmaxf(pworst, d);
            }
            printf("%s person %d %s: PCK@0.05 %d/%d (worst %.2f px)\n", name, p, parts[q].key, pok, parts[q].count, pworst);
            assert_true(pok >= 0.95 * parts[q].count);
        }
    }
    assert_int_equal(r.faces_found, face_ref);
    assert_int_equal(r.hands_found, hand_ref);
    /* hands placed from a detected palm (handdetect) exactly where the reference placed them so */
    printf("%s: %d hands, %d from palms (reference %d, %d)\n", name, r.hands_found, r.hands_from_palm, hand_ref, palm_ref);
    assert_int_equal(r.hands_from_palm, palm_ref);
    oma_pose_result_free(&r);
    oma_image_free(&img);
    json_decref(fx);
}

static void test_astronaut(void **s) { (void)s; check_photo("astronaut"); }
static void test_camera(void **s) { (void)s; check_photo("camera"); }
static void test_cat_nobody(void **s) { (void)s; check_photo("chelsea"); }
static void test_basketball(void **s) { (void)s; check_photo("basketball1"); }
static void test_basketball2(void **s) { (void)s; check_photo("basketball2"); }

/* Several people: the detector's whole-image pass at MediaPipe's 0.5 finds mainly the dominant
 * person, so a long image (>= 1.25:1) is also searched in square tiles — in basketball1/2 (4:3)
 * that finds the second player, checked against the reference above. Two photos side by side
 * (cameraman | astronaut, 1024x512) must give two people, each where the single photo's
 * reference puts that person's body (PCK@0.05 of its box, shifted by the placement; the crops
 * now see the other photo beside it, hence 90 %). */
static void check_pair(const char *left, const char *right)
{
    const char *names[2] = {left, right};
    oma_image im[2];
    json_t *fx[2];
    char path[4096], err[512];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/tests/data/pose/%s.png", src_dir, names[i]);
        if (access(path, R_OK) != 0) {
            printf("SKIP %s+%s: photo not fetched (run scripts/fetch-test-data.sh)\n", left, right);
            if (i) oma_image_free(&im[0]), json_decref(fx[0]);
            skip();
        }
        if (oma_image_load(path, 3, NULL, &im[i], err, sizeof err)) fail_msg("%s", err);
        snprintf(path, sizeof path, "%s/tests/fixtures/pose/%s.keypoints.json", src_dir, names[i]);
        json_error_t je;
        if (!(fx[i] = json_load_file(path, 0, &je))) fail_msg("%s: %s", path, je.text);
        assert_int_equal(json_array_size(json_object_get(fx[i], "people")), 1);
    }
    int h = im[0].h > im[1].h ? im[0].h : im[1].h, w = im[0].w + im[1].w;
    oma_image pair;
    assert_int_equal(oma_image_alloc(&pair, w, h, 3), 0);
    memset(pair.px, 0, (size_t)w * (size_t)h * 3);
    for (int i = 0, x0 = 0; i < 2; x0 += im[i].w, i++)
        for (int y = 0; y < im[i].h; y++)
            memcpy(pair.px + ((size_t)y * (size_t)w + (size_t)x0) * 3, im[i].px + (size_t)y * (size_t)im[i].w * 3,
                   (size_t)im[i].w * 3);
    oma_pose_result r;
    if (oma_pose_estimate(est, &pair, 0, 0, &r, err, sizeof err)) fail_msg("%s", err);
    printf("%s+%s (%dx%d): %d people\n", left, right, w, h, r.pose.n_people);
    assert_int_equal(r.pose.n_people, 2);
    for (int i = 0, x0 = 0; i < 2; x0 += im[i].w, i++) {
        json_t *ref = json_object_get(json_array_get(json_object_get(fx[i], "people"), 0), "blazepose33");
        float bx0 = 1e9f, by0 = 1e9f, bx1 = -1e9f, by1 = -1e9f;
        for (size_t k = 0; k < json_array_size(ref); k++) {
            json_t *q = json_array_get(ref, k);
            if (json_number_value(json_array_get(q, 2)) < 0.5) continue;
            float x = (float)json_number_value(json_array_get(q, 0)), y = (float)json_number_value(json_array_get(q, 1));
            bx0 = fminf(bx0, x), bx1 = fmaxf(bx1, x), by0 = fminf(by0, y), by1 = fmaxf(by1, y);
        }
        float thr = 0.05f * fmaxf(bx1 - bx0, by1 - by0);
        int best_ok = -1, best_n = 0;
        float best_worst = 0;
        for (int p = 0; p < r.pose.n_people; p++) {   /* the person that matches best */
            const oma_kp *wb = r.wholebody + (size_t)p * OMA_WB_POINTS;
            int n = 0, ok = 0;
            float worst = 0;
            for (int k = 0; k < 23; k++) {
                if (bp_of_wb[k] < 0) continue;
                json_t *q = json_array_get(ref, (size_t)bp_of_wb[k]);
                if (json_number_value(json_array_get(q, 2)) < 0.5) continue;
                float d = hypotf(wb[k].x - (float)x0 - (float)json_number_value(json_array_get(q, 0)),
                                 wb[k].y - (float)json_number_value(json_array_get(q, 1)));
                n++, ok += d <= thr, worst = fmaxf(worst, d);
            }
            if (ok > best_ok) best_ok = ok, best_n = n, best_worst = worst;
        }
        printf("%s+%s, %s: PCK@0.05 %d/%d vs its single-photo reference (threshold %.1f px, worst %.2f px)\n",
               left, right, names[i], best_ok, best_n, thr, best_worst);
        assert_true(best_n >= 5);
        assert_true(best_ok >= 0.9 * best_n);
    }
    oma_pose_result_free(&r);
    oma_image_free(&pair);
    for (int i = 0; i < 2; i++) oma_image_free(&im[i]), json_decref(fx[i]);
}

static void test_two_people(void **s)
{
    (void)s;
    check_pair("camera", "astronaut");
}

static void test_blank_and_tiny(void **s)
{
    (void)s;
    char err[512];
    oma_image img;
    assert_int_equal(oma_image_alloc(&img, 300, 200, 3), 0);
    memset(img.px, 128, (size_t)300 * 200 * 3);
    oma_pose_result r;
    assert_int_equal(oma_pose_estimate(est, &img, 1, 1, &r, err, sizeof err), 0);
    assert_int_equal(r.pose.n_people, 0);
    assert_int_equal(r.pose.canvas_w, 300);
    oma_pose_result_free(&r);
    oma_image_free(&img);
    assert_int_equal(oma_image_alloc(&img, 1, 1, 3), 0);
    assert_int_equal(oma_pose_estimate(est, &img, 1, 1, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "too small"));
    oma_image_free(&img);
}

/* ---- job kinds with a fake context ---- */

typedef struct fake {
    oma_job_ctx ctx;
    char names[8][32];
    size_t lens[8];
    int n;
} fake;

static int fake_progress(oma_job_ctx *c, double f, const char *m, const uint8_t *p, size_t l)
{
    (void)c, (void)f, (void)m, (void)p, (void)l;
    return 0;
}

static int fake_output(oma_job_ctx *c, const char *name, const char *mime, const uint8_t *d, size_t l)
{
    (void)mime, (void)d;
    fake *f = (fake *)c;
    if (f->n >= 8) return -1;
    snprintf(f->names[f->n], sizeof f->names[0], "%s", name);
    f->lens[f->n++] = l;
    return 0;
}

static int run_kind(const char *kind, json_t *params, const uint8_t *data, size_t len, fake *f)
{
    memset(f, 0, sizeof *f);
    oma_job_input in = {"image", data, len, "image/png"};
    f->ctx.params = params;
    f->ctx.inputs = data ? &in : NULL;
    f->ctx.n_inputs = data ? 1 : 0;
    f->ctx.progress = fake_progress;
    f->ctx.add_output = fake_output;
    const oma_job_kind *k = oma_job_kind_find(kind);
    assert_non_null(k);
    char err[256];
    if (k->validate && k->validate(params, err, sizeof err)) {
        snprintf(f->ctx.error, sizeof f->ctx.error, "invalid: %s", err);
        return -1;
    }
    return k->run(&f->ctx);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void test_kind_estimate(void **s)
{
    (void)s;
    fake f;
    json_t *params = json_object();
    const oma_job_kind *k = oma_job_kind_find("pose.estimate");
    assert_non_null(k);
    assert_true(k->available(NULL));
    const uint8_t junk[] = "this is not an image at all";
    assert_int_equal(run_kind("pose.estimate", params, junk, sizeof junk, &f), -1);
    assert_true(strlen(f.ctx.error) > 0);
    printf("not an image: %s\n", f.ctx.error);
    /* A PNG whose header says 20000 x 20000: refused from the header. */
    uint8_t big[8 + 25 + 14 + 12] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    put32(big + 8, 13);
    memcpy(big + 12, "IHDR", 4);
    put32(big + 16, 20000);
    put32(big + 20, 20000);
    big[24] = 8, big[25] = 2;
    put32(big + 29, (uint32_t)crc32(0, big + 12, 17));
    put32(big + 33, 2);   /* an IDAT holding only a zlib header */
    memcpy(big + 37, "IDAT", 4);
    big[41] = 0x78, big[42] = 0x9c;
    put32(big + 43, (uint32_t)crc32(0, big + 37, 6));
    put32(big + 47, 0);
    memcpy(big + 51, "IEND", 4);
    put32(big + 55, (uint32_t)crc32(0, big + 51, 4));
    assert_int_equal(run_kind("pose.estimate", params, big, sizeof big, &f), -1);
    printf("20000x20000: %s\n", f.ctx.error);
    assert_non_null(strstr(f.ctx.error, "20000"));
    assert_int_equal(f.n, 0);
    /* A blank PNG: nobody, but all outputs are there. */
    oma_image img;
    assert_int_equal(oma_image_alloc(&img, 64, 48, 3), 0);
    uint8_t *png;
    size_t len;
    char err[256];
    assert_int_equal(oma_image_encode_png(&img, NULL, NULL, &png, &len, err, sizeof err), 0);
    assert_int_equal(run_kind("pose.estimate", params, png, len, &f), 0);
    assert_int_equal(f.n, 4);
    assert_string_equal(f.names[0], "pose.json");
    assert_string_equal(f.names[1], "wholebody.json");
    assert_string_equal(f.names[2], "skeleton.png");
    assert_string_equal(f.names[3], "overlay.png");
    assert_int_equal(json_integer_value(json_object_get(f.ctx.result, "people")), 0);
    assert_int_equal(json_integer_value(json_object_get(f.ctx.result, "hands_found")), 0);
    json_decref(f.ctx.result);
    free(png);
    oma_image_free(&img);
    json_object_set_new(params, "hands", json_string("yes"));
    assert_int_equal(k->validate(params, err, sizeof err), -1);
    json_object_set_new(params, "hands", json_true());
    json_object_set_new(params, "bogus", json_true());
    assert_int_equal(k->validate(params, err, sizeof err), -1);
    json_decref(params);
}

static void test_kind_render(void **s)
{
    (void)s;
    fake f;
    json_error_t je;
    json_t *params = json_loads("{\"pose\":{\"canvas_width\":64,\"canvas_height\":32,\"people\":[{"
                                "\"pose_keypoints_2d\":[10,10,1,20,10,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
                                "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]}}",
                                0, &je);
    assert_non_null(params);
    assert_int_equal(run_kind("pose.render", params, NULL, 0, &f), 0);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.names[0], "skeleton.png");
    assert_int_equal(json_integer_value(json_object_get(f.ctx.result, "people")), 1);
    json_decref(f.ctx.result);
    json_decref(params);
    params = json_loads("{\"pose\":{\"canvas_width\":9000,\"canvas_height\":9000,\"people\":[]}}", 0, &je);
    assert_int_equal(run_kind("pose.render", params, NULL, 0, &f), -1);
    assert_non_null(strstr(f.ctx.error, "larger"));
    json_decref(params);
    params = json_loads("{\"nopose\":1}", 0, &je);
    assert_int_equal(run_kind("pose.render", params, NULL, 0, &f), -1);
    json_decref(params);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_astronaut),   cmocka_unit_test(test_camera),
        cmocka_unit_test(test_cat_nobody),  cmocka_unit_test(test_basketball),
        cmocka_unit_test(test_basketball2),
        cmocka_unit_test(test_two_people),
        cmocka_unit_test(test_blank_and_tiny),
        cmocka_unit_test(test_kind_estimate), cmocka_unit_test(test_kind_render),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
