/* cpu_conv_up2x.c — a 3x3 convolution (pad 1) of a nearest-2x upsampled image, without the
 * upsampled image.
 *
 * Output pixel (2i+a, 2j+b) of conv3x3(up2(x)) sees x through a 2x2 window: the three kernel
 * rows fall on x's rows i-1, i, i when a = 0 (so kernel rows 1 and 2 act as one, summed) and on
 * i, i, i+1 when a = 1 (rows 0 and 1 summed); the columns likewise with b. So the output is four
 * 2x2 convolutions of x, one per phase (a, b), each with its kernel's rows and columns summed:
 * 16 products per output pixel and input channel instead of 36, and the upsampled image (4x the
 * input; 268 MB for the SD VAE decoder's last upsampler at 512x512) is never written nor read.
 * SD's upsamplers are ~10% of the UNet's products and a third of the VAE decoder's.
 * Summing the kernel taps changes the rounding, so this runs only in bf16 mode, where the
 * products round their inputs to bf16 anyway (fp32 keeps diffusers' bits through the two ops).
 *
 * Each phase runs on oneDNN's bf16 direct convolution (2x2, padding 1 before or after) into a
 * phase-sized part of the caller's workspace (arena memory, already paged in: fresh scratch cost
 * more in page faults than the VAE's saving); phases (a, 0) and (a, 1) are then interleaved into
 * y's rows 2i+a. The summed kernels
 * (16/9 of the weights) are kept under the layer's stamp while keeping is on (cpu_kept.c), and
 * each phase's bf16 blocked weights under a stamp of its own.
 */
#include "tensor/cpu/cpu_internal.h"

#include <string.h>

#include "tensor/threadpool.h"

#define FORM_UP2X 0x5550327850484153ull     /* the four summed kernels, f32 [4][OC][C][2][2] */

/* k[p][o][i][r][s] = the sum of w[o][i][kr][ks] over the kernel rows kr that phase a = p >> 1
 * puts in window row r and the kernel columns ks that b = p & 1 puts in window column s */
typedef struct {
    const float *w;
    float *k;
    int64_t per;    /* oc * c * 4 */
} sum_ctx;

static void sum_range(void *p, int64_t q0, int64_t q1)
{
    const sum_ctx *t = p;
    /* window row/column r of phase a takes the kernel rows first[a][r] .. last[a][r] */
    static const int first[2][2] = {{0, 1}, {0, 2}}, last[2][2] = {{0, 2}, {1, 2}};
    for (int64_t q = q0; q < q1; q++) {     /* q = o * c + i */
        const float *w9 = t->w + q * 9;
        for (int p4 = 0; p4 < 4; p4++) {
            int a = p4 >> 1, b = p4 & 1;
            float *k = t->k + p4 * t->per + q * 4;
            for (int r = 0; r < 2; r++)
                for (int s = 0; s < 2; s++) {
                    float v = 0.0f;
                    for (int kr = first[a][r]; kr <= last[a][r]; kr++)
                        for (int ks = first[b][s]; ks <= last[b][s]; ks++) v += w9[kr * 3 + ks];
                    k[r * 2 + s] = v;
                }
        }
    }
}

static void sum_kernels(const float *w, int64_t oc, int64_t c, float *k)
{
    sum_ctx t = {w, k, oc * c * 4};
    oma_parallel_for(oc * c, 256, sum_range, &t);
}

typedef struct {
    const float *ph0, *ph1;     /* phases (a, 0) and (a, 1) */
    float *y;
    int64_t h, w;
    int a;
} spread_ctx;

/* rows r of the two phases (r = plane * h + i) interleaved into y's row 2i+a: whole rows
 * written once, in order */
static void spread_range(void *p, int64_t r0, int64_t r1)
{
    const spread_ctx *t = p;
    for (int64_t r = r0; r < r1; r++) {
        int64_t plane = r / t->h, i = r % t->h;
        const float *s0 = t->ph0 + r * t->w, *s1 = t->ph1 + r * t->w;
        float *dst = t->y + (plane * 2 * t->h + 2 * i + t->a) * 2 * t->w;
        for (int64_t j = 0; j < t->w; j++) {
            dst[2 * j] = s0[j];
            dst[2 * j + 1] = s1[j];
        }
    }
}

/* made per call, the summed kernels and their four bf16 forms cost more than the products
 * saved on small images (SD's UNet at 8x8-32x32 without kept weights: 1.70 -> 1.95 s a pass) */
#define SMALL_PIXELS 4096

int64_t oma_cpu_conv2d_up2x_work(int64_t n, int64_t c, int64_t h, int64_t w, int64_t oc, uint64_t stamp)
{
    if (n < 1 || c < 1 || h < 1 || w < 1 || oc < 1) return 0;
    int keep = stamp && oma_kept_keeping();
    if (!keep && n * h * w < SMALL_PIXELS) return 0;
    /* two phase outputs, and the summed kernels unless they are to be kept */
    return 2 * n * oc * h * w + (keep ? 0 : 16 * oc * c);
}

int oma_cpu_conv2d_up2x(const float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                        const float *weight, uint64_t stamp, const float *bias, int64_t oc, float *y,
                        float *work, int64_t work_floats)
{
    if (n < 1 || c < 1 || h < 1 || w < 1 || oc < 1) return -2;
    const size_t per = (size_t)(oc * c * 4), bytes = 4 * per * sizeof(float);
    const size_t plane = (size_t)(n * oc * h * w);
    if (work_floats < (int64_t)(2 * plane)) return -2;
    int fresh = 0;
    float *k = stamp ? oma_kept_acquire(stamp | OMA_STAMP_UP2X, FORM_UP2X, bytes, &fresh) : NULL;
    if (k && fresh) {
        sum_kernels(weight, oc, c, k);
        oma_kept_filled(stamp | OMA_STAMP_UP2X, FORM_UP2X, 1);
    }
    float *ph = work;   /* two phases, then (not kept) the summed kernels */
    if (!k) {
        /* not kept after all (budget, memory): per call only where that pays, and with room */
        if (n * h * w < SMALL_PIXELS || work_floats < (int64_t)(2 * plane + 4 * per)) return -2;
        k = work + 2 * plane;
        sum_kernels(weight, oc, c, k);
    }
    for (int a = 0; a < 2; a++) {
        for (int b = 0; b < 2; b++) {
            int p = a * 2 + b;
            uint64_t ps = stamp ? (stamp | OMA_STAMP_UP2X | (uint64_t)(p + 1) << 56) : 0;
            /* window rows i-1, i (a = 0: one row of padding before) or i, i+1 (after); columns
             * likewise with b */
            int rc = oma_dnnl_conv2d(x, n, c, h, w, k + (size_t)p * per, ps, bias, oc, 2, 2, 1, 1 - a,
                                     1 - b, ph + b * plane, h, w, 0, 1);
            if (rc != 0) return rc;
        }
        spread_ctx t = {ph, ph + plane, y, h, w, a};
        oma_parallel_for(n * oc * h, 64, spread_range, &t);
    }
    return 0;
}
