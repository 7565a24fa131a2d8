/* cpu_attention_body.h — the per-task attention kernel, compiled once per instruction set.
 *
 * Included by cpu_attention.c with ATTN_FN (the function name) and ATTN_ATTR (its target
 * attribute) defined; portable vector-extension loops (the AVX-512 kernels are in
 * cpu_attention_avx512.c). See cpu_attention.c for the algorithm.
 */
ATTN_ATTR static void ATTN_FN(const attn_ctx *t, int64_t task, float *scratch)
{
    const oma_attn_args *a = t->a;
    const int64_t D = a->head_dim, dp = t->dp;
    int64_t qb = task % t->qblocks;
    int64_t bh = task / t->qblocks;
    int64_t h = bh % a->heads, b = bh / a->heads;
    int64_t q0 = qb * BQ, qn = a->nq - q0 < BQ ? a->nq - q0 : BQ;

    float *qp = scratch;                /* [BQ][dp], scaled */
    float *op = qp + BQ * dp;           /* [BQ][dp] */
    float *s = op + BQ * dp;            /* [BQ][BK] */
    const int64_t ldk = t->nkp;         /* row stride of the packed K^T */
    const float *kt_all = t->kt + bh * dp * ldk, *vp_all = t->vp + bh * ldk * dp;
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
        const float *kt = kt_all + k0;          /* [dp][ldk], this block's 64 columns */
        const float *vp = vp_all + k0 * dp;     /* [BK][dp] */
        /* S = Q K^T */
        for (int r0 = 0; r0 < BQ; r0 += RB) {
            for (int jv = 0; jv < BK; jv += VL) {
                v16 acc[RB];
                for (int r = 0; r < RB; r++) acc[r] = SPLAT(0.0f);
                for (int64_t d = 0; d < dp; d++) {
                    v16 kv = LD(kt + d * ldk + jv);
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
            float bm = hmax(&mx);
            float mnew = bm > m[r] ? bm : m[r];
            if (mnew == -INFINITY) {            /* nothing visible yet */
                memset(sr, 0, sizeof(float) * BK);
                continue;
            }
            float corr = m[r] == -INFINITY ? 0.0f : expf(m[r] - mnew);
            v16 sum = SPLAT(0.0f), mv = SPLAT(mnew);
            for (int jv = 0; jv < BK; jv += VL) {
                v16 p = LD(sr + jv) - mv;
                vexp(&p);
                ST(sr + jv, p);
                sum += p;
            }
            l[r] = l[r] * corr + hsum(&sum);
            m[r] = mnew;
            if (corr != 1.0f) {
                v16 cv = SPLAT(corr);
                for (int64_t d = 0; d < dp; d += VL) ST(op + r * dp + d, LD(op + r * dp + d) * cv);
            }
        }
        /* O += P V */
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

#undef ATTN_FN
#undef ATTN_ATTR
