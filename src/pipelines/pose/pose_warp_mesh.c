/* pose_warp_mesh.c — draws the deformed figure.
 *
 * A regular grid (cell = opts.grid pixels) is laid over the figure's bounding box; a cell is
 * part of the mesh when any of its pixels is covered by the mask. Only grid vertices go
 * through MLS; each cell is two triangles, rasterised in the target picture with barycentric
 * coordinates giving where to sample the source (bilinear, premultiplied by the mask). When
 * parts fold over each other the cells are drawn torso first, then legs, arms and hands (the
 * depth of a cell is that of its nearest handle), each composited over what lies below it.
 */
#include "pipelines/pose/pose_warp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cell {
    int gx, gy, depth;
} cell;

static int cmp_cell(const void *a, const void *b)
{
    const cell *x = a, *y = b;
    if (x->depth != y->depth) return x->depth - y->depth;
    if (x->gy != y->gy) return x->gy - y->gy;
    return x->gx - y->gx;
}

/* Premultiplied RGBA sample of the source at (x, y) (pixel centres at +0.5), coverage from
 * the mask times the source alpha. */
static void sample(const oma_image *src, const uint8_t *mask, float x, float y, float out[4])
{
    const int w = src->w, h = src->h, c = src->c;
    float fx = x - 0.5f, fy = y - 0.5f;
    int x0 = (int)floorf(fx), y0 = (int)floorf(fy);
    float tx = fx - x0, ty = fy - y0;
    out[0] = out[1] = out[2] = out[3] = 0;
    for (int k = 0; k < 4; k++) {
        int xx = x0 + (k & 1), yy = y0 + (k >> 1);
        if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
        float f = ((k & 1) ? tx : 1 - tx) * ((k >> 1) ? ty : 1 - ty);
        size_t i = (size_t)yy * w + xx;
        float a = mask[i] / 255.0f;
        if (c == 4 && mask[i] != src->px[i * 4 + 3]) a *= src->px[i * 4 + 3] / 255.0f;
        a *= f;
        const uint8_t *p = src->px + i * c;
        out[0] += a * p[0];
        out[1] += a * p[1];
        out[2] += a * p[2];
        out[3] += a;
    }
}

/* Rasterises triangle t (target) with source corners s into the figure layer. Adds the
 * pixels of its (clipped) bounding box to *work. */
static void triangle(const oma_image *src, const uint8_t *mask, const float t[3][2], const float s[3][2],
                     float *layer, int w, int h, int64_t *work)
{
    float minx = fminf(t[0][0], fminf(t[1][0], t[2][0])), maxx = fmaxf(t[0][0], fmaxf(t[1][0], t[2][0]));
    float miny = fminf(t[0][1], fminf(t[1][1], t[2][1])), maxy = fmaxf(t[0][1], fmaxf(t[1][1], t[2][1]));
    if (!(maxx >= 0 && maxy >= 0 && minx <= w && miny <= h)) return;   /* also rejects NaN */
    /* clamp in float before converting: an out-of-range float -> int conversion is undefined */
    int x0 = (int)floorf(fmaxf(minx, 0)), x1 = (int)ceilf(fminf(maxx, (float)(w - 1)));
    int y0 = (int)floorf(fmaxf(miny, 0)), y1 = (int)ceilf(fminf(maxy, (float)(h - 1)));
    *work += (int64_t)(x1 - x0 + 1) * (y1 - y0 + 1);
    float d = (t[1][1] - t[2][1]) * (t[0][0] - t[2][0]) + (t[2][0] - t[1][0]) * (t[0][1] - t[2][1]);
    if (fabsf(d) < 1e-6f) return;   /* degenerate */
    const float eps = -1e-4f;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float px = x + 0.5f, py = y + 0.5f;
            float b0 = ((t[1][1] - t[2][1]) * (px - t[2][0]) + (t[2][0] - t[1][0]) * (py - t[2][1])) / d;
            float b1 = ((t[2][1] - t[0][1]) * (px - t[2][0]) + (t[0][0] - t[2][0]) * (py - t[2][1])) / d;
            float b2 = 1 - b0 - b1;
            if (b0 < eps || b1 < eps || b2 < eps) continue;
            float sx = b0 * s[0][0] + b1 * s[1][0] + b2 * s[2][0];
            float sy = b0 * s[0][1] + b1 * s[1][1] + b2 * s[2][1];
            float v[4];
            sample(src, mask, sx, sy, v);
            if (v[3] <= 0) continue;   /* outside the figure: keep what lies below */
            float *l = layer + ((size_t)y * w + x) * 4, k = 1 - (v[3] > 1 ? 1 : v[3]);
            for (int ch = 0; ch < 4; ch++) l[ch] = v[ch] + k * l[ch];   /* "over" */
        }
}

int oma_warp_render(const oma_image *src, const uint8_t *mask, const oma_warp_handle *h, int n,
                    const oma_warp_opts *o, int reveal, oma_image *dst, char *err, size_t errlen)
{
    const int w = src->w, H = src->h;
    const int g = o->grid < 2 ? 2 : o->grid > 64 ? 64 : o->grid;
    if (dst->w != w || dst->h != H || dst->c != 4) return oma_fail(err, errlen, "pose warp: bad target");
    /* bounding box of the figure */
    int bx0 = w, by0 = H, bx1 = -1, by1 = -1;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < w; x++)
            if (mask[(size_t)y * w + x]) {
                if (x < bx0) bx0 = x;
                if (x > bx1) bx1 = x;
                if (y < by0) by0 = y;
                if (y > by1) by1 = y;
            }
    if (bx1 < 0) return 0;   /* nothing to move */
    const int gw = (bx1 - bx0) / g + 1, gh = (by1 - by0) / g + 1;   /* cells */
    const int vw = gw + 1, vh = gh + 1;                             /* vertices */
    float *vt = malloc(sizeof *vt * 2 * (size_t)vw * vh);
    cell *cells = malloc(sizeof *cells * (size_t)gw * gh);
    float *layer = calloc((size_t)w * H * 4, sizeof *layer);
    int rc = -1;
    if (!vt || !cells || !layer) {
        oma_fail(err, errlen, "pose warp: out of memory");
        goto done;
    }
    int nc = 0;
    for (int cy = 0; cy < gh; cy++)
        for (int cx = 0; cx < gw; cx++) {
            int x0 = bx0 + cx * g, y0 = by0 + cy * g, any = 0;
            for (int y = y0; y < y0 + g && y < H && !any; y++)
                for (int x = x0; x < x0 + g && x < w; x++)
                    if (mask[(size_t)y * w + x]) {
                        any = 1;
                        break;
                    }
            if (!any) continue;
            /* depth of the nearest handle to the cell centre */
            float mx = x0 + g * 0.5f, my = y0 + g * 0.5f, best = 1e30f;
            int depth = 0;
            for (int i = 0; i < n; i++) {
                float dx = h[i].px - mx, dy = h[i].py - my, d2 = dx * dx + dy * dy;
                if (d2 < best) {
                    best = d2;
                    depth = h[i].depth;
                }
            }
            cells[nc++] = (cell){cx, cy, depth};
        }
    /* deform the vertices (all of the box's grid; vertices outside cells cost little) */
    for (int j = 0; j < vh; j++)
        for (int i = 0; i < vw; i++) {
            float *v = vt + 2 * ((size_t)j * vw + i);
            oma_warp_mls(h, n, o->alpha, 0, (float)(bx0 + i * g), (float)(by0 + j * g), &v[0], &v[1]);
        }
    qsort(cells, (size_t)nc, sizeof *cells, cmp_cell);
    int64_t work = 0;
    for (int k = 0; k < nc; k++) {
        int i = cells[k].gx, j = cells[k].gy;
        float s[4][2] = {{(float)(bx0 + i * g), (float)(by0 + j * g)},
                         {(float)(bx0 + (i + 1) * g), (float)(by0 + j * g)},
                         {(float)(bx0 + (i + 1) * g), (float)(by0 + (j + 1) * g)},
                         {(float)(bx0 + i * g), (float)(by0 + (j + 1) * g)}};
        const float *v00 = vt + 2 * ((size_t)j * vw + i), *v10 = vt + 2 * ((size_t)j * vw + i + 1);
        const float *v11 = vt + 2 * ((size_t)(j + 1) * vw + i + 1), *v01 = vt + 2 * ((size_t)(j + 1) * vw + i);
        float t[4][2] = {{v00[0], v00[1]}, {v10[0], v10[1]}, {v11[0], v11[1]}, {v01[0], v01[1]}};
        float ta[3][2] = {{t[0][0], t[0][1]}, {t[1][0], t[1][1]}, {t[2][0], t[2][1]}};
        float sa[3][2] = {{s[0][0], s[0][1]}, {s[1][0], s[1][1]}, {s[2][0], s[2][1]}};
        float tb[3][2] = {{t[0][0], t[0][1]}, {t[2][0], t[2][1]}, {t[3][0], t[3][1]}};
        float sb[3][2] = {{s[0][0], s[0][1]}, {s[2][0], s[2][1]}, {s[3][0], s[3][1]}};
        triangle(src, mask, ta, sa, layer, w, H, &work);
        triangle(src, mask, tb, sb, layer, w, H, &work);
        /* a sane deformation covers each target pixel a few times; a pose that flings the
         * mesh across the picture would cost without bound */
        if (work > 64 * (int64_t)w * H + 4 * 1024 * 1024) {
            oma_fail(err, errlen, "pose warp: the target pose tears the figure apart (mesh too stretched)");
            goto done;
        }
    }
    /* composite the layer (premultiplied) over dst (straight alpha). With reveal, what lies
     * under the figure is the original where the figure still covers its old place and dst
     * (the filled plate) only in proportion to how much of it the figure left. */
    for (size_t i = 0; i < (size_t)w * H; i++) {
        const float *f = layer + i * 4;
        uint8_t *d = dst->px + i * 4;
        float fa = f[3] > 1 ? 1 : f[3];
        if (reveal) {
            const uint8_t *o = src->px + i * (size_t)src->c;
            float m = mask[i] / 255.0f, vac = m > 0 ? fmaxf(0, m - fa) / m : 0;
            if (fa <= 0 && vac <= 0) {
                d[0] = o[0], d[1] = o[1], d[2] = o[2], d[3] = 255;
                continue;
            }
            for (int ch = 0; ch < 3; ch++) {
                float under = o[ch] * (1 - vac) + d[ch] * vac;
                float v = f[ch] + (1 - fa) * under + 0.5f;
                d[ch] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
            }
            d[3] = 255;
            continue;
        }
        if (f[3] <= 0) continue;
        float da = d[3] / 255.0f;
        float oa = fa + da * (1 - fa);
        for (int ch = 0; ch < 3; ch++) {
            float v = (f[ch] + d[ch] * da * (1 - fa)) / (oa > 1e-6f ? oa : 1) + 0.5f;
            d[ch] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        }
        float av = oa * 255 + 0.5f;
        d[3] = av >= 255 ? 255 : (uint8_t)av;
    }
    rc = 0;
done:
    free(vt);
    free(cells);
    free(layer);
    return rc;
}
