/* test_backward_kernels.c — the CPU backward kernels other than attention, on fuzzed shapes.
 *
 * Group norm (+ fused SiLU; AVX-512 and portable kernels) and layer norm: central finite differences of the double-precision
 * forward's L = sum(dy * norm(x)) for every input entry. Activations (GELU, quick-GELU, SiLU,
 * GEGLU, AVX-512 and portable kernels): finite differences per element. Convolution backward-data (3x3 pad 1 stride 1 and 2,
 * 1x1, odd sizes; stride 1 both as the flipped-weight convolution and through col2im, with small
 * forced column bands): the adjoint written out naively in double.
 * Upsample, channel split and embedding scatter-add: their definitions. Tolerance 1e-4 of the
 * largest gradient magnitude (the kernels are f32).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/ops.h"
#include "tensor/ops_backward.h"
#include "tensor/threadpool.h"

#include "check.h"

/* the larger error; a NaN counts as infinite (fmax would drop it) */
static double worse(double e, double d) { return d <= e ? e : isnan(d) ? INFINITY : d; }

static uint64_t rs = 0x2545f4914f6cdd1dull;
static double urand(void) /* [-1, 1) */
{
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (double)(rs >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}
static int64_t irand(int64_t lo, int64_t hi) { return lo + (int64_t)((urand() + 1.0) * 0.5 * (double)(hi - lo + 1)) % (hi - lo + 1); }

static void fill(oma_tensor *t, double s, double off)
{
    for (int64_t i = 0; i < oma_tensor_numel(t); i++) t->data[i] = (float)(off + s * urand());
}

/* ---- norms ---- */

/* L = sum dy * GN(x) (+ SiLU) in double; groups 0 = layer norm over the last dim (n rows of c) */
static double norm_loss(const double *x, int64_t n, int64_t c, int64_t hw, int64_t groups,
                        const float *gamma, const float *beta, double eps, int silu, const float *dy)
{
    double L = 0.0;
    int64_t cnt = groups ? c / groups * hw : c, sets = groups ? n * groups : n;
    for (int64_t s = 0; s < sets; s++) {
        const double *xs = x + s * cnt;
        double m = 0.0, v = 0.0;
        for (int64_t j = 0; j < cnt; j++) m += xs[j];
        m /= (double)cnt;
        for (int64_t j = 0; j < cnt; j++) v += (xs[j] - m) * (xs[j] - m);
        double inv = 1.0 / sqrt(v / (double)cnt + eps);
        for (int64_t j = 0; j < cnt; j++) {
            int64_t ch = groups ? ((s % groups) * (c / groups) + j / hw) : j;
            double y = (xs[j] - m) * inv * gamma[ch] + beta[ch];
            if (silu) y = y / (1.0 + exp(-y));
            L += dy[s * cnt + j] * y;
        }
    }
    return L;
}

static void norm_case(int64_t n, int64_t c, int64_t hw, int64_t groups, int silu, double spread)
{
    int64_t len = n * c * hw;
    oma_tensor x, dy, dx, g, b;
    CHECK(oma_tensor_alloc4(&x, 3, n, c, hw, 0) == 0);
    CHECK(oma_tensor_alloc4(&dy, 3, n, c, hw, 0) == 0);
    CHECK(oma_tensor_alloc4(&dx, 3, n, c, hw, 0) == 0);
    CHECK(oma_tensor_alloc4(&g, 1, groups ? c : hw, 0, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&b, 1, groups ? c : hw, 0, 0, 0) == 0);
    fill(&x, spread, 0.3);
    fill(&dy, 1.0, 0.0);
    fill(&g, 0.5, 1.0);
    fill(&b, 0.5, 0.0);
    float eps = groups ? 1e-6f : 1e-5f;
    if (groups) {
        CHECK(oma_op_group_norm_backward(&x, groups, &g, &b, eps, silu, &dy, &dx) == 0);
    } else {
        /* layer norm over the last dim: rows = n*c, dim = hw */
        CHECK(oma_op_layer_norm_backward(&x, &g, eps, &dy, &dx) == 0);
    }
    double *xd = malloc(sizeof(double) * (size_t)len);
    for (int64_t i = 0; i < len; i++) xd[i] = x.data[i];
    double e = 0.0, mag = 0.0;
    for (int64_t i = 0; i < len; i++) {
        double s = xd[i], h = 1e-5 * (fabs(s) + 1e-2 * spread);
        xd[i] = s + h;
        double lp = groups ? norm_loss(xd, n, c, hw, groups, g.data, b.data, eps, silu, dy.data)
                           : norm_loss(xd, n * c, hw, 1, 0, g.data, b.data, eps, 0, dy.data);
        xd[i] = s - h;
        double lm = groups ? norm_loss(xd, n, c, hw, groups, g.data, b.data, eps, silu, dy.data)
                           : norm_loss(xd, n * c, hw, 1, 0, g.data, b.data, eps, 0, dy.data);
        xd[i] = s;
        double num = (lp - lm) / (2 * h);
        e = worse(e, fabs(num - dx.data[i]));
        mag = fmax(mag, fabs(num));
    }
    if (!(e <= 1e-4 * mag))
        fprintf(stderr, "norm n%lld c%lld hw%lld groups%lld silu%d spread %g: err %g of %g\n",
                (long long)n, (long long)c, (long long)hw, (long long)groups, silu, spread, e, mag);
    CHECK(e <= 1e-4 * mag);
    free(xd);
    oma_tensor_free(&x), oma_tensor_free(&dy), oma_tensor_free(&dx), oma_tensor_free(&g), oma_tensor_free(&b);
}

/* ---- activations ---- */

static double gelu_d(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double qgelu_d(double x) { return x / (1.0 + exp(-1.702 * x)); }
static double silu_d(double x) { return x / (1.0 + exp(-x)); }

static void act_case(int which, int64_t n)
{
    double (*f)(double) = which == 0 ? gelu_d : which == 1 ? qgelu_d : silu_d;
    oma_tensor x, dy, dx;
    CHECK(oma_tensor_alloc4(&x, 1, n, 0, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&dy, 1, n, 0, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&dx, 1, n, 0, 0, 0) == 0);
    fill(&x, 8.0, 0.0);
    fill(&dy, 1.0, 0.0);
    int rc = which == 0 ? oma_op_gelu_backward(&x, &dy, &dx)
           : which == 1 ? oma_op_quick_gelu_backward(&x, &dy, &dx)
                        : oma_op_silu_backward(&x, &dy, &dx);
    CHECK(rc == 0);
    for (int64_t i = 0; i < n; i++) {
        double h = 1e-6, v = x.data[i];
        double num = dy.data[i] * (f(v + h) - f(v - h)) / (2 * h);
        if (!(fabs(num - dx.data[i]) <= 1e-5 * (fabs(dy.data[i]) + 1e-3))) {
            fprintf(stderr, "activation %d at x=%g: %g vs %g\n", which, v, dx.data[i], num);
            CHECK(0);
            break;
        }
    }
    oma_tensor_free(&x), oma_tensor_free(&dy), oma_tensor_free(&dx);
}

static void geglu_case(int64_t rows, int64_t dim)
{
    oma_tensor x, dy, dx;
    CHECK(oma_tensor_alloc4(&x, 2, rows, 2 * dim, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&dy, 2, rows, dim, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&dx, 2, rows, 2 * dim, 0, 0) == 0);
    fill(&x, 4.0, 0.0);
    fill(&dy, 1.0, 0.0);
    CHECK(oma_op_geglu_backward(&x, &dy, &dx) == 0);
    double e = 0.0, mag = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < dim; j++) {
            double a = x.data[r * 2 * dim + j], g = x.data[r * 2 * dim + dim + j], d = dy.data[r * dim + j];
            double h = 1e-6;
            double na = d * gelu_d(g);      /* d/da a gelu(g) */
            double ng = d * a * (gelu_d(g + h) - gelu_d(g - h)) / (2 * h);
            e = worse(e, fabs(na - dx.data[r * 2 * dim + j]));
            e = worse(e, fabs(ng - dx.data[r * 2 * dim + dim + j]));
            mag = fmax(mag, fmax(fabs(na), fabs(ng)));
        }
    CHECK(e <= 1e-5 * mag);
    oma_tensor_free(&x), oma_tensor_free(&dy), oma_tensor_free(&dx);
}

/* ---- convolution ---- */

static void conv_case(int64_t n, int64_t c, int64_t oc, int64_t h, int64_t w, int64_t k, int stride, int pad)
{
    int64_t oh = oma_conv_out_size(h, k, stride, pad), ow = oma_conv_out_size(w, k, stride, pad);
    oma_tensor wt, dy, dx;
    CHECK(oma_tensor_alloc4(&wt, 4, oc, c, k, k) == 0);
    CHECK(oma_tensor_alloc4(&dy, 4, n, oc, oh, ow) == 0);
    CHECK(oma_tensor_alloc4(&dx, 4, n, c, h, w) == 0);
    fill(&wt, 0.5, 0.0);
    fill(&dy, 1.0, 0.0);
    fill(&dx, 100.0, 0.0);      /* must be overwritten */
    CHECK(oma_op_conv2d_backward(&dy, &wt, stride, pad, &dx) == 0);
    double *ref = calloc((size_t)(n * c * h * w), sizeof(double));
    for (int64_t b = 0; b < n; b++)
        for (int64_t o = 0; o < oc; o++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    double g = dy.data[((b * oc + o) * oh + oy) * ow + ox];
                    for (int64_t ci = 0; ci < c; ci++)
                        for (int64_t ky = 0; ky < k; ky++)
                            for (int64_t kx = 0; kx < k; kx++) {
                                int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                ref[((b * c + ci) * h + iy) * w + ix] += g * wt.data[((o * c + ci) * k + ky) * k + kx];
                            }
                }
    double e = 0.0, mag = 0.0;
    for (int64_t i = 0; i < n * c * h * w; i++) {
        e = worse(e, fabs(ref[i] - dx.data[i]));
        mag = fmax(mag, fabs(ref[i]));
    }
    if (!(e <= 1e-5 * mag))
        fprintf(stderr, "conv backward n%lld c%lld oc%lld %lldx%lld k%lld s%d p%d: %g of %g\n", (long long)n,
                (long long)c, (long long)oc, (long long)h, (long long)w, (long long)k, stride, pad, e, mag);
    CHECK(e <= 1e-5 * mag);
    free(ref);
    oma_tensor_free(&wt), oma_tensor_free(&dy), oma_tensor_free(&dx);
}

/* ---- layout ops ---- */

static void layout_cases(void)
{
    oma_tensor dy, dx;
    CHECK(oma_tensor_alloc4(&dy, 4, 2, 3, 6, 10) == 0);
    CHECK(oma_tensor_alloc4(&dx, 4, 2, 3, 3, 5) == 0);
    fill(&dy, 1.0, 0.0);
    CHECK(oma_op_upsample_nearest2x_backward(&dy, &dx) == 0);
    for (int64_t i = 0; i < 6; i++)
        for (int64_t y = 0; y < 3; y++)
            for (int64_t x = 0; x < 5; x++) {
                const float *s = dy.data + i * 60;
                double ref = (double)s[(2 * y) * 10 + 2 * x] + s[(2 * y) * 10 + 2 * x + 1] +
                             s[(2 * y + 1) * 10 + 2 * x] + s[(2 * y + 1) * 10 + 2 * x + 1];
                CHECK(fabs(ref - dx.data[(i * 3 + y) * 5 + x]) <= 1e-6);
            }
    oma_tensor bad;
    CHECK(oma_tensor_alloc4(&bad, 4, 2, 3, 3, 4) == 0);
    CHECK(oma_op_upsample_nearest2x_backward(&dy, &bad) != 0);
    oma_tensor_free(&bad);
    oma_tensor_free(&dx);
    /* split = inverse of concat */
    oma_tensor a, b, cat, da, db;
    CHECK(oma_tensor_alloc4(&a, 4, 2, 3, 6, 10) == 0);
    CHECK(oma_tensor_alloc4(&b, 4, 2, 5, 6, 10) == 0);
    CHECK(oma_tensor_alloc4(&cat, 4, 2, 8, 6, 10) == 0);
    CHECK(oma_tensor_alloc4(&da, 4, 2, 3, 6, 10) == 0);
    CHECK(oma_tensor_alloc4(&db, 4, 2, 5, 6, 10) == 0);
    fill(&a, 1.0, 0.0);
    fill(&b, 1.0, 0.0);
    CHECK(oma_op_concat_channels(&a, &b, &cat) == 0);
    CHECK(oma_op_concat_channels_backward(&cat, &da, &db) == 0);
    CHECK(memcmp(a.data, da.data, sizeof(float) * 360) == 0);
    CHECK(memcmp(b.data, db.data, sizeof(float) * 600) == 0);
    memset(db.data, 0, sizeof(float) * 600);
    CHECK(oma_op_concat_channels_backward(&cat, NULL, &db) == 0);
    CHECK(memcmp(b.data, db.data, sizeof(float) * 600) == 0);
    CHECK(oma_op_concat_channels_backward(&cat, &da, &da) != 0);     /* 3 + 3 != 8 */
    oma_tensor_free(&a), oma_tensor_free(&b), oma_tensor_free(&cat), oma_tensor_free(&da), oma_tensor_free(&db);
    oma_tensor_free(&dy);
    /* embedding scatter-add, repeated ids add */
    int32_t ids[6] = {3, 0, 3, 9, 1, 3};
    oma_tensor tab, g;
    CHECK(oma_tensor_alloc4(&tab, 2, 10, 4, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&g, 3, 2, 3, 4, 0) == 0);
    fill(&g, 1.0, 0.0);
    tab.data[0] = 1.0f;
    CHECK(oma_op_embedding_backward(ids, 6, &g, &tab) == 0);
    for (int j = 0; j < 4; j++) {
        double r3 = (double)g.data[0 * 4 + j] + g.data[2 * 4 + j] + g.data[5 * 4 + j];
        CHECK(fabs(r3 - tab.data[3 * 4 + j]) <= 1e-6);
        CHECK(tab.data[9 * 4 + j] == g.data[3 * 4 + j]);
        CHECK(tab.data[2 * 4 + j] == 0.0f);
    }
    CHECK(tab.data[0] == 1.0f + g.data[4]);
    int32_t badids[2] = {1, 10};
    CHECK(oma_op_embedding_backward(badids, 2, &g, &tab) != 0);
    badids[1] = -1;
    CHECK(oma_op_embedding_backward(badids, 2, &g, &tab) != 0);
    oma_tensor_free(&tab), oma_tensor_free(&g);
}

int main(void)
{
    for (int pass = 0; pass < 2; pass++) {      /* AVX-512 group norm (where the CPU has it), then portable */
        if (pass) setenv("OMA_GN_KERNEL", "generic", 1);
        for (int t = 0; t < 10; t++) {
            int64_t groups = irand(1, 4);
            norm_case(irand(1, 2), groups * irand(1, 4), irand(1, 30), groups, t & 1, t % 3 == 0 ? 20.0 : 1.0);
        }
        norm_case(1, 32, 64, 32, 1, 1.0);       /* one channel per group */
        norm_case(1, 8, 1100, 2, 1, 3.0);       /* more than one 1024-value chunk per group */
    }
    unsetenv("OMA_GN_KERNEL");
    for (int t = 0; t < 6; t++) norm_case(irand(1, 3), irand(1, 5), irand(2, 90), 0, 0, t & 1 ? 10.0 : 1.0);
    for (int pass = 0; pass < 2; pass++) {      /* the AVX-512 kernels (where the CPU has them), then the portable ones */
        if (pass) setenv("OMA_ACT_KERNEL", "generic", 1);
        for (int w = 0; w < 3; w++) act_case(w, 4099);
        geglu_case(7, 33);
        geglu_case(1, 1);
        geglu_case(3, 1280);
    }
    unsetenv("OMA_ACT_KERNEL");
    conv_case(1, 3, 4, 5, 7, 3, 1, 1);
    conv_case(2, 5, 3, 8, 8, 3, 2, 1);
    conv_case(1, 4, 6, 7, 9, 3, 2, 1);
    conv_case(2, 6, 5, 6, 5, 1, 1, 0);
    conv_case(1, 3, 2, 9, 8, 3, 2, 0);       /* VAE downsample: no padding */
    for (int t = 0; t < 6; t++) {
        int64_t k = t % 3 == 2 ? 1 : 3;
        conv_case(irand(1, 2), irand(1, 6), irand(1, 6), irand(k, 12), irand(k, 12), k, (int)irand(1, 2), k == 3 ? 1 : 0);
    }
    setenv("OMA_CONV_TILE_FLOATS", "60", 1);    /* bands of one or two output rows */
    conv_case(1, 3, 4, 9, 7, 3, 1, 1);
    conv_case(2, 2, 3, 9, 10, 3, 2, 1);
    unsetenv("OMA_CONV_TILE_FLOATS");
    setenv("OMA_CONV_BWD", "im2col", 1);        /* stride 1 through col2im too */
    conv_case(1, 3, 4, 5, 7, 3, 1, 1);
    conv_case(2, 4, 3, 6, 6, 3, 1, 0);
    unsetenv("OMA_CONV_BWD");
    layout_cases();
    oma_threads_shutdown();
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
