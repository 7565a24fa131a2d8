/* cpu_attention.c — fused scaled-dot-product attention for the CPU backend.
 *
 * The idea (FlashAttention's, on a CPU): never build the full [nq, nk] score matrix. Each task
 * takes one (batch, head, block of 32 queries), walks the keys in blocks of 64, and keeps for
 * every query row a running max m, a running sum l and an unnormalised output O (the online
 * softmax): for a new block with scores S, m' = max(m, max S), O = O * e^(m - m') + e^(S - m') V,
 * l = l * e^(m - m') + sum e^(S - m'). Everything a block touches (a 32 x D query tile, a
 * transposed 64 x D key tile, a 64 x D value tile, 32 x 64 scores) stays in L1/L2, so the
 * 4096-token attentions of SD's 64x64 latents run at arithmetic speed instead of streaming a
 * 64 MB score matrix through memory. Tiles are padded to multiples of 16 floats so the inner
 * loops are whole 16-wide vectors (GCC vector extensions; compiled for AVX-512, AVX2 and a
 * portable baseline with target_clones on x86-64). exp is a Cephes-style polynomial
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
#define SPLAT(x) ((v16){0} + (float)(x))
/* per lane: mask ? a : b (mask lanes are all ones or all zeros) */
#define SEL(mask, a, b) ((v16)(((v16i)(a) & (mask)) | ((v16i)(b) & ~(mask))))

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define OMA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define OMA_CLONES
#endif

/* e^x for a vector, Cephes expf polynomial; x <= -87 gives exactly 0 (masked scores). */
static inline __attribute__((always_inline)) v16 vexp(v16 x)
{
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
    return (v16)((v16i)r & keep);
}

typedef struct {
    const oma_attn_args *a;
    int64_t dp;             /* head_dim padded to a multiple of VL */
    int64_t qblocks;
    int failed;
} attn_ctx;

static inline __attribute__((always_inline)) float hmax(v16 v)
{
    float m = v[0];
    for (int i = 1; i < VL; i++) m = v[i] > m ? v[i] : m;
    return m;
}

static inline __attribute__((always_inline)) float hsum(v16 v)
{
    float s = 0.0f;
    for (int i = 0; i < VL; i++) s += v[i];
    return s;
}

OMA_CLONES
static void attn_task(const attn_ctx *t, int64_t task, float *scratch)
{
    const oma_attn_args *a = t->a;
    const int64_t D = a->head_dim, dp = t->dp;
    int64_t qb = task % t->qblocks;
    int64_t bh = task / t->qblocks;
    int64_t h = bh % a->heads, b = bh / a->heads;
    int64_t q0 = qb * BQ, qn = a->nq - q0 < BQ ? a->nq - q0 : BQ;

    float *qp = scratch;                /* [BQ][dp], scaled */
    float *op = qp + BQ * dp;           /* [BQ][dp] */
    float *kt = op + BQ * dp;           /* [dp][BK] */
    float *vp = kt + dp * BK;           /* [BK][dp] */
    float *s = vp + BK * dp;            /* [BQ][BK] */
    float m[BQ], l[BQ];

    memset(qp, 0, sizeof(float) * BQ * dp);
    memset(op, 0, sizeof(float) * BQ * dp);
    for (int64_t r = 0; r < qn; r++) {
        const float *src = a->q + (b * a->nq + q0 + r) * a->ldq + h * D;
        for (int64_t d = 0; d < D; d++) qp[r * dp + d] = src[d] * a->scale;
    }
    for (int r = 0; r < BQ; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
    }

    int64_t kend = a->nk;
    if (a->causal && q0 + qn < kend) kend = q0 + qn;   /* keys after the last query are masked */
    for (int64_t k0 = 0; k0 < kend; k0 += BK) {
        int64_t kn = kend - k0 < BK ? kend - k0 : BK;
        /* pack K transposed and V, zero-padded */
        memset(kt, 0, sizeof(float) * dp * BK);
        memset(vp, 0, sizeof(float) * BK * dp);
        for (int64_t j = 0; j < kn; j++) {
            const float *ks = a->k + (b * a->nk + k0 + j) * a->ldk + h * D;
            const float *vs = a->v + (b * a->nk + k0 + j) * a->ldv + h * D;
            for (int64_t d = 0; d < D; d++) kt[d * BK + j] = ks[d];
            memcpy(vp + j * dp, vs, sizeof(float) * (size_t)D);
        }
        /* S = Q K^T, RB rows x one vector of keys at a time */
        for (int r0 = 0; r0 < BQ; r0 += RB) {
            for (int jv = 0; jv < BK; jv += VL) {
                v16 acc[RB];
                for (int r = 0; r < RB; r++) acc[r] = SPLAT(0.0f);
                for (int64_t d = 0; d < dp; d++) {
                    v16 kv = LD(kt + d * BK + jv);
                    for (int r = 0; r < RB; r++) acc[r] += SPLAT(qp[(r0 + r) * dp + d]) * kv;
                }
                for (int r = 0; r < RB; r++) ST(s + (r0 + r) * BK + jv, acc[r]);
            }
        }
        /* masks: padding keys, and causal (key index > query index) */
        for (int r = 0; r < BQ; r++) {
            int64_t lim = kn;
            if (a->causal) {
                int64_t qi = q0 + r - k0 + 1;       /* keys [0, qi) of this block are visible */
                if (qi < lim) lim = qi < 0 ? 0 : qi;
            }
            for (int64_t j = lim; j < BK; j++) s[r * BK + j] = -INFINITY;
        }
        /* online softmax update, then O += P V */
        for (int r = 0; r < BQ; r++) {
            float *sr = s + r * BK;
            v16 mx = LD(sr);
            for (int jv = VL; jv < BK; jv += VL) {
                v16 x = LD(sr + jv);
                mx = SEL(x > mx, x, mx);
            }
            float bm = hmax(mx);
            float mnew = bm > m[r] ? bm : m[r];
            if (mnew == -INFINITY) {            /* nothing visible yet */
                memset(sr, 0, sizeof(float) * BK);
                continue;
            }
            float corr = m[r] == -INFINITY ? 0.0f : expf(m[r] - mnew);
            v16 sum = SPLAT(0.0f), mv = SPLAT(mnew);
            for (int jv = 0; jv < BK; jv += VL) {
                v16 p = vexp(LD(sr + jv) - mv);
                ST(sr + jv, p);
                sum += p;
            }
            l[r] = l[r] * corr + hsum(sum);
            m[r] = mnew;
            if (corr != 1.0f) {
                v16 cv = SPLAT(corr);
                for (int64_t d = 0; d < dp; d += VL) ST(op + r * dp + d, LD(op + r * dp + d) * cv);
            }
        }
        for (int r0 = 0; r0 < BQ; r0 += RB) {
            for (int64_t d = 0; d < dp; d += VL) {
                v16 acc[RB];
                for (int r = 0; r < RB; r++) acc[r] = LD(op + (r0 + r) * dp + d);
                for (int64_t j = 0; j < kn; j++) {
                    v16 vv = LD(vp + j * dp + d);
                    for (int r = 0; r < RB; r++) acc[r] += SPLAT(s[(r0 + r) * BK + j]) * vv;
                }
                for (int r = 0; r < RB; r++) ST(op + (r0 + r) * dp + d, acc[r]);
            }
        }
    }
    for (int64_t r = 0; r < qn; r++) {
        float *dst = a->out + (b * a->nq + q0 + r) * a->ldo + h * D;
        float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        for (int64_t d = 0; d < D; d++) dst[d] = op[r * dp + d] * inv;
    }
}

static void attn_range(void *p, int64_t t0, int64_t t1)
{
    attn_ctx *t = p;
    size_t floats = (size_t)(2 * BQ * t->dp + 2 * t->dp * BK + BQ * BK);
    float *scratch = oma_aligned_alloc(floats * sizeof(float));
    if (!scratch) {
        __atomic_store_n(&t->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    for (int64_t i = t0; i < t1; i++) attn_task(t, i, scratch);
    oma_aligned_free(scratch);
}

int oma_cpu_attention(const oma_attn_args *a)
{
    if (a->batch <= 0 || a->heads <= 0 || a->nq <= 0 || a->nk <= 0 || a->head_dim <= 0) return 0;
    attn_ctx t = {a, (a->head_dim + VL - 1) / VL * VL, (a->nq + BQ - 1) / BQ, 0};
    oma_parallel_for(a->batch * a->heads * t.qblocks, 1, attn_range, &t);
    return __atomic_load_n(&t.failed, __ATOMIC_RELAXED) ? -1 : 0;
}
