/* cpu_attention_backward.c — fused attention backward for the CPU backend (training).
 *
 * The idea (FlashAttention's backward, arranged for BLAS): the n x n probabilities are never
 * stored. One task per (batch, head) owns that head's dK and dV (or private sums of them, see
 * below), so tasks never write the same memory. It walks the queries in tiles of BQ rows; for each tile it forms the tile's full row
 * slab of scores S = scale Q_t K^T (BQ x nk, a few MB at SD's 4096 tokens: BQ rows, not n),
 * turns it into the probabilities P with an exact per-row softmax (no online rescaling needed:
 * the whole row is there), and with D_i = dO_i . O_i (O is the forward's output, which the
 * layer recomputed anyway) and dP = dO_t V^T: dS = P (dP - D), then dV += P^T dO_t,
 * dK += scale dS^T Q_t, dQ_t = scale dS K. The five products are single-threaded OpenBLAS
 * GEMMs over strided views (our pool runs the tasks); the exponentials are AVX-512 vectors
 * (cpu_vexp_avx512.h) where the CPU has them. Causal (CLIP): a tile sees keys up to its last
 * query, and each row's entries past its own position are zero.
 * With fewer (batch, head) pairs than threads, each head's query tiles are dealt out to several
 * tasks, each summing dK/dV privately; the sums are added up after.
 * Measured (bench/bench_train.c): see README, training section.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/cpu/blas.h"
#include "tensor/cpu/cpu_internal.h"
#include "tensor/tensor.h"
#include "tensor/threadpool.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include "tensor/cpu/cpu_vexp_avx512.h"
#define OMA_X86 1
#else
#define OMA_X86 0
#endif

#define BQ 64       /* query rows per tile: 32, 128 and 256 measured slower (bench_train) */

typedef struct {
    const oma_attn_bwd_args *a;
    int avx512;
    int failed;
    int64_t ways;       /* tasks per (batch, head) */
    float *partial;     /* [batch*heads][ways][2][nk][D] when ways > 1 */
} attb_ctx;

/* One row of the tile, scores p and dP ds (n entries seen, kn in the slab): p = softmax(p),
 * ds = p (ds - Di), zeros past n. */
static void row_generic(float *p, float *ds, int64_t n, int64_t kn, float Di)
{
    float m = -INFINITY;
    for (int64_t j = 0; j < n; j++) m = p[j] > m ? p[j] : m;
    double sum = 0.0;
    for (int64_t j = 0; j < n; j++) sum += (p[j] = expf(p[j] - m));
    float inv = (float)(1.0 / sum);
    for (int64_t j = 0; j < n; j++) {
        float pj = p[j] * inv;
        p[j] = pj;
        ds[j] = pj * (ds[j] - Di);
    }
    for (int64_t j = n; j < kn; j++) p[j] = ds[j] = 0.0f;
}

#if OMA_X86
#define AVX512 __attribute__((target("avx512f,avx512dq")))
static inline AVX512 __mmask16 tail_mask(int64_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

static AVX512 void row_avx512(float *p, float *ds, int64_t n, int64_t kn, float Di)
{
    __m512 vm = _mm512_set1_ps(-INFINITY);
    int64_t j16 = n & ~(int64_t)15;
    for (int64_t j = 0; j < j16; j += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(p + j));
    float m = _mm512_reduce_max_ps(vm);
    for (int64_t j = j16; j < n; j++) m = p[j] > m ? p[j] : m;
    __m512 mv = _mm512_set1_ps(m), acc = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 k = tail_mask(n - j);
        __m512 e = oma_vexp_f32(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, p + j), mv));
        e = _mm512_maskz_mov_ps(k, e);
        _mm512_mask_storeu_ps(p + j, k, e);
        acc = _mm512_add_ps(acc, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(acc)), vd = _mm512_set1_ps(Di);
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 k = tail_mask(n - j);
        __m512 pj = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, p + j), inv);
        _mm512_mask_storeu_ps(p + j, k, pj);
        __m512 d = _mm512_mul_ps(pj, _mm512_sub_ps(_mm512_maskz_loadu_ps(k, ds + j), vd));
        _mm512_mask_storeu_ps(ds + j, k, d);
    }
    for (int64_t j = n; j < kn; j++) p[j] = ds[j] = 0.0f;
}
#endif

static float dot(const float *x, const float *y, int64_t n)
{
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}

static void sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                  int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (blasint)m, (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb,
                beta, c, (blasint)ldc);
}

/* One (batch, head); P and dS are BQ x nk slabs. */
/* Where one task writes: dQ rows of its query tiles, and dK/dV (zeroed first, then summed over
 * its tiles) into the output itself or, when a head is split, into the task's partial sums. */
typedef struct {
    float *dk, *dv;
    int64_t ldk, ldv;
} kv_out;

/* One (batch, head), query tiles part, part + ways, ...; P and dS are BQ x nk slabs. */
static void head_backward(const oma_attn_bwd_args *a, int avx512, int64_t b, int64_t h,
                          int64_t part, int64_t ways, const kv_out *out, float *P, float *dS)
{
    int64_t D = a->head_dim, nq = a->nq, nk = a->nk;
    const float *q = a->q + b * nq * a->ldq + h * D, *o = a->o + b * nq * a->ldo + h * D;
    const float *dout = a->dout + b * nq * a->ldo + h * D;
    const float *k = a->k + b * nk * a->ldk + h * D, *v = a->v + b * nk * a->ldv + h * D;
    float *dq = a->dq + b * nq * a->ldq + h * D;
    float *dk = out->dk, *dv = out->dv;
    for (int64_t j = 0; j < nk; j++) {
        memset(dk + j * out->ldk, 0, sizeof(float) * (size_t)D);
        memset(dv + j * out->ldv, 0, sizeof(float) * (size_t)D);
    }
    /* tiles interleaved over the parts: causal tiles grow with i, so this balances them */
    for (int64_t i0 = part * BQ; i0 < nq; i0 += ways * BQ) {
        int64_t bq = nq - i0 < BQ ? nq - i0 : BQ;
        int64_t kn = a->causal ? (i0 + bq < nk ? i0 + bq : nk) : nk;   /* keys the tile sees */
        const float *qt = q + i0 * a->ldq, *gt = dout + i0 * a->ldo;
        sgemm(0, 1, bq, kn, D, a->scale, qt, a->ldq, k, a->ldk, 0.0f, P, kn);        /* S */
        sgemm(0, 1, bq, kn, D, 1.0f, gt, a->ldo, v, a->ldv, 0.0f, dS, kn);            /* dP */
        for (int64_t r = 0; r < bq; r++) {
            int64_t i = i0 + r, jn = a->causal ? (i + 1 < kn ? i + 1 : kn) : kn;
            float Di = dot(gt + r * a->ldo, o + i * a->ldo, D);
#if OMA_X86
            if (avx512) {
                row_avx512(P + r * kn, dS + r * kn, jn, kn, Di);
                continue;
            }
#endif
            row_generic(P + r * kn, dS + r * kn, jn, kn, Di);
        }
        sgemm(1, 0, kn, D, bq, 1.0f, P, kn, gt, a->ldo, 1.0f, dv, out->ldv);          /* dV */
        sgemm(1, 0, kn, D, bq, a->scale, dS, kn, qt, a->ldq, 1.0f, dk, out->ldk);     /* dK */
        sgemm(0, 0, bq, D, kn, a->scale, dS, kn, k, a->ldk, 0.0f, dq + i0 * a->ldq, a->ldq);
    }
}

static void attb_range(void *p, int64_t t0, int64_t t1)
{
    attb_ctx *c = p;
    const oma_attn_bwd_args *a = c->a;
    size_t slab = (size_t)(BQ * a->nk);
    /* the thread's kept scratch (slot 5 is otherwise the oneDNN convolution's, which never runs
     * inside this kernel): a fresh slab per call cost 9% of the block's backward in page faults */
    float *P = oma_cpu_scratch(5, 2 * slab * sizeof(float));
    if (!P) {
        __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    int64_t D = a->head_dim, nk = a->nk;
    for (int64_t t = t0; t < t1; t++) {
        int64_t bh = t / c->ways, part = t % c->ways, b = bh / a->heads, h = bh % a->heads;
        kv_out out = {a->dk + b * nk * a->ldk + h * D, a->dv + b * nk * a->ldv + h * D, a->ldk, a->ldv};
        if (c->ways > 1) {
            out.dk = c->partial + t * 2 * nk * D;
            out.dv = out.dk + nk * D;
            out.ldk = out.ldv = D;
        }
        head_backward(a, c->avx512, b, h, part, c->ways, &out, P, P + slab);
    }
}

/* dK, dV of a split head = the sum of its parts' partial sums */
static void reduce_range(void *p, int64_t bh0, int64_t bh1)
{
    const attb_ctx *c = p;
    const oma_attn_bwd_args *a = c->a;
    int64_t D = a->head_dim, nk = a->nk;
    for (int64_t bh = bh0; bh < bh1; bh++) {
        int64_t b = bh / a->heads, h = bh % a->heads;
        for (int w = 0; w < 2; w++) {
            float *dst = (w ? a->dv + b * nk * a->ldv : a->dk + b * nk * a->ldk) + h * D;
            int64_t ld = w ? a->ldv : a->ldk;
            for (int64_t j = 0; j < nk; j++) {
                float *row = dst + j * ld;
                const float *src = c->partial + (bh * c->ways * 2 + w) * nk * D + j * D;
                memcpy(row, src, sizeof(float) * (size_t)D);
                for (int64_t part = 1; part < c->ways; part++) {
                    const float *s2 = src + part * 2 * nk * D;
                    for (int64_t e = 0; e < D; e++) row[e] += s2[e];
                }
            }
        }
    }
}

int oma_cpu_attention_backward(const oma_attn_bwd_args *a)
{
    attb_ctx c = {a, 0, 0, 1, NULL};
#if OMA_X86
    const char *force = getenv("OMA_ATTN_KERNEL");
    c.avx512 = !(force && strcmp(force, "generic") == 0) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512dq");
#endif
    int64_t bh = a->batch * a->heads;
    if (bh == 0 || a->nq == 0) return 0;
    if (a->nk == 0) {
        /* no keys: the output is 0 whatever q, k, v are */
        for (int64_t i = 0; i < a->batch * a->nq; i++) memset(a->dq + i * a->ldq, 0, sizeof(float) * (size_t)(a->heads * a->head_dim));
        return 0;
    }
    /* fewer heads than threads (SD's 8 heads, batch 1, on a 16-thread machine): split each
     * head's query tiles over `ways` tasks with private dK/dV sums, added up afterwards
     * (OMA_ATTN_BWD_SPLIT forces a split, for the tests) */
    int64_t tiles = (a->nq + BQ - 1) / BQ;
    int64_t threads = oma_threads();
    c.ways = bh < threads ? (threads + bh - 1) / bh : 1;
    const char *split = getenv("OMA_ATTN_BWD_SPLIT");
    if (split && atoll(split) > 0) c.ways = atoll(split);
    if (c.ways > tiles) c.ways = tiles;
    if (c.ways > 1) {
        c.partial = oma_aligned_alloc(sizeof(float) * (size_t)(bh * c.ways * 2 * a->nk * a->head_dim));
        if (!c.partial) return -1;
    }
    oma_blas_init();
    oma_blas_set_threads(1);
    oma_parallel_for(bh * c.ways, 1, attb_range, &c);
    if (c.ways > 1) {
        if (!c.failed) oma_parallel_for(bh, 1, reduce_range, &c);
        oma_aligned_free(c.partial);
    }
    return c.failed ? -1 : 0;
}
