/* test_attention_backward.c — the fused attention backward (backend->attention_backward).
 *
 * Two references in double: (1) central finite differences of L = sum(dO * attention(q, k, v))
 * (every entry of q, k, v, on small shapes: checks the kernel and reference 2 alike), and
 * (2) the closed-form gradient written out naively (full P matrix, dS = P (dP - rowsum(dO O))),
 * on fuzzed shapes that cross the kernel's 32-query and 64-key tiles, causal (CLIP) or not,
 * cross-attention with 77 keys, and the SD head dims 40/64/80/160. The kernel gets O from the
 * forward kernel, as the layer will. Tolerance: 1e-4 of the largest gradient magnitude.
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

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static double urand(void) /* [-1, 1) */
{
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (double)(rs >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}
static int64_t irand(int64_t lo, int64_t hi) { return lo + (int64_t)((urand() + 1.0) * 0.5 * (double)(hi - lo + 1)) % (hi - lo + 1); }

typedef struct {
    int64_t b, h, nq, nk, d;
    int causal;
} acase;

/* o[b, i, h*d] in double */
static void attn_fwd(const acase *c, const double *q, const double *k, const double *v, double *o)
{
    int64_t C = c->h * c->d;
    double sc = 1.0 / sqrt((double)c->d);
    double *s = malloc(sizeof(double) * (size_t)c->nk);
    for (int64_t b = 0; b < c->b; b++)
        for (int64_t h = 0; h < c->h; h++)
            for (int64_t i = 0; i < c->nq; i++) {
                const double *qi = q + (b * c->nq + i) * C + h * c->d;
                double m = -INFINITY, l = 0.0;
                int64_t jn = c->causal ? i + 1 : c->nk;
                for (int64_t j = 0; j < jn; j++) {
                    const double *kj = k + (b * c->nk + j) * C + h * c->d;
                    double t = 0.0;
                    for (int64_t e = 0; e < c->d; e++) t += qi[e] * kj[e];
                    s[j] = t * sc;
                    if (s[j] > m) m = s[j];
                }
                for (int64_t j = 0; j < jn; j++) l += (s[j] = exp(s[j] - m));
                double *oi = o + (b * c->nq + i) * C + h * c->d;
                for (int64_t e = 0; e < c->d; e++) oi[e] = 0.0;
                for (int64_t j = 0; j < jn; j++) {
                    const double *vj = v + (b * c->nk + j) * C + h * c->d;
                    for (int64_t e = 0; e < c->d; e++) oi[e] += s[j] / l * vj[e];
                }
            }
    free(s);
}

/* closed-form gradients in double */
static void attn_bwd_ref(const acase *c, const double *q, const double *k, const double *v,
                         const double *g, double *dq, double *dk, double *dv)
{
    int64_t C = c->h * c->d;
    double sc = 1.0 / sqrt((double)c->d);
    memset(dq, 0, sizeof(double) * (size_t)(c->b * c->nq * C));
    memset(dk, 0, sizeof(double) * (size_t)(c->b * c->nk * C));
    memset(dv, 0, sizeof(double) * (size_t)(c->b * c->nk * C));
    double *p = malloc(sizeof(double) * (size_t)c->nk), *dp = malloc(sizeof(double) * (size_t)c->nk);
    for (int64_t b = 0; b < c->b; b++)
        for (int64_t h = 0; h < c->h; h++)
            for (int64_t i = 0; i < c->nq; i++) {
                int64_t off = h * c->d;
                const double *qi = q + (b * c->nq + i) * C + off, *gi = g + (b * c->nq + i) * C + off;
                int64_t jn = c->causal ? i + 1 : c->nk;
                double m = -INFINITY, l = 0.0, D = 0.0;
                for (int64_t j = 0; j < jn; j++) {
                    const double *kj = k + (b * c->nk + j) * C + off;
                    double t = 0.0;
                    for (int64_t e = 0; e < c->d; e++) t += qi[e] * kj[e];
                    p[j] = t * sc;
                    if (p[j] > m) m = p[j];
                }
                for (int64_t j = 0; j < jn; j++) l += (p[j] = exp(p[j] - m));
                for (int64_t j = 0; j < jn; j++) {
                    p[j] /= l;
                    const double *vj = v + (b * c->nk + j) * C + off;
                    double t = 0.0;
                    for (int64_t e = 0; e < c->d; e++) t += gi[e] * vj[e];
                    dp[j] = t;
                    D += p[j] * t;
                }
                for (int64_t j = 0; j < jn; j++) {
                    double ds = p[j] * (dp[j] - D) * sc;
                    const double *kj = k + (b * c->nk + j) * C + off;
                    double *dkj = dk + (b * c->nk + j) * C + off, *dvj = dv + (b * c->nk + j) * C + off;
                    for (int64_t e = 0; e < c->d; e++) {
                        dq[(b * c->nq + i) * C + off + e] += ds * kj[e];
                        dkj[e] += ds * qi[e];
                        dvj[e] += p[j] * gi[e];
                    }
                }
            }
    free(p);
    free(dp);
}

static double loss(const acase *c, const double *q, const double *k, const double *v,
                   const double *g, double *o)
{
    attn_fwd(c, q, k, v, o);
    double s = 0.0;
    for (int64_t i = 0; i < c->b * c->nq * c->h * c->d; i++) s += g[i] * o[i];
    return s;
}

static double maxdiff(const float *a, const double *b, int64_t n, double *mag)
{
    double e = 0.0;
    for (int64_t i = 0; i < n; i++) {
        e = worse(e, fabs(a[i] - b[i]));
        *mag = fmax(*mag, fabs(b[i]));
    }
    return e;
}

/* runs the kernel and compares with the closed form (and finite differences when fd) */
static void run_case(const acase *c, double amp, int fd)
{
    int64_t C = c->h * c->d, nqe = c->b * c->nq * C, nke = c->b * c->nk * C;
    oma_tensor q, k, v, o, g, dq, dk, dv;
    CHECK(oma_tensor_alloc4(&q, 3, c->b, c->nq, C, 0) == 0);
    CHECK(oma_tensor_alloc4(&o, 3, c->b, c->nq, C, 0) == 0);
    CHECK(oma_tensor_alloc4(&g, 3, c->b, c->nq, C, 0) == 0);
    CHECK(oma_tensor_alloc4(&dq, 3, c->b, c->nq, C, 0) == 0);
    CHECK(oma_tensor_alloc4(&k, 3, c->b, c->nk, C, 0) == 0);
    CHECK(oma_tensor_alloc4(&v, 3, c->b, c->nk, C, 0) == 0);
    CHECK(oma_tensor_alloc4(&dk, 3, c->b, c->nk, C, 0) == 0);
    CHECK(oma_tensor_alloc4(&dv, 3, c->b, c->nk, C, 0) == 0);
    double *Q = malloc(sizeof(double) * (size_t)nqe), *G = malloc(sizeof(double) * (size_t)nqe);
    double *O = malloc(sizeof(double) * (size_t)nqe), *DQ = malloc(sizeof(double) * (size_t)nqe);
    double *K = malloc(sizeof(double) * (size_t)nke), *V = malloc(sizeof(double) * (size_t)nke);
    double *DK = malloc(sizeof(double) * (size_t)nke), *DV = malloc(sizeof(double) * (size_t)nke);
    for (int64_t i = 0; i < nqe; i++) Q[i] = q.data[i] = (float)(amp * urand()), G[i] = g.data[i] = (float)urand();
    for (int64_t i = 0; i < nke; i++) K[i] = k.data[i] = (float)(amp * urand()), V[i] = v.data[i] = (float)urand();
    for (int64_t i = 0; i < nqe; i++) Q[i] = q.data[i], G[i] = g.data[i];
    for (int64_t i = 0; i < nke; i++) K[i] = k.data[i], V[i] = v.data[i];
    CHECK(oma_op_attention(&q, &k, &v, c->h, 0.0f, c->causal, &o) == 0);
    CHECK(oma_op_attention_backward(&q, &k, &v, &o, &g, c->h, 0.0f, c->causal, &dq, &dk, &dv) == 0);
    attn_bwd_ref(c, Q, K, V, G, DQ, DK, DV);
    double mag = 0.0, e = 0.0;
    e = worse(e, maxdiff(dq.data, DQ, nqe, &mag));
    e = worse(e, maxdiff(dk.data, DK, nke, &mag));
    e = worse(e, maxdiff(dv.data, DV, nke, &mag));
    if (!(e <= 1e-4 * mag)) {
        fprintf(stderr, "attention backward b%lld h%lld nq%lld nk%lld d%lld causal%d: err %g of %g\n",
                (long long)c->b, (long long)c->h, (long long)c->nq, (long long)c->nk, (long long)c->d,
                c->causal, e, mag);
        CHECK(e <= 1e-4 * mag);
    }
    if (fd) {
        /* finite differences of the double loss, every entry */
        double *arrs[3] = {Q, K, V}, *ref[3] = {DQ, DK, DV};
        int64_t ns[3] = {nqe, nke, nke};
        double fe = 0.0, fm = 0.0;
        for (int a = 0; a < 3; a++)
            for (int64_t i = 0; i < ns[a]; i++) {
                double s = arrs[a][i], hh = 1e-6;
                arrs[a][i] = s + hh;
                double lp = loss(c, Q, K, V, G, O);
                arrs[a][i] = s - hh;
                double lm = loss(c, Q, K, V, G, O);
                arrs[a][i] = s;
                double num = (lp - lm) / (2 * hh);
                fe = worse(fe, fabs(num - ref[a][i]));
                fm = fmax(fm, fabs(num));
            }
        if (!(fe <= 1e-6 * fm + 1e-9)) fprintf(stderr, "finite differences: %g of %g\n", fe, fm);
        CHECK(fe <= 1e-6 * fm + 1e-9);
    }
    free(Q), free(G), free(O), free(DQ), free(K), free(V), free(DK), free(DV);
    oma_tensor_free(&q), oma_tensor_free(&k), oma_tensor_free(&v), oma_tensor_free(&o);
    oma_tensor_free(&g), oma_tensor_free(&dq), oma_tensor_free(&dk), oma_tensor_free(&dv);
}

int main(void)
{
    /* finite differences on small shapes, causal and not */
    for (int t = 0; t < 12; t++) {
        acase c = {irand(1, 2), irand(1, 2), irand(1, 7), irand(1, 7), irand(1, 5), t & 1};
        if (c.causal) c.nk = c.nq;
        run_case(&c, 2.0, 1);
    }
    /* fuzzed shapes across the tiles */
    for (int t = 0; t < 16; t++) {
        acase c = {irand(1, 2), irand(1, 3), irand(1, 140), irand(1, 140), irand(1, 20), t % 3 == 0};
        if (c.causal) c.nk = c.nq;
        run_case(&c, t % 4 == 1 ? 4.0 : 1.0, 0);
    }
    /* SD / CLIP shapes (small token counts) */
    static const acase sd[] = {
        {1, 8, 64, 64, 40, 0}, {2, 8, 40, 77, 40, 0}, {1, 8, 33, 77, 80, 0},
        {1, 8, 16, 16, 160, 0}, {1, 12, 77, 77, 64, 1}, {1, 2, 65, 65, 64, 1},
    };
    for (size_t i = 0; i < sizeof sd / sizeof sd[0]; i++) run_case(&sd[i], 1.0, 0);
    /* every score of a row far below 0 (-200 .. -400): the softmax must subtract the row's own
     * maximum, not 0 (else every e^s underflows and the gradients are NaN); vector tails too */
    for (int nk = 7; nk <= 40; nk += 33) {
        acase c = {1, 1, 3, nk, 1, 0};
        int64_t nq = c.nq;
        oma_tensor q, k, v, o, g, dq, dk, dv;
        CHECK(oma_tensor_alloc4(&q, 3, 1, nq, 1, 0) == 0 && oma_tensor_alloc4(&o, 3, 1, nq, 1, 0) == 0);
        CHECK(oma_tensor_alloc4(&g, 3, 1, nq, 1, 0) == 0 && oma_tensor_alloc4(&dq, 3, 1, nq, 1, 0) == 0);
        CHECK(oma_tensor_alloc4(&k, 3, 1, nk, 1, 0) == 0 && oma_tensor_alloc4(&v, 3, 1, nk, 1, 0) == 0);
        CHECK(oma_tensor_alloc4(&dk, 3, 1, nk, 1, 0) == 0 && oma_tensor_alloc4(&dv, 3, 1, nk, 1, 0) == 0);
        double *Q = malloc(sizeof(double) * 3), *G = malloc(sizeof(double) * 3), *DQ = malloc(sizeof(double) * 3);
        double *K = malloc(sizeof(double) * (size_t)nk), *V = malloc(sizeof(double) * (size_t)nk);
        double *DK = malloc(sizeof(double) * (size_t)nk), *DV = malloc(sizeof(double) * (size_t)nk);
        for (int64_t i = 0; i < nq; i++) Q[i] = q.data[i] = 20.0f, G[i] = g.data[i] = (float)urand();
        for (int64_t j = 0; j < nk; j++)
            K[j] = k.data[j] = (float)(-15.0 + 5.0 * urand()), V[j] = v.data[j] = (float)urand();
        CHECK(oma_op_attention(&q, &k, &v, 1, 0.0f, 0, &o) == 0);
        CHECK(oma_op_attention_backward(&q, &k, &v, &o, &g, 1, 0.0f, 0, &dq, &dk, &dv) == 0);
        attn_bwd_ref(&c, Q, K, V, G, DQ, DK, DV);
        double mag = 0.0, e = worse(maxdiff(dq.data, DQ, nq, &mag), worse(maxdiff(dk.data, DK, nk, &mag),
                                                                         maxdiff(dv.data, DV, nk, &mag)));
        if (!(e <= 1e-4 * mag)) fprintf(stderr, "negative scores, %d keys: err %g of %g\n", nk, e, mag);
        CHECK(e <= 1e-4 * mag);
        free(Q), free(G), free(DQ), free(K), free(V), free(DK), free(DV);
        oma_tensor *all[] = {&q, &k, &v, &o, &g, &dq, &dk, &dv};
        for (size_t i = 0; i < 8; i++) oma_tensor_free(all[i]);
    }
    /* shape errors */
    oma_tensor a, b;
    CHECK(oma_tensor_alloc4(&a, 3, 1, 4, 8, 0) == 0);
    CHECK(oma_tensor_alloc4(&b, 3, 1, 5, 8, 0) == 0);
    CHECK(oma_op_attention_backward(&a, &b, &b, &a, &a, 2, 0.0f, 1, &a, &b, &b) != 0); /* causal nq != nk */
    CHECK(oma_op_attention_backward(&a, &b, &b, &a, &a, 3, 0.0f, 0, &a, &b, &b) != 0); /* 8 % 3 */
    CHECK(oma_op_attention_backward(&a, &b, &b, &a, &a, 2, 0.0f, 0, &a, &a, &b) != 0); /* dk shape */
    oma_tensor_free(&a);
    oma_tensor_free(&b);
    oma_threads_shutdown();
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
