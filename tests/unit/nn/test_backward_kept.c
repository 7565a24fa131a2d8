/* test_backward_kept.c — the convolution backward keeps prepared weights (flipped, and their
 * Winograd transform) under the layer's weight stamp: after the layer's weights change (a LoRA
 * merged into them: new stamp, the old kept forms dropped) the backward must use the new
 * weights. Checked against the adjoint written out in double for the current weights, at a
 * 32x32 image (where the forward kernels keep Winograd weights), before and after the merge,
 * and that the kept store shrinks back when the layer is freed. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/backward.h"
#include "nn/layers.h"
#include "tensor/backend.h"
#include "tensor/threadpool.h"

#include "check.h"

/* the larger error; a NaN counts as infinite (fmax would drop it) */
static double worse(double e, double d) { return d <= e ? e : isnan(d) ? INFINITY : d; }

static uint64_t rs = 0x51ed270b27e1ull;
static float urand(void)
{
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (float)((rs >> 40) * (1.0 / 16777216.0)) - 0.5f;
}

static int rd(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst, char *err,
              size_t errlen)
{
    (void)ctx, (void)name, (void)err, (void)errlen;
    for (int64_t i = 0; i < oma_shape_numel(ndim, shape); i++) dst[i] = 0.2f * urand();
    return 0;
}

static int has(void *ctx, const char *name)
{
    (void)ctx, (void)name;
    return 1;
}

/* dx from the layer's backward vs the double adjoint of its current weights */
static double rel_err(const oma_conv2d *c, const oma_tensor *x, const oma_tensor *dy, oma_arena *ar)
{
    oma_tensor dx;
    if (oma_conv2d_backward(c, x, dy, ar, &dx) != 0) return 1e9;
    int64_t C = c->in, O = c->out, H = x->shape[2], W = x->shape[3];
    double e = 0.0, mag = 0.0;
    for (int64_t ci = 0; ci < C; ci++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t xx = 0; xx < W; xx++) {
                double r = 0.0;
                for (int64_t o = 0; o < O; o++)
                    for (int64_t ky = 0; ky < 3; ky++)
                        for (int64_t kx = 0; kx < 3; kx++) {
                            int64_t oy = y + 1 - ky, ox = xx + 1 - kx;
                            if (oy < 0 || oy >= H || ox < 0 || ox >= W) continue;
                            r += (double)dy->data[(o * H + oy) * W + ox] *
                                 c->w.data[((o * C + ci) * 3 + ky) * 3 + kx];
                        }
                e = worse(e, fabs(r - dx.data[(ci * H + y) * W + xx]));
                mag = fmax(mag, fabs(r));
            }
    return e / mag;
}

int main(void)
{
    oma_weights w = {NULL, rd, has, NULL, 0};
    char err[256];
    size_t kept0 = oma_cpu_kept_bytes();
    oma_conv2d c;
    CHECK(oma_conv2d_load(&c, &w, "conv", 16, 16, 3, 1, 1, 1, err, sizeof err) == 0);
    oma_tensor x, dy, up, down;
    CHECK(oma_tensor_alloc4(&x, 4, 1, 16, 32, 32) == 0);
    CHECK(oma_tensor_alloc4(&dy, 4, 1, 16, 32, 32) == 0);
    CHECK(oma_tensor_alloc4(&up, 2, 16, 2, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&down, 4, 2, 16, 3, 3) == 0);
    for (int64_t i = 0; i < oma_tensor_numel(&dy); i++) dy.data[i] = urand();
    for (int64_t i = 0; i < oma_tensor_numel(&up); i++) up.data[i] = urand();
    for (int64_t i = 0; i < oma_tensor_numel(&down); i++) down.data[i] = urand();
    oma_arena ar;
    oma_arena_init(&ar, 1 << 22);
    oma_arena_mark m = oma_arena_get_mark(&ar);
    double e1 = rel_err(&c, &x, &dy, &ar);
    oma_arena_release(&ar, m);
    double e2 = rel_err(&c, &x, &dy, &ar);      /* second call: from what was kept */
    oma_arena_release(&ar, m);
    CHECK(oma_cpu_kept_bytes() > kept0);       /* something was kept */
    CHECK(oma_conv2d_merge_lora(&c, &up, &down, 1.0f) == 0);
    double e3 = rel_err(&c, &x, &dy, &ar);      /* new weights, new stamp */
    oma_arena_release(&ar, m);
    printf("relative errors: first %.2g, kept %.2g, after the merge %.2g\n", e1, e2, e3);
    CHECK(e1 < 1e-5 && e2 < 1e-5 && e3 < 1e-5);
    oma_conv2d_free(&c);
    CHECK(oma_cpu_kept_bytes() == kept0);
    oma_arena_destroy(&ar);
    oma_tensor_free(&x), oma_tensor_free(&dy), oma_tensor_free(&up), oma_tensor_free(&down);
    oma_threads_shutdown();
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
