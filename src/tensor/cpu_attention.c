/* cpu_attention.c — fused scaled-dot-product attention for the CPU backend.
 *
 * The idea (FlashAttention's, on a CPU): never build the full [nq, nk] score matrix. Each task
 * takes one (batch, head, block of 32 queries), walks the keys in blocks of 64 (K transposed and
 * V packed once per head, zero-padded, shared by all query blocks), and keeps for
 * every query row a running max m, a running sum l and an unnormalised output O (the online
 * softmax): for a new block with scores S, m' = max(m, max S), O = O * e^(m - m') + e^(S - m') V,
 * l = l * e^(m - m') + sum e^(S - m'). Everything a block touches (a 32 x D query tile, a
 * transposed 64 x D key tile, a 64 x D value tile, 32 x 64 scores) stays in L1/L2, so the
 * 4096-token attentions of SD's 64x64 latents run at arithmetic speed instead of streaming a
 * 64 MB score matrix through memory. Tiles are padded to multiples of 16 floats so the inner
 * loops are whole 16-wide vectors (GCC vector extensions; the kernel in cpu_attention_body.h is
 * compiled for AVX-512, AVX2+FMA and a portable baseline, picked at run time). exp is a Cephes-style polynomial
 * (about 2 ulp), vectorised with the rest.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/tensor.h"
#include "tensor/threadpool.h"

#pragma GCC diagnostic ignored "-Wpsabi"

#define BQ 32       /* query rows per task */
#define BK 64       /* keys per block */
#define RB 8        /* query rows per register block */
#define VL 16       /* floats per vector */

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

#define LD(p) __extension__({ v16 v_; memcpy(&v_, (p), sizeof v_); v_; })
#define ST(p, v) do { v16 s_ = (v); memcpy((p), &s_, sizeof s_); } while (0)
#define SPLAT(x) splat((float)(x))
/* per lane: mask ? a : b (mask lanes are all ones or all zeros) */
#define SEL(mask, a, b) ((v16)(((v16i)(a) & (mask)) | ((v16i)(b) & ~(mask))))

#if defined(__x86_64__) && defined(__GNUC__)
#define OMA_X86 1
#else
#define OMA_X86 0
#endif

static inline __attribute__((always_inline)) v16 splat(float x)
{
    return (v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
}

/* e^x for a vector, Cephes expf polynomial; x <= -87 gives exactly 0 (masked scores). */
static inline __attribute__((always_inline)) void vexp(v16 *px)
{
    v16 x = *px;
    v16 zero_mask_src = x;
    v16 hi = SPLAT(88.0f), lo = SPLAT(-87.0f);
    x = SEL(x > hi, hi, x);
    x = SEL(x < lo, lo, x);
    v16 fx = x * SPLAT(1.44269504088896341f) + SPLAT(0.5f);
    v16i ix = __builtin_convertvector(fx, v16i);
    v16 fi = __builtin_convertvector(ix, v16);
    fi = SEL(fi > fx, fi - SPLAT(1.0f), fi);        /* floor */
    ix = __builtin_convertvector(fi, v16i);
    x = x - fi * SPLAT(0.693359375f) - fi * SPLAT(-2.12194440e-4f);
    v16 z = x * x;
    v16 y = SPLAT(1.9875691500e-4f);
    y = y * x + SPLAT(1.3981999507e-3f);
    y = y * x + SPLAT(8.3334519073e-3f);
    y = y * x + SPLAT(4.1665795894e-2f);
    y = y * x + SPLAT(1.6666665459e-1f);
    y = y * x + SPLAT(5.0000001201e-1f);
    y = y * z + x + SPLAT(1.0f);
    v16i pow2 = (ix + 127) << 23;
    v16 r = y * (v16)pow2;
    v16i keep = zero_mask_src > lo;                  /* -1 where x > -87 */
    *px = (v16)((v16i)r & keep);
}

typedef struct {
    const oma_attn_args *a;
    int64_t dp;             /* head_dim padded to a multiple of VL */
    int64_t qblocks;
    int64_t nkp;            /* keys padded to a multiple of BK */
    float *kt;              /* per (batch, head): K^T [dp][nkp], zero-padded, packed once */
    float *vp;              /* per (batch, head): V [nkp][dp], zero-padded */
    int failed;
} attn_ctx;

static inline __attribute__((always_inline)) float hmax(const v16 *v)
{
    float m = (*v)[0];
    for (int i = 1; i < VL; i++) m = (*v)[i] > m ? (*v)[i] : m;
    return m;
}

static inline __attribute__((always_inline)) float hsum(const v16 *v)
{
    float s = 0.0f;
    for (int i = 0; i < VL; i++) s += (*v)[i];
    return s;
}

#if OMA_X86
#include <immintrin.h>

/* The two hot loops written with AVX-512 intrinsics: 8 query rows in 8 zmm accumulators,
 * one key (or value) vector load feeding 8 FMAs with broadcast query (or probability) values. */
#define R8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

__attribute__((target("avx512f"))) static void qk_avx512(const float *qp, const float *kt, int64_t ldk, float *s,
                                                        int64_t dp)
{
    for (int r0 = 0; r0 < BQ; r0 += 8) {
        for (int jv = 0; jv < BK; jv += VL) {
#define Z(i) __m512 a##i = _mm512_setzero_ps();
            R8(Z)
#undef Z
            for (int64_t d = 0; d < dp; d++) {
                __m512 kv = _mm512_loadu_ps(kt + d * ldk + jv);
                const float *q = qp + (int64_t)r0 * dp + d;
#define F(i) a##i = _mm512_fmadd_ps(_mm512_set1_ps(q[(i) * dp]), kv, a##i);
                R8(F)
#undef F
            }
#define S(i) _mm512_storeu_ps(s + (r0 + (i)) * BK + jv, a##i);
            R8(S)
#undef S
        }
    }
}

__attribute__((target("avx512f"))) static void pv_avx512(const float *s, const float *vp, float *op, int64_t dp,
                                                        int64_t kn)
{
    for (int r0 = 0; r0 < BQ; r0 += 8) {
        for (int64_t d = 0; d < dp; d += VL) {
#define L(i) __m512 a##i = _mm512_loadu_ps(op + (r0 + (i)) * dp + d);
            R8(L)
#undef L
            for (int64_t j = 0; j < kn; j++) {
                __m512 vv = _mm512_loadu_ps(vp + j * dp + d);
                const float *p = s + r0 * BK + j;
#define F(i) a##i = _mm512_fmadd_ps(_mm512_set1_ps(p[(i) * BK]), vv, a##i);
                R8(F)
#undef F
            }
#define S(i) _mm512_storeu_ps(op + (r0 + (i)) * dp + d, a##i);
            R8(S)
#undef S
        }
    }
}

#define ATTN_FN attn_task_avx512
#define ATTN_ATTR __attribute__((target("avx512f")))
#define ATTN_QK(qp, kt, ldk, s, dp) qk_avx512(qp, kt, ldk, s, dp)
#define ATTN_PV(s, vp, op, dp, kn) pv_avx512(s, vp, op, dp, kn)
#include "tensor/cpu_attention_body.h"

/* AVX2 build of the portable loops (no FMA contraction in ISO C mode). */
#define ATTN_FN attn_task_avx2
#define ATTN_ATTR __attribute__((target("avx2")))
#include "tensor/cpu_attention_body.h"
#endif

/* Portable baseline. */
#define ATTN_FN attn_task_generic
#define ATTN_ATTR
#include "tensor/cpu_attention_body.h"

typedef void (*attn_fn)(const attn_ctx *, int64_t, float *);

/* The best kernel this CPU runs; OMA_ATTN_KERNEL=generic|avx2 forces a lesser one (tests). */
static attn_fn pick_kernel(void)
{
    const char *force = getenv("OMA_ATTN_KERNEL");
    if (force && strcmp(force, "generic") == 0) return attn_task_generic;
#if OMA_X86
    __builtin_cpu_init();
    if (force && strcmp(force, "avx2") == 0 && __builtin_cpu_supports("avx2")) return attn_task_avx2;
    if (__builtin_cpu_supports("avx512f")) return attn_task_avx512;
    if (__builtin_cpu_supports("avx2")) return attn_task_avx2;
#endif
    return attn_task_generic;
}

static void attn_range(void *p, int64_t t0, int64_t t1)
{
    attn_ctx *t = p;
    size_t floats = (size_t)(2 * BQ * t->dp + BQ * BK);
    float *scratch = oma_aligned_alloc(floats * sizeof(float));
    if (!scratch) {
        __atomic_store_n(&t->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    attn_fn fn = pick_kernel();
    for (int64_t i = t0; i < t1; i++) fn(t, i, scratch);
    oma_aligned_free(scratch);
}

/* Packs K^T and V of each (batch, head) once, for every query block to share. */
static void pack_range(void *p, int64_t b0, int64_t b1)
{
    attn_ctx *t = p;
    const oma_attn_args *a = t->a;
    const int64_t D = a->head_dim, dp = t->dp, ld = t->nkp;
    for (int64_t bh = b0; bh < b1; bh++) {
        int64_t h = bh % a->heads, b = bh / a->heads;
        float *kt = t->kt + bh * dp * ld, *vp = t->vp + bh * ld * dp;
        memset(kt, 0, sizeof(float) * (size_t)(dp * ld));
        memset(vp, 0, sizeof(float) * (size_t)(ld * dp));
        for (int64_t j = 0; j < a->nk; j++) {
            const float *ks = a->k + (b * a->nk + j) * a->ldk + h * D;
            const float *vs = a->v + (b * a->nk + j) * a->ldv + h * D;
            for (int64_t d = 0; d < D; d++) kt[d * ld + j] = ks[d];
            memcpy(vp + j * dp, vs, sizeof(float) * (size_t)D);
        }
    }
}

int oma_cpu_attention(const oma_attn_args *a)
{
    if (a->batch <= 0 || a->heads <= 0 || a->nq <= 0 || a->nk <= 0 || a->head_dim <= 0) return 0;
    attn_ctx t = {a, (a->head_dim + VL - 1) / VL * VL, (a->nq + BQ - 1) / BQ, (a->nk + BK - 1) / BK * BK,
                  NULL, NULL, 0};
    size_t per = (size_t)(t.dp * t.nkp), bh = (size_t)(a->batch * a->heads);
    t.kt = oma_aligned_alloc(2 * per * bh * sizeof(float));
    if (!t.kt) return -1;
    t.vp = t.kt + per * bh;
    oma_parallel_for(a->batch * a->heads, 1, pack_range, &t);
    oma_parallel_for(a->batch * a->heads * t.qblocks, 1, attn_range, &t);
    oma_aligned_free(t.kt);
    return __atomic_load_n(&t.failed, __ATOMIC_RELAXED) ? -1 : 0;
}
