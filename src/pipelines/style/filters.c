/* filters.c — Gaussian blur, Sobel, separable bilateral, exact EDT, mask clean-up.
 * Everything is O(pixels * small radius) so a 1024x1024 photo stays well under a second. */
#include "pipelines/style/filters.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

int oma_gauss_blur(const float *src, float *dst, int w, int h, float sigma)
{
    if (!src || !dst || w <= 0 || h <= 0) return -1;
    size_t n = (size_t)w * h;
    if (sigma <= 0.01f) {
        if (dst != src) memcpy(dst, src, n * sizeof *dst);
        return 0;
    }
    int r = (int)ceilf(3.0f * sigma);
    if (r > 200) r = 200;
    float *k = malloc((size_t)(2 * r + 1) * sizeof *k);
    float *tmp = malloc(n * sizeof *tmp);
    float *line = malloc((size_t)(w > h ? w : h) * sizeof *line);
    if (!k || !tmp || !line) { free(k); free(tmp); free(line); return -1; }
    float s = 0;
    for (int i = -r; i <= r; i++) s += k[i + r] = expf(-(float)(i * i) / (2 * sigma * sigma));
    for (int i = 0; i <= 2 * r; i++) k[i] /= s;
    for (int y = 0; y < h; y++) {
        const float *row = src + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            float acc = 0;
            if (x - r >= 0 && x + r < w)
                for (int i = -r; i <= r; i++) acc += k[i + r] * row[x + i];
            else
                for (int i = -r; i <= r; i++) acc += k[i + r] * row[clampi(x + i, 0, w - 1)];
            tmp[(size_t)y * w + x] = acc;
        }
    }
    /* Vertical pass row by row (cache-friendly): accumulate weighted rows. */
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) line[x] = 0;
        for (int i = -r; i <= r; i++) {
            const float *row = tmp + (size_t)clampi(y + i, 0, h - 1) * w;
            float kv = k[i + r];
            for (int x = 0; x < w; x++) line[x] += kv * row[x];
        }
        memcpy(dst + (size_t)y * w, line, (size_t)w * sizeof *line);
    }
    free(k); free(tmp); free(line);
    return 0;
}

void oma_sobel_mag(const float *s, float *d, int w, int h)
{
    for (int y = 0; y < h; y++) {
        int y0 = clampi(y - 1, 0, h - 1), y1 = clampi(y + 1, 0, h - 1);
        for (int x = 0; x < w; x++) {
            int x0 = clampi(x - 1, 0, w - 1), x1 = clampi(x + 1, 0, w - 1);
#define P(yy, xx) s[(size_t)(yy) * w + (xx)]
            float gx = (P(y0, x1) + 2 * P(y, x1) + P(y1, x1)) - (P(y0, x0) + 2 * P(y, x0) + P(y1, x0));
            float gy = (P(y1, x0) + 2 * P(y1, x) + P(y1, x1)) - (P(y0, x0) + 2 * P(y0, x) + P(y0, x1));
#undef P
            d[(size_t)y * w + x] = sqrtf(gx * gx + gy * gy);
        }
    }
}

/* One 1-D bilateral pass along a strided line of n pixels (3 channels). */
static void bilat_line(const float *in, float *out, int n, size_t stride, int r, const float *ks,
                       const float *lut, float lut_scale, int lut_n)
{
    for (int i = 0; i < n; i++) {
        const float *c = in + (size_t)i * stride;
        float acc0 = 0, acc1 = 0, acc2 = 0, ws = 0;
        int lo = i - r < 0 ? 0 : i - r, hi = i + r >= n ? n - 1 : i + r;
        for (int j = lo; j <= hi; j++) {
            const float *q = in + (size_t)j * stride;
            float d0 = q[0] - c[0], d1 = q[1] - c[1], d2 = q[2] - c[2];
            int li = (int)((d0 * d0 + d1 * d1 + d2 * d2) * lut_scale);
            if (li >= lut_n) continue;
            float wv = ks[j - i + r] * lut[li];
            acc0 += wv * q[0]; acc1 += wv * q[1]; acc2 += wv * q[2]; ws += wv;
        }
        float *o = out + (size_t)i * 3;
        o[0] = acc0 / ws; o[1] = acc1 / ws; o[2] = acc2 / ws; /* ws >= centre weight 1 */
    }
}

int oma_bilateral_lab(float *lab, int w, int h, float sigma_s, float sigma_r, int iters)
{
    if (!lab || w <= 0 || h <= 0 || sigma_s <= 0 || sigma_r <= 0) return -1;
    int r = (int)ceilf(2.0f * sigma_s);
    if (r > 30) r = 30;
    enum { LUT_N = 4096 };
    float ks[61], lut[LUT_N];
    for (int i = -r; i <= r; i++) ks[i + r] = expf(-(float)(i * i) / (2 * sigma_s * sigma_s));
    /* Range weights tabulated on squared distance up to (3 sigma_r)^2. */
    float maxd2 = 9.0f * sigma_r * sigma_r, lut_scale = (float)(LUT_N - 1) / maxd2;
    for (int i = 0; i < LUT_N; i++) lut[i] = expf(-((float)i / lut_scale) / (2 * sigma_r * sigma_r));
    int m = w > h ? w : h;
    float *buf = malloc((size_t)m * 3 * sizeof *buf);
    if (!buf) return -1;
    for (int it = 0; it < iters; it++) {
        for (int y = 0; y < h; y++) {
            float *row = lab + (size_t)y * w * 3;
            bilat_line(row, buf, w, 3, r, ks, lut, lut_scale, LUT_N);
            memcpy(row, buf, (size_t)w * 3 * sizeof *buf);
        }
        for (int x = 0; x < w; x++) {
            float *col = lab + (size_t)x * 3;
            bilat_line(col, buf, h, (size_t)w * 3, r, ks, lut, lut_scale, LUT_N);
            for (int y = 0; y < h; y++) memcpy(col + (size_t)y * w * 3, buf + (size_t)y * 3, 3 * sizeof *buf);
        }
    }
    free(buf);
    return 0;
}

/* 1-D squared distance transform of f (Felzenszwalb & Huttenlocher 2012). */
static void edt1d(const float *f, float *d, int n, int *v, float *z)
{
    int k = 0;
    v[0] = 0; z[0] = -FLT_MAX; z[1] = FLT_MAX;
    for (int q = 1; q < n; q++) {
        float s;
        for (;;) {
            int p = v[k];
            s = ((f[q] + (float)q * q) - (f[p] + (float)p * p)) / (2.0f * (float)(q - p));
            if (s <= z[k] && k > 0) k--;
            else break;
        }
        k++;
        v[k] = q; z[k] = s; z[k + 1] = FLT_MAX;
    }
    k = 0;
    for (int q = 0; q < n; q++) {
        while (z[k + 1] < (float)q) k++;
        float dq = (float)(q - v[k]);
        d[q] = dq * dq + f[v[k]];
    }
}

int oma_edt(const uint8_t *mask, int w, int h, float *dist)
{
    if (!mask || !dist || w <= 0 || h <= 0) return -1;
    int m = w > h ? w : h;
    const float INF = 1e20f;
    float *f = malloc((size_t)m * sizeof *f), *d = malloc((size_t)m * sizeof *d);
    float *z = malloc((size_t)(m + 1) * sizeof *z);
    int *v = malloc((size_t)m * sizeof *v);
    if (!f || !d || !z || !v) { free(f); free(d); free(z); free(v); return -1; }
    size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++) dist[i] = mask[i] ? INF : 0.0f;
    for (int x = 0; x < w; x++) {
        for (int y = 0; y < h; y++) f[y] = dist[(size_t)y * w + x];
        edt1d(f, d, h, v, z);
        for (int y = 0; y < h; y++) dist[(size_t)y * w + x] = d[y];
    }
    for (int y = 0; y < h; y++) {
        float *row = dist + (size_t)y * w;
        memcpy(f, row, (size_t)w * sizeof *f);
        edt1d(f, d, w, v, z);
        for (int x = 0; x < w; x++) row[x] = sqrtf(d[x] > INF ? INF : d[x]);
    }
    free(f); free(d); free(z); free(v);
    return 0;
}

int oma_mask_remove_small(uint8_t *mask, int w, int h, int min_area)
{
    if (!mask || w <= 0 || h <= 0) return -1;
    size_t n = (size_t)w * h;
    uint32_t *stack = malloc(n * sizeof *stack);
    uint32_t *comp = malloc(n * sizeof *comp);
    uint8_t *seen = calloc(n, 1);
    if (!stack || !comp || !seen) { free(stack); free(comp); free(seen); return -1; }
    int kept = 0;
    for (size_t s = 0; s < n; s++) {
        if (!mask[s] || seen[s]) continue;
        size_t sp = 0, cn = 0;
        stack[sp++] = (uint32_t)s;
        seen[s] = 1;
        while (sp) {
            uint32_t p = stack[--sp];
            comp[cn++] = p;
            int px = (int)(p % (uint32_t)w), py = (int)(p / (uint32_t)w);
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int qx = px + dx, qy = py + dy;
                    if (qx < 0 || qy < 0 || qx >= w || qy >= h) continue;
                    size_t q = (size_t)qy * w + qx;
                    if (mask[q] && !seen[q]) { seen[q] = 1; stack[sp++] = (uint32_t)q; }
                }
        }
        if ((int)cn < min_area)
            for (size_t i = 0; i < cn; i++) mask[comp[i]] = 0;
        else
            kept++;
    }
    free(stack); free(comp); free(seen);
    return kept;
}

int oma_mask_dilate(uint8_t *mask, int w, int h, float r)
{
    if (!mask || w <= 0 || h <= 0) return -1;
    if (r <= 0) return 0;
    size_t n = (size_t)w * h;
    uint8_t *inv = malloc(n);
    float *d = malloc(n * sizeof *d);
    if (!inv || !d) { free(inv); free(d); return -1; }
    for (size_t i = 0; i < n; i++) inv[i] = !mask[i];
    if (oma_edt(inv, w, h, d) != 0) { free(inv); free(d); return -1; }
    for (size_t i = 0; i < n; i++) mask[i] = d[i] <= r ? 1 : 0;
    free(inv); free(d);
    return 0;
}
