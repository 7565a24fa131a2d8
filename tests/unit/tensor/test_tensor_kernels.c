/* test_tensor_kernels.c — every CPU kernel against a naive double-precision reference loop,
 * on odd sizes that exercise the tails (attention blocks of 32/64, head dims not a multiple of
 * 16, causal masks, cross-attention with 77 keys, strided and padded convolutions).
 * Tolerance: max abs error <= 2e-5 * (1 + max |reference|) unless stated. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/ops.h"
#include "tensor/tensor.h"
#include "tensor/threadpool.h"

#include "check.h"

static uint64_t rng_state = 88172645463325252ull;
static float frand(void)      /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static oma_tensor rnd(int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3, float amp)
{
    oma_tensor t;
    if (oma_tensor_alloc4(&t, ndim, d0, d1, d2, d3) != 0) {
        fprintf(stderr, "alloc failed\n");
        exit(1);
    }
    for (int64_t i = 0; i < oma_tensor_numel(&t); i++) t.data[i] = frand() * amp;
    return t;
}

static oma_tensor zeros(int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    return rnd(ndim, d0, d1, d2, d3, 0.0f);
}

static int close_to(const char *what, const float *got, const double *want, int64_t n, double tol)
{
    double maxref = 0, maxerr = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs(want[i]) > maxref) maxref = fabs(want[i]);
        double e = fabs((double)got[i] - want[i]);
        if (!(e <= maxerr)) maxerr = isnan(e) ? INFINITY : e;
    }
    double lim = tol * (1.0 + maxref);
    if (!(maxerr <= lim)) {
        fprintf(stderr, "%s: max abs err %g > %g\n", what, maxerr, lim);
        return 0;
    }
    return 1;
}

static double *dalloc(int64_t n)
{
    double *d = calloc((size_t)n, sizeof *d);
    if (!d) exit(1);
    return d;
}

static double conv_tol = 2e-5;   /* loosened for the bf16 mode */

static void gemm_case(int64_t M, int64_t N, int64_t K)
{
    const oma_backend *b = oma_backend_cpu();
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            oma_tensor A = rnd(2, M, K, 0, 0, 1), B = rnd(2, K, N, 0, 0, 1), C = rnd(2, M, N, 0, 0, 1);
            /* store transposed copies when asked */
            oma_tensor At = zeros(2, K, M, 0, 0), Bt = zeros(2, N, K, 0, 0);
            for (int64_t i = 0; i < M; i++)
                for (int64_t k = 0; k < K; k++) At.data[k * M + i] = A.data[i * K + k];
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = 0; j < N; j++) Bt.data[j * K + k] = B.data[k * N + j];
            double *want = dalloc(M * N);
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double s = 0;
                    for (int64_t k = 0; k < K; k++) s += (double)A.data[i * K + k] * B.data[k * N + j];
                    want[i * N + j] = 1.5 * s + 0.5 * C.data[i * N + j];
                }
            b->gemm(ta, tb, M, N, K, 1.5f, ta ? At.data : A.data, ta ? M : K, tb ? Bt.data : B.data,
                    tb ? K : N, 0.5f, C.data, N);
            char what[64];
            snprintf(what, sizeof what, "gemm %lldx%lldx%lld ta%d tb%d", (long long)M, (long long)N,
                     (long long)K, ta, tb);
            CHECK(close_to(what, C.data, want, M * N, 2e-5));
            free(want);
            oma_tensor_free(&A), oma_tensor_free(&B), oma_tensor_free(&C);
            oma_tensor_free(&At), oma_tensor_free(&Bt);
        }
}

/* C = op(A) op(B) with alpha 1 and beta 0 and at least 4e6 multiply-adds: the backend's
 * oneDNN matmul path (f32, operands read in place with their leading dimensions). */
static void plain_gemm_case(int64_t M, int64_t N, int64_t K)
{
    const oma_backend *b = oma_backend_cpu();
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            /* stored with 3 spare columns, so the leading dimensions are not the widths */
            int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 3, ldc = N + 3;
            oma_tensor A = rnd(2, ta ? K : M, lda, 0, 0, 1), B = rnd(2, tb ? N : K, ldb, 0, 0, 1);
            oma_tensor C = rnd(2, M, ldc, 0, 0, 1);
            double *want = dalloc(M * N);
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double s = 0;
                    for (int64_t k = 0; k < K; k++)
                        s += (double)(ta ? A.data[k * lda + i] : A.data[i * lda + k]) *
                             (tb ? B.data[j * ldb + k] : B.data[k * ldb + j]);
                    want[i * N + j] = s;
                }
            b->gemm(ta, tb, M, N, K, 1.0f, A.data, lda, B.data, ldb, 0.0f, C.data, ldc);
            float *got = malloc(sizeof(float) * (size_t)(M * N));
            if (!got) exit(1);
            for (int64_t i = 0; i < M; i++) memcpy(got + i * N, C.data + i * ldc, sizeof(float) * (size_t)N);
            char what[64];
            snprintf(what, sizeof what, "plain gemm %lldx%lldx%lld ta%d tb%d", (long long)M,
                     (long long)N, (long long)K, ta, tb);
            CHECK(close_to(what, got, want, M * N, 2e-5));
            free(want), free(got);
            oma_tensor_free(&A), oma_tensor_free(&B), oma_tensor_free(&C);
        }
}

static void test_gemm(void)
{
    gemm_case(37, 53, 29);       /* small: one call */
    gemm_case(150, 300, 100);    /* split by columns over the pool (N > M) */
    gemm_case(300, 70, 200);     /* split by rows (M > N) */
    plain_gemm_case(300, 200, 100);
}

static void test_linear(void)
{
    oma_tensor x = rnd(3, 2, 5, 12, 0, 1), w = rnd(2, 7, 12, 0, 0, 1), bias = rnd(1, 7, 0, 0, 0, 1);
    oma_tensor y = zeros(3, 2, 5, 7, 0), bad = zeros(3, 2, 5, 6, 0);
    double *want = dalloc(70);
    for (int r = 0; r < 10; r++)
        for (int o = 0; o < 7; o++) {
            double s = bias.data[o];
            for (int i = 0; i < 12; i++) s += (double)x.data[r * 12 + i] * w.data[o * 12 + i];
            want[r * 7 + o] = s;
        }
    CHECK(oma_op_linear(&x, &w, &bias, &y) == 0);
    CHECK(close_to("linear", y.data, want, 70, 2e-5));
    CHECK(oma_op_linear(&x, &w, &bias, &bad) == -1);
    CHECK(oma_op_linear(&y, &w, &bias, &y) == -1);
    free(want);
    oma_tensor_free(&x), oma_tensor_free(&w), oma_tensor_free(&bias), oma_tensor_free(&y), oma_tensor_free(&bad);
}

/* want[i][p][j] (at i*ys_i + p*ys_p + j*ys_j) = b[j] + sum_k x[i][p][k] w[j][k], with x's element
 * (i, p, k) at i*xs_i + p*xs_p + k*xs_k: one double reference for either layout */
static void ref_proj(const float *x, int64_t xs_i, int64_t xs_p, int64_t xs_k, const float *w,
                     const float *b, int64_t n, int64_t hw, int64_t c, int64_t o, double *want,
                     int64_t ys_i, int64_t ys_p, int64_t ys_j)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < hw; p++)
            for (int64_t j = 0; j < o; j++) {
                double s = b ? b[j] : 0.0;
                for (int64_t k = 0; k < c; k++) s += (double)x[i * xs_i + p * xs_p + k * xs_k] * w[j * c + k];
                want[i * ys_i + p * ys_p + j * ys_j] = s;
            }
}

/* The projections across the layout change (oma_op_linear_nchw_to_tokens / _tokens_to_nchw):
 * against a double product over the transposed data, with and without bias, batch 2. */
static void test_linear_layout(void)
{
    int64_t n = 2, c = 24, h = 5, w = 7, o = 19, hw = h * w;
    oma_tensor x = rnd(4, n, c, h, w, 1), wt = rnd(2, o, c, 0, 0, 1), b = rnd(1, o, 0, 0, 0, 1);
    oma_tensor tok = zeros(3, n, hw, o, 0), tx = rnd(3, n, hw, c, 0, 1), img = zeros(4, n, o, h, w);
    double *want = dalloc(n * hw * o);
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        const float *bias = with_bias ? b.data : NULL;
        /* NCHW in, tokens out */
        ref_proj(x.data, c * hw, 1, hw, wt.data, bias, n, hw, c, o, want, hw * o, o, 1);
        CHECK(oma_op_linear_nchw_to_tokens(&x, &wt, with_bias ? &b : NULL, &tok) == 0);
        CHECK(close_to("linear nchw->tokens", tok.data, want, n * hw * o, 2e-6));
        /* tokens in, NCHW out */
        ref_proj(tx.data, hw * c, c, 1, wt.data, bias, n, hw, c, o, want, o * hw, 1, hw);
        CHECK(oma_op_linear_tokens_to_nchw(&tx, &wt, with_bias ? &b : NULL, &img) == 0);
        CHECK(close_to("linear tokens->nchw", img.data, want, n * hw * o, 2e-6));
    }
    CHECK(oma_op_linear_nchw_to_tokens(&x, &wt, NULL, &img) == -1);     /* wrong output shape */
    CHECK(oma_op_linear_tokens_to_nchw(&x, &wt, NULL, &img) == -1);     /* x not tokens */
    free(want);
    oma_tensor_free(&x), oma_tensor_free(&wt), oma_tensor_free(&b), oma_tensor_free(&tok);
    oma_tensor_free(&tx), oma_tensor_free(&img);
}

static void conv_case(int64_t n, int64_t c, int64_t h, int64_t w, int64_t oc, int64_t k, int stride,
                      int pad, int with_bias)
{
    int64_t oh = oma_conv_out_size(h, k, stride, pad), ow = oma_conv_out_size(w, k, stride, pad);
    oma_tensor x = rnd(4, n, c, h, w, 1), wt = rnd(4, oc, c, k, k, 1), b = rnd(1, oc, 0, 0, 0, 1);
    oma_tensor y = zeros(4, n, oc, oh, ow);
    double *want = dalloc(n * oc * oh * ow);
    for (int64_t bi = 0; bi < n; bi++)
        for (int64_t o = 0; o < oc; o++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    double s = with_bias ? b.data[o] : 0.0;
                    for (int64_t ci = 0; ci < c; ci++)
                        for (int64_t ky = 0; ky < k; ky++)
                            for (int64_t kx = 0; kx < k; kx++) {
                                int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                s += (double)x.data[((bi * c + ci) * h + iy) * w + ix] *
                                     wt.data[((o * c + ci) * k + ky) * k + kx];
                            }
                    want[((bi * oc + o) * oh + oy) * ow + ox] = s;
                }
    CHECK(oma_op_conv2d(&x, &wt, with_bias ? &b : NULL, stride, pad, &y) == 0);
    char what[96];
    snprintf(what, sizeof what, "conv2d n%lld c%lld %lldx%lld oc%lld k%lld s%d p%d", (long long)n,
             (long long)c, (long long)h, (long long)w, (long long)oc, (long long)k, stride, pad);
    CHECK(close_to(what, y.data, want, n * oc * oh * ow, conv_tol));
    free(want);
    oma_tensor_free(&x), oma_tensor_free(&wt), oma_tensor_free(&b), oma_tensor_free(&y);
}

static void test_conv(void)
{
    conv_case(2, 5, 9, 7, 6, 3, 1, 1, 1);
    conv_case(1, 4, 9, 8, 3, 3, 2, 1, 1);      /* SD downsample: stride 2, pad 1 */
    conv_case(1, 3, 8, 8, 4, 3, 2, 0, 0);      /* VAE encoder downsample: pad 0 (pre-padded) */
    conv_case(2, 6, 5, 5, 4, 1, 1, 0, 1);      /* 1x1: direct GEMM */
    /* im2col in bands of output rows (forced small): 2 rows, then 1 row per band */
    setenv("OMA_CONV_TILE_FLOATS", "700", 1);
    conv_case(2, 5, 9, 7, 6, 3, 1, 1, 1);
    conv_case(1, 4, 9, 8, 3, 3, 2, 1, 1);
    setenv("OMA_CONV_TILE_FLOATS", "1", 1);
    conv_case(1, 3, 6, 5, 2, 3, 1, 1, 1);
    unsetenv("OMA_CONV_TILE_FLOATS");
    /* oneDNN in bands of output rows (forced small: 4 rows, the least): a last band of 1 row
     * with padding below, stride 2 with and without padding (the remainder row dropped),
     * Winograd over a 256x256 image in 16 bands (less scratch than in one piece) and a
     * batch of two 64x64 ones (mode 2) */
    setenv("OMA_CONV_BAND_BYTES", "600", 1);
    conv_case(2, 5, 9, 7, 6, 3, 1, 1, 1);
    conv_case(1, 4, 9, 8, 3, 3, 2, 1, 1);
    conv_case(1, 3, 20, 8, 4, 3, 2, 0, 0);
    setenv("OMA_CONV_BAND_BYTES", "262144", 1);
    oma_cpu_scratch_release();
    conv_case(1, 16, 256, 256, 16, 3, 1, 1, 1);
    size_t banded = oma_cpu_scratch_bytes();
    /* the same image in one piece needs more scratch: the copies hold the whole image */
    unsetenv("OMA_CONV_BAND_BYTES");
    oma_cpu_scratch_release();
    conv_case(1, 16, 256, 256, 16, 3, 1, 1, 1);
    size_t whole = oma_cpu_scratch_bytes();
    printf("  256x256 Winograd: scratch %.2f MB in bands, %.2f MB whole\n", banded / 1e6, whole / 1e6);
    if (strcmp(oma_cpu_conv_name(), "auto") == 0) CHECK(banded < whole);
    setenv("OMA_CONV_BAND_BYTES", "16384", 1);
    conv_case(2, 8, 64, 64, 8, 3, 1, 1, 0);
    unsetenv("OMA_CONV_BAND_BYTES");
    oma_tensor x = zeros(4, 1, 3, 4, 4), w = zeros(4, 2, 4, 3, 3), y = zeros(4, 1, 2, 4, 4);
    CHECK(oma_op_conv2d(&x, &w, NULL, 1, 1, &y) == -1);   /* channel mismatch */
    oma_tensor_free(&x), oma_tensor_free(&w), oma_tensor_free(&y);
}

/* The opt-in bf16 mode (oma_precision_set): products and 3x3 convolutions with bf16 inputs
 * and f32 accumulation. bf16 keeps 8 significant bits (relative rounding 2^-9 per operand), so
 * the bound is 1e-2 * (1 + max |reference|) against the double reference (measured on
 * AVX512_BF16: max abs err 0.03-0.04 on sums up to ~16, bound ~0.17); this catches a wrong layout or operand, not rounding. Shapes
 * are large enough (M*N*K >= 4e6) for the bf16 matmul path. Skipped without oneDNN. */
static void bf16_gemm_case(int64_t M, int64_t N, int64_t K)
{
    const oma_backend *b = oma_backend_cpu();
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            oma_tensor A = rnd(2, M, K, 0, 0, 1), B = rnd(2, K, N, 0, 0, 1), C = zeros(2, M, N, 0, 0);
            oma_tensor At = zeros(2, K, M, 0, 0), Bt = zeros(2, N, K, 0, 0);
            for (int64_t i = 0; i < M; i++)
                for (int64_t k = 0; k < K; k++) At.data[k * M + i] = A.data[i * K + k];
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = 0; j < N; j++) Bt.data[j * K + k] = B.data[k * N + j];
            double *want = dalloc(M * N);
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double s = 0;
                    for (int64_t k = 0; k < K; k++) s += (double)A.data[i * K + k] * B.data[k * N + j];
                    want[i * N + j] = s;
                }
            b->gemm(ta, tb, M, N, K, 1.0f, ta ? At.data : A.data, ta ? M : K, tb ? Bt.data : B.data,
                    tb ? K : N, 0.0f, C.data, N);
            double maxerr = 0;
            for (int64_t i = 0; i < M * N; i++) maxerr = fmax(maxerr, fabs(C.data[i] - want[i]));
            char what[64];
            snprintf(what, sizeof what, "bf16 gemm %lldx%lldx%lld ta%d tb%d", (long long)M, (long long)N,
                     (long long)K, ta, tb);
            printf("  %s: max abs err %.3g\n", what, maxerr);
            CHECK(close_to(what, C.data, want, M * N, 1e-2));
            free(want);
            oma_tensor_free(&A), oma_tensor_free(&B), oma_tensor_free(&C);
            oma_tensor_free(&At), oma_tensor_free(&Bt);
        }
}

static void *read_precision(void *out)
{
    *(const char **)out = oma_precision_name();
    return NULL;
}

/* A thread's own precision (oma_precision_set_thread: a server's generate job) is that thread's
 * alone: another thread still sees the process-wide fp32, and the kernels follow the calling
 * thread's (a bf16 product differs from the fp32 one in its bits); NULL goes back. */
static void test_bf16_thread(void)
{
    CHECK(oma_precision_set_thread("fp8") == -1);
    CHECK(oma_precision_set_thread("bf16") == 0);
    CHECK(strcmp(oma_precision_name(), "bf16") == 0);
    const char *other = NULL;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, read_precision, &other) == 0 && pthread_join(t, NULL) == 0);
    CHECK(other && strcmp(other, "fp32") == 0);
    const oma_backend *b = oma_backend_cpu();
    int64_t M = 160, N = 200, K = 130;
    oma_tensor A = rnd(2, M, K, 0, 0, 1), B = rnd(2, K, N, 0, 0, 1), C16 = zeros(2, M, N, 0, 0), C32 = zeros(2, M, N, 0, 0);
    b->gemm(0, 0, M, N, K, 1.0f, A.data, K, B.data, N, 0.0f, C16.data, N);
    CHECK(oma_precision_set_thread(NULL) == 0);
    CHECK(strcmp(oma_precision_name(), "fp32") == 0);
    b->gemm(0, 0, M, N, K, 1.0f, A.data, K, B.data, N, 0.0f, C32.data, N);
    CHECK(memcmp(C16.data, C32.data, (size_t)(M * N) * sizeof(float)) != 0);
    oma_tensor_free(&A), oma_tensor_free(&B), oma_tensor_free(&C16), oma_tensor_free(&C32);
}

static void test_bf16(void)
{
    if (oma_precision_set("bf16") != 0) {
        printf("  bf16 mode: not in this build (no oneDNN), skipped\n");
        return;
    }
    CHECK(strcmp(oma_precision_name(), "bf16") == 0);
    bf16_gemm_case(160, 200, 130);
    bf16_gemm_case(300, 120, 112);
    conv_tol = 1e-2;
    conv_case(2, 5, 9, 7, 6, 3, 1, 1, 1);
    conv_case(1, 4, 9, 8, 3, 3, 2, 1, 1);
    conv_case(2, 32, 16, 16, 48, 3, 1, 1, 1);
    conv_tol = 2e-5;
    CHECK(oma_precision_set("fp32") == 0);
    CHECK(strcmp(oma_precision_name(), "fp32") == 0);
    CHECK(oma_precision_set("fp8") == -1);
    test_bf16_thread();
}

static void test_norms(void)
{
    int64_t n = 2, c = 12, hw = 35, g = 4;
    oma_tensor x = rnd(4, n, c, 5, 7, 2), ga = rnd(1, c, 0, 0, 0, 1), be = rnd(1, c, 0, 0, 0, 1);
    for (int64_t i = 0; i < oma_tensor_numel(&x); i++) x.data[i] += 3.0f;   /* non-zero mean */
    oma_tensor y = zeros(4, n, c, 5, 7);
    for (int silu = 0; silu < 2; silu++) {
        double *want = dalloc(n * c * hw);
        for (int64_t b = 0; b < n; b++)
            for (int64_t gi = 0; gi < g; gi++) {
                int64_t cpg = c / g, base = (b * c + gi * cpg) * hw, cnt = cpg * hw;
                double m = 0, v = 0;
                for (int64_t i = 0; i < cnt; i++) m += x.data[base + i];
                m /= cnt;
                for (int64_t i = 0; i < cnt; i++) v += (x.data[base + i] - m) * (x.data[base + i] - m);
                v /= cnt;
                for (int64_t i = 0; i < cnt; i++) {
                    int64_t ch = gi * cpg + i / hw;
                    double r = (x.data[base + i] - m) / sqrt(v + 1e-5) * ga.data[ch] + be.data[ch];
                    want[base + i] = silu ? r / (1 + exp(-r)) : r;
                }
            }
        CHECK(oma_op_group_norm(&x, g, &ga, &be, 1e-5f, silu, &y) == 0);
        CHECK(close_to(silu ? "group_norm+silu" : "group_norm", y.data, want, n * c * hw, 2e-5));
        free(want);
    }
    CHECK(oma_op_group_norm(&x, 5, &ga, &be, 1e-5f, 0, &y) == -1);    /* 12 % 5 != 0 */

    oma_tensor r = rnd(2, 9, 33, 0, 0, 3), lg = rnd(1, 33, 0, 0, 0, 1), lb = rnd(1, 33, 0, 0, 0, 1);
    oma_tensor ry = zeros(2, 9, 33, 0, 0);
    double *want = dalloc(9 * 33);
    for (int i = 0; i < 9; i++) {
        double m = 0, v = 0;
        for (int j = 0; j < 33; j++) m += r.data[i * 33 + j];
        m /= 33;
        for (int j = 0; j < 33; j++) v += (r.data[i * 33 + j] - m) * (r.data[i * 33 + j] - m);
        v /= 33;
        for (int j = 0; j < 33; j++)
            want[i * 33 + j] = (r.data[i * 33 + j] - m) / sqrt(v + 1e-5) * lg.data[j] + lb.data[j];
    }
    CHECK(oma_op_layer_norm(&r, &lg, &lb, 1e-5f, &ry) == 0);
    CHECK(close_to("layer_norm", ry.data, want, 9 * 33, 2e-5));
    /* softmax, in place, with a -inf entry */
    r.data[5] = -INFINITY;
    for (int i = 0; i < 9; i++) {
        double m = -INFINITY, s = 0;
        for (int j = 0; j < 33; j++) m = r.data[i * 33 + j] > m ? r.data[i * 33 + j] : m;
        for (int j = 0; j < 33; j++) s += exp(r.data[i * 33 + j] - m);
        for (int j = 0; j < 33; j++) want[i * 33 + j] = exp(r.data[i * 33 + j] - m) / s;
    }
    CHECK(oma_op_softmax(&r) == 0);
    CHECK(close_to("softmax", r.data, want, 9 * 33, 1e-6));
    CHECK(r.data[5] == 0.0f);
    free(want);
    oma_tensor_free(&x), oma_tensor_free(&ga), oma_tensor_free(&be), oma_tensor_free(&y);
    oma_tensor_free(&r), oma_tensor_free(&lg), oma_tensor_free(&lb), oma_tensor_free(&ry);
}

static void attn_case(int64_t b, int64_t nq, int64_t nk, int64_t heads, int64_t d, int causal, float amp)
{
    int64_t c = heads * d;
    oma_tensor q = rnd(3, b, nq, c, 0, amp), k = rnd(3, b, nk, c, 0, amp), v = rnd(3, b, nk, c, 0, 1);
    oma_tensor o = zeros(3, b, nq, c, 0);
    double *want = dalloc(b * nq * c), *s = dalloc(nk);
    double scale = 1.0 / sqrt((double)d);
    for (int64_t bi = 0; bi < b; bi++)
        for (int64_t h = 0; h < heads; h++)
            for (int64_t i = 0; i < nq; i++) {
                double m = -INFINITY, sum = 0;
                for (int64_t j = 0; j < nk; j++) {
                    double acc = 0;
                    for (int64_t e = 0; e < d; e++)
                        acc += (double)q.data[(bi * nq + i) * c + h * d + e] * k.data[(bi * nk + j) * c + h * d + e];
                    s[j] = (causal && j > i) ? -INFINITY : acc * scale;
                    if (s[j] > m) m = s[j];
                }
                for (int64_t j = 0; j < nk; j++) {
                    s[j] = exp(s[j] - m);
                    sum += s[j];
                }
                for (int64_t e = 0; e < d; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j < nk; j++) acc += s[j] * v.data[(bi * nk + j) * c + h * d + e];
                    want[(bi * nq + i) * c + h * d + e] = acc / sum;
                }
            }
    CHECK(oma_op_attention(&q, &k, &v, heads, 0.0f, causal, &o) == 0);
    char what[96];
    snprintf(what, sizeof what, "attention b%lld nq%lld nk%lld h%lld d%lld causal%d amp%g", (long long)b,
             (long long)nq, (long long)nk, (long long)heads, (long long)d, causal, amp);
    CHECK(close_to(what, o.data, want, b * nq * c, 2e-5));
    free(want);
    free(s);
    oma_tensor_free(&q), oma_tensor_free(&k), oma_tensor_free(&v), oma_tensor_free(&o);
}

static void test_attention(void)
{
    attn_case(1, 5, 5, 1, 4, 0, 1);
    attn_case(2, 77, 77, 2, 8, 1, 1);          /* CLIP: causal self-attention */
    attn_case(2, 100, 77, 2, 40, 0, 1);        /* UNet cross-attention, head dim 40 */
    attn_case(1, 130, 130, 3, 16, 0, 1);       /* several query and key blocks, tails */
    attn_case(1, 64, 200, 1, 20, 0, 4);        /* large logits: online max must rescale */
    attn_case(1, 70, 70, 2, 33, 1, 3);
    oma_tensor q = zeros(3, 1, 4, 6, 0), k = zeros(3, 1, 4, 6, 0), o = zeros(3, 1, 4, 6, 0);
    CHECK(oma_op_attention(&q, &k, &k, 4, 0.0f, 0, &o) == -1);    /* 6 % 4 != 0 */
    oma_tensor_free(&q), oma_tensor_free(&k), oma_tensor_free(&o);
}

/* The activations to within a few float steps of the exact value, element by element, over
 * [-12, 12] in steps of 1/512 (both sides of erf's two pieces at |v| = sqrt 2, GELU's negative
 * tail, where 1 + erf would cancel) and some odd sizes for the vector tails. For the AVX-512
 * kernels (cpu_activation_avx512.c) only: the portable loops, on libm's erff, lose GELU's
 * tail to cancellation (test_elementwise holds them to the looser absolute bound). */
static int rel_close(const char *what, const float *got, const double *want, int64_t n, double tol)
{
    int64_t worst = -1;
    double wr = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (fabs(want[i]) + 1e-37);
        if (!(e <= wr)) wr = isnan(e) ? INFINITY : e, worst = i;
    }
    printf("  %-11s max relative error %.2g\n", what, wr);
    if (!(wr <= tol)) {
        fprintf(stderr, "%s: relative error %g at %lld (got %.9g, want %.9g) > %g\n", what, wr,
                (long long)worst, got[worst], want[worst], tol);
        return 0;
    }
    return 1;
}

static void test_activation_accuracy(void)
{
    int64_t n = 12289;      /* [-12, 12] at 1/512, and an odd tail */
    oma_tensor x = zeros(1, n, 0, 0, 0), y = zeros(1, n, 0, 0, 0), g = zeros(2, 1, 2 * n, 0, 0);
    oma_tensor gy = zeros(2, 1, n, 0, 0);
    double *want = dalloc(n);
    for (int64_t i = 0; i < n; i++) x.data[i] = (float)(-12.0 + i / 512.0);
    for (int64_t i = 0; i < n; i++) want[i] = 0.5 * x.data[i] * erfc(-x.data[i] / sqrt(2.0));
    CHECK(oma_op_gelu(&x, &y) == 0 && rel_close("gelu", y.data, want, n, 6e-7));
    for (int64_t i = 0; i < n; i++) want[i] = x.data[i] / (1 + exp(-(double)x.data[i]));
    CHECK(oma_op_silu(&x, &y) == 0 && rel_close("silu", y.data, want, n, 4e-7));
    /* quick-GELU's constant as the float it is in every implementation (1.702f) */
    for (int64_t i = 0; i < n; i++) want[i] = x.data[i] / (1 + exp(-(double)1.702f * x.data[i]));
    CHECK(oma_op_quick_gelu(&x, &y) == 0 && rel_close("quick_gelu", y.data, want, n, 4e-7));
    /* GEGLU: [a | gate], a = 1 + i/n */
    for (int64_t i = 0; i < n; i++) {
        g.data[i] = 1.0f + (float)i / (float)n;
        g.data[n + i] = x.data[i];
        want[i] = (double)g.data[i] * 0.5 * x.data[i] * erfc(-x.data[i] / sqrt(2.0));
    }
    CHECK(oma_op_geglu(&g, &gy) == 0 && rel_close("geglu", gy.data, want, n, 7e-7));
    /* tails of every length 1..33 through one vector kernel call each */
    for (int64_t m = 1; m <= 33; m++) {
        oma_tensor xs = zeros(1, m, 0, 0, 0), ys = zeros(1, m, 0, 0, 0);
        for (int64_t i = 0; i < m; i++) {
            xs.data[i] = (float)(i - 16) * 0.37f;
            want[i] = 0.5 * xs.data[i] * erfc(-xs.data[i] / sqrt(2.0));
        }
        int ok = oma_op_gelu(&xs, &ys) == 0;
        for (int64_t i = 0; i < m; i++) ok &= fabs(ys.data[i] - want[i]) <= 6e-7 * fabs(want[i]) + 1e-37;
        CHECK(ok);
        oma_tensor_free(&xs), oma_tensor_free(&ys);
    }
    free(want);
    oma_tensor_free(&x), oma_tensor_free(&y), oma_tensor_free(&g), oma_tensor_free(&gy);
}

static void test_elementwise(void)
{
    int64_t n = 40000;
    oma_tensor x = rnd(1, n, 0, 0, 0, 6), y = zeros(1, n, 0, 0, 0), z = rnd(1, n, 0, 0, 0, 1);
    double *want = dalloc(n);
    for (int64_t i = 0; i < n; i++) want[i] = 0.5 * x.data[i] * (1 + erf(x.data[i] / sqrt(2.0)));
    CHECK(oma_op_gelu(&x, &y) == 0 && close_to("gelu", y.data, want, n, 2e-6));
    for (int64_t i = 0; i < n; i++) want[i] = x.data[i] / (1 + exp(-1.702 * x.data[i]));
    CHECK(oma_op_quick_gelu(&x, &y) == 0 && close_to("quick_gelu", y.data, want, n, 2e-6));
    for (int64_t i = 0; i < n; i++) want[i] = x.data[i] / (1 + exp(-(double)x.data[i]));
    CHECK(oma_op_silu(&x, &y) == 0 && close_to("silu", y.data, want, n, 2e-6));
    for (int64_t i = 0; i < n; i++) want[i] = (double)x.data[i] + z.data[i];
    CHECK(oma_op_add(&x, &z, &y) == 0 && close_to("add", y.data, want, n, 1e-7));
    for (int64_t i = 0; i < n; i++) want[i] = (double)x.data[i] * z.data[i];
    CHECK(oma_op_mul(&x, &z, &y) == 0 && close_to("mul", y.data, want, n, 1e-7));
    for (int64_t i = 0; i < n; i++) want[i] = 2.0 * x.data[i] - 0.5 * y.data[i];
    CHECK(oma_op_axpby(2.0f, &x, -0.5f, &y) == 0 && close_to("axpby", y.data, want, n, 1e-6));
    oma_tensor small = zeros(1, 10, 0, 0, 0);
    CHECK(oma_op_add(&x, &small, &y) == -1);

    /* GEGLU: x[rows, 2*dim] */
    oma_tensor g = rnd(2, 6, 22, 0, 0, 3), gy = zeros(2, 6, 11, 0, 0);
    for (int r = 0; r < 6; r++)
        for (int j = 0; j < 11; j++) {
            double gate = g.data[r * 22 + 11 + j];
            want[r * 11 + j] = g.data[r * 22 + j] * 0.5 * gate * (1 + erf(gate / sqrt(2.0)));
        }
    CHECK(oma_op_geglu(&g, &gy) == 0 && close_to("geglu", gy.data, want, 66, 2e-6));

    /* upsample, concat, bias */
    oma_tensor u = rnd(4, 2, 3, 4, 5, 1), uy = zeros(4, 2, 3, 8, 10);
    CHECK(oma_op_upsample_nearest2x(&u, &uy) == 0);
    int ok = 1;
    for (int64_t i = 0; i < 6; i++)
        for (int64_t yy = 0; yy < 8; yy++)
            for (int64_t xx = 0; xx < 10; xx++)
                ok &= uy.data[(i * 8 + yy) * 10 + xx] == u.data[(i * 4 + yy / 2) * 5 + xx / 2];
    CHECK(ok);
    oma_tensor ca = rnd(4, 2, 3, 2, 2, 1), cb = rnd(4, 2, 5, 2, 2, 1), cy = zeros(4, 2, 8, 2, 2);
    CHECK(oma_op_concat_channels(&ca, &cb, &cy) == 0);
    ok = 1;
    for (int b = 0; b < 2; b++)
        for (int ch = 0; ch < 8; ch++)
            for (int p = 0; p < 4; p++) {
                float want_v = ch < 3 ? ca.data[(b * 3 + ch) * 4 + p] : cb.data[(b * 5 + ch - 3) * 4 + p];
                ok &= cy.data[(b * 8 + ch) * 4 + p] == want_v;
            }
    CHECK(ok);
    oma_tensor bias = rnd(1, 3, 0, 0, 0, 1), before = zeros(4, 2, 3, 4, 5);
    memcpy(before.data, u.data, sizeof(float) * 120);
    CHECK(oma_op_add_bias(&u, &bias) == 0);
    ok = 1;
    for (int i = 0; i < 120; i++) ok &= u.data[i] == before.data[i] + bias.data[(i / 20) % 3];
    CHECK(ok);
    free(want);
    oma_tensor_free(&x), oma_tensor_free(&y), oma_tensor_free(&z), oma_tensor_free(&small);
    oma_tensor_free(&g), oma_tensor_free(&gy), oma_tensor_free(&u), oma_tensor_free(&uy);
    oma_tensor_free(&ca), oma_tensor_free(&cb), oma_tensor_free(&cy), oma_tensor_free(&bias);
    oma_tensor_free(&before);
}

int main(void)
{
    setenv("OMA_THREADS", "2", 1);
    test_gemm();
    test_linear();
    test_linear_layout();
    test_conv();
    test_norms();
    test_bf16();
    /* every attention kernel this CPU can run: the best one, then the AVX2 and portable ones */
    test_attention();
    setenv("OMA_ATTN_KERNEL", "avx2", 1);
    test_attention();
    setenv("OMA_ATTN_KERNEL", "generic", 1);
    test_attention();
    unsetenv("OMA_ATTN_KERNEL");
    /* the activations: the vector kernels where the CPU has them, then the portable loops */
    test_elementwise();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) test_activation_accuracy();
    setenv("OMA_ACT_KERNEL", "generic", 1);
    test_elementwise();
    unsetenv("OMA_ACT_KERNEL");
    oma_threads_shutdown();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_tensor_kernels: ok\n");
    return 0;
}
