/* cpu_attention_backward.c — fused attention backward for the CPU backend (training).
 *
 * The idea (FlashAttention-2's backward, on a CPU): the n x n probabilities are never stored.
 * One task per (batch, head) owns that head's dK and dV, so tasks never write the same memory.
 * For each tile of BQ queries it (1) walks the keys once for the row maxima and sums of the
 * scaled scores, giving each row's log-sum-exp L, and forms D_i = dO_i . O_i (O is the
 * forward's output, which the layer recomputed anyway); (2) walks the keys again in tiles of BK,
 * recomputing P = exp(S - L), and accumulates dV += P^T dO, dP = dO V^T, dS = P (dP - D),
 * dQ += scale dS K, dK += scale dS^T Q. Scratch per task: a few BQ x BK tiles and the BQ x D
 * query-gradient tile. Causal (CLIP): key j is seen by query i only when j <= i, and key tiles
 * wholly after a query tile are skipped.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/cpu_internal.h"
#include "tensor/tensor.h"
#include "tensor/threadpool.h"

#define BQ 32
#define BK 64

typedef struct {
    const oma_attn_bwd_args *a;
    int failed;
} attb_ctx;

static float dot(const float *x, const float *y, int64_t n)
{
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}

static void axpy(float a, const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* One (batch, head); scratch holds 2 * BQ * BK + BQ * (2 + D) floats. */
static void head_backward(const oma_attn_bwd_args *a, int64_t b, int64_t h, float *scratch)
{
    int64_t D = a->head_dim, nq = a->nq, nk = a->nk;
    float *P = scratch, *dP = P + BQ * BK, *lse = dP + BQ * BK, *Dv = lse + BQ, *dq = Dv + BQ;
    const float *q = a->q + b * nq * a->ldq + h * D, *o = a->o + b * nq * a->ldo + h * D;
    const float *dout = a->dout + b * nq * a->ldo + h * D;
    const float *k = a->k + b * nk * a->ldk + h * D, *v = a->v + b * nk * a->ldv + h * D;
    float *dqg = a->dq + b * nq * a->ldq + h * D;
    float *dk = a->dk + b * nk * a->ldk + h * D, *dv = a->dv + b * nk * a->ldv + h * D;
    for (int64_t j = 0; j < nk; j++) {
        memset(dk + j * a->ldk, 0, sizeof(float) * (size_t)D);
        memset(dv + j * a->ldv, 0, sizeof(float) * (size_t)D);
    }
    for (int64_t i0 = 0; i0 < nq; i0 += BQ) {
        int64_t bq = nq - i0 < BQ ? nq - i0 : BQ;
        /* keys this tile can see: all, or up to its last query when causal */
        int64_t kend = a->causal ? (i0 + bq < nk ? i0 + bq : nk) : nk;
        /* (1) log-sum-exp per row, D_i */
        for (int64_t r = 0; r < bq; r++) {
            int64_t i = i0 + r;
            const float *qi = q + i * a->ldq;
            int64_t jn = a->causal ? (i + 1 < nk ? i + 1 : nk) : nk;
            float m = -INFINITY;
            double l = 0.0;
            for (int64_t j = 0; j < jn; j++) {
                float s = a->scale * dot(qi, k + j * a->ldk, D);
                if (s > m) {
                    l = l * exp((double)m - s);
                    m = s;
                }
                l += exp((double)s - m);
            }
            lse[r] = jn > 0 ? m + (float)log(l) : INFINITY;
            Dv[r] = dot(dout + i * a->ldo, o + i * a->ldo, D);
        }
        memset(dq, 0, sizeof(float) * (size_t)(bq * D));
        /* (2) per key tile: P, dV, dP, dS, dQ, dK */
        for (int64_t j0 = 0; j0 < kend; j0 += BK) {
            int64_t bk = kend - j0 < BK ? kend - j0 : BK;
            for (int64_t r = 0; r < bq; r++) {
                int64_t i = i0 + r;
                const float *qi = q + i * a->ldq, *gi = dout + i * a->ldo;
                for (int64_t c = 0; c < bk; c++) {
                    int64_t j = j0 + c;
                    if (a->causal && j > i) {
                        P[r * BK + c] = 0.0f;
                        dP[r * BK + c] = 0.0f;
                        continue;
                    }
                    float p = expf(a->scale * dot(qi, k + j * a->ldk, D) - lse[r]);
                    P[r * BK + c] = p;
                    dP[r * BK + c] = p * (dot(gi, v + j * a->ldv, D) - Dv[r]);   /* dS */
                }
            }
            for (int64_t c = 0; c < bk; c++) {
                int64_t j = j0 + c;
                float *dvj = dv + j * a->ldv, *dkj = dk + j * a->ldk;
                const float *kj = k + j * a->ldk;
                for (int64_t r = 0; r < bq; r++) {
                    float p = P[r * BK + c], ds = dP[r * BK + c] * a->scale;
                    if (p == 0.0f && ds == 0.0f) continue;
                    int64_t i = i0 + r;
                    axpy(p, dout + i * a->ldo, dvj, D);
                    axpy(ds, q + i * a->ldq, dkj, D);
                    axpy(ds, kj, dq + r * D, D);
                }
            }
        }
        for (int64_t r = 0; r < bq; r++)
            memcpy(dqg + (i0 + r) * a->ldq, dq + r * D, sizeof(float) * (size_t)D);
    }
}

static void attb_range(void *p, int64_t t0, int64_t t1)
{
    attb_ctx *c = p;
    const oma_attn_bwd_args *a = c->a;
    float *scratch = oma_aligned_alloc(sizeof(float) * (size_t)(2 * BQ * BK + BQ * (2 + a->head_dim)));
    if (!scratch) {
        __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    for (int64_t t = t0; t < t1; t++) head_backward(a, t / a->heads, t % a->heads, scratch);
    oma_aligned_free(scratch);
}

int oma_cpu_attention_backward(const oma_attn_bwd_args *a)
{
    attb_ctx c = {a, 0};
    oma_parallel_for(a->batch * a->heads, 1, attb_range, &c);
    return c.failed ? -1 : 0;
}
