/* cpu_backward.c — the CPU backend's element-wise and normalisation backward kernels
 * (training): group norm (+ fused SiLU), layer norm, GELU / quick-GELU / SiLU / GEGLU (on
 * AVX-512 where the CPU has it: cpu_activation_avx512.c), nearest upsample, channel split (the
 * skip concat's backward) and the embedding scatter-add.
 *
 * Norms recompute their statistics from the input as the forward does (double sums; group norm
 * on AVX-512 in cpu_backward_norm_avx512.c where the CPU has it),
 * then use the closed form dx = inv * (g - mean(g) - xhat * mean(g * xhat)) with g the
 * gradient of the normalised value (dy times gamma, through SiLU's derivative when fused).
 * Weights, gammas and betas are frozen, so none of their gradients is formed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_internal.h"
#include "tensor/threadpool.h"

/* ---- group norm ---- */

typedef struct {
    const float *x, *dy, *gamma, *beta;
    float *dx;
    int64_t c, hw, groups;
    float eps;
    int silu, avx512;
} gnb_ctx;

static void gnb_range(void *p, int64_t i0, int64_t i1)
{
    const gnb_ctx *t = p;
    int64_t cpg = t->c / t->groups, cnt = cpg * t->hw;
    for (int64_t i = i0; i < i1; i++) {
        int64_t ch0 = (i % t->groups) * cpg;
        const float *xg = t->x + i * cnt, *dyg = t->dy + i * cnt;
        float *dxg = t->dx + i * cnt;
#if defined(__x86_64__) && defined(__GNUC__)
        if (t->avx512) {
            oma_gn_backward_group_avx512(xg, dyg, dxg, cpg, t->hw, t->gamma, t->beta, ch0, t->eps, t->silu);
            continue;
        }
#endif
        double sum = 0.0, var = 0.0;
        for (int64_t j = 0; j < cnt; j++) sum += xg[j];
        double mean = sum / (double)cnt;
        for (int64_t j = 0; j < cnt; j++) {
            double d = xg[j] - mean;
            var += d * d;
        }
        var /= (double)cnt;
        float inv = (float)(1.0 / sqrt(var + t->eps)), fm = (float)mean;
        double s1 = 0.0, s2 = 0.0;
        for (int64_t cc = 0; cc < cpg; cc++) {
            int64_t ch = ch0 + cc;
            float g = t->gamma ? t->gamma[ch] : 1.0f, b = t->beta ? t->beta[ch] : 0.0f;
            for (int64_t j = cc * t->hw; j < (cc + 1) * t->hw; j++) {
                float xh = (xg[j] - fm) * inv, d = dyg[j];
                if (t->silu) {
                    float v = xh * g + b, s = 1.0f / (1.0f + expf(-v));
                    d *= s * (1.0f + v * (1.0f - s));
                }
                d *= g;
                dxg[j] = d;
                s1 += d;
                s2 += (double)d * xh;
            }
        }
        float m1 = (float)(s1 / (double)cnt), m2 = (float)(s2 / (double)cnt);
        for (int64_t j = 0; j < cnt; j++) {
            float xh = (xg[j] - fm) * inv;
            dxg[j] = inv * (dxg[j] - m1 - xh * m2);
        }
    }
}

void oma_cpu_group_norm_backward(const float *x, int64_t n, int64_t c, int64_t hw, int64_t groups,
                                 const float *gamma, const float *beta, float eps, int silu,
                                 const float *dy, float *dx)
{
    gnb_ctx t = {x, dy, gamma, beta, dx, c, hw, groups, eps, silu, 0};
#if defined(__x86_64__) && defined(__GNUC__)
    const char *force = getenv("OMA_GN_KERNEL");      /* "generic": the portable loops (tests) */
    t.avx512 = !(force && strcmp(force, "generic") == 0) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512dq");
#endif
    oma_parallel_for(n * groups, 1, gnb_range, &t);
}

/* ---- layer norm ---- */

typedef struct {
    const float *x, *dy, *gamma;
    float *dx;
    int64_t dim;
    float eps;
} lnb_ctx;

static void lnb_range(void *p, int64_t r0, int64_t r1)
{
    const lnb_ctx *t = p;
    int64_t dim = t->dim;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = t->x + r * dim, *dyr = t->dy + r * dim;
        float *dxr = t->dx + r * dim;
        double sum = 0.0, var = 0.0;
        for (int64_t j = 0; j < dim; j++) sum += xr[j];
        double mean = sum / (double)dim;
        for (int64_t j = 0; j < dim; j++) {
            double d = xr[j] - mean;
            var += d * d;
        }
        float inv = (float)(1.0 / sqrt(var / (double)dim + t->eps)), fm = (float)mean;
        double s1 = 0.0, s2 = 0.0;
        for (int64_t j = 0; j < dim; j++) {
            float xh = (xr[j] - fm) * inv, d = dyr[j] * (t->gamma ? t->gamma[j] : 1.0f);
            s1 += d;
            s2 += (double)d * xh;
        }
        float m1 = (float)(s1 / (double)dim), m2 = (float)(s2 / (double)dim);
        for (int64_t j = 0; j < dim; j++) {
            float xh = (xr[j] - fm) * inv, d = dyr[j] * (t->gamma ? t->gamma[j] : 1.0f);
            dxr[j] = inv * (d - m1 - xh * m2);
        }
    }
}

void oma_cpu_layer_norm_backward(const float *x, int64_t rows, int64_t dim, const float *gamma,
                                 float eps, const float *dy, float *dx)
{
    lnb_ctx t = {x, dy, gamma, dx, dim, eps};
    oma_parallel_for(rows, 16, lnb_range, &t);
}

/* ---- activations ---- */

/* the AVX-512 kernels (cpu_activation_avx512.c), unless OMA_ACT_KERNEL=generic (tests) */
static int act_avx512(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    const char *force = getenv("OMA_ACT_KERNEL");
    if (force && strcmp(force, "generic") == 0) return 0;
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

enum { ACT_GELU, ACT_QGELU, ACT_SILU };

static inline float gelu_d(float x)
{
    /* d/dx x Phi(x) = Phi(x) + x phi(x) */
    return 0.5f * (1.0f + erff(x * 0.70710678118654752f)) +
           x * 0.39894228040143268f * expf(-0.5f * x * x);
}

static inline float sigmul_d(float x, float a)
{
    /* d/dx x sigmoid(a x) = s + a x s (1 - s) */
    float s = 1.0f / (1.0f + expf(-a * x));
    return s + a * x * s * (1.0f - s);
}

typedef struct {
    int op;
    const float *x, *dy;
    float *dx;
    int avx512;
} actb_ctx;

static void actb_range(void *p, int64_t i0, int64_t i1)
{
    const actb_ctx *t = p;
#if defined(__x86_64__) && defined(__GNUC__)
    if (t->avx512) {
        if (t->op == ACT_GELU) oma_gelu_backward_avx512(t->x + i0, t->dy + i0, t->dx + i0, i1 - i0);
        else oma_sigmoid_mul_backward_avx512(t->x + i0, t->dy + i0, t->dx + i0, i1 - i0,
                                             t->op == ACT_QGELU ? 1.702f : 1.0f);
        return;
    }
#endif
    for (int64_t i = i0; i < i1; i++) {
        float d = t->op == ACT_GELU ? gelu_d(t->x[i])
                                    : sigmul_d(t->x[i], t->op == ACT_QGELU ? 1.702f : 1.0f);
        t->dx[i] = t->dy[i] * d;
    }
}

static void actb(int op, const float *x, const float *dy, float *dx, int64_t n)
{
    actb_ctx t = {op, x, dy, dx, act_avx512()};
    oma_parallel_for(n, 1 << 14, actb_range, &t);
}

void oma_cpu_gelu_backward(const float *x, const float *dy, float *dx, int64_t n)
{
    actb(ACT_GELU, x, dy, dx, n);
}

void oma_cpu_quick_gelu_backward(const float *x, const float *dy, float *dx, int64_t n)
{
    actb(ACT_QGELU, x, dy, dx, n);
}

void oma_cpu_silu_backward(const float *x, const float *dy, float *dx, int64_t n)
{
    actb(ACT_SILU, x, dy, dx, n);
}

typedef struct {
    const float *x, *dy;
    float *dx;
    int64_t dim;
    int avx512;
} geglub_ctx;

static void geglub_range(void *p, int64_t r0, int64_t r1)
{
    const geglub_ctx *t = p;
    int64_t d = t->dim;
    for (int64_t r = r0; r < r1; r++) {
        const float *a = t->x + r * 2 * d, *g = a + d, *dy = t->dy + r * d;
        float *da = t->dx + r * 2 * d, *dg = da + d;
#if defined(__x86_64__) && defined(__GNUC__)
        if (t->avx512) {
            oma_geglu_backward_avx512(a, g, dy, da, dg, d);
            continue;
        }
#endif
        for (int64_t j = 0; j < d; j++) {
            float gv = g[j], gl = 0.5f * gv * (1.0f + erff(gv * 0.70710678118654752f));
            float dyj = dy[j], aj = a[j];
            da[j] = dyj * gl;
            dg[j] = dyj * aj * gelu_d(gv);
        }
    }
}

void oma_cpu_geglu_backward(const float *x, const float *dy, int64_t rows, int64_t dim, float *dx)
{
    geglub_ctx t = {x, dy, dx, dim, act_avx512()};
    oma_parallel_for(rows, 4, geglub_range, &t);
}

/* ---- layout ops ---- */

typedef struct {
    const float *dy;
    float *dx;
    int64_t h, w;
} upb_ctx;

static void upb_range(void *p, int64_t i0, int64_t i1)
{
    const upb_ctx *t = p;
    int64_t w2 = 2 * t->w;
    for (int64_t i = i0; i < i1; i++) {
        const float *s = t->dy + i * 4 * t->h * t->w;
        float *d = t->dx + i * t->h * t->w;
        for (int64_t y = 0; y < t->h; y++) {
            const float *r0 = s + 2 * y * w2, *r1 = r0 + w2;
            for (int64_t x = 0; x < t->w; x++)
                d[y * t->w + x] = (r0[2 * x] + r0[2 * x + 1]) + (r1[2 * x] + r1[2 * x + 1]);
        }
    }
}

void oma_cpu_upsample_nearest2x_backward(const float *dy, int64_t nc, int64_t h, int64_t w,
                                         float *dx)
{
    upb_ctx t = {dy, dx, h, w};
    oma_parallel_for(nc, 1, upb_range, &t);
}

void oma_cpu_split_channels(const float *dy, int64_t n, int64_t ca, int64_t cb, int64_t hw,
                            float *da, float *db)
{
    for (int64_t b = 0; b < n; b++) {
        const float *s = dy + b * (ca + cb) * hw;
        if (da) memcpy(da + b * ca * hw, s, sizeof(float) * (size_t)(ca * hw));
        if (db) memcpy(db + b * cb * hw, s + ca * hw, sizeof(float) * (size_t)(cb * hw));
    }
}

void oma_cpu_embedding_backward(const int32_t *ids, int64_t count, const float *dy, int64_t dim,
                                float *dtable)
{
    /* serial: repeated ids add into the same row */
    for (int64_t i = 0; i < count; i++) {
        float *row = dtable + (int64_t)ids[i] * dim;
        const float *g = dy + i * dim;
        for (int64_t j = 0; j < dim; j++) row[j] += g[j];
    }
}
