/* cpu_attention_avx512.c — the AVX-512 kernels of the fused attention: fp32 (AVX-512F + DQ), and
 * bf16 products with AVX512_BF16 (opt-in precision mode). Only called after a run-time CPU check
 * (cpu_attention.c); each function carries its own target attribute, so the build stays generic.
 *
 * The idea: queries along the vector lanes. A task holds 32 queries of one (batch, head) as
 * Q^T [D][32] (two zmm per head dim), and walks the keys in blocks of 96 (K^T and V of a block
 * are contiguous tiles, packed once per head):
 *   S^T [96][32] = K Q^T      12 keys x 2 query vectors = 24 zmm accumulators, each head dim
 *                             one Q^T row load per vector and 12 broadcast K values;
 *   online softmax            all vertical: the running max m, the sum l and the correction
 *                             e^(m - m') are per lane, so no horizontal reductions at all;
 *   O^T [D][32] += V^T P^T    10 head dims x 2 query vectors = 20 accumulators, each key one P^T
 *                             row per vector and 10 broadcast V values; the correction is applied
 *                             when the accumulators are loaded.
 * The head dim is only ever a loop count or a broadcast index, never a vector width, so 40, 80 and
 * 160 waste nothing (the portable layout pads 40 to 48). The key loops stop at the last real key
 * (no padded keys to mask); only the causal diagonal blocks get a lane mask. exp(x) is computed
 * as 2^(x log2 e) with vreduceps / vscalefps doing the range reduction and the 2^n scaling in
 * one instruction each (see exp2_f32).
 *
 * bf16: the same loops with _mm512_dpbf16_ps, which multiplies bf16 pairs and accumulates in f32
 * per lane. The pairs run along the sum of each product: head dims for S = K Q^T (Q^T and K^T
 * packed as pairs of dims), keys for O += V^T P^T (P^T and V packed as pairs of keys). Operands
 * are rounded to bf16 to nearest even; scores, max, sums, softmax and O stay f32 (log2 e is folded
 * into Q's scale, so the scores come out in log2 units and the softmax is a plain 2^x).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "tensor/cpu/cpu_attention_impl.h"
#include "tensor/cpu/cpu_vexp_avx512.h"

#pragma GCC diagnostic ignored "-Wpsabi"

#define BQ ATTN_X86_BQ      /* queries per task */
#define NRV (BQ / 16)       /* query vectors */
#define BK ATTN_X86_BK       /* keys per block */
#define NJ 12               /* keys per register block of S = K Q^T */
#define ND 10               /* head dims per register block of O += V^T P^T */
#define ATTN_MAX_PAIRS_ROW 128  /* bf16 pairs converted at a time (a multiple of 16) */

#define F512 __attribute__((target("avx512f,avx512dq")))
#define INL static inline __attribute__((always_inline, target("avx512f,avx512dq")))
#define BF16_ATTR __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx512bf16")))
#define INLBF static inline __attribute__((always_inline, target("avx512f,avx512dq,avx512bw,avx512vl,avx512bf16")))

int64_t oma_attn_avx512_scratch(int64_t head_dim)
{
    /* fp32: Q^T, O^T [D][BQ], S^T [BK][BQ]; bf16 adds Q^T pairs [D2][BQ] and P^T pairs [BK/2][BQ] */
    return (2 * head_dim + BK + (head_dim + 1) / 2 + BK / 2) * BQ;
}

/* 2^t per lane: oma_vexp2_f32 (cpu_vexp_avx512.h) for fp32. The bf16 path's polynomial has
 * degree 4 (relative error 3e-6, a thousandth of bf16's rounding step); coefficients: our own
 * Remez fit of 2^f on [0, 1] for relative error. */
#define exp2_f32 oma_vexp2_f32

INL __m512 exp2_bf16(__m512 t)
{
    __m512 f = _mm512_reduce_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 p = _mm512_set1_ps(1.353416778e-02f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.201146007e-02f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.414427549e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.930038333e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.000002623e+00f));
    return _mm512_scalef_ps(p, t);
}

/* e^x = 2^(x log2 e); x is a difference of scores (exact), so the one rounding of the product
 * costs at most e^x |x| 2^-24 in absolute terms, below the float rounding of the result. */
INL __m512 exp_f32(__m512 x)
{
    return exp2_f32(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)));
}

typedef struct {
    const oma_attn_args *a;
    int64_t D, b, h, bh, q0, qn, kend;
} task_info;

static inline void task_setup(const attn_ctx *t, int64_t task, task_info *ti)
{
    const oma_attn_args *a = t->a;
    ti->a = a;
    ti->D = a->head_dim;
    int64_t qb = task % t->qblocks;
    ti->bh = task / t->qblocks;
    ti->h = ti->bh % a->heads;
    ti->b = ti->bh / a->heads;
    ti->q0 = qb * BQ;
    ti->qn = a->nq - ti->q0 < BQ ? a->nq - ti->q0 : BQ;
    ti->kend = a->nk;
    if (a->causal && ti->q0 + ti->qn < ti->kend) ti->kend = ti->q0 + ti->qn;  /* later keys: masked */
}

static inline const float *q_row(const task_info *ti, int64_t r)
{
    const oma_attn_args *a = ti->a;
    return a->q + (ti->b * a->nq + ti->q0 + r) * a->ldq + ti->h * ti->D;
}

/* Causal mask of one S^T row: lanes whose query comes before key (cut + jj relative to the
 * task's first query) get -inf. */
INL __m512 causal_mask(__m512 s, int64_t cut, int rv)
{
    int64_t lim = cut - 16 * rv;        /* lanes < lim are masked */
    if (lim <= 0) return s;
    if (lim > 16) lim = 16;
    __mmask16 k = (__mmask16)((1u << lim) - 1u);
    return _mm512_mask_mov_ps(s, k, _mm512_set1_ps(-INFINITY));
}

/* Stores a register block of S^T (rows j0.., `nj` keys of which `valid` are real) with the causal
 * mask (when `mask_on`; `cut` = key j0's index minus the first query's), and folds the real rows
 * into the block max. */
INL void store_scores(__m512 acc[NJ][NRV], float *st, int valid, int mask_on, int64_t cut, __m512 *bmax)
{
#pragma GCC unroll 16
    for (int jj = 0; jj < NJ; jj++) {
#pragma GCC unroll 4
        for (int rv = 0; rv < NRV; rv++) {
            __m512 s = acc[jj][rv];
            if (mask_on) s = causal_mask(s, cut + jj, rv);
            _mm512_storeu_ps(st + jj * BQ + 16 * rv, s);
            if (jj < valid) bmax[rv] = _mm512_max_ps(bmax[rv], s);
        }
    }
}

/* ---- fp32 ---- */

/* S^T rows j0 .. j0+NJ-1: st[j][r] = sum_d kt[d][j] qt[d][r]. */
INL void qk_chunk(const float *qt, const float *kt, int64_t ldk, int64_t D, float *st, int valid, int mask_on,
                  int64_t cut, __m512 *bmax)
{
    __m512 acc[NJ][NRV];
#pragma GCC unroll 16
    for (int jj = 0; jj < NJ; jj++)
#pragma GCC unroll 4
        for (int rv = 0; rv < NRV; rv++) acc[jj][rv] = _mm512_setzero_ps();
    for (int64_t d = 0; d < D; d++) {
        const float *k = kt + d * ldk;
        __m512 q[NRV];
#pragma GCC unroll 4
        for (int rv = 0; rv < NRV; rv++) q[rv] = _mm512_loadu_ps(qt + d * BQ + 16 * rv);
#pragma GCC unroll 16
        for (int jj = 0; jj < NJ; jj++) {
            __m512 kb = _mm512_set1_ps(k[jj]);
#pragma GCC unroll 4
            for (int rv = 0; rv < NRV; rv++) acc[jj][rv] = _mm512_fmadd_ps(kb, q[rv], acc[jj][rv]);
        }
    }
    store_scores(acc, st, valid, mask_on, cut, bmax);
}

/* P = e^(S - m') in place over `kn` rows of S^T; updates m, l and returns the correction. */
INL void softmax_block(float *st, int64_t kn, const __m512 *bmax, __m512 *m, __m512 *l, __m512 *corr)
{
    __m512 mn[NRV], sum[NRV];
#pragma GCC unroll 4
    for (int rv = 0; rv < NRV; rv++) {
        mn[rv] = _mm512_max_ps(m[rv], bmax[rv]);
        corr[rv] = exp_f32(_mm512_sub_ps(m[rv], mn[rv]));
        sum[rv] = _mm512_setzero_ps();
    }
    for (int64_t j = 0; j < kn; j++) {
#pragma GCC unroll 4
        for (int rv = 0; rv < NRV; rv++) {
            float *p = st + j * BQ + 16 * rv;
            __m512 e = exp_f32(_mm512_sub_ps(_mm512_loadu_ps(p), mn[rv]));
            _mm512_storeu_ps(p, e);
            sum[rv] = _mm512_add_ps(sum[rv], e);
        }
    }
#pragma GCC unroll 4
    for (int rv = 0; rv < NRV; rv++) {
        l[rv] = _mm512_fmadd_ps(l[rv], corr[rv], sum[rv]);
        m[rv] = mn[rv];
    }
}

/* O^T rows d0 .. d0+nd-1 = corr * O^T + sum_j v[j][d] P^T[j]. */
INL void pv_dims(const float *st, const float *v, int64_t ldv, int64_t kn, float *ot, const __m512 *corr,
                 const int nd)
{
    __m512 acc[ND][NRV];
#pragma GCC unroll 16
    for (int dd = 0; dd < nd; dd++)
#pragma GCC unroll 4
        for (int rv = 0; rv < NRV; rv++)
            acc[dd][rv] = _mm512_mul_ps(_mm512_loadu_ps(ot + dd * BQ + 16 * rv), corr[rv]);
    for (int64_t j = 0; j < kn; j++) {
        __m512 p[NRV];
#pragma GCC unroll 4
        for (int rv = 0; rv < NRV; rv++) p[rv] = _mm512_loadu_ps(st + j * BQ + 16 * rv);
        const float *vr = v + j * ldv;
#pragma GCC unroll 16
        for (int dd = 0; dd < nd; dd++) {
            __m512 vb = _mm512_set1_ps(vr[dd]);
#pragma GCC unroll 4
            for (int rv = 0; rv < NRV; rv++) acc[dd][rv] = _mm512_fmadd_ps(vb, p[rv], acc[dd][rv]);
        }
    }
#pragma GCC unroll 16
    for (int dd = 0; dd < nd; dd++)
#pragma GCC unroll 4
        for (int rv = 0; rv < NRV; rv++) _mm512_storeu_ps(ot + dd * BQ + 16 * rv, acc[dd][rv]);
}

/* Writes out[q][d] = O^T[d][q] / l[q] for the task's real queries (a gather down each O^T column). */
INL void write_out(const task_info *ti, const float *ot, const __m512 *l)
{
    const oma_attn_args *a = ti->a;
    float lsum[BQ];
    for (int rv = 0; rv < NRV; rv++) _mm512_storeu_ps(lsum + 16 * rv, l[rv]);
    const __m512i col = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(BQ));
    for (int64_t r = 0; r < ti->qn; r++) {
        float *dst = a->out + (ti->b * a->nq + ti->q0 + r) * a->ldo + ti->h * ti->D;
        __m512 inv = _mm512_set1_ps(lsum[r] > 0.0f ? 1.0f / lsum[r] : 0.0f);
        for (int64_t d = 0; d < ti->D; d += 16) {
            __mmask16 k = ti->D - d >= 16 ? 0xffff : (__mmask16)((1u << (ti->D - d)) - 1u);
            __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, col, ot + d * BQ + r, 4);
            _mm512_mask_storeu_ps(dst + d, k, _mm512_mul_ps(v, inv));
        }
    }
}

/* Q^T [D][BQ] = scale * the task's query rows (a gather down each head dim; zero past qn). */
INL void load_qt(const task_info *ti, float *qt)
{
    const oma_attn_args *a = ti->a;
    if (a->ldq > INT32_MAX / 16) {      /* row offsets beyond a gather's 32-bit indices */
        memset(qt, 0, sizeof(float) * (size_t)(ti->D * BQ));
        for (int64_t r = 0; r < ti->qn; r++) {
            const float *src = q_row(ti, r);
            for (int64_t d = 0; d < ti->D; d++) qt[d * BQ + r] = src[d] * a->scale;
        }
        return;
    }
    const float *q0 = q_row(ti, 0);
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512 sv = _mm512_set1_ps(a->scale);
    for (int rv = 0; rv < NRV; rv++) {
        int64_t left = ti->qn - 16 * rv;
        if (left <= 0) {
            for (int64_t d = 0; d < ti->D; d++) _mm512_storeu_ps(qt + d * BQ + 16 * rv, _mm512_setzero_ps());
            continue;
        }
        __mmask16 k = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1u);
        const float *base = q0 + 16 * rv * a->ldq;
        __m512i idx = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)a->ldq));
        for (int64_t d = 0; d < ti->D; d++) {
            __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, idx, base + d, 4);
            _mm512_storeu_ps(qt + d * BQ + 16 * rv, _mm512_mul_ps(v, sv));
        }
    }
}

F512 void oma_attn_task_avx512(const attn_ctx *t, int64_t task, float *scratch)
{
    task_info ti;
    task_setup(t, task, &ti);
    const oma_attn_args *a = ti.a;
    const int64_t D = ti.D, nkp = t->nkp;
    float *qt = scratch;            /* [D][BQ], scaled */
    float *ot = qt + D * BQ;        /* [D][BQ] */
    float *st = ot + D * BQ;        /* [BK][BQ] */
    const float *kt_all = t->kt + ti.bh * D * nkp, *vp_all = t->vp + ti.bh * nkp * D;

    memset(ot, 0, sizeof(float) * (size_t)(D * BQ));
    load_qt(&ti, qt);
    __m512 m[NRV], l[NRV], corr[NRV], bmax[NRV];
    for (int rv = 0; rv < NRV; rv++) {
        m[rv] = _mm512_set1_ps(-INFINITY);
        l[rv] = _mm512_setzero_ps();
    }
    for (int64_t k0 = 0; k0 < ti.kend; k0 += BK) {
        int64_t kn = ti.kend - k0 < BK ? ti.kend - k0 : BK;
        for (int rv = 0; rv < NRV; rv++) bmax[rv] = _mm512_set1_ps(-INFINITY);
        for (int64_t j0 = 0; j0 < kn; j0 += NJ) {
            int64_t cut = k0 + j0 - ti.q0;
            int mask_on = a->causal && cut + NJ - 1 > 0;
            int valid = kn - j0 < NJ ? (int)(kn - j0) : NJ;
            qk_chunk(qt, kt_all + k0 * D + j0, BK, D, st + j0 * BQ, valid, mask_on, cut, bmax);
        }
        softmax_block(st, kn, bmax, m, l, corr);
        const float *vp = vp_all + k0 * D;
        int64_t d0 = 0;
        for (; d0 + ND <= D; d0 += ND) pv_dims(st, vp + d0, D, kn, ot + d0 * BQ, corr, ND);
        switch (D - d0) {
#define TAIL(n) case n: if (n < ND) pv_dims(st, vp + d0, D, kn, ot + d0 * BQ, corr, n); break;
            TAIL(1) TAIL(2) TAIL(3) TAIL(4) TAIL(5) TAIL(6) TAIL(7) TAIL(8) TAIL(9)
#undef TAIL
        default: break;
        }
    }
    write_out(&ti, ot, l);
}

/* ---- bf16 ---- */

/* One row of n floats times `scale` as bf16 pairs of neighbours (low half = even index, zero past
 * n), rounded to nearest even: (n + 1) / 2 words to out. */
INLBF void bf16_pairs(const float *src, int64_t n, float scale, uint32_t *out)
{
    const __m512 sv = _mm512_set1_ps(scale);
    for (int64_t d = 0; d < n; d += 32) {
        int64_t left = n - d;
        __mmask16 k0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1u);
        __mmask16 k1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1u);
        __m512 lo = _mm512_mul_ps(_mm512_maskz_loadu_ps(k0, src + d), sv);
        __m512 hi = _mm512_mul_ps(_mm512_maskz_loadu_ps(k1, src + d + 16), sv);
        int64_t words = (left + 1) / 2;
        __mmask16 kw = words >= 16 ? 0xffff : (__mmask16)((1u << words) - 1u);
        _mm512_mask_storeu_epi32(out + d / 2, kw, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
}

BF16_ATTR void oma_attn_pack_bf16(void *ctx, int64_t bh0, int64_t bh1)
{
    const attn_ctx *t = ctx;
    const oma_attn_args *a = t->a;
    const int64_t D = a->head_dim, d2 = t->d2, ld = t->nkp;
    const __m512i inter = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                           23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    uint32_t row[ATTN_MAX_PAIRS_ROW];
    for (int64_t bh = bh0; bh < bh1; bh++) {
        int64_t h = bh % a->heads, b = bh / a->heads;
        uint32_t *kt = t->kt2 + bh * d2 * ld, *vp = t->vp2 + bh * (ld / 2) * D;
        memset(kt, 0, sizeof(uint32_t) * (size_t)(d2 * ld));
        memset(vp, 0, sizeof(uint32_t) * (size_t)(ld / 2 * D));
        for (int64_t j = 0; j < a->nk; j++) {
            const float *ks = a->k + (b * a->nk + j) * a->ldk + h * D;
            uint32_t *kb = kt + (j / BK) * d2 * BK + j % BK;
            for (int64_t i0 = 0; i0 < d2; i0 += ATTN_MAX_PAIRS_ROW) {
                int64_t n = d2 - i0 < ATTN_MAX_PAIRS_ROW ? d2 - i0 : ATTN_MAX_PAIRS_ROW;
                bf16_pairs(ks + 2 * i0, D - 2 * i0 < 2 * n ? D - 2 * i0 : 2 * n, 1.0f, row);
                for (int64_t i = 0; i < n; i++) kb[(i0 + i) * BK] = row[i];
            }
        }
        for (int64_t j = 0; j < a->nk; j += 2) {
            const float *v0 = a->v + (b * a->nk + j) * a->ldv + h * D;
            const float *v1 = v0 + a->ldv;
            int has1 = j + 1 < a->nk;
            uint32_t *dst = vp + (j / 2) * D;
            for (int64_t d = 0; d < D; d += 16) {
                __mmask16 k = D - d >= 16 ? 0xffff : (__mmask16)((1u << (D - d)) - 1u);
                __m512 x0 = _mm512_maskz_loadu_ps(k, v0 + d);
                __m512 x1 = has1 ? _mm512_maskz_loadu_ps(k, v1 + d) : _mm512_setzero_ps();
                __m512i w = _mm512_permutexvar_epi16(inter, (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
                _mm512_mask_storeu_epi32(dst + d, k, w);
            }
        }
    }
}

/* S^T rows j0 .. j0+NJ-1 from bf16 pairs: st[j][r] = sum_i kt2[i][j] . qt2[i][r]. */
INLBF void qk_chunk_bf16(const uint32_t *qt2, const uint32_t *kt2, int64_t ldk, int64_t d2, float *st, int valid,
                         int mask_on, int64_t cut, __m512 *bmax)
{
    __m512 acc[NJ][NRV];
#pragma GCC unroll 16
    for (int jj = 0; jj < NJ; jj++)
#pragma GCC unroll 4
        for (int rv = 0; rv < NRV; rv++) acc[jj][rv] = _mm512_setzero_ps();
    for (int64_t i = 0; i < d2; i++) {
        const uint32_t *k = kt2 + i * ldk;
        __m512bh q[NRV];
#pragma GCC unroll 4
        for (int rv = 0; rv < NRV; rv++) q[rv] = (__m512bh)_mm512_loadu_si512(qt2 + i * BQ + 16 * rv);
#pragma GCC unroll 16
        for (int jj = 0; jj < NJ; jj++) {
            __m512bh kb = (__m512bh)_mm512_set1_epi32((int)k[jj]);
#pragma GCC unroll 4
            for (int rv = 0; rv < NRV; rv++) acc[jj][rv] = _mm512_dpbf16_ps(acc[jj][rv], q[rv], kb);
        }
    }
    store_scores(acc, st, valid, mask_on, cut, bmax);
}

/* P = e^(S - m') over `kn` rows of S^T, written as bf16 pairs of keys pp[kn/2][BQ]; updates m and
 * l (with the f32 probabilities) and returns the correction. */
INLBF void softmax_block_bf16(const float *st, int64_t kn, const __m512 *bmax, __m512 *m, __m512 *l,
                              __m512 *corr, uint32_t *pp)
{
    const __m512i inter = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                           23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    __m512 mn[NRV], sum[NRV];
#pragma GCC unroll 4
    for (int rv = 0; rv < NRV; rv++) {
        mn[rv] = _mm512_max_ps(m[rv], bmax[rv]);
        corr[rv] = exp2_bf16(_mm512_sub_ps(m[rv], mn[rv]));
        sum[rv] = _mm512_setzero_ps();
    }
    for (int64_t j = 0; j < kn; j += 2) {
#pragma GCC unroll 4
        for (int rv = 0; rv < NRV; rv++) {
            const float *s = st + j * BQ + 16 * rv;
            __m512 e0 = exp2_bf16(_mm512_sub_ps(_mm512_loadu_ps(s), mn[rv]));
            __m512 e1 = j + 1 < kn ? exp2_bf16(_mm512_sub_ps(_mm512_loadu_ps(s + BQ), mn[rv])) : _mm512_setzero_ps();
            sum[rv] = _mm512_add_ps(sum[rv], _mm512_add_ps(e0, e1));
            __m512i h = (__m512i)_mm512_cvtne2ps_pbh(e1, e0);     /* words 0-15: e0, 16-31: e1 */
            _mm512_storeu_si512(pp + (j / 2) * BQ + 16 * rv, _mm512_permutexvar_epi16(inter, h));
        }
    }
#pragma GCC unroll 4
    for (int rv = 0; rv < NRV; rv++) {
        l[rv] = _mm512_fmadd_ps(l[rv], corr[rv], sum[rv]);
        m[rv] = mn[rv];
    }
}

/* O^T rows d0 .. d0+nd-1 = corr * O^T + sum over key pairs of vp2[jp][d] . pp[jp]. */
INLBF void pv_dims_bf16(const uint32_t *pp, const uint32_t *v2, int64_t ldv, int64_t kp, float *ot,
                        const __m512 *corr, const int nd)
{
    __m512 acc[ND][NRV];
#pragma GCC unroll 16
    for (int dd = 0; dd < nd; dd++)
#pragma GCC unroll 4
        for (int rv = 0; rv < NRV; rv++)
            acc[dd][rv] = _mm512_mul_ps(_mm512_loadu_ps(ot + dd * BQ + 16 * rv), corr[rv]);
    for (int64_t jp = 0; jp < kp; jp++) {
        __m512bh p[NRV];
#pragma GCC unroll 4
        for (int rv = 0; rv < NRV; rv++) p[rv] = (__m512bh)_mm512_loadu_si512(pp + jp * BQ + 16 * rv);
        const uint32_t *vr = v2 + jp * ldv;
#pragma GCC unroll 16
        for (int dd = 0; dd < nd; dd++) {
            __m512bh vb = (__m512bh)_mm512_set1_epi32((int)vr[dd]);
#pragma GCC unroll 4
            for (int rv = 0; rv < NRV; rv++) acc[dd][rv] = _mm512_dpbf16_ps(acc[dd][rv], p[rv], vb);
        }
    }
#pragma GCC unroll 16
    for (int dd = 0; dd < nd; dd++)
#pragma GCC unroll 4
        for (int rv = 0; rv < NRV; rv++) _mm512_storeu_ps(ot + dd * BQ + 16 * rv, acc[dd][rv]);
}

BF16_ATTR void oma_attn_task_bf16(const attn_ctx *t, int64_t task, float *scratch)
{
    task_info ti;
    task_setup(t, task, &ti);
    const oma_attn_args *a = ti.a;
    const int64_t D = ti.D, d2 = t->d2, nkp = t->nkp;
    float *ot = scratch;                        /* [D][BQ] */
    float *st = ot + D * BQ;                    /* [BK][BQ] */
    uint32_t *qt2 = (uint32_t *)(st + BK * BQ); /* [d2][BQ] bf16 pairs of dims, scaled */
    uint32_t *pp = qt2 + d2 * BQ;               /* [BK/2][BQ] bf16 pairs of keys */
    const uint32_t *kt2_all = t->kt2 + ti.bh * d2 * nkp, *vp2_all = t->vp2 + ti.bh * (nkp / 2) * D;

    /* scores in log2 units: the softmax is 2^(s - m) (log2 e folded into the bf16-rounded Q) */
    const float scale2 = a->scale * 1.44269504088896341f;
    memset(qt2, 0, sizeof(uint32_t) * (size_t)(d2 * BQ));
    memset(ot, 0, sizeof(float) * (size_t)(D * BQ));
    uint32_t row[ATTN_MAX_PAIRS_ROW];
    for (int64_t r = 0; r < ti.qn; r++) {
        const float *src = q_row(&ti, r);
        for (int64_t i0 = 0; i0 < d2; i0 += ATTN_MAX_PAIRS_ROW) {
            int64_t n = d2 - i0 < ATTN_MAX_PAIRS_ROW ? d2 - i0 : ATTN_MAX_PAIRS_ROW;
            bf16_pairs(src + 2 * i0, D - 2 * i0 < 2 * n ? D - 2 * i0 : 2 * n, scale2, row);
            for (int64_t i = 0; i < n; i++) qt2[(i0 + i) * BQ + r] = row[i];
        }
    }
    __m512 m[NRV], l[NRV], corr[NRV], bmax[NRV];
    for (int rv = 0; rv < NRV; rv++) {
        m[rv] = _mm512_set1_ps(-INFINITY);
        l[rv] = _mm512_setzero_ps();
    }
    for (int64_t k0 = 0; k0 < ti.kend; k0 += BK) {
        int64_t kn = ti.kend - k0 < BK ? ti.kend - k0 : BK;
        for (int rv = 0; rv < NRV; rv++) bmax[rv] = _mm512_set1_ps(-INFINITY);
        for (int64_t j0 = 0; j0 < kn; j0 += NJ) {
            int64_t cut = k0 + j0 - ti.q0;
            int mask_on = a->causal && cut + NJ - 1 > 0;
            int valid = kn - j0 < NJ ? (int)(kn - j0) : NJ;
            qk_chunk_bf16(qt2, kt2_all + k0 * d2 + j0, BK, d2, st + j0 * BQ, valid, mask_on, cut, bmax);
        }
        softmax_block_bf16(st, kn, bmax, m, l, corr, pp);
        const uint32_t *vp2 = vp2_all + (k0 / 2) * D;
        int64_t kp = (kn + 1) / 2, d0 = 0;
        for (; d0 + ND <= D; d0 += ND) pv_dims_bf16(pp, vp2 + d0, D, kp, ot + d0 * BQ, corr, ND);
        switch (D - d0) {
#define TAIL(n) case n: if (n < ND) pv_dims_bf16(pp, vp2 + d0, D, kp, ot + d0 * BQ, corr, n); break;
            TAIL(1) TAIL(2) TAIL(3) TAIL(4) TAIL(5) TAIL(6) TAIL(7) TAIL(8) TAIL(9)
#undef TAIL
        default: break;
        }
    }
    write_out(&ti, ot, l);
}
