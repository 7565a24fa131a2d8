/* cpu_backward_conv.c — the CPU backend's convolution backward-data (training).
 *
 * The idea: the forward is y = W col(x) (im2col, then a GEMM); its adjoint is
 * dx = col2im(W^T dy): one GEMM W^T[C*KH*KW, OC] dy[OC, rows*OW] into a column buffer per
 * band of output rows (the same banding as the forward's im2col, so the buffer stays bounded),
 * then each column entry added back onto the input pixel it was copied from. col2im runs one
 * input channel per task (a channel's rows of the column buffer touch only that channel, so
 * tasks never write the same pixel). A 1x1, stride 1, unpadded convolution is just the GEMM.
 * Measured against oneDNN's backward-data primitive: not done (see README, training section).
 */
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/cpu_internal.h"
#include "tensor/threadpool.h"

#define BWD_TILE_FLOATS ((int64_t)8 << 20)

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

int oma_cpu_conv2d_backward_data(const float *dy, int64_t n, int64_t oc, int64_t oh, int64_t ow,
                                 const float *weight, int64_t c, int64_t kh, int64_t kw,
                                 int stride, int pad, float *dx, int64_t h, int64_t w)
{
    const oma_backend *be = oma_backend_cpu();
    int64_t ohw = oh * ow, kdim = c * kh * kw, hw = h * w;
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
