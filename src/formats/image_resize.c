/* image_resize.c — resizing: area averaging when shrinking, bilinear when growing.
 *
 * Separable: each axis gets a table saying which source samples, with which weights, make
 * each destination sample (exact pixel-coverage weights when shrinking, the two neighbours
 * when growing, pixel centres aligned), then rows are filtered horizontally into a small
 * ring of float rows and columns vertically into the result. RGBA is filtered premultiplied
 * by alpha so transparent pixels don't bleed their (meaningless) colour into the edges.
 */
#include "formats/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct axis {
    int *start;   /* first source index per destination index */
    int *count;   /* number of taps per destination index */
    float *w;     /* taps * n_dst weights, row i at i * max_taps */
    int max_taps;
} axis;

static void axis_free(axis *a)
{
    free(a->start);
    free(a->count);
    free(a->w);
}

static int axis_make(axis *a, int src, int dst)
{
    memset(a, 0, sizeof *a);
    double scale = (double)src / dst;
    a->max_taps = dst <= src ? (int)ceil(scale) + 2 : 2;
    a->start = malloc(sizeof *a->start * (size_t)dst);
    a->count = malloc(sizeof *a->count * (size_t)dst);
    a->w = calloc((size_t)dst * (size_t)a->max_taps, sizeof *a->w);
    if (!a->start || !a->count || !a->w) {
        axis_free(a);
        return -1;
    }
    for (int i = 0; i < dst; i++) {
        float *w = a->w + (size_t)i * (size_t)a->max_taps;
        if (dst <= src) {
            /* destination pixel i covers source interval [i*scale, (i+1)*scale) */
            double lo = i * scale, hi = (i + 1) * scale;
            int s0 = (int)floor(lo), n = 0;
            double total = 0;
            for (int s = s0; s < src && s < hi && n < a->max_taps; s++) {
                double ov = fmin(hi, s + 1.0) - fmax(lo, (double)s);
                if (ov <= 0) continue;
                if (n == 0) a->start[i] = s;
                w[s - a->start[i]] = (float)ov;
                n = s - a->start[i] + 1;
                total += ov;
            }
            if (n == 0) {   /* cannot happen for valid sizes; keep the table sane anyway */
                a->start[i] = s0 < src ? s0 : src - 1;
                w[0] = 1;
                n = 1;
                total = 1;
            }
            for (int k = 0; k < n; k++) w[k] = (float)(w[k] / total);
            a->count[i] = n;
        } else {
            double x = (i + 0.5) * scale - 0.5;
            if (x < 0) x = 0;
            if (x > src - 1) x = src - 1;
            int x0 = (int)floor(x);
            double f = x - x0;
            a->start[i] = x0;
            if (x0 + 1 < src) {
                w[0] = (float)(1 - f);
                w[1] = (float)f;
                a->count[i] = 2;
            } else {
                w[0] = 1;
                a->count[i] = 1;
            }
        }
    }
    return 0;
}

int oma_image_resize(const oma_image *src, int w, int h, oma_image *dst)
{
    if (!src || !src->px || !dst || src->w <= 0 || src->h <= 0) return -1;
    if (oma_image_alloc(dst, w, h, src->c) != 0) return -1;
    const int c = src->c, sw = src->w, sh = src->h;
    const int pm = c == 4;   /* premultiply */
    axis ax, ay;
    float *tmp = NULL, *acc = NULL;
    if (axis_make(&ax, sw, w) != 0) goto fail_early;
    if (axis_make(&ay, sh, h) != 0) {
        axis_free(&ax);
        goto fail_early;
    }
    /* Horizontally filtered source rows live in a ring of ay.max_taps rows: the vertical taps
     * of consecutive destination rows start at non-decreasing source rows, so a row that
     * leaves the ring is never needed again, and memory stays O(taps * w), not O(sh * w). */
    const int ring = ay.max_taps;
    const size_t rw = (size_t)w * (size_t)c;
    tmp = malloc(sizeof *tmp * (size_t)ring * rw);
    acc = malloc(sizeof *acc * rw);
    if (!tmp || !acc) goto fail;
    int next_row = 0;   /* first source row not yet filtered */

    for (int j = 0; j < h; j++) {
        const int s0 = ay.start[j], cnt = ay.count[j];
        if (next_row < s0) next_row = s0;
        for (; next_row < s0 + cnt; next_row++) {
            const uint8_t *row = src->px + (size_t)next_row * (size_t)sw * (size_t)c;
            float *out = tmp + (size_t)(next_row % ring) * rw;
            for (int i = 0; i < w; i++) {
                const float *wt = ax.w + (size_t)i * (size_t)ax.max_taps;
                float v[4] = {0, 0, 0, 0};
                for (int k = 0; k < ax.count[i]; k++) {
                    const uint8_t *p = row + (size_t)(ax.start[i] + k) * (size_t)c;
                    float a = pm ? p[3] / 255.0f : 1.0f;
                    for (int ch = 0; ch < c; ch++)
                        v[ch] += wt[k] * (pm && ch < 3 ? p[ch] * a : p[ch]);
                }
                memcpy(out + (size_t)i * (size_t)c, v, sizeof(float) * (size_t)c);
            }
        }
        const float *wt = ay.w + (size_t)j * (size_t)ay.max_taps;
        memset(acc, 0, sizeof *acc * rw);
        for (int k = 0; k < cnt; k++) {
            const float *r = tmp + (size_t)((s0 + k) % ring) * rw;
            for (size_t q = 0; q < rw; q++) acc[q] += wt[k] * r[q];
        }
        uint8_t *o = dst->px + (size_t)j * rw;
        for (int i = 0; i < w; i++) {
            float *v = acc + (size_t)i * (size_t)c;
            float a = pm ? v[3] : 0;
            for (int ch = 0; ch < c; ch++) {
                float x = v[ch];
                if (pm && ch < 3) x = a > 1e-3f ? x / (a / 255.0f) : 0.0f;
                x = x + 0.5f;
                o[(size_t)i * (size_t)c + (size_t)ch] = x <= 0 ? 0 : x >= 255 ? 255 : (uint8_t)x;
            }
        }
    }
    free(tmp);
    free(acc);
    axis_free(&ax);
    axis_free(&ay);
    return 0;
fail:
    free(tmp);
    free(acc);
    axis_free(&ax);
    axis_free(&ay);
fail_early:
    oma_image_free(dst);
    return -1;
}
