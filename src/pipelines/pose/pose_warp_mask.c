/* pose_warp_mask.c — what is the figure, and what goes where it was.
 *
 * A cut-out character (PNG with alpha) says it itself: coverage = alpha. An opaque picture on
 * a flat backdrop (most of the border near one colour) gets a colour mask: pixels far from
 * the border's median colour, inside a generous region round the source skeleton (discs round
 * the handles, capsules along the bones), closed to remove pinholes. On a busy background
 * colour cannot tell figure from ground, so the region round both skeletons (source and
 * target, widened) is deformed as a whole, its rim pinned by anchor handles so it joins the
 * untouched picture around it without a seam; for big moves (that would smear the old limb
 * across the background) that region is cut out and moved instead (CUT). Holes left behind by a
 * cut are filled push-pull:
 * known pixels are averaged down a pyramid and the averages pulled back into the hole, which
 * gives a smooth continuation of the surrounding background in O(pixels).
 */
#include "pipelines/pose/pose_warp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u8(const void *a, const void *b)
{
    return (int)*(const uint8_t *)a - (int)*(const uint8_t *)b;
}

/* Draws a filled capsule (segment a-b, radius r) of value 255 into m. */
static void capsule(uint8_t *m, int w, int h, float ax, float ay, float bx, float by, float r)
{
    int x0 = (int)floorf(fminf(ax, bx) - r), x1 = (int)ceilf(fmaxf(ax, bx) + r);
    int y0 = (int)floorf(fminf(ay, by) - r), y1 = (int)ceilf(fmaxf(ay, by) + r);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > w - 1) x1 = w - 1;
    if (y1 > h - 1) y1 = h - 1;
    float dx = bx - ax, dy = by - ay, L2 = dx * dx + dy * dy;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float px = x + 0.5f - ax, py = y + 0.5f - ay;
            float t = L2 > 0 ? (px * dx + py * dy) / L2 : 0;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            float ex = px - t * dx, ey = py - t * dy;
            if (ex * ex + ey * ey <= r * r) m[(size_t)y * w + x] = 255;
        }
}

/* Binary dilation (grow != 0) or erosion with a square of radius r, separable. */
static int morph(uint8_t *m, int w, int h, int r, int grow)
{
    uint8_t *t = malloc((size_t)w * h);
    if (!t) return -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int v = grow ? 0 : 255;
            for (int k = -r; k <= r; k++) {
                int xx = x + k;
                uint8_t s = xx < 0 || xx >= w ? (grow ? 0 : 255) : m[(size_t)y * w + xx];
                v = grow ? (s > v ? s : v) : (s < v ? s : v);
            }
            t[(size_t)y * w + x] = (uint8_t)v;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int v = grow ? 0 : 255;
            for (int k = -r; k <= r; k++) {
                int yy = y + k;
                uint8_t s = yy < 0 || yy >= h ? (grow ? 0 : 255) : t[(size_t)yy * w + x];
                v = grow ? (s > v ? s : v) : (s < v ? s : v);
            }
            m[(size_t)y * w + x] = (uint8_t)v;
        }
    free(t);
    return 0;
}

/* Softens a 0/255 mask: a box blur of radius r, applied across rows and then columns. */
static int feather(uint8_t *m, int w, int h, int r)
{
    int *acc = malloc(sizeof *acc * (size_t)(w > h ? w : h));
    uint8_t *line = malloc((size_t)(w > h ? w : h));
    if (!acc || !line) {
        free(acc);
        free(line);
        return -1;
    }
    for (int pass = 0; pass < 2; pass++) {
        int n = pass ? h : w, lines = pass ? w : h;
        size_t step = pass ? (size_t)w : 1, stride = pass ? 1 : (size_t)w;
        for (int l = 0; l < lines; l++) {
            uint8_t *base = m + (size_t)l * stride;
            int sum = 0;
            for (int i = 0; i < n; i++) {
                line[i] = base[(size_t)i * step];
                sum += line[i];
                acc[i] = sum;   /* prefix sums */
            }
            for (int i = 0; i < n; i++) {
                int a = i - r - 1, b = i + r > n - 1 ? n - 1 : i + r;
                int s = acc[b] - (a >= 0 ? acc[a] : 0);
                int cnt = b - (a >= 0 ? a : -1);
                base[(size_t)i * step] = (uint8_t)((s + cnt / 2) / cnt);
            }
        }
    }
    free(acc);
    free(line);
    return 0;
}

/* Marks discs of radius r round the handles' source (or target) points, and capsules between
 * consecutive handles that are close (the samples along one bone), in region. */
static void skeleton_region(uint8_t *region, int w, int H, const oma_warp_handle *h, int n, int target, float r)
{
    for (int i = 0; i < n; i++) {
        float x = target ? h[i].qx : h[i].px, y = target ? h[i].qy : h[i].py;
        capsule(region, w, H, x, y, x, y, h[i].radius > r ? h[i].radius : r);
        if (i + 1 < n) {
            float x2 = target ? h[i + 1].qx : h[i + 1].px, y2 = target ? h[i + 1].qy : h[i + 1].py;
            float dx = x2 - x, dy = y2 - y;
            if (dx * dx + dy * dy < 4 * r * r) capsule(region, w, H, x, y, x2, y2, r);
        }
    }
}

int oma_warp_mask(const oma_image *img, const oma_warp_handle *h, int n, int margin, uint8_t **mask,
                  int *mode, char *err, size_t errlen)
{
    const int w = img->w, H = img->h, c = img->c;
    const size_t np = (size_t)w * H;
    *mask = NULL;
    *mode = OMA_WARP_MASK_ALPHA;
    uint8_t *m = calloc(np, 1);
    if (!m) return oma_fail(err, errlen, "pose warp: out of memory");
    if (c == 4) {
        size_t transparent = 0;
        for (size_t i = 0; i < np; i++) transparent += img->px[i * 4 + 3] < 250;
        if (transparent > np / 200) {   /* at least 0.5 % see-through: a cut-out */
            for (size_t i = 0; i < np; i++) m[i] = img->px[i * 4 + 3];
            *mask = m;
            return 0;
        }
    }
    /* the radius round the skeleton follows the size of the figure */
    float minx = 1e30f, miny = 1e30f, maxx = -1e30f, maxy = -1e30f;
    for (int i = 0; i < n; i++) {
        minx = fminf(minx, h[i].px);
        maxx = fmaxf(maxx, h[i].px);
        miny = fminf(miny, h[i].py);
        maxy = fmaxf(maxy, h[i].py);
    }
    float r = fmaxf(0.09f * fmaxf(maxx - minx, maxy - miny), 6.0f);
    uint8_t *region = calloc(np, 1), *b = malloc(2 * (size_t)w + 2 * (size_t)H);
    if (!region || !b) {
        free(m);
        free(region);
        free(b);
        return oma_fail(err, errlen, "pose warp: out of memory");
    }
    skeleton_region(region, w, H, h, n, 0, r);
    /* the border's median colour, and how uniform the border is */
    uint8_t bg[3] = {0, 0, 0};
    size_t k = 0;
    for (int ch = 0; ch < 3 && ch < c; ch++) {
        k = 0;
        for (int x = 0; x < w; x++) {
            b[k++] = img->px[((size_t)x) * c + ch];
            b[k++] = img->px[((size_t)(H - 1) * w + x) * c + ch];
        }
        for (int y = 0; y < H; y++) {
            b[k++] = img->px[((size_t)y * w) * c + ch];
            b[k++] = img->px[((size_t)y * w + w - 1) * c + ch];
        }
        qsort(b, k, 1, cmp_u8);
        bg[ch] = b[k / 2];
    }
    free(b);
    size_t near_bg = 0, nb = 0;
    for (int y = 0; y < H; y++) {
        int step = (y == 0 || y == H - 1) ? 1 : (w > 1 ? w - 1 : 1);   /* whole first/last row, else both ends */
        for (int x = 0; x < w; x += step) {
            const uint8_t *p = img->px + ((size_t)y * w + x) * c;
            int d = 0;
            for (int ch = 0; ch < 3 && ch < c; ch++) d = abs(p[ch] - bg[ch]) > d ? abs(p[ch] - bg[ch]) : d;
            near_bg += d <= 24;
            nb++;
        }
    }
    size_t in_region = 0, fg = 0;
    if (near_bg * 10 >= nb * 6) {   /* a flat backdrop: colour separates the figure */
        for (size_t i = 0; i < np; i++) {
            if (!region[i]) continue;
            in_region++;
            int d = 0;
            for (int ch = 0; ch < 3 && ch < c; ch++) {
                int e = abs((int)img->px[i * c + ch] - (int)bg[ch]);
                if (e > d) d = e;
            }
            if (d > 32) {
                m[i] = 255;
                fg++;
            }
        }
    }
    if (in_region > 0 && fg >= in_region / 20) {
        *mode = OMA_WARP_MASK_COLOR;
        free(region);
        if (morph(m, w, H, 2, 1) != 0 || morph(m, w, H, 2, 0) != 0) {
            free(m);
            return oma_fail(err, errlen, "pose warp: out of memory");
        }
        *mask = m;
        return 0;
    }
    /* A busy background. When the pose changes little (every handle moves less than 3 r), the
     * region round both skeletons, widened by margin, is deformed as a whole (its rim pinned by
     * the caller): seamless. A bigger move would drag the old limb's pixels into a smear, so
     * then the region round the source skeleton is cut out and moved like a cut-out instead. */
    free(m);
    float move = 0;
    for (int i = 0; i < n; i++) move = fmaxf(move, hypotf(h[i].qx - h[i].px, h[i].qy - h[i].py));
    if (move > 3 * r) {
        *mode = OMA_WARP_MASK_CUT;
        if (feather(region, w, H, 4) != 0) {   /* a soft edge, so the moved patch blends in */
            free(region);
            return oma_fail(err, errlen, "pose warp: out of memory");
        }
        *mask = region;
        return 0;
    }
    *mode = OMA_WARP_MASK_REGION;
    skeleton_region(region, w, H, h, n, 1, r);
    if (morph(region, w, H, margin, 1) != 0) {
        free(region);
        return oma_fail(err, errlen, "pose warp: out of memory");
    }
    *mask = region;
    return 0;
}

int oma_warp_anchors(const uint8_t *mask, int w, int h, int spacing, oma_warp_handle **hs, int *n,
                     char *err, size_t errlen)
{
    const int first = *n;
    int cap = *n;
    if (spacing < 1) spacing = 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            if (!mask[i]) continue;
            int rim = (x > 0 && !mask[i - 1]) || (x + 1 < w && !mask[i + 1]) || (y > 0 && !mask[i - (size_t)w]) ||
                      (y + 1 < h && !mask[i + (size_t)w]);
            if (!rim) continue;
            int close = 0;
            for (int k = first; k < *n && !close; k++) {
                float dx = (*hs)[k].px - (x + 0.5f), dy = (*hs)[k].py - (y + 0.5f);
                close = dx * dx + dy * dy < (float)spacing * (float)spacing;
            }
            if (close) continue;
            if (*n == cap) {
                int nc = cap * 2 + 64;
                oma_warp_handle *nh = realloc(*hs, sizeof *nh * (size_t)nc);
                if (!nh) return oma_fail(err, errlen, "pose warp: out of memory");
                *hs = nh;
                cap = nc;
            }
            float fx = x + 0.5f, fy = y + 0.5f;
            (*hs)[(*n)++] = (oma_warp_handle){fx, fy, fx, fy, 0, 0};
        }
    return 0;
}

int oma_warp_fill(oma_image *img, const uint8_t *hole)
{
    const int c = img->c;
    int levels = 1;
    int lw = img->w, lh = img->h;
    while ((lw > 1 || lh > 1) && levels < 32) {
        lw = (lw + 1) / 2;
        lh = (lh + 1) / 2;
        levels++;
    }
    /* level l: (w_l x h_l) of premultiplied colour sums (c floats) and weights */
    float **col = calloc((size_t)levels, sizeof *col), **wt = calloc((size_t)levels, sizeof *wt);
    int *W = calloc((size_t)levels, sizeof *W), *Hh = calloc((size_t)levels, sizeof *Hh);
    int rc = -1;
    if (!col || !wt || !W || !Hh) goto done;
    W[0] = img->w;
    Hh[0] = img->h;
    for (int l = 1; l < levels; l++) {
        W[l] = (W[l - 1] + 1) / 2;
        Hh[l] = (Hh[l - 1] + 1) / 2;
    }
    for (int l = 0; l < levels; l++) {
        col[l] = calloc((size_t)W[l] * Hh[l] * c, sizeof(float));
        wt[l] = calloc((size_t)W[l] * Hh[l], sizeof(float));
        if (!col[l] || !wt[l]) goto done;
    }
    for (size_t i = 0; i < (size_t)img->w * img->h; i++) {
        if (hole[i]) continue;
        wt[0][i] = 1;
        for (int ch = 0; ch < c; ch++) col[0][i * c + ch] = img->px[i * c + ch];
    }
    /* push: average the known pixels down */
    for (int l = 1; l < levels; l++)
        for (int y = 0; y < Hh[l]; y++)
            for (int x = 0; x < W[l]; x++) {
                size_t o = (size_t)y * W[l] + x;
                float sw = 0, sc[4] = {0, 0, 0, 0};
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int xx = 2 * x + dx, yy = 2 * y + dy;
                        if (xx >= W[l - 1] || yy >= Hh[l - 1]) continue;
                        size_t s = (size_t)yy * W[l - 1] + xx;
                        sw += wt[l - 1][s];
                        for (int ch = 0; ch < c; ch++) sc[ch] += col[l - 1][s * c + ch] * wt[l - 1][s];
                    }
                if (sw > 0) {
                    wt[l][o] = sw > 1 ? 1 : sw;
                    for (int ch = 0; ch < c; ch++) col[l][o * c + ch] = sc[ch] / sw;
                }
            }
    /* pull: where a level is unknown (or partly known), blend in the coarser level, bilinear */
    for (int l = levels - 2; l >= 0; l--)
        for (int y = 0; y < Hh[l]; y++)
            for (int x = 0; x < W[l]; x++) {
                size_t o = (size_t)y * W[l] + x;
                float a = wt[l][o];
                if (a >= 1) continue;
                float fx = (x + 0.5f) / 2 - 0.5f, fy = (y + 0.5f) / 2 - 0.5f;
                int x0 = (int)floorf(fx), y0 = (int)floorf(fy);
                float tx = fx - x0, ty = fy - y0;
                float v[4] = {0, 0, 0, 0};
                for (int k = 0; k < 4; k++) {
                    int xx = x0 + (k & 1), yy = y0 + (k >> 1);
                    xx = xx < 0 ? 0 : xx >= W[l + 1] ? W[l + 1] - 1 : xx;
                    yy = yy < 0 ? 0 : yy >= Hh[l + 1] ? Hh[l + 1] - 1 : yy;
                    float f = ((k & 1) ? tx : 1 - tx) * ((k >> 1) ? ty : 1 - ty);
                    for (int ch = 0; ch < c; ch++) v[ch] += f * col[l + 1][((size_t)yy * W[l + 1] + xx) * c + ch];
                }
                for (int ch = 0; ch < c; ch++) col[l][o * c + ch] = a * col[l][o * c + ch] + (1 - a) * v[ch];
                wt[l][o] = 1;
            }
    for (size_t i = 0; i < (size_t)img->w * img->h; i++) {
        if (!hole[i]) continue;
        for (int ch = 0; ch < c; ch++) {
            float v = col[0][i * c + ch] + 0.5f;
            img->px[i * c + ch] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        }
    }
    rc = 0;
done:
    if (col)
        for (int l = 0; l < levels; l++) free(col[l]);
    if (wt)
        for (int l = 0; l < levels; l++) free(wt[l]);
    free(col);
    free(wt);
    free(W);
    free(Hh);
    return rc;
}
