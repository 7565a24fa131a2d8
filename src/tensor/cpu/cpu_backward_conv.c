/* cpu_backward_conv.c — the CPU backend's convolution backward-data (training).
 *
 * Stride 1 (the 3x3 convolutions of resnets and upsamplers): the adjoint of a convolution is
 * itself a convolution, of dy with the weights transposed (in <-> out) and flipped in space,
 * padding k-1-pad. So it runs on the forward's own kernels (oneDNN, Winograd on transformed
 * weights kept under the backward stamp), with the flipped weights kept too within the budget.
 * Measured at SD's 320-channel 64x64 shape (bench_train "conv 3x3", OMA_CONV_BWD=im2col for the
 * other path): see README, training section.
 * Other strides (the downsamplers): dx = col2im(W^T dy), one GEMM W^T[C*KH*KW, OC] dy into a
 * column buffer per band of output rows (bounded as the forward's im2col), then each column
 * entry added back onto the input pixel it was copied from, one input channel per task (a
 * channel's rows touch only that channel). A 1x1 unpadded convolution is just the GEMM.
 */
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_internal.h"
#include "tensor/threadpool.h"

#define BWD_TILE_FLOATS ((int64_t)8 << 20)
#define FORM_FLIPPED 0x666c6970ull     /* the kept-store key of the flipped weights ("flip") */

typedef struct {
    float *dx;
    const float *col;       /* [C*KH*KW, rows*OW] */
    int64_t h, w, kh, kw, ow;
    int stride, pad;
    int64_t oy0, rows;
} col2im_ctx;

static void col2im_range(void *p, int64_t c0, int64_t c1)
{
    const col2im_ctx *t = p;
    int64_t n = t->rows * t->ow;
    for (int64_t c = c0; c < c1; c++) {
        float *xc = t->dx + c * t->h * t->w;
        for (int64_t ky = 0; ky < t->kh; ky++)
            for (int64_t kx = 0; kx < t->kw; kx++) {
                const float *row = t->col + ((c * t->kh + ky) * t->kw + kx) * n;
                for (int64_t r = 0; r < t->rows; r++) {
                    int64_t iy = (t->oy0 + r) * t->stride - t->pad + ky;
                    if (iy < 0 || iy >= t->h) continue;
                    const float *src = row + r * t->ow;
                    float *dst = xc + iy * t->w;
                    for (int64_t ox = 0; ox < t->ow; ox++) {
                        int64_t ix = ox * t->stride - t->pad + kx;
                        if (ix >= 0 && ix < t->w) dst[ix] += src[ox];
                    }
                }
            }
    }
}

/* wf[c, o, ky, kx] = w[o, c, kh-1-ky, kw-1-kx]: a stride-1 convolution's adjoint is the
 * convolution of dy with these weights and padding k-1-pad */
static void flip_weights(const float *w, int64_t oc, int64_t c, int64_t kh, int64_t kw, float *wf)
{
    for (int64_t o = 0; o < oc; o++)
        for (int64_t i = 0; i < c; i++) {
            const float *src = w + (o * c + i) * kh * kw;
            float *dst = wf + (i * oc + o) * kh * kw;
            for (int64_t t = 0; t < kh * kw; t++) dst[t] = src[kh * kw - 1 - t];
        }
}

/* The flipped weights: kept under the backward stamp when the budget allows (flipping SD's
 * 1280-channel weights, 59 MB, costs as much as their convolution on an 8x8 latent), else
 * made in this thread's scratch. NULL when memory cannot be had. */
static const float *flipped(const float *w, uint64_t stamp, int64_t oc, int64_t c, int64_t kh,
                            int64_t kw)
{
    size_t bytes = sizeof(float) * (size_t)(oc * c * kh * kw);
    int fresh = 0;
    float *wf = stamp ? oma_kept_acquire(stamp | OMA_STAMP_BACKWARD, FORM_FLIPPED, bytes, &fresh) : NULL;
    if (wf) {
        if (fresh) {
            flip_weights(w, oc, c, kh, kw, wf);
            oma_kept_filled(stamp | OMA_STAMP_BACKWARD, FORM_FLIPPED, 1);
        }
        return wf;
    }
    wf = oma_cpu_scratch(8, bytes);
    if (wf) flip_weights(w, oc, c, kh, kw, wf);
    return wf;
}

int oma_cpu_conv2d_backward_data(const float *dy, int64_t n, int64_t oc, int64_t oh, int64_t ow,
                                 const float *weight, uint64_t stamp, int64_t c, int64_t kh,
                                 int64_t kw, int stride, int pad, float *dx, int64_t h, int64_t w)
{
    const oma_backend *be = oma_backend_cpu();
    if (oma_kept_taken(stamp)) return -1;   /* handed over (cpu_kept.c): the floats are gone */
    int64_t ohw = oh * ow, kdim = c * kh * kw, hw = h * w;
    const char *how = getenv("OMA_CONV_BWD");      /* "im2col": the bench's comparison */
    if (stride == 1 && kh == kw && kh > 1 && pad <= kh - 1 && !(how && strcmp(how, "im2col") == 0)) {
        const float *wf = flipped(weight, stamp, oc, c, kh, kw);
        if (!wf) return -1;
        /* the forward convolution (oneDNN, Winograd on weights kept under the backward stamp) */
        return be->conv2d(dy, n, oc, oh, ow, wf, stamp ? stamp | OMA_STAMP_BACKWARD : 0, NULL, c,
                          kh, kw, 1, (int)(kh - 1 - pad), dx, h, w);
    }
    if (kh == 1 && kw == 1 && stride == 1 && pad == 0 && ohw == hw) {
        for (int64_t b = 0; b < n; b++)
            be->gemm(1, 0, c, hw, oc, 1.0f, weight, kdim, dy + b * oc * ohw, ohw, 0.0f,
                     dx + b * c * hw, hw);
        return 0;
    }
    int64_t tile = BWD_TILE_FLOATS;
    const char *env = getenv("OMA_CONV_TILE_FLOATS");     /* tests force small bands */
    if (env && atoll(env) > 0) tile = atoll(env);
    int64_t rows = tile / (kdim * ow);
    if (rows < 1) rows = 1;
    if (rows > oh) rows = oh;
    float *col = oma_cpu_scratch(0, (size_t)(kdim * rows * ow) * sizeof(float));
    if (!col) return -1;
    memset(dx, 0, sizeof(float) * (size_t)(n * c * hw));
    for (int64_t b = 0; b < n; b++) {
        const float *dyb = dy + b * oc * ohw;
        for (int64_t oy0 = 0; oy0 < oh; oy0 += rows) {
            int64_t r = oh - oy0 < rows ? oh - oy0 : rows;
            be->gemm(1, 0, kdim, r * ow, oc, 1.0f, weight, kdim, dyb + oy0 * ow, ohw, 0.0f, col,
                     r * ow);
            col2im_ctx t = {dx + b * c * hw, col, h, w, kh, kw, ow, stride, pad, oy0, r};
            oma_parallel_for(c, 1, col2im_range, &t);
        }
    }
    return 0;
}
