/* pose_render.c — OpenPose/DWPose skeleton drawing (see pose_render.h for the look).
 * Shapes are rasterised the way the annotator's OpenCV calls do, so a skeleton drawn here is
 * (almost) pixel-identical to ControlNet's conditioning images: coordinates truncated to
 * integers, limbs as OpenCV's one-vertex-per-degree ellipse polygon filled convex, discs as
 * the pixels within the radius, 2 px hand lines as a filled quadrilateral with round ends.
 * tests/unit/pipelines/test_pose_render.c compares with tools/pose_render_reference.py (OpenCV).
 * Only the bounding box of each shape (clipped to the image) is visited, and absurd coordinates
 * are skipped, so off-canvas points cost nothing. */
#include "pipelines/pose/pose_render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"

const uint8_t oma_op_colors[18][3] = {
    {255, 0, 0},   {255, 85, 0},  {255, 170, 0}, {255, 255, 0}, {170, 255, 0}, {85, 255, 0},
    {0, 255, 0},   {0, 255, 85},  {0, 255, 170}, {0, 255, 255}, {0, 170, 255}, {0, 85, 255},
    {0, 0, 255},   {85, 0, 255},  {170, 0, 255}, {255, 0, 255}, {255, 0, 170}, {255, 0, 85},
};

typedef struct canvas {
    uint8_t *px;
    int w, h;
} canvas;

static int clampi(double v, int lo, int hi)
{
    if (!(v >= lo)) return lo;   /* also catches NaN */
    if (v > hi) return hi;
    return (int)v;
}

static void put(canvas *c, int x, int y, const uint8_t col[3])
{
    uint8_t *p = c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    p[0] = col[0];
    p[1] = col[1];
    p[2] = col[2];
}

/* Filled ellipse centred (cx, cy), semi-axes a (along angle) and b, angle in radians. */
static void fill_ellipse(canvas *c, double cx, double cy, double a, double b, double ang,
                         const uint8_t col[3])
{
    if (a < 0.5) a = 0.5;
    if (b < 0.5) b = 0.5;
    double r = a > b ? a : b;
    int x0 = clampi(floor(cx - r), 0, c->w - 1), x1 = clampi(ceil(cx + r), 0, c->w - 1);
    int y0 = clampi(floor(cy - r), 0, c->h - 1), y1 = clampi(ceil(cy + r), 0, c->h - 1);
    if (cx + r < 0 || cy + r < 0 || cx - r > c->w - 1 || cy - r > c->h - 1) return;
    double ca = cos(ang), sa = sin(ang);
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            double dx = x - cx, dy = y - cy;
            double u = (dx * ca + dy * sa) / a, v = (-dx * sa + dy * ca) / b;
            if (u * u + v * v <= 1.0) put(c, x, y, col);
        }
}

static void fill_disc(canvas *c, double cx, double cy, double r, const uint8_t col[3])
{
    fill_ellipse(c, cx, cy, r, r, 0.0, col);
}

/* Fills a convex polygon the way OpenCV's fillConvexPoly does for 8-connected drawing: on
 * every row from the rounded lowest to the rounded highest vertex, from the rounded leftmost
 * to the rounded rightmost crossing of the outline (clamped to the edges' ends), inclusive. */
static void fill_convex(canvas *c, const double (*pt)[2], int n, const uint8_t col[3])
{
    double ymin = pt[0][1], ymax = pt[0][1];
    for (int i = 1; i < n; i++) {
        ymin = fmin(ymin, pt[i][1]);
        ymax = fmax(ymax, pt[i][1]);
    }
    if (!(ymax >= -0.5 && ymin <= c->h - 0.5)) return;
    int y0 = clampi(floor(ymin + 0.5), 0, c->h - 1), y1 = clampi(floor(ymax + 0.5), 0, c->h - 1);
    for (int y = y0; y <= y1; y++) {
        double xl = 1e300, xr = -1e300;
        for (int i = 0; i < n; i++) {
            const double *a = pt[i], *b = pt[(i + 1) % n];
            double lo = fmin(a[1], b[1]), hi = fmax(a[1], b[1]);
            /* rows are matched after rounding, so an edge covers [lo - 0.5, hi + 0.5) */
            if (y < floor(lo + 0.5) || y > floor(hi + 0.5)) continue;
            double x;
            if (hi - lo < 1e-9) {
                xl = fmin(xl, fmin(a[0], b[0]));
                xr = fmax(xr, fmax(a[0], b[0]));
                continue;
            }
            double t = (y - a[1]) / (b[1] - a[1]);
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            x = a[0] + (b[0] - a[0]) * t;
            xl = fmin(xl, x);
            xr = fmax(xr, x);
        }
        if (xl > xr || xr + 0.5 < 0 || xl - 0.5 > c->w - 1) continue;
        int x0 = clampi(floor(xl + 0.5), 0, c->w - 1), x1 = clampi(floor(xr + 0.5), 0, c->w - 1);
        for (int x = x0; x <= x1; x++) put(c, x, y, col);
    }
}

/* A limb as the annotator draws it: the ellipse polygon OpenCV's ellipse2Poly makes (one
 * vertex per degree, rounded, centre and angle truncated to integers), filled convex. */
static void fill_limb(canvas *c, double cx, double cy, int a, int b, int angle_deg, const uint8_t col[3])
{
    if (!(fabs(cx) < 1e6 && fabs(cy) < 1e6) || a > 100000) return;
    double pts[361][2];
    int n = 0;
    int icx = (int)cx, icy = (int)cy;
    double ca = cos(angle_deg * M_PI / 180.0), sa = sin(angle_deg * M_PI / 180.0);
    for (int t = 0; t <= 360; t++) {
        double x = a * cos(t * M_PI / 180.0), y = b * sin(t * M_PI / 180.0);
        double px = icx + lrint(x * ca - y * sa), py = icy + lrint(x * sa + y * ca);
        if (n > 0 && pts[n - 1][0] == px && pts[n - 1][1] == py) continue;
        pts[n][0] = px;
        pts[n][1] = py;
        n++;
    }
    fill_convex(c, (const double(*)[2])pts, n, col);
}

/* A 2 px line as OpenCV draws it (thickness 2, 8-connected): the quadrilateral 1 px either
 * side of the segment, filled convex, plus a radius-1 disc on each end. */
static void draw_segment(canvas *c, double x0, double y0, double x1, double y1, const uint8_t col[3])
{
    if (!(fabs(x0) < 1e6 && fabs(y0) < 1e6 && fabs(x1) < 1e6 && fabs(y1) < 1e6)) return;
    double dx = x0 - x1, dy = y0 - y1, r = hypot(dx, dy);
    if (r > 0) {
        double px = dy / r, py = dx / r;   /* 1 px perpendicular (OpenCV's dp, rounded to 1/65536) */
        px = round(px * 65536) / 65536;
        py = round(py * 65536) / 65536;
        double q[4][2] = {{x0 + px, y0 - py}, {x0 - px, y0 + py}, {x1 - px, y1 + py}, {x1 + px, y1 - py}};
        fill_convex(c, (const double(*)[2])q, 4, col);
    }
    fill_ellipse(c, x0, y0, 1, 1, 0, col);
    fill_ellipse(c, x1, y1, 1, 1, 0, col);
}

static void hsv_to_rgb(double h, uint8_t out[3])
{
    /* s = v = 1 */
    double hh = fmod(h, 1.0) * 6.0;
    int i = (int)hh;
    double f = hh - i, q = 1 - f, t = f;
    double r, g, b;
    switch (i) {
    case 0: r = 1, g = t, b = 0; break;
    case 1: r = q, g = 1, b = 0; break;
    case 2: r = 0, g = 1, b = t; break;
    case 3: r = 0, g = q, b = 1; break;
    case 4: r = t, g = 0, b = 1; break;
    default: r = 1, g = 0, b = q; break;
    }
    out[0] = (uint8_t)(r * 255);
    out[1] = (uint8_t)(g * 255);
    out[2] = (uint8_t)(b * 255);
}

static int present(const oma_kp *k)
{
    return k->c > 0 && isfinite(k->x) && isfinite(k->y);
}

static void draw_body(canvas *c, const oma_pose_person *p, double sx, double sy)
{
    /* Limbs are drawn at 60 % of their colour: OpenPose draws them full and scales the whole
     * canvas by 0.6 before the joints; on black these agree except where limbs overlap. */
    for (int i = 0; i < 17; i++) {
        const oma_kp *a = &p->body[oma_op_limbs[i][0]], *b = &p->body[oma_op_limbs[i][1]];
        if (!present(a) || !present(b)) continue;
        double ax = a->x * sx, ay = a->y * sy, bx = b->x * sx, by = b->y * sy;
        double len = hypot(ax - bx, ay - by);
        if (!(len < 1e6)) continue;
        uint8_t col[3];
        for (int k = 0; k < 3; k++) col[k] = (uint8_t)(oma_op_colors[i][k] * 0.6);
        fill_limb(c, 0.5 * (ax + bx), 0.5 * (ay + by), (int)(len / 2), 4,
                  (int)(atan2(ay - by, ax - bx) * 180.0 / M_PI), col);
    }
    for (int i = 0; i < OMA_OP_BODY; i++)
        if (present(&p->body[i]))
            fill_disc(c, trunc(p->body[i].x * sx), trunc(p->body[i].y * sy), 4.0, oma_op_colors[i]);
}

static void draw_hand(canvas *c, const oma_kp *h, double sx, double sy)
{
    static const uint8_t blue[3] = {0, 0, 255};
    for (int e = 0; e < OMA_OP_HAND_EDGES; e++) {
        const oma_kp *a = &h[oma_op_hand_edges[e][0]], *b = &h[oma_op_hand_edges[e][1]];
        if (!present(a) || !present(b)) continue;
        uint8_t col[3];
        hsv_to_rgb((double)e / OMA_OP_HAND_EDGES, col);
        draw_segment(c, trunc(a->x * sx), trunc(a->y * sy), trunc(b->x * sx), trunc(b->y * sy), col);
    }
    for (int i = 0; i < OMA_OP_HAND; i++)
        if (present(&h[i])) fill_disc(c, trunc(h[i].x * sx), trunc(h[i].y * sy), 4.0, blue);
}

void oma_pose_draw(const oma_pose *pose, uint8_t *rgb, int w, int h, int what)
{
    if (!pose || !rgb || w <= 0 || h <= 0 || pose->canvas_w <= 0 || pose->canvas_h <= 0) return;
    canvas c = {rgb, w, h};
    double sx = (double)w / pose->canvas_w, sy = (double)h / pose->canvas_h;
    static const uint8_t white[3] = {255, 255, 255};
    if (what & OMA_DRAW_BODY)
        for (int i = 0; i < pose->n_people; i++) draw_body(&c, &pose->people[i], sx, sy);
    if (what & OMA_DRAW_HANDS)
        for (int i = 0; i < pose->n_people; i++) {
            draw_hand(&c, pose->people[i].lhand, sx, sy);
            draw_hand(&c, pose->people[i].rhand, sx, sy);
        }
    if (what & OMA_DRAW_FACE)
        for (int i = 0; i < pose->n_people; i++)
            for (int k = 0; k < OMA_OP_FACE; k++) {
                const oma_kp *q = &pose->people[i].face[k];
                if (present(q)) fill_disc(&c, trunc(q->x * sx), trunc(q->y * sy), 3.0, white);
            }
}

int oma_pose_render(const oma_pose *pose, int what, oma_image *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!pose || pose->canvas_w < 1 || pose->canvas_h < 1 || pose->canvas_w > OMA_POSE_MAX_CANVAS ||
        pose->canvas_h > OMA_POSE_MAX_CANVAS) {
        return oma_fail(err, errlen, "pose render: canvas size out of range");
    }
    size_t n = (size_t)pose->canvas_w * (size_t)pose->canvas_h * 3;
    out->px = calloc(n, 1);
    if (!out->px)
        return oma_fail(err, errlen, "pose render: out of memory");
    out->w = pose->canvas_w;
    out->h = pose->canvas_h;
    out->c = 3;
    oma_pose_draw(pose, out->px, out->w, out->h, what);
    return 0;
}

int oma_pose_overlay(const oma_image *photo, const oma_pose *pose, oma_image *out, char *err,
                     size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!photo || !photo->px || photo->w < 1 || photo->h < 1 || (photo->c != 3 && photo->c != 4 && photo->c != 1))
        return oma_fail(err, errlen, "pose overlay: bad image");
    size_t npx = (size_t)photo->w * (size_t)photo->h;
    uint8_t *skel = calloc(npx, 3);
    out->px = malloc(npx * 3);
    if (!skel || !out->px) {
        free(skel);
        free(out->px);
        out->px = NULL;
        return oma_fail(err, errlen, "pose overlay: out of memory");
    }
    oma_pose_draw(pose, skel, photo->w, photo->h, OMA_DRAW_ALL);
    for (size_t i = 0; i < npx; i++) {
        const uint8_t *s = skel + i * 3;
        uint8_t *d = out->px + i * 3;
        if (s[0] | s[1] | s[2]) {
            memcpy(d, s, 3);
        } else {
            for (int k = 0; k < 3; k++) {
                int ch = photo->c == 1 ? 0 : k;
                d[k] = (uint8_t)(photo->px[i * (size_t)photo->c + (size_t)ch] * 6 / 10);
            }
        }
    }
    free(skel);
    out->w = photo->w;
    out->h = photo->h;
    out->c = 3;
    return 0;
}
