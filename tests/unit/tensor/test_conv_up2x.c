/* test_conv_up2x.c — the upsampling convolution without the upsampled image
 * (tensor/cpu/cpu_conv_up2x.c): conv3x3(pad 1) of nearest-2x(x) as four 2x2 phase convolutions.
 *
 * In fp32 the CPU backend declines (-2: the two plain ops keep diffusers' bits). In bf16 mode
 * (CPUs with AVX512_BF16) it is checked against a double-precision conv of the upsampled image
 * on odd shapes (1x1 images, odd heights and widths, channel counts off the 16/32 blocks, batch
 * 2, with and without bias) within bf16's rounding (2e-2 of the output's size; a wrong phase,
 * window offset or summed tap is off by the output's whole size), and against the two ops run in
 * bf16 (same tolerance). Small images (under 4096 pixels in the batch) take it only with weights
 * that can be kept, large ones always; the workspace it asks for says so (nothing in fp32 or for
 * a declined problem: the caller then reserves nothing), and less than that is declined. With a weight stamp and keeping on, the repeated call
 * gives the same bits, keeps the summed kernels, and forgetting the stamp gives all of it back.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/ops.h"
#include "tensor/tensor.h"
#include "tensor/threadpool.h"

#include "check.h"

static uint64_t rs = 0x2545f4914f6cdd1dull;
static float rnd(void)
{
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (float)((rs >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

/* y = conv3x3(up2(x)) + b in double, then the max error of got against it, relative */
static double ref_err(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *wt,
                      const float *b, int64_t oc, const float *got)
{
    double maxref = 0, maxerr = 0;
    int64_t H = 2 * h, W = 2 * w;
    for (int64_t bi = 0; bi < n; bi++)
        for (int64_t o = 0; o < oc; o++)
            for (int64_t i = 0; i < H; i++)
                for (int64_t j = 0; j < W; j++) {
                    double s = b ? b[o] : 0.0;
                    for (int64_t ci = 0; ci < c; ci++)
                        for (int kh = 0; kh < 3; kh++)
                            for (int kw = 0; kw < 3; kw++) {
                                int64_t ii = i + kh - 1, jj = j + kw - 1;
                                if (ii < 0 || jj < 0 || ii >= H || jj >= W) continue;
                                s += (double)wt[((o * c + ci) * 3 + kh) * 3 + kw] *
                                     x[((bi * c + ci) * h + ii / 2) * w + jj / 2];
                            }
                    double g = got[((bi * oc + o) * H + i) * W + j];
                    maxref = fmax(maxref, fabs(s));
                    double e = fabs(g - s);
                    if (!(e <= maxerr)) maxerr = isnan(e) ? INFINITY : e;
                }
    return maxerr / (1 + maxref);
}

static double max_diff(const oma_tensor *a, const oma_tensor *b)
{
    double m = 0, ref = 0;
    for (int64_t i = 0; i < oma_tensor_numel(a); i++) {
        double d = fabs((double)a->data[i] - b->data[i]);
        if (!(d <= m)) m = isnan(d) ? INFINITY : d;
        ref = fmax(ref, fabs(a->data[i]));
    }
    return m / (1 + ref);
}

typedef struct {
    oma_tensor x, w, b, y, up, y2, work;
} problem;

static int make(problem *p, int64_t n, int64_t c, int64_t oc, int64_t h, int64_t w, int bias)
{
    memset(p, 0, sizeof *p);
    int64_t xs[4] = {n, c, h, w}, ws[4] = {oc, c, 3, 3}, bs[1] = {oc}, ys[4] = {n, oc, 2 * h, 2 * w},
            us[4] = {n, c, 2 * h, 2 * w};
    if (oma_tensor_alloc(&p->x, 4, xs) || oma_tensor_alloc(&p->w, 4, ws) || oma_tensor_alloc(&p->y, 4, ys) ||
        oma_tensor_alloc(&p->y2, 4, ys) || oma_tensor_alloc(&p->up, 4, us) ||
        (bias && oma_tensor_alloc(&p->b, 1, bs)))
        return -1;
    int64_t ks[1] = {2 * n * oc * h * w + 16 * oc * c};     /* the most it can ask for */
    if (oma_tensor_alloc(&p->work, 1, ks)) return -1;
    for (int64_t i = 0; i < oma_tensor_numel(&p->x); i++) p->x.data[i] = rnd();
    for (int64_t i = 0; i < oma_tensor_numel(&p->w); i++) p->w.data[i] = 0.3f * rnd();
    if (bias)
        for (int64_t i = 0; i < oc; i++) p->b.data[i] = rnd();
    return 0;
}

static void drop(problem *p)
{
    oma_tensor_free(&p->x), oma_tensor_free(&p->w), oma_tensor_free(&p->b);
    oma_tensor_free(&p->y), oma_tensor_free(&p->y2), oma_tensor_free(&p->up);
    oma_tensor_free(&p->work);
}

int main(void)
{
    setenv("OMA_THREADS", "2", 1);
    problem p;
    CHECK(make(&p, 1, 8, 16, 4, 4, 1) == 0);
    CHECK(oma_precision_set("fp32") == 0);
    CHECK(oma_op_conv2d_up2x_work(&p.x, &p.w) == 0);    /* nothing reserved for it */
    CHECK(oma_op_conv2d_up2x(&p.x, &p.w, &p.b, &p.y, &p.work) == -2);
    printf("  fp32: declined (the two ops keep diffusers' bits)\n");
    oma_tensor bad = p.y;
    bad.shape[3] -= 1;
    CHECK(oma_op_conv2d_up2x(&p.x, &p.w, &p.b, &bad, &p.work) == -1);

    drop(&p);

    if (!oma_precision_bf16_native()) {
        printf("  bf16: skipped (no AVX512_BF16 or no oneDNN)\n");
        oma_threads_shutdown();
        return failures ? 1 : 0;
    }
    CHECK(oma_precision_set("bf16") == 0);
    static const int64_t shapes[][6] = {   /* n, c, oc, h, w, bias */
        {1, 8, 16, 4, 4, 1}, {2, 32, 48, 8, 8, 1}, {1, 3, 4, 1, 1, 1}, {1, 37, 33, 5, 7, 0},
        {2, 64, 32, 9, 6, 1}, {1, 320, 320, 4, 4, 1}, {1, 4, 8, 64, 64, 1}, {2, 16, 16, 48, 45, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t *q = shapes[s];
        if (make(&p, q[0], q[1], q[2], q[3], q[4], (int)q[5]) != 0) {
            CHECK(0);
            drop(&p);
            continue;
        }
        const oma_tensor *b = q[5] ? &p.b : NULL;
        /* small images take this path only with weights that can be kept; large ones always */
        int large = q[0] * q[3] * q[4] >= 4096;
        int64_t plane = q[0] * q[2] * q[3] * q[4];
        CHECK(oma_op_conv2d_up2x_work(&p.x, &p.w) == (large ? 2 * plane + 16 * q[2] * q[1] : 0));
        CHECK(oma_op_conv2d_up2x(&p.x, &p.w, b, &p.y, &p.work) == (large ? 0 : -2));
        oma_tensor small = p.work;      /* less than the phases need: declined */
        small.shape[0] = 2 * plane - 1;
        CHECK(oma_op_conv2d_up2x(&p.x, &p.w, b, &p.y, &small) == -2);
        p.w.stamp = oma_stamp_next();
        CHECK(oma_op_conv2d_up2x_work(&p.x, &p.w) == 2 * plane);     /* the sums will be kept */
        int rc = oma_op_conv2d_up2x(&p.x, &p.w, b, &p.y, &p.work);
        CHECK(rc == 0);
        oma_backend_current()->forget_weights(p.w.stamp);
        double e = ref_err(p.x.data, q[0], q[1], q[3], q[4], p.w.data, q[5] ? p.b.data : NULL, q[2], p.y.data);
        CHECK(oma_op_upsample_nearest2x(&p.x, &p.up) == 0 && oma_op_conv2d(&p.up, &p.w, b, 1, 1, &p.y2) == 0);
        double d = max_diff(&p.y2, &p.y);
        printf("  bf16 n=%lld c=%lld oc=%lld %lldx%lld%s: against double %.2e, against the two ops %.2e\n",
               (long long)q[0], (long long)q[1], (long long)q[2], (long long)q[3], (long long)q[4],
               q[5] ? " +bias" : "", e, d);
        CHECK(e <= 2e-2 && d <= 2e-2);
        drop(&p);
    }

    /* kept: stamped weights, keeping on */
    CHECK(make(&p, 2, 32, 48, 8, 8, 1) == 0);
    p.w.stamp = oma_stamp_next();
    CHECK(oma_cpu_keep_weights(1) == 0);
    size_t base = oma_cpu_kept_bytes();
    CHECK(oma_op_conv2d_up2x(&p.x, &p.w, &p.b, &p.y, &p.work) == 0);
    size_t kept = oma_cpu_kept_bytes();
    CHECK(kept >= base + 4 * 48 * 32 * 4 * sizeof(float));    /* the summed kernels at least */
    CHECK(oma_op_conv2d_up2x(&p.x, &p.w, &p.b, &p.y2, &p.work) == 0);
    CHECK(oma_cpu_kept_bytes() == kept);
    CHECK(memcmp(p.y.data, p.y2.data, sizeof(float) * (size_t)oma_tensor_numel(&p.y)) == 0);
    CHECK(ref_err(p.x.data, 2, 32, 8, 8, p.w.data, p.b.data, 48, p.y2.data) <= 2e-2);
    printf("  bf16 kept: %.2f MB kept, repeated call same bits\n", (double)(kept - base) / 1048576.0);
    oma_backend_current()->forget_weights(p.w.stamp);
    CHECK(oma_cpu_kept_bytes() == base);
    drop(&p);
    CHECK(oma_precision_set("fp32") == 0);
    oma_threads_shutdown();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_conv_up2x: ok\n");
    return 0;
}
