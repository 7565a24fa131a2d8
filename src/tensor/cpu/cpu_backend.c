/* cpu_backend.c — the CPU backend table: GEMM on oneDNN's matmul (large plain products) or
 * OpenBLAS (the rest), convolutions on oneDNN when built with it (cpu_dnnl.c; else im2col +
 * GEMM, a plain GEMM for 1x1), our pool for the memory-bound kernels (norms, activations,
 * copies).
 *
 * The memory-bound kernels split their outer dimension over oma_parallel_for; each piece is
 * a simple loop the compiler vectorises. oneDNN runs on its OpenMP threads while our pool
 * sleeps; OpenBLAS runs single-threaded inside our pool; so the two never compete for cores.
 * Attention lives in cpu_attention.c, the AVX-512 activations in cpu_activation_avx512.c.
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/cpu/blas.h"
#include "tensor/cpu/cpu_internal.h"
#include "tensor/tensor.h"
#include "tensor/threadpool.h"

int oma_cpu_attention(const oma_attn_args *a);   /* cpu_attention.c */

/* GEMM. With several threads, OpenBLAS runs single-threaded and we split the product into
 * column (or row) blocks over our own pool: one set of threads for everything, no OpenBLAS
 * threads spinning against ours between calls. OMA_GEMM_SPLIT=0 leaves the threading to
 * OpenBLAS instead (for comparison in bench/). */
typedef struct {
    int ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    int64_t lda, ldb, ldc;
    float *c;
    int by_rows;
} gemm_ctx;

static void sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                  int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (blasint)m, (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb,
                beta, c, (blasint)ldc);
}

static void gemm_range(void *p, int64_t i0, int64_t i1)
{
    const gemm_ctx *g = p;
    if (g->by_rows) {   /* rows [i0, i1) of C: rows of op(A) */
        const float *a = g->ta ? g->a + i0 : g->a + i0 * g->lda;
        sgemm(g->ta, g->tb, i1 - i0, g->n, g->k, g->alpha, a, g->lda, g->b, g->ldb, g->beta,
              g->c + i0 * g->ldc, g->ldc);
    } else {            /* columns [i0, i1) of C: columns of op(B) */
        const float *b = g->tb ? g->b + i0 * g->ldb : g->b + i0;
        sgemm(g->ta, g->tb, g->m, i1 - i0, g->k, g->alpha, g->a, g->lda, b, g->ldb, g->beta,
              g->c + i0, g->ldc);
    }
}

typedef struct {
    const gemm_ctx *g;
    int64_t grain, len;
} split_ctx;

static void split_range(void *p, int64_t b0, int64_t b1)
{
    const split_ctx *s = p;
    int64_t i0 = b0 * s->grain, i1 = b1 * s->grain;
    if (i1 > s->len) i1 = s->len;
    if (i0 < i1) gemm_range((void *)s->g, i0, i1);
}

static int gemm_split(void)
{
    static int mode = -1;   /* benign race: every thread computes the same value */
    if (mode < 0) {
        const char *e = getenv("OMA_GEMM_SPLIT");
        mode = (e && *e == '0') ? 0 : 1;
    }
    return mode;
}

/* ---- compute precision (see backend.h) ---- */

enum { PREC_FP32, PREC_BF16 };
static const char *const prec_names[] = {"fp32", "bf16"};
static int prec_mode = -1;
/* this thread's own precision over the process-wide one (-1: none); the kernels read it on the
 * thread that calls the op, never on the pool's threads (they only run pieces of it) */
static _Thread_local int prec_thread = -1;

static int prec(void)
{
    if (prec_thread >= 0) return prec_thread;
    int m = __atomic_load_n(&prec_mode, __ATOMIC_RELAXED);
    if (m < 0) {
        const char *e = getenv("OMA_PRECISION");
        m = e && strcmp(e, "bf16") == 0 && oma_dnnl_available() ? PREC_BF16 : PREC_FP32;
        __atomic_store_n(&prec_mode, m, __ATOMIC_RELAXED);
    }
    return m;
}

int oma_precision_set(const char *name)
{
    for (int m = 0; m < 2; m++)
        if (strcmp(name, prec_names[m]) == 0) {
            if (m == PREC_BF16 && !oma_dnnl_available()) return -1;
            __atomic_store_n(&prec_mode, m, __ATOMIC_RELAXED);
            return 0;
        }
    return -1;
}

int oma_precision_set_thread(const char *name)
{
    if (!name) {
        prec_thread = -1;
        return 0;
    }
    for (int m = 0; m < 2; m++)
        if (strcmp(name, prec_names[m]) == 0) {
            if (m == PREC_BF16 && !oma_dnnl_available()) return -1;
            prec_thread = m;
            return 0;
        }
    return -1;
}

const char *oma_precision_name(void) { return prec_names[prec()]; }

int oma_precision_bf16_available(void) { return oma_dnnl_available(); }

int oma_precision_bf16_native(void)
{
    return __builtin_cpu_supports("avx512bf16") && oma_dnnl_available();
}

static int gemm_dnnl(void)
{
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("OMA_GEMM");
        v = !(e && strcmp(e, "openblas") == 0) && oma_dnnl_available();
    }
    return v;
}

static void cpu_gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                     float *c, int64_t ldc)
{
    /* bf16 mode: the big plain products (linear layers, 1x1 convolutions) on oneDNN's bf16
     * matmul; anything it cannot do stays f32 */
    if (prec() == PREC_BF16 && alpha == 1.0f && beta == 0.0f && (double)m * n * k >= 4e6 &&
        oma_dnnl_matmul_bf16(ta, tb, m, n, k, a, lda, b, ldb, c, ldc) == 0)
        return;
    /* f32: the big plain products on oneDNN's matmul too (5-8% faster than OpenBLAS on SD's
     * shapes here, bench_sd bf16); OMA_GEMM=openblas keeps everything on OpenBLAS */
    if (alpha == 1.0f && beta == 0.0f && (double)m * n * k >= 4e6 && gemm_dnnl() &&
        oma_dnnl_matmul_f32(ta, tb, m, n, k, a, lda, b, ldb, c, ldc) == 0)
        return;
    oma_blas_init();
    int threads = oma_threads_here();   /* 1 inside oma_parallel_tasks */
    if (!gemm_split() || threads < 2 || (double)m * n * k < 4e6) {
        oma_blas_set_threads(gemm_split() ? 1 : threads);
        sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    oma_blas_set_threads(1);
    gemm_ctx g = {ta, tb, m, n, k, alpha, beta, a, b, lda, ldb, ldc, c, 0};
    /* split the longer side, in blocks of at least 64 (a multiple of the kernels' widths) */
    g.by_rows = m > n;
    int64_t len = g.by_rows ? m : n;
    int64_t pieces = threads, grain = (len + pieces - 1) / pieces;
    grain = (grain + 63) / 64 * 64;
    int64_t nblocks = (len + grain - 1) / grain;
    split_ctx sc = {&g, grain, len};
    oma_parallel_for(nblocks, 1, split_range, &sc);
}

/* ---- conv2d ---- */

typedef struct {
    const float *x;
    int64_t h, w, kh, kw, oh, ow;
    int stride, pad;
    int64_t oy0, rows;      /* the tile: output rows [oy0, oy0 + rows) */
    float *col;             /* [C*KH*KW, rows*OW] */
} im2col_ctx;

static void im2col_range(void *p, int64_t c0, int64_t c1)
{
    const im2col_ctx *t = p;
    int64_t n = t->rows * t->ow;
    for (int64_t c = c0; c < c1; c++) {
        const float *xc = t->x + c * t->h * t->w;
        for (int64_t ky = 0; ky < t->kh; ky++)
            for (int64_t kx = 0; kx < t->kw; kx++) {
                float *row = t->col + ((c * t->kh + ky) * t->kw + kx) * n;
                for (int64_t r = 0; r < t->rows; r++) {
                    int64_t oy = t->oy0 + r;
                    int64_t iy = oy * t->stride - t->pad + ky;
                    float *dst = row + r * t->ow;
                    if (iy < 0 || iy >= t->h) {
                        memset(dst, 0, (size_t)t->ow * sizeof(float));
                        continue;
                    }
                    const float *src = xc + iy * t->w;
                    if (t->stride == 1) {
                        /* ix = ox - pad + kx: zeros at the edges, a straight copy in between */
                        int64_t lo = t->pad - kx, hi = t->w + t->pad - kx;   /* valid ox in [lo, hi) */
                        if (lo < 0) lo = 0;
                        if (hi > t->ow) hi = t->ow;
                        if (hi < lo) hi = lo;
                        for (int64_t ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                        if (hi > lo) memcpy(dst + lo, src + lo - t->pad + kx, (size_t)(hi - lo) * sizeof(float));
                        for (int64_t ox = hi; ox < t->ow; ox++) dst[ox] = 0.0f;
                    } else {
                        for (int64_t ox = 0; ox < t->ow; ox++) {
                            int64_t ix = ox * t->stride - t->pad + kx;
                            dst[ox] = (ix >= 0 && ix < t->w) ? src[ix] : 0.0f;
                        }
                    }
                }
            }
    }
}

static void cpu_add_bias(float *x, const float *bias, int64_t n, int64_t c, int64_t inner);

/* Per-thread scratch (im2col's columns, oneDNN's blocked copies), kept between calls: a fresh
 * 50 MB buffer per convolution costs more in page faults (the kernel zeroing new pages) than
 * the copy itself. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

typedef struct {
    void *p[OMA_CPU_SCRATCH_SLOTS];
    size_t cap[OMA_CPU_SCRATCH_SLOTS];
} scratch_buf;

static void scratch_free(void *v)
{
    scratch_buf *s = v;
    if (s)
        for (int i = 0; i < OMA_CPU_SCRATCH_SLOTS; i++) oma_aligned_free(s->p[i]);
    free(s);
}

static void scratch_init(void) { (void)pthread_key_create(&scratch_key, scratch_free); }

void *oma_cpu_scratch(int slot, size_t bytes)
{
    pthread_once(&scratch_once, scratch_init);
    scratch_buf *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return NULL;
        if (pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (s->cap[slot] < bytes) {
        oma_aligned_free(s->p[slot]);
        s->p[slot] = oma_host_alloc(bytes);     /* CPU kernels' own: never device memory */
        s->cap[slot] = s->p[slot] ? bytes : 0;
    }
    return s->p[slot];
}

size_t oma_cpu_scratch_bytes(void)
{
    pthread_once(&scratch_once, scratch_init);
    const scratch_buf *s = pthread_getspecific(scratch_key);
    size_t total = 0;
    if (s)
        for (int i = 0; i < OMA_CPU_SCRATCH_SLOTS; i++) total += s->cap[i];
    return total;
}

void oma_cpu_scratch_release(void)
{
    pthread_once(&scratch_once, scratch_init);
    scratch_buf *s = pthread_getspecific(scratch_key);
    if (s)
        for (int i = 0; i < OMA_CPU_SCRATCH_SLOTS; i++) {
            oma_aligned_free(s->p[i]);
            s->p[i] = NULL;
            s->cap[i] = 0;
        }
}

static void release_piece(void *ctx, int64_t begin, int64_t end)
{
    (void)ctx;
    (void)begin;
    (void)end;
    oma_cpu_scratch_release();
}

void oma_cpu_scratch_release_all(void)
{
    /* One piece per pool thread: each frees its own cache. */
    oma_parallel_for(oma_threads(), 1, release_piece, NULL);
}

/* Which convolution (measured with `bench_sd conv`, SD 1.5's shapes, 2 threads):
 *   CONV_AUTO   oneDNN: Winograd F(4x4,3x3) for 3x3 stride-1 layers over >= 8192 output pixels
 *               (batch x H x W; 2.5-3x less CPU than im2col at the VAE's 128..512 px), its
 *               direct kernels for the other 3x3 and strided layers (0.8-1x), a plain GEMM for
 *               1x1 (oneDNN's 1x1 kernels were slower there); the default when built in;
 *   CONV_DIRECT the same without Winograd;
 *   CONV_IM2COL im2col + OpenBLAS GEMM, the only one without oneDNN.
 * OMA_CONV=auto|direct|im2col or oma_cpu_conv_set picks one; a forced im2col band size
 * (OMA_CONV_TILE_FLOATS, the tests' knob) selects im2col. */
enum { CONV_IM2COL, CONV_DIRECT, CONV_AUTO };
static const char *const conv_names[] = {"im2col", "direct", "auto"};
static int conv_mode = -1;   /* every thread computes the same value */

static int conv_impl(void)
{
    if (getenv("OMA_CONV_TILE_FLOATS")) return CONV_IM2COL;
    int m = __atomic_load_n(&conv_mode, __ATOMIC_RELAXED);
    if (m < 0) {
        m = oma_dnnl_available() ? CONV_AUTO : CONV_IM2COL;
        const char *e = getenv("OMA_CONV");
        if (e && strcmp(e, "im2col") == 0) m = CONV_IM2COL;
        if (e && strcmp(e, "direct") == 0 && m != CONV_IM2COL) m = CONV_DIRECT;
        __atomic_store_n(&conv_mode, m, __ATOMIC_RELAXED);
    }
    return m;
}

int oma_cpu_conv_set(const char *name)
{
    for (int m = 0; m < 3; m++)
        if (strcmp(name, conv_names[m]) == 0) {
            if (m != CONV_IM2COL && !oma_dnnl_available()) return -1;
            __atomic_store_n(&conv_mode, m, __ATOMIC_RELAXED);
            return 0;
        }
    return -1;
}

const char *oma_cpu_conv_name(void) { return conv_names[conv_impl()]; }

/* Only in bf16 mode on oneDNN: the phases' summed kernels round differently from the two ops,
 * which fp32 keeps bit for bit (cpu_conv_up2x.c). */
static int up2x_offered(void)
{
    const char *off = getenv("OMA_CONV_UP2X");     /* "0": the two ops (for comparisons) */
    return prec() == PREC_BF16 && conv_impl() != CONV_IM2COL && oma_dnnl_available() &&
           !(off && strcmp(off, "0") == 0);
}

static int64_t cpu_conv2d_up2x_work(int64_t n, int64_t c, int64_t h, int64_t w, int64_t oc,
                                    uint64_t stamp)
{
    /* weights handed over (oma_kept_offer) are no longer floats to sum: the two ops then */
    return up2x_offered() && !oma_kept_taken(stamp) ? oma_cpu_conv2d_up2x_work(n, c, h, w, oc, stamp) : 0;
}

static int cpu_conv2d_up2x(const float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                           const float *weight, uint64_t stamp, const float *bias, int64_t oc, float *y,
                           float *work, int64_t work_floats)
{
    if (!up2x_offered() || oma_kept_taken(stamp)) return -2;
    return oma_cpu_conv2d_up2x(x, n, c, h, w, weight, stamp, bias, oc, y, work, work_floats);
}

/* The im2col tile holds at most this many floats (32 MB): big layers are done in bands of
 * output rows, so the buffer stays cache- and memory-friendly at 512x512. */
#define CONV_TILE_FLOATS ((int64_t)8 << 20)

static int cpu_conv2d(const float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                      const float *weight, uint64_t stamp, const float *bias, int64_t oc,
                      int64_t kh, int64_t kw, int stride, int pad, float *y, int64_t oh, int64_t ow)
{
    int64_t ohw = oh * ow, kdim = c * kh * kw;
    int direct = kh == 1 && kw == 1 && stride == 1 && pad == 0;
    int impl = conv_impl();
    if (impl != CONV_IM2COL && !direct) {
        /* Winograd is ~3x the speed of the direct kernels once its weights are transformed,
         * but the transform costs more than the convolution on small images: layers whose
         * transformed weights are kept (cpu_dnnl.c) use it from 32x32 up, the others only on
         * large images (where it still costs 14-30% of the convolution if done per call: kept
         * within the budget, first come first kept) */
        int wino = 0;
        if (impl == CONV_AUTO && kh == 3 && kw == 3 && stride == 1)
            wino = n * ohw >= 8192 ? 2 : ohw >= 1024 ? 1 : 0;
        int rc = -2;
        if (prec() == PREC_BF16) {
            /* bf16: the direct kernels on bf16 weights kept in their blocked layout (stamped
             * weights, where keeping is on). Measured against f32 Winograd on kept weights
             * (which this branch tried first before): 3.13-3.19 s a CFG pass of SD 1.5 at 512x512
             * against 3.27-4.05 s, and the kept bf16 form is 1/8 of the Winograd one */
            rc = oma_dnnl_conv2d(x, n, c, h, w, weight, stamp, bias, oc, kh, kw, stride, pad, pad, y, oh, ow, 0, 1);
        }
        if (rc == -2 && oma_kept_taken(stamp)) return -1;  /* handed over: only their bf16 form is left */
        if (rc == -2)
            rc = oma_dnnl_conv2d(x, n, c, h, w, weight, stamp, bias, oc, kh, kw, stride, pad, pad, y, oh, ow, wino, 0);
        if (rc != -2) return rc;
    }
    if (oma_kept_taken(stamp)) return -1;
    int64_t rows = oh;
    float *col = NULL;
    if (!direct) {
        int64_t tile = CONV_TILE_FLOATS;
        const char *env = getenv("OMA_CONV_TILE_FLOATS");     /* tests force small bands */
        if (env && atoll(env) > 0) tile = atoll(env);
        rows = tile / (kdim * ow);
        if (rows < 1) rows = 1;
        if (rows > oh) rows = oh;
        col = oma_cpu_scratch(0, (size_t)(kdim * rows * ow) * sizeof(float));
        if (!col) return -1;
    }
    for (int64_t b = 0; b < n; b++) {
        const float *xb = x + b * c * h * w;
        float *yb = y + b * oc * ohw;
        if (direct) {
            cpu_gemm(0, 0, oc, ohw, kdim, 1.0f, weight, kdim, xb, ohw, 0.0f, yb, ohw);
            continue;
        }
        for (int64_t oy0 = 0; oy0 < oh; oy0 += rows) {
            int64_t r = oh - oy0 < rows ? oh - oy0 : rows;
            im2col_ctx t = {xb, h, w, kh, kw, oh, ow, stride, pad, oy0, r, col};
            oma_parallel_for(c, 1, im2col_range, &t);
            cpu_gemm(0, 0, oc, r * ow, kdim, 1.0f, weight, kdim, col, r * ow, 0.0f, yb + oy0 * ow, ohw);
        }
    }
    if (bias) cpu_add_bias(y, bias, n, oc, ohw);
    return 0;
}

/* ---- norms ---- */

typedef struct {
    const float *x;
    float *y;
    const float *gamma, *beta;
    int64_t c, hw, groups;
    float eps;
    int silu;
} gn_ctx;

/* One group's statistics and output, portable: double sums, scalar expf. */
static void gn_group_generic(const float *xg, float *yg, int64_t cpg, int64_t hw, const float *gamma,
                             const float *beta, int64_t ch0, float eps, int silu)
{
    int64_t cnt = cpg * hw;
    double sum = 0.0;
    for (int64_t j = 0; j < cnt; j++) sum += xg[j];
    double mean = sum / (double)cnt, var = 0.0;
    for (int64_t j = 0; j < cnt; j++) {
        double d = xg[j] - mean;
        var += d * d;
    }
    var /= (double)cnt;
    float inv = (float)(1.0 / sqrt(var + eps)), fm = (float)mean;
    for (int64_t cc = 0; cc < cpg; cc++) {
        int64_t ch = ch0 + cc;
        float sc = inv * (gamma ? gamma[ch] : 1.0f);
        float sh = (beta ? beta[ch] : 0.0f) - fm * sc;
        const float *xs = xg + cc * hw;
        float *ys = yg + cc * hw;
        if (silu) {
            for (int64_t j = 0; j < hw; j++) {
                float v = xs[j] * sc + sh;
                ys[j] = v / (1.0f + expf(-v));
            }
        } else {
            for (int64_t j = 0; j < hw; j++) ys[j] = xs[j] * sc + sh;
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float gv16 __attribute__((vector_size(64)));
typedef int32_t gv16i __attribute__((vector_size(64)));
#define GLD(p) __extension__({ gv16 v_; memcpy(&v_, (p), sizeof v_); v_; })
#define GST(p, v) do { gv16 s_ = (v); memcpy((p), &s_, sizeof s_); } while (0)
#define GSPLAT(x) ((gv16){0} + (float)(x))
#define GSEL(mask, a, b) ((gv16)(((gv16i)(a) & (mask)) | ((gv16i)(b) & ~(mask))))
#define GN_CHUNK 1024   /* floats summed in float lanes before going into the double total */

/* The same with AVX-512: the sums run in 16 float lanes over chunks of GN_CHUNK values, each
 * chunk's total added in double (as exact as the scalar double sum for SD's group sizes), and
 * SiLU uses a vector e^x (Cephes' expf polynomial, as the attention kernel's). */
__attribute__((target("avx512f"))) static void gn_group_avx512(const float *xg, float *yg, int64_t cpg,
                                                               int64_t hw, const float *gamma,
                                                               const float *beta, int64_t ch0,
                                                               float eps, int silu)
{
    int64_t cnt = cpg * hw;
    double sum = 0.0;
    int64_t j = 0;
    for (; j + GN_CHUNK <= cnt; j += GN_CHUNK) {
        gv16 acc = GSPLAT(0.0f);
        for (int64_t k = 0; k < GN_CHUNK; k += 16) acc += GLD(xg + j + k);
        double t = 0.0;
        for (int l = 0; l < 16; l++) t += acc[l];
        sum += t;
    }
    for (; j < cnt; j++) sum += xg[j];
    double mean = sum / (double)cnt, var = 0.0;
    float fm = (float)mean;
    gv16 vm = GSPLAT(fm);
    double dm = (double)fm - mean;   /* the float mean's error, corrected below */
    j = 0;
    for (; j + GN_CHUNK <= cnt; j += GN_CHUNK) {
        gv16 acc = GSPLAT(0.0f);
        for (int64_t k = 0; k < GN_CHUNK; k += 16) {
            gv16 d = GLD(xg + j + k) - vm;
            acc += d * d;
        }
        double t = 0.0;
        for (int l = 0; l < 16; l++) t += acc[l];
        var += t;
    }
    for (; j < cnt; j++) {
        double d = (double)(xg[j] - fm);
        var += d * d;
    }
    /* sum (x - fm)^2 = sum (x - mean)^2 + cnt * dm^2 */
    var = var / (double)cnt - dm * dm;
    if (var < 0.0) var = 0.0;
    float inv = (float)(1.0 / sqrt(var + eps));
    for (int64_t cc = 0; cc < cpg; cc++) {
        int64_t ch = ch0 + cc;
        float sc = inv * (gamma ? gamma[ch] : 1.0f);
        float sh = (beta ? beta[ch] : 0.0f) - fm * sc;
        const float *xs = xg + cc * hw;
        float *ys = yg + cc * hw;
        gv16 vsc = GSPLAT(sc), vsh = GSPLAT(sh);
        int64_t i = 0;
        if (silu) {
            for (; i + 16 <= hw; i += 16) {
                gv16 v = GLD(xs + i) * vsc + vsh;
                /* e^-v, Cephes expf; -v clamped to [-87, 88] (e^-v = 0 below: y = v) */
                gv16 x = -v, hi = GSPLAT(88.0f), lo = GSPLAT(-87.0f);
                x = GSEL(x > hi, hi, x);
                x = GSEL(x < lo, lo, x);
                gv16 fx = x * GSPLAT(1.44269504088896341f) + GSPLAT(0.5f);
                gv16i ix = __builtin_convertvector(fx, gv16i);
                gv16 fi = __builtin_convertvector(ix, gv16);
                fi = GSEL(fi > fx, fi - GSPLAT(1.0f), fi);
                ix = __builtin_convertvector(fi, gv16i);
                x = x - fi * GSPLAT(0.693359375f) - fi * GSPLAT(-2.12194440e-4f);
                gv16 z = x * x, y = GSPLAT(1.9875691500e-4f);
                y = y * x + GSPLAT(1.3981999507e-3f);
                y = y * x + GSPLAT(8.3334519073e-3f);
                y = y * x + GSPLAT(4.1665795894e-2f);
                y = y * x + GSPLAT(1.6666665459e-1f);
                y = y * x + GSPLAT(5.0000001201e-1f);
                y = y * z + x + GSPLAT(1.0f);
                gv16 e = y * (gv16)((ix + 127) << 23);
                e = (gv16)((gv16i)e & (gv16i)(-v > lo));
                GST(ys + i, v / (GSPLAT(1.0f) + e));
            }
            for (; i < hw; i++) {
                float v = xs[i] * sc + sh;
                ys[i] = v / (1.0f + expf(-v));
            }
        } else {
            for (; i + 16 <= hw; i += 16) GST(ys + i, GLD(xs + i) * vsc + vsh);
            for (; i < hw; i++) ys[i] = xs[i] * sc + sh;
        }
    }
}
#endif

typedef void (*gn_group_fn)(const float *, float *, int64_t, int64_t, const float *, const float *,
                            int64_t, float, int);

/* AVX-512 when the CPU has it; OMA_GN_KERNEL=generic forces the portable one. */
static gn_group_fn gn_pick(void)
{
    const char *force = getenv("OMA_GN_KERNEL");
    if (force && strcmp(force, "generic") == 0) return gn_group_generic;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return gn_group_avx512;
#endif
    return gn_group_generic;
}

static void gn_range(void *p, int64_t i0, int64_t i1)
{
    const gn_ctx *t = p;
    int64_t cpg = t->c / t->groups;
    gn_group_fn fn = gn_pick();
    for (int64_t i = i0; i < i1; i++) {           /* i = batch * groups + group */
        int64_t b = i / t->groups, g = i % t->groups;
        const float *xg = t->x + (b * t->c + g * cpg) * t->hw;
        float *yg = t->y + (b * t->c + g * cpg) * t->hw;
        fn(xg, yg, cpg, t->hw, t->gamma, t->beta, g * cpg, t->eps, t->silu);
    }
}

static void cpu_group_norm(const float *x, int64_t n, int64_t c, int64_t hw, int64_t groups,
                           const float *gamma, const float *beta, float eps, int silu, float *y)
{
    gn_ctx t = {x, y, gamma, beta, c, hw, groups, eps, silu};
    oma_parallel_for(n * groups, 1, gn_range, &t);
}

typedef struct {
    const float *x;
    float *y;
    const float *gamma, *beta;
    int64_t dim;
    float eps;
} ln_ctx;

static void ln_range(void *p, int64_t r0, int64_t r1)
{
    const ln_ctx *t = p;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = t->x + r * t->dim;
        float *yr = t->y + r * t->dim;
        double sum = 0.0, var = 0.0;
        for (int64_t j = 0; j < t->dim; j++) sum += xr[j];
        double mean = sum / (double)t->dim;
        for (int64_t j = 0; j < t->dim; j++) {
            double d = xr[j] - mean;
            var += d * d;
        }
        float inv = (float)(1.0 / sqrt(var / (double)t->dim + t->eps)), fm = (float)mean;
        for (int64_t j = 0; j < t->dim; j++) {
            float v = (xr[j] - fm) * inv;
            yr[j] = v * (t->gamma ? t->gamma[j] : 1.0f) + (t->beta ? t->beta[j] : 0.0f);
        }
    }
}

static void cpu_layer_norm(const float *x, int64_t rows, int64_t dim, const float *gamma,
                           const float *beta, float eps, float *y)
{
    ln_ctx t = {x, y, gamma, beta, dim, eps};
    oma_parallel_for(rows, 16, ln_range, &t);
}

typedef struct {
    float *x;
    int64_t dim;
} sm_ctx;

static void sm_range(void *p, int64_t r0, int64_t r1)
{
    const sm_ctx *t = p;
    for (int64_t r = r0; r < r1; r++) {
        float *xr = t->x + r * t->dim;
        float m = -INFINITY;
        for (int64_t j = 0; j < t->dim; j++) m = xr[j] > m ? xr[j] : m;
        if (m == -INFINITY) {       /* fully masked row: define as zeros */
            memset(xr, 0, (size_t)t->dim * sizeof(float));
            continue;
        }
        double s = 0.0;
        for (int64_t j = 0; j < t->dim; j++) {
            xr[j] = expf(xr[j] - m);
            s += xr[j];
        }
        float inv = (float)(1.0 / s);
        for (int64_t j = 0; j < t->dim; j++) xr[j] *= inv;
    }
}

static void cpu_softmax(float *x, int64_t rows, int64_t dim)
{
    sm_ctx t = {x, dim};
    oma_parallel_for(rows, 16, sm_range, &t);
}

/* ---- element-wise ---- */

enum { EW_GELU, EW_QGELU, EW_SILU, EW_ADD, EW_MUL };

typedef struct {
    int op;
    const float *a, *b;
    float *y;
    int avx512;
} ew_ctx;

/* 1 when the activations run on cpu_activation_avx512.c (OMA_ACT_KERNEL=generic forces the
 * portable loops below, for the tests) */
static int act_avx512(void)
{
    const char *force = getenv("OMA_ACT_KERNEL");
    if (force && strcmp(force, "generic") == 0) return 0;
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
}

static inline float gelu1(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }

static void ew_range(void *p, int64_t i0, int64_t i1)
{
    const ew_ctx *t = p;
    const float *a = t->a, *b = t->b;
    float *y = t->y;
    if (t->avx512 && t->op == EW_GELU) {
        oma_gelu_avx512(a + i0, y + i0, i1 - i0);
        return;
    }
    if (t->avx512 && (t->op == EW_QGELU || t->op == EW_SILU)) {
        oma_sigmoid_mul_avx512(a + i0, y + i0, i1 - i0, t->op == EW_QGELU ? 1.702f : 1.0f);
        return;
    }
    switch (t->op) {
    case EW_GELU:
        for (int64_t i = i0; i < i1; i++) y[i] = gelu1(a[i]);
        break;
    case EW_QGELU:
        for (int64_t i = i0; i < i1; i++) y[i] = a[i] / (1.0f + expf(-1.702f * a[i]));
        break;
    case EW_SILU:
        for (int64_t i = i0; i < i1; i++) y[i] = a[i] / (1.0f + expf(-a[i]));
        break;
    case EW_ADD:
        for (int64_t i = i0; i < i1; i++) y[i] = a[i] + b[i];
        break;
    case EW_MUL:
        for (int64_t i = i0; i < i1; i++) y[i] = a[i] * b[i];
        break;
    }
}

static void ew(int op, const float *a, const float *b, float *y, int64_t n)
{
    ew_ctx t = {op, a, b, y, op <= EW_SILU && act_avx512()};
    oma_parallel_for(n, 1 << 14, ew_range, &t);
}

static void cpu_gelu(const float *x, float *y, int64_t n) { ew(EW_GELU, x, NULL, y, n); }
static void cpu_quick_gelu(const float *x, float *y, int64_t n) { ew(EW_QGELU, x, NULL, y, n); }
static void cpu_silu(const float *x, float *y, int64_t n) { ew(EW_SILU, x, NULL, y, n); }
static void cpu_add(const float *a, const float *b, float *y, int64_t n) { ew(EW_ADD, a, b, y, n); }
static void cpu_mul(const float *a, const float *b, float *y, int64_t n) { ew(EW_MUL, a, b, y, n); }

typedef struct {
    const float *x;
    float *y;
    int64_t dim;
    int avx512;
} geglu_ctx;

static void geglu_range(void *p, int64_t r0, int64_t r1)
{
    const geglu_ctx *t = p;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = t->x + r * 2 * t->dim;
        float *yr = t->y + r * t->dim;
        if (t->avx512) {
            oma_geglu_avx512(xr, xr + t->dim, yr, t->dim);
            continue;
        }
        for (int64_t j = 0; j < t->dim; j++) yr[j] = xr[j] * gelu1(xr[t->dim + j]);
    }
}

static void cpu_geglu(const float *x, int64_t rows, int64_t dim, float *y)
{
    geglu_ctx t = {x, y, dim, act_avx512()};
    oma_parallel_for(rows, 16, geglu_range, &t);
}

typedef struct {
    float alpha, beta;
    const float *x;
    float *y;
} axpby_ctx;

static void axpby_range(void *p, int64_t i0, int64_t i1)
{
    const axpby_ctx *t = p;
    for (int64_t i = i0; i < i1; i++) t->y[i] = t->alpha * t->x[i] + t->beta * t->y[i];
}

static void cpu_axpby(float alpha, const float *x, float beta, float *y, int64_t n)
{
    axpby_ctx t = {alpha, beta, x, y};
    oma_parallel_for(n, 1 << 14, axpby_range, &t);
}

typedef struct {
    float *x;
    const float *bias;
    int64_t c, inner;
} bias_ctx;

static void bias_range(void *p, int64_t i0, int64_t i1)
{
    const bias_ctx *t = p;
    for (int64_t i = i0; i < i1; i++) {           /* i = batch * c + channel */
        float bv = t->bias[i % t->c];
        float *xr = t->x + i * t->inner;
        for (int64_t j = 0; j < t->inner; j++) xr[j] += bv;
    }
}

static void cpu_add_bias(float *x, const float *bias, int64_t n, int64_t c, int64_t inner)
{
    bias_ctx t = {x, bias, c, inner};
    if (inner == 1) {   /* rows: x[n, c] += bias */
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < c; j++) x[r * c + j] += bias[j];
        return;
    }
    oma_parallel_for(n * c, 4, bias_range, &t);
}

typedef struct {
    const float *x;
    float *y;
    int64_t h, w;
} up_ctx;

static void up_range(void *p, int64_t i0, int64_t i1)
{
    const up_ctx *t = p;
    for (int64_t i = i0; i < i1; i++) {
        const float *xs = t->x + i * t->h * t->w;
        float *ys = t->y + i * 4 * t->h * t->w;
        for (int64_t yy = 0; yy < t->h; yy++) {
            float *r0 = ys + (2 * yy) * 2 * t->w;
            for (int64_t xx = 0; xx < t->w; xx++) r0[2 * xx] = r0[2 * xx + 1] = xs[yy * t->w + xx];
            memcpy(r0 + 2 * t->w, r0, (size_t)(2 * t->w) * sizeof(float));
        }
    }
}

static void cpu_upsample_nearest2x(const float *x, int64_t nc, int64_t h, int64_t w, float *y)
{
    up_ctx t = {x, y, h, w};
    oma_parallel_for(nc, 1, up_range, &t);
}

static void cpu_concat_channels(const float *a, int64_t ca, const float *b, int64_t cb,
                                int64_t n, int64_t hw, float *y)
{
    for (int64_t i = 0; i < n; i++) {
        float *yi = y + i * (ca + cb) * hw;
        memcpy(yi, a + i * ca * hw, (size_t)(ca * hw) * sizeof(float));
        memcpy(yi + ca * hw, b + i * cb * hw, (size_t)(cb * hw) * sizeof(float));
    }
}

typedef struct {
    const float *x;
    float *y;
    int64_t rows, cols;
} tr_ctx;

static void tr_range(void *p, int64_t t0, int64_t t1)
{
    const tr_ctx *t = p;
    const int64_t T = 32;
    int64_t rt = (t->rows + T - 1) / T;
    for (int64_t task = t0; task < t1; task++) {    /* task = batch * row_tiles + row tile */
        int64_t b = task / rt, i0 = (task % rt) * T;
        int64_t i1 = i0 + T < t->rows ? i0 + T : t->rows;
        const float *xb = t->x + b * t->rows * t->cols;
        float *yb = t->y + b * t->rows * t->cols;
        for (int64_t j0 = 0; j0 < t->cols; j0 += T) {
            int64_t j1 = j0 + T < t->cols ? j0 + T : t->cols;
            for (int64_t i = i0; i < i1; i++)
                for (int64_t j = j0; j < j1; j++) yb[j * t->rows + i] = xb[i * t->cols + j];
        }
    }
}

static void cpu_transpose(const float *x, int64_t batch, int64_t rows, int64_t cols, float *y)
{
    tr_ctx t = {x, y, rows, cols};
    oma_parallel_for(batch * ((rows + 31) / 32), 1, tr_range, &t);
}

static const oma_backend cpu_backend = {
    .name = "cpu",
    .gemm = cpu_gemm,
    .conv2d = cpu_conv2d,
    .conv2d_up2x_work = cpu_conv2d_up2x_work,
    .conv2d_up2x = cpu_conv2d_up2x,
    .forget_weights = oma_kept_forget,
    .weights_consumable = oma_kept_offer,
    .group_norm = cpu_group_norm,
    .layer_norm = cpu_layer_norm,
    .softmax = cpu_softmax,
    .attention = oma_cpu_attention,
    .gelu = cpu_gelu,
    .quick_gelu = cpu_quick_gelu,
    .silu = cpu_silu,
    .geglu = cpu_geglu,
    .upsample_nearest2x = cpu_upsample_nearest2x,
    .concat_channels = cpu_concat_channels,
    .add = cpu_add,
    .mul = cpu_mul,
    .axpby = cpu_axpby,
    .add_bias = cpu_add_bias,
    .transpose = cpu_transpose,
    .conv2d_backward_data = oma_cpu_conv2d_backward_data,
    .group_norm_backward = oma_cpu_group_norm_backward,
    .layer_norm_backward = oma_cpu_layer_norm_backward,
    .attention_backward = oma_cpu_attention_backward,
    .gelu_backward = oma_cpu_gelu_backward,
    .quick_gelu_backward = oma_cpu_quick_gelu_backward,
    .silu_backward = oma_cpu_silu_backward,
    .geglu_backward = oma_cpu_geglu_backward,
    .upsample_nearest2x_backward = oma_cpu_upsample_nearest2x_backward,
    .split_channels = oma_cpu_split_channels,
    .embedding_backward = oma_cpu_embedding_backward,
};

static const oma_backend *current = &cpu_backend;

const oma_backend *oma_backend_cpu(void) { return &cpu_backend; }
const oma_backend *oma_backend_current(void) { return current; }
void oma_backend_set(const oma_backend *b) { current = b ? b : &cpu_backend; }
