/* test_pose_warp.c — property tests of the pose warp on a drawn figure (opaque over a noisy
 * background, and a cut-out with alpha): coloured markers drawn at the source wrists and
 * ankle land within a few pixels of the target keypoints; every pixel that changed lies near
 * the old or the new figure (the background never moves); the arm's old place is filled with
 * background; the identity warp changes almost nothing; bad poses are refused with clear
 * errors; and the pose.warp job kind runs through a fake job context. */
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
#include "pipelines/job_kind.h"
#include "pipelines/pose/pose_warp.h"

#define S 256

/* OpenPose 18 body points of the source figure; (-1,-1) = absent (eyes, ears). */
static const float SRC[18][2] = {
    {128, 50}, {128, 80}, {100, 80}, {80, 115}, {70, 150}, {156, 80}, {176, 115}, {186, 150}, {112, 150},
    {110, 190}, {108, 230}, {144, 150}, {146, 190}, {148, 230}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1},
};

/* Target: right arm raised, left leg kicked out; everything else unchanged. */
static void target_points(float t[18][2])
{
    memcpy(t, SRC, sizeof SRC);
    t[3][0] = 68; t[3][1] = 55;    /* r_elbow */
    t[4][0] = 40; t[4][1] = 35;    /* r_wrist */
    t[12][0] = 165; t[12][1] = 185; /* l_knee */
    t[13][0] = 185; t[13][1] = 220; /* l_ankle */
}

static const int BONES[][2] = {{1, 2}, {2, 3}, {3, 4}, {1, 5}, {5, 6}, {6, 7}, {1, 8}, {8, 9}, {9, 10},
                               {1, 11}, {11, 12}, {12, 13}, {1, 0}, {2, 8}, {5, 11}, {8, 11}};

static void disc(oma_image *img, float cx, float cy, float r, const uint8_t col[4])
{
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++) {
            float dx = x + 0.5f - cx, dy = y + 0.5f - cy;
            if (dx * dx + dy * dy <= r * r) memcpy(img->px + ((size_t)y * img->w + x) * img->c, col, (size_t)img->c);
        }
}

static void bone(oma_image *img, const float a[2], const float b[2], float r, const uint8_t col[4])
{
    float dx = b[0] - a[0], dy = b[1] - a[1], L2 = dx * dx + dy * dy;
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++) {
            float px = x + 0.5f - a[0], py = y + 0.5f - a[1];
            float t = (px * dx + py * dy) / L2;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            float ex = px - t * dx, ey = py - t * dy;
            if (ex * ex + ey * ey <= r * r) memcpy(img->px + ((size_t)y * img->w + x) * img->c, col, (size_t)img->c);
        }
}

static const uint8_t BODY[4] = {40, 80, 160, 255}, MAGENTA[4] = {255, 0, 255, 255}, GREEN[4] = {0, 255, 0, 255},
                     YELLOW[4] = {255, 255, 0, 255};

/* The figure: thick bones, a head, a filled torso, markers at r_wrist, l_wrist, l_ankle. */
static void draw_figure(oma_image *img, const float k[18][2])
{
    for (size_t i = 0; i < sizeof BONES / sizeof BONES[0]; i++) bone(img, k[BONES[i][0]], k[BONES[i][1]], 7, BODY);
    for (int y = (int)k[1][1]; y < (int)k[8][1]; y++)   /* torso block */
        for (int x = (int)k[2][0]; x < (int)k[5][0]; x++) memcpy(img->px + ((size_t)y * img->w + x) * img->c, BODY, (size_t)img->c);
    disc(img, k[0][0], k[0][1], 16, BODY);
    disc(img, k[4][0], k[4][1], 5, MAGENTA);
    disc(img, k[7][0], k[7][1], 5, GREEN);
    disc(img, k[13][0], k[13][1], 5, YELLOW);
}

static void background(oma_image *img, int transparent)
{
    uint32_t s = 12345;
    for (size_t i = 0; i < (size_t)img->w * img->h; i++) {
        s = s * 1664525u + 1013904223u;
        int v = 200 + (int)((s >> 24) % 13) - 6;
        for (int ch = 0; ch < 3; ch++) img->px[i * img->c + ch] = (uint8_t)(v - 20 * ch);
        if (img->c == 4) img->px[i * 4 + 3] = transparent ? 0 : 255;
    }
}

static json_t *pose_json(const float k[18][2], int canvas)
{
    json_t *body = json_array();
    for (int i = 0; i < 18; i++) {
        int ok = k[i][0] >= 0;
        json_array_append_new(body, json_real(ok ? k[i][0] : 0));
        json_array_append_new(body, json_real(ok ? k[i][1] : 0));
        json_array_append_new(body, json_real(ok ? 0.9 : 0));
    }
    return json_pack("{s:i,s:i,s:[{s:o}]}", "canvas_width", canvas, "canvas_height", canvas, "people",
                     "pose_keypoints_2d", body);
}

static void to_pose(const float k[18][2], oma_pose *p)
{
    json_t *j = pose_json(k, S);
    char err[256];
    assert_int_equal(oma_pose_from_json(j, 0, 0, p, err, sizeof err), 0);
    json_decref(j);
}

/* Centroid of pixels of colour col (within tol) in img; returns the count. */
static int centroid(const oma_image *img, const uint8_t col[4], float *cx, float *cy)
{
    double sx = 0, sy = 0;
    int n = 0;
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++) {
            const uint8_t *p = img->px + ((size_t)y * img->w + x) * img->c;
            if (img->c == 4 && p[3] < 128) continue;
            if (abs(p[0] - col[0]) < 50 && abs(p[1] - col[1]) < 50 && abs(p[2] - col[2]) < 50) {
                sx += x + 0.5;
                sy += y + 0.5;
                n++;
            }
        }
    if (n) {
        *cx = (float)(sx / n);
        *cy = (float)(sy / n);
    }
    return n;
}

static void check_marker(const oma_image *out, const uint8_t col[4], float tx, float ty, float tol)
{
    float cx = 0, cy = 0;
    int n = centroid(out, col, &cx, &cy);
    if (n < 40 || hypotf(cx - tx, cy - ty) > tol) {
        print_error("marker (%d,%d,%d): %d px at (%.1f, %.1f), target (%.1f, %.1f)\n", col[0], col[1], col[2], n, cx,
                    cy, tx, ty);
        fail();
    }
}

/* 1 where img differs from bg-only rendering, i.e. where a figure is, dilated by r. */
static uint8_t *figure_zone(const float k[18][2], int r)
{
    oma_image f;
    assert_int_equal(oma_image_alloc(&f, S, S, 3), 0);
    draw_figure(&f, k);
    uint8_t *z = calloc(S * S, 1);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            const uint8_t *p = f.px + ((size_t)y * S + x) * 3;
            if (!(p[0] || p[1] || p[2])) continue;
            for (int yy = y - r; yy <= y + r; yy++)
                for (int xx = x - r; xx <= x + r; xx++)
                    if (xx >= 0 && yy >= 0 && xx < S && yy < S) z[yy * S + xx] = 1;
        }
    oma_image_free(&f);
    return z;
}

static void run_warp(int alpha, oma_image *in, oma_image *out)
{
    float t[18][2];
    target_points(t);
    assert_int_equal(oma_image_alloc(in, S, S, alpha ? 4 : 3), 0);
    background(in, alpha);
    draw_figure(in, SRC);
    oma_pose from, to;
    to_pose(SRC, &from);
    to_pose(t, &to);
    char err[256];
    oma_warp_opts o = oma_warp_defaults();
    if (oma_pose_warp(in, &from, &to, &o, out, err, sizeof err) != 0) {
        print_error("%s\n", err);
        fail();
    }
    assert_int_equal(out->w, S);
    assert_int_equal(out->h, S);
    assert_int_equal(out->c, alpha ? 4 : 3);
    const char *dbg = getenv("OMA_WARP_DEBUG");   /* a folder: keep the pictures to look at */
    if (dbg) {
        char path[512];
        snprintf(path, sizeof path, "%s/warp_%s_in.png", dbg, alpha ? "alpha" : "opaque");
        oma_image_save_png(path, in, err, sizeof err);
        snprintf(path, sizeof path, "%s/warp_%s_out.png", dbg, alpha ? "alpha" : "opaque");
        oma_image_save_png(path, out, err, sizeof err);
    }
    oma_pose_free(&from);
    oma_pose_free(&to);
}

static void test_opaque_markers_and_background(void **st)
{
    (void)st;
    oma_image in, out;
    float t[18][2];
    target_points(t);
    run_warp(0, &in, &out);
    check_marker(&out, MAGENTA, t[4][0], t[4][1], 4);
    check_marker(&out, GREEN, t[7][0], t[7][1], 3);
    check_marker(&out, YELLOW, t[13][0], t[13][1], 4);
    /* background never moves: every changed pixel is near the old or the new figure */
    uint8_t *zs = figure_zone(SRC, 12), *zt = figure_zone(t, 12);
    int changed = 0, far_changed = 0, far_total = 0;
    for (int i = 0; i < S * S; i++) {
        int diff = memcmp(in.px + i * 3, out.px + i * 3, 3) != 0;
        changed += diff;
        if (!zs[i] && !zt[i]) {
            far_total++;
            far_changed += diff;
        }
    }
    assert_true(changed > 500);   /* something did move */
    assert_true(far_total > S * S / 3);
    assert_int_equal(far_changed, 0);
    /* the old forearm is now background-coloured (filled), not figure-blue */
    const uint8_t *p = out.px + ((size_t)132 * S + 75) * 3;
    assert_true(abs(p[0] - 200) < 20 && abs(p[1] - 180) < 20 && abs(p[2] - 160) < 20);
    /* the new forearm is figure-blue, and as thick as the old one (14 px): bones move rigidly */
    p = out.px + ((size_t)45 * S + 54) * 3;
    assert_true(abs(p[0] - 40) < 30 && abs(p[1] - 80) < 30 && abs(p[2] - 160) < 30);
    {
        float ex = t[3][0], ey = t[3][1], wx = t[4][0], wy = t[4][1], L = hypotf(wx - ex, wy - ey);
        float nx = -(wy - ey) / L, ny = (wx - ex) / L, mx = (ex + wx) / 2, my = (ey + wy) / 2;
        float width = 0;
        for (float k = -20; k <= 20; k += 0.25f) {
            int x = (int)(mx + k * nx), y = (int)(my + k * ny);
            const uint8_t *q = out.px + ((size_t)y * S + x) * 3;
            if (abs(q[0] - 40) < 40 && abs(q[1] - 80) < 40 && abs(q[2] - 160) < 40) width += 0.25f;
        }
        if (width < 11 || width > 18) {
            print_error("raised forearm is %.1f px thick, drawn 14\n", width);
            fail();
        }
    }
    free(zs);
    free(zt);
    oma_image_free(&in);
    oma_image_free(&out);
}

static void test_alpha_cutout(void **st)
{
    (void)st;
    oma_image in, out;
    float t[18][2];
    target_points(t);
    run_warp(1, &in, &out);
    check_marker(&out, MAGENTA, t[4][0], t[4][1], 4);
    check_marker(&out, YELLOW, t[13][0], t[13][1], 4);
    uint8_t *zt = figure_zone(t, 10);
    int opaque_far = 0, opaque = 0;
    for (int i = 0; i < S * S; i++) {
        if (out.px[i * 4 + 3] == 0) continue;
        opaque++;
        opaque_far += !zt[i];
    }
    assert_true(opaque > 3000);
    assert_int_equal(opaque_far, 0);   /* the old place is transparent again */
    free(zt);
    oma_image_free(&in);
    oma_image_free(&out);
}

static void test_identity(void **st)
{
    (void)st;
    oma_image in, out;
    assert_int_equal(oma_image_alloc(&in, S, S, 3), 0);
    background(&in, 0);
    draw_figure(&in, SRC);
    oma_pose p;
    to_pose(SRC, &p);
    char err[256];
    assert_int_equal(oma_pose_warp(&in, &p, &p, NULL, &out, err, sizeof err), 0);
    double sum = 0;
    int big = 0;
    for (int i = 0; i < S * S * 3; i++) {
        int d = abs((int)in.px[i] - (int)out.px[i]);
        sum += d;
        big += d > 40;
    }
    assert_true(sum / (S * S * 3) < 1.0);
    assert_true(big < 60);   /* only anti-aliasing at the figure's edge may differ */
    oma_pose_free(&p);
    oma_image_free(&in);
    oma_image_free(&out);
}

static void test_mls(void **st)
{
    (void)st;
    /* exact at handles; a global rotation + translation is reproduced everywhere */
    oma_warp_handle h[4];
    float c = cosf(0.5f), s = sinf(0.5f);
    float pts[4][2] = {{10, 10}, {50, 12}, {30, 60}, {70, 70}};
    for (int i = 0; i < 4; i++) {
        h[i].px = pts[i][0];
        h[i].py = pts[i][1];
        h[i].qx = c * pts[i][0] - s * pts[i][1] + 5;
        h[i].qy = s * pts[i][0] + c * pts[i][1] - 3;
        h[i].depth = 0;
    }
    float ox, oy;
    oma_warp_mls(h, 4, 1.0f, 0, 50, 12, &ox, &oy);
    assert_true(fabsf(ox - h[1].qx) < 1e-3f && fabsf(oy - h[1].qy) < 1e-3f);
    for (float x = -20; x < 120; x += 13)
        for (float y = -20; y < 120; y += 17) {
            oma_warp_mls(h, 4, 1.0f, 0, x, y, &ox, &oy);
            assert_true(fabsf(ox - (c * x - s * y + 5)) < 1e-2f);
            assert_true(fabsf(oy - (s * x + c * y - 3)) < 1e-2f);
            float bx, by;   /* the inverse map undoes it */
            oma_warp_mls(h, 4, 1.0f, 1, ox, oy, &bx, &by);
            assert_true(fabsf(bx - x) < 1e-2f && fabsf(by - y) < 1e-2f);
        }
    /* one handle pulled: the point next to it follows, a far point barely moves relative to the rest */
    for (int i = 0; i < 4; i++) {
        h[i].qx = h[i].px;
        h[i].qy = h[i].py;
    }
    h[3].qx += 10;
    oma_warp_mls(h, 4, 1.0f, 0, 69, 70, &ox, &oy);
    assert_true(ox > 75);
    oma_warp_mls(h, 4, 1.0f, 0, 10.5f, 10, &ox, &oy);
    assert_true(fabsf(ox - 10.5f) < 0.5f && fabsf(oy - 10) < 0.5f);
}

static void test_errors(void **st)
{
    (void)st;
    char err[256];
    oma_image in, out;
    assert_int_equal(oma_image_alloc(&in, 64, 64, 3), 0);
    oma_pose one, two, none, sparse;
    to_pose(SRC, &one);
    assert_int_equal(oma_pose_init(&two, S, S, 2), 0);
    two.people[0] = one.people[0];
    two.people[1] = one.people[0];
    assert_int_equal(oma_pose_init(&none, S, S, 0), 0);
    assert_int_equal(oma_pose_init(&sparse, S, S, 1), 0);
    sparse.people[0].body[0] = (oma_kp){10, 10, 1};   /* only one usable point */
    assert_int_equal(oma_pose_warp(&in, &one, &two, NULL, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "mismatched"));
    assert_int_equal(oma_pose_warp(&in, &one, &none, NULL, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "no people"));
    assert_int_equal(oma_pose_warp(&in, &one, &sparse, NULL, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "fewer than 2"));
    assert_null(out.px);
    oma_pose_free(&one);
    oma_pose_free(&two);
    oma_pose_free(&none);
    oma_pose_free(&sparse);
    oma_image_free(&in);
}

static void test_hostile_poses(void **st)
{
    (void)st;
    char err[256];
    oma_image in, out;
    assert_int_equal(oma_image_alloc(&in, S, S, 3), 0);
    background(&in, 0);
    draw_figure(&in, SRC);
    oma_pose from, to;
    to_pose(SRC, &from);
    to_pose(SRC, &to);
    /* every target point flung somewhere far: finishes (or refuses) quickly, never crashes */
    uint32_t r = 99;
    for (int i = 0; i < 18; i++) {
        r = r * 1664525u + 1013904223u;
        to.people[0].body[i].x = (float)((r >> 8) % 2000) - 800;
        r = r * 1664525u + 1013904223u;
        to.people[0].body[i].y = (float)((r >> 8) % 2000) - 800;
    }
    int rc = oma_pose_warp(&in, &from, &to, NULL, &out, err, sizeof err);
    if (rc == 0) oma_image_free(&out);
    else assert_non_null(strstr(err, "pose warp"));
    /* all source points at one spot */
    for (int i = 0; i < 18; i++) from.people[0].body[i].x = from.people[0].body[i].y = 5;
    rc = oma_pose_warp(&in, &from, &to, NULL, &out, err, sizeof err);
    if (rc == 0) oma_image_free(&out);
    oma_pose_free(&from);
    oma_pose_free(&to);
    /* too many control points: 64 people with full faces and hands */
    assert_int_equal(oma_pose_init(&from, S, S, 64), 0);
    for (int p = 0; p < 64; p++) {
        oma_pose_person *q = &from.people[p];
        for (int i = 0; i < OMA_OP_BODY; i++) q->body[i] = (oma_kp){(float)(i * 13 % S), (float)(p * 4), 1};
        for (int i = 0; i < OMA_OP_FACE; i++) q->face[i] = (oma_kp){(float)(i * 3 % S), (float)(p * 4 + 1), 1};
        for (int i = 0; i < OMA_OP_HAND; i++) {
            q->lhand[i] = (oma_kp){(float)(i * 7), (float)(p * 4 + 2), 1};
            q->rhand[i] = (oma_kp){(float)(i * 7 + 150), (float)(p * 4 + 3), 1};
        }
    }
    assert_int_equal(oma_pose_warp(&in, &from, &from, NULL, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "too many"));
    oma_pose_free(&from);
    oma_image_free(&in);
    /* a picture over the pixel cap is refused before any work */
    oma_image big = {5000, 4000, 3, NULL};
    uint8_t dummy[3] = {0};
    big.px = dummy;
    to_pose(SRC, &from);
    assert_int_equal(oma_pose_warp(&big, &from, &from, NULL, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "normalise"));
    oma_pose_free(&from);
}

static uint32_t lcg(uint32_t *r)
{
    *r = *r * 1664525u + 1013904223u;
    return *r >> 8;
}

/* Random poses, canvases and pictures (opaque, cut-out, flat or noisy): every run either
 * succeeds with a picture of the input's size or fails with a message; ASan/UBSan watch. */
static void test_random_poses(void **st)
{
    (void)st;
    uint32_t r = 4242;
#define RND() lcg(&r)
    for (int round = 0; round < 150; round++) {
        int w = 8 + (int)(RND() % 90), h = 8 + (int)(RND() % 90), c = RND() % 2 ? 4 : 3;
        oma_image in, out;
        assert_int_equal(oma_image_alloc(&in, w, h, c), 0);
        int flat = RND() % 2;
        for (size_t i = 0; i < (size_t)w * h * c; i++) in.px[i] = flat ? 200 : (uint8_t)RND();
        if (c == 4)
            for (size_t i = 0; i < (size_t)w * h; i++) in.px[i * 4 + 3] = RND() % 3 ? 0 : 255;
        int people = 1 + (int)(RND() % 3);
        oma_pose a, b;
        assert_int_equal(oma_pose_init(&a, 1 + (int)(RND() % 200), 1 + (int)(RND() % 200), people), 0);
        assert_int_equal(oma_pose_init(&b, 1 + (int)(RND() % 200), 1 + (int)(RND() % 200), people), 0);
        for (int p = 0; p < people; p++) {
            oma_kp *pa[4] = {a.people[p].body, a.people[p].face, a.people[p].lhand, a.people[p].rhand};
            oma_kp *pb[4] = {b.people[p].body, b.people[p].face, b.people[p].lhand, b.people[p].rhand};
            const int counts[4] = {OMA_OP_BODY, OMA_OP_FACE, OMA_OP_HAND, OMA_OP_HAND};
            for (int part = 0; part < 4; part++)
                for (int i = 0; i < counts[part]; i++) {
                    int on = RND() % 4 == 0, on_b = on || RND() % 2;
                    float ax = (float)(RND() % 400) - 100, ay = (float)(RND() % 400) - 100;
                    float bx = (float)(RND() % 400) - 100, by = (float)(RND() % 400) - 100;
                    pa[part][i] = (oma_kp){ax, ay, on ? 1.0f : 0.0f};
                    pb[part][i] = (oma_kp){bx, by, on_b ? 1.0f : 0.0f};
                }
        }
        oma_warp_opts o = oma_warp_defaults();
        o.grid = 2 + (int)(RND() % 20);
        char err[256] = "";
        if (oma_pose_warp(&in, &a, &b, &o, &out, err, sizeof err) == 0) {
            assert_int_equal(out.w, w);
            assert_int_equal(out.h, h);
            oma_image_free(&out);
        } else {
            assert_true(strlen(err) > 0);
            assert_null(out.px);
        }
        oma_pose_free(&a);
        oma_pose_free(&b);
        oma_image_free(&in);
    }
#undef RND
}

/* ---- the job kind */

typedef struct fake {
    oma_job_ctx ctx;
    oma_job_input in;
    uint8_t *out;
    size_t out_len;
} fake;

static int fk_progress(oma_job_ctx *c, double f, const char *m, const uint8_t *p, size_t n)
{
    (void)c, (void)f, (void)m, (void)p, (void)n;
    return 0;
}

static int fk_output(oma_job_ctx *c, const char *name, const char *mime, const uint8_t *d, size_t n)
{
    fake *fk = c->opaque;
    assert_string_equal(name, "image.png");
    assert_string_equal(mime, "image/png");
    fk->out = malloc(n);
    memcpy(fk->out, d, n);
    fk->out_len = n;
    return 0;
}

static void test_job_kind(void **st)
{
    (void)st;
    const oma_job_kind *k = oma_job_kind_find("pose.warp");
    assert_non_null(k);
    assert_int_equal(k->available(NULL), 1);
    char err[256];
    float t[18][2];
    target_points(t);
    json_t *params = json_pack("{s:o,s:o}", "from", pose_json(SRC, S), "to", pose_json(t, S));
    assert_int_equal(k->validate(params, err, sizeof err), 0);
    /* bad params */
    const char *bad[] = {
        "{}", "{\"from\": {}}", "{\"from\": 3, \"to\": 4}",
        "{\"from\": {\"canvas_width\": 10, \"canvas_height\": 10, \"people\": [{\"pose_keypoints_2d\": [1,2,3]}]},"
        " \"to\": {\"canvas_width\": 10, \"canvas_height\": 10, \"people\": []}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *p = json_loads(bad[i], 0, NULL);
        assert_non_null(p);
        err[0] = 0;
        assert_int_equal(k->validate(p, err, sizeof err), -1);
        assert_true(strlen(err) > 0);
        json_decref(p);
    }
    json_t *g = json_deep_copy(params);
    json_object_set_new(g, "grid", json_integer(1));
    assert_int_equal(k->validate(g, err, sizeof err), -1);
    json_decref(g);

    oma_image img;
    assert_int_equal(oma_image_alloc(&img, S, S, 3), 0);
    background(&img, 0);
    draw_figure(&img, SRC);
    uint8_t *png;
    size_t len;
    assert_int_equal(oma_image_encode_png(&img, NULL, NULL, &png, &len, err, sizeof err), 0);
    fake fk;
    memset(&fk, 0, sizeof fk);
    fk.in = (oma_job_input){"image", png, len, "image/png"};
    fk.ctx.params = params;
    fk.ctx.inputs = &fk.in;
    fk.ctx.n_inputs = 1;
    fk.ctx.progress = fk_progress;
    fk.ctx.add_output = fk_output;
    fk.ctx.opaque = &fk;
    assert_int_equal(k->run(&fk.ctx), 0);
    oma_image out;
    assert_int_equal(oma_image_decode(fk.out, fk.out_len, 0, 0, NULL, &out, err, sizeof err), 0);
    assert_int_equal(out.w, S);
    check_marker(&out, MAGENTA, t[4][0], t[4][1], 4);
    oma_image_free(&out);
    free(fk.out);
    json_decref(fk.ctx.result);
    /* undecodable image */
    memset(&fk.ctx.error, 0, sizeof fk.ctx.error);
    fk.in.len = 10;
    fk.ctx.result = NULL;
    assert_int_equal(k->run(&fk.ctx), -1);
    assert_non_null(strstr(fk.ctx.error, "image"));
    free(png);
    oma_image_free(&img);
    json_decref(params);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mls),       cmocka_unit_test(test_opaque_markers_and_background),
        cmocka_unit_test(test_alpha_cutout), cmocka_unit_test(test_identity),
        cmocka_unit_test(test_errors),    cmocka_unit_test(test_hostile_poses),
        cmocka_unit_test(test_random_poses),
        cmocka_unit_test(test_job_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
