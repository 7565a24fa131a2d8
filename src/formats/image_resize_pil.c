/* image_resize_pil.c — resizing exactly as Pillow's Image.resize does (BICUBIC, LANCZOS).
 *
 * Reference pipelines (transformers' CLIP preprocessing, diffusers' VaeImageProcessor) resize
 * with Pillow, so matching their numbers means matching Pillow's resampler bit for bit
 * (libImaging/Resample.c, read for the algorithm): a separable filter whose support grows with
 * the shrink factor (antialiasing), taps computed in double, normalised, then turned into
 * fixed-point integers with 22 fractional bits; the horizontal pass writes 8-bit rows (rounded,
 * clamped) over only the source rows the vertical pass needs, then the vertical pass. Same size
 * on an axis skips that pass; same size on both is a copy.
 */
#include "formats/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PREC 22     /* Pillow's PRECISION_BITS for 8-bit images: 32 - 8 - 2 */

static double bicubic(double x)
{
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc(double x)
{
    if (x == 0.0) return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double lanczos(double x)
{
    if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
    return 0.0;
}

typedef struct coeffs {
    int ksize;
    int *bounds;        /* per output: xmin, count */
    int32_t *k;         /* per output: ksize fixed-point taps */
} coeffs;

static int precompute(int in_size, int out_size, int filter, coeffs *c)
{
    double support0 = filter == OMA_PIL_LANCZOS ? 3.0 : 2.0;
    double scale = (double)in_size / out_size, fscale = scale < 1.0 ? 1.0 : scale;
    double support = support0 * fscale;
    int ksize = (int)ceil(support) * 2 + 1;
    if (ksize < 1 || ksize > 1 << 20) return -1;
    c->ksize = ksize;
    c->bounds = malloc(sizeof(int) * 2 * (size_t)out_size);
    c->k = malloc(sizeof(int32_t) * (size_t)ksize * (size_t)out_size);
    double *kk = malloc(sizeof(double) * (size_t)ksize);
    if (!c->bounds || !c->k || !kk) {
        free(kk);
        return -1;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / fscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double arg = (x + xmin - center + 0.5) * ss;
            double w = filter == OMA_PIL_LANCZOS ? lanczos(arg) : bicubic(arg);
            kk[x] = w;
            ww += w;
        }
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? kk[x] / ww : kk[x]) : 0.0;
            c->k[(size_t)xx * ksize + x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PREC)) : (int32_t)(0.5 + v * (1 << PREC));
        }
        c->bounds[2 * xx] = xmin;
        c->bounds[2 * xx + 1] = xmax;
    }
    free(kk);
    return 0;
}

static uint8_t clip8(int64_t v)
{
    if (v >= (int64_t)1 << PREC << 8) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PREC);
}

static void coeffs_free(coeffs *c)
{
    free(c->bounds);
    free(c->k);
}

int oma_image_resize_pil(const oma_image *src, int w, int h, int filter, oma_image *dst)
{
    memset(dst, 0, sizeof *dst);
    if (!src->px || w < 1 || h < 1 || (filter != OMA_PIL_BICUBIC && filter != OMA_PIL_LANCZOS)) return -1;
    int C = src->c;
    coeffs ch = {0}, cv = {0};
    oma_image tmp = {0};
    int rc = -1;
    if (precompute(src->w, w, filter, &ch) != 0 || precompute(src->h, h, filter, &cv) != 0) goto done;
    int need_h = w != src->w, need_v = h != src->h;
    const oma_image *cur = src;
    int ybox_first = 0;
    if (need_h) {
        ybox_first = need_v ? cv.bounds[0] : 0;
        int ybox_last = need_v ? cv.bounds[2 * h - 2] + cv.bounds[2 * h - 1] : src->h;
        if (oma_image_alloc(&tmp, w, ybox_last - ybox_first, C) != 0) goto done;
        for (int y = 0; y < tmp.h; y++) {
            const uint8_t *row = src->px + (size_t)(y + ybox_first) * src->w * C;
            uint8_t *o = tmp.px + (size_t)y * w * C;
            for (int xx = 0; xx < w; xx++) {
                int xmin = ch.bounds[2 * xx], xmax = ch.bounds[2 * xx + 1];
                const int32_t *k = ch.k + (size_t)xx * ch.ksize;
                for (int c = 0; c < C; c++) {
                    int64_t ss = (int64_t)1 << (PREC - 1);
                    for (int x = 0; x < xmax; x++) ss += (int64_t)row[(x + xmin) * C + c] * k[x];
                    o[xx * C + c] = clip8(ss);
                }
            }
        }
        cur = &tmp;
    }
    if (oma_image_alloc(dst, w, h, C) != 0) goto done;
    if (!need_v) {
        memcpy(dst->px, cur->px, (size_t)w * h * C);
    } else {
        for (int yy = 0; yy < h; yy++) {
            int ymin = cv.bounds[2 * yy] - ybox_first, ymax = cv.bounds[2 * yy + 1];
            const int32_t *k = cv.k + (size_t)yy * cv.ksize;
            uint8_t *o = dst->px + (size_t)yy * w * C;
            for (int i = 0; i < w * C; i++) {
                int64_t ss = (int64_t)1 << (PREC - 1);
                for (int y = 0; y < ymax; y++) ss += (int64_t)cur->px[(size_t)(y + ymin) * w * C + i] * k[y];
                o[i] = clip8(ss);
            }
        }
    }
    rc = 0;
done:
    if (rc != 0) oma_image_free(dst);
    oma_image_free(&tmp);
    coeffs_free(&ch);
    coeffs_free(&cv);
    return rc;
}
