/* graph_ops_math.c — the element-wise TFJS graph ops and reductions: broadcasting binary ops
 * (Add, Sub, Mul, RealDiv, SquaredDifference, Maximum, Minimum, FloorDiv), activations (Relu,
 * Relu6, Prelu, LeakyRelu, Sigmoid, Elu, also fused into convolutions), Sqrt/Exp/Tanh/Rsqrt/
 * Neg/Abs, AddN, Mean/Sum over axes, and Cast. Broadcasting follows numpy's rules; int32
 * tensors go through the same loops as floats (computed in double, stored back). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/pose/graph_ops_impl.h"

/* The activation loops, written so that they vectorise (selects, not branches), built twice:
 * for any x86-64 and, picked at run time, for AVX-512; the same comparisons and products lane
 * by lane, so both give the same bits. */
static inline __attribute__((always_inline)) void act_body(float *x, size_t n, int c, oma_gop_act a,
                                                           const float *alpha, float leaky)
{
    switch (a) {
    case ACT_NONE: break;
    case ACT_RELU:
        for (size_t k = 0; k < n; k++) x[k] = x[k] > 0 ? x[k] : 0;
        break;
    case ACT_RELU6:
        for (size_t k = 0; k < n; k++) x[k] = x[k] < 0 ? 0 : x[k] > 6 ? 6 : x[k];
        break;
    case ACT_PRELU:   /* n is a multiple of c (alpha per last-axis channel) */
        if (c == 1) {
            float al = alpha[0];
            for (size_t k = 0; k < n; k++) x[k] = x[k] < 0 ? x[k] * al : x[k];
        } else
            for (size_t k = 0; k + (size_t)c <= n; k += (size_t)c) {
                float *r = x + k;
                for (size_t ch = 0; ch < (size_t)c; ch++) r[ch] = r[ch] < 0 ? r[ch] * alpha[ch] : r[ch];
            }
        break;
    case ACT_LEAKY:
        for (size_t k = 0; k < n; k++) x[k] = x[k] < 0 ? x[k] * leaky : x[k];
        break;
    case ACT_SIGMOID:
        for (size_t k = 0; k < n; k++) x[k] = 1.0f / (1.0f + expf(-x[k]));
        break;
    case ACT_ELU:
        for (size_t k = 0; k < n; k++)
            if (x[k] < 0) x[k] = expm1f(x[k]);
        break;
    }
}

static void act_generic(float *x, size_t n, int c, oma_gop_act a, const float *alpha, float leaky)
{
    act_body(x, n, c, a, alpha, leaky);
}

__attribute__((target("avx512f"))) static void act_avx512(float *x, size_t n, int c, oma_gop_act a,
                                                        const float *alpha, float leaky)
{
    act_body(x, n, c, a, alpha, leaky);
}

void oma_gop_apply_act(float *x, size_t n, int c, oma_gop_act a, const float *alpha, float leaky)
{
    if (a == ACT_NONE || n == 0) return;
    static int avx512 = -1;   /* every thread stores the same answer; atomics keep that defined */
    int v = __atomic_load_n(&avx512, __ATOMIC_RELAXED);
    if (v < 0) {
        v = __builtin_cpu_supports("avx512f") != 0;
        __atomic_store_n(&avx512, v, __ATOMIC_RELAXED);
    }
    if (v)
        act_avx512(x, n, c, a, alpha, leaky);
    else
        act_generic(x, n, c, a, alpha, leaky);
}

int oma_gt_bcast_shape(const oma_gt *a, const oma_gt *b, int *rank, int64_t *d)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int k = 0; k < r; k++) {
        int ia = k - (r - a->rank), ib = k - (r - b->rank);
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        if (da != db && da != 1 && db != 1) return -1;
        d[k] = da == 1 ? db : da;
    }
    *rank = r;
    return 0;
}

/* Element offset in t for the output multi-index idx (rank r), with broadcasting. */
size_t oma_gt_bcast_off(const oma_gt *t, int r, const int64_t *idx)
{
    size_t off = 0;
    for (int k = 0; k < t->rank; k++) {
        int64_t i = idx[k + (r - t->rank)];
        off = off * (size_t)t->d[k] + (size_t)(t->d[k] == 1 ? 0 : i);
    }
    return off;
}

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_SQDIFF, BIN_MAX, BIN_MIN, BIN_FLOORDIV } bin_kind;

static double bin(bin_kind k, double a, double b)
{
    switch (k) {
    case BIN_ADD: return a + b;
    case BIN_SUB: return a - b;
    case BIN_MUL: return a * b;
    case BIN_DIV: return a / b;
    case BIN_SQDIFF: return (a - b) * (a - b);
    case BIN_MAX: return a > b ? a : b;
    case BIN_MIN: return a < b ? a : b;
    case BIN_FLOORDIV: return floor(a / b);
    }
    return 0;
}

/* Float binary ops over any broadcast, walked as rows: each side's stride per output axis
 * (0 where it broadcasts), neighbouring axes with the same pattern merged, then an odometer
 * over the outer axes and a tight loop along the last one. + - * / max min are computed in
 * float: for these the float result equals the double one rounded (double rounding is
 * innocuous here), so results are bit-identical to bin(); SquaredDifference and FloorDiv go
 * through bin() in double as the general loop does. */
#define BIN_ROW(EXPR)                                                                       \
    do {                                                                                    \
        if (ia == 1 && ib == 1)                                                             \
            for (int64_t k = 0; k < L; k++) { float x = pa[k], y = pb[k]; po[k] = (EXPR); }  \
        else if (ia == 1)                                                                   \
            for (int64_t k = 0; k < L; k++) { float x = pa[k], y = pb[0]; po[k] = (EXPR); }  \
        else if (ib == 1)                                                                   \
            for (int64_t k = 0; k < L; k++) { float x = pa[0], y = pb[k]; po[k] = (EXPR); }  \
        else                                                                                \
            for (int64_t k = 0; k < L; k++) { float x = pa[k * ia], y = pb[k * ib]; po[k] = (EXPR); } \
    } while (0)

static void bin_row(bin_kind kind, const float *pa, int64_t ia, const float *pb, int64_t ib, float *po,
                    int64_t L)
{
    switch (kind) {
    case BIN_ADD: BIN_ROW(x + y); break;
    case BIN_SUB: BIN_ROW(x - y); break;
    case BIN_MUL: BIN_ROW(x * y); break;
    case BIN_DIV: BIN_ROW(x / y); break;
    case BIN_MAX: BIN_ROW(x > y ? x : y); break;
    case BIN_MIN: BIN_ROW(x < y ? x : y); break;
    default: BIN_ROW((float)bin(kind, x, y)); break;
    }
}

static void bin_f32(bin_kind kind, const oma_gt *a, const oma_gt *b, oma_gt *out, int r, const int64_t *d)
{
    /* strides of a and b per output axis, then merged where the pattern allows */
    int64_t sa[OMA_GT_MAX_RANK], sb[OMA_GT_MAX_RANK], dd[OMA_GT_MAX_RANK];
    const oma_gt *t[2] = {a, b};
    int64_t *st[2] = {sa, sb};
    for (int s = 0; s < 2; s++) {
        int64_t run = 1;
        for (int q = r - 1; q >= 0; q--) {
            int k = q - (r - t[s]->rank);
            int64_t n = k >= 0 ? t[s]->d[k] : 1;
            st[s][q] = n == 1 ? 0 : run;
            run *= n;
        }
    }
    int m = 0;
    for (int q = 0; q < r; q++) {
        if (d[q] == 1) continue;   /* a length-1 axis moves nothing */
        if (m > 0 && sa[m - 1] == sa[q] * d[q] && sb[m - 1] == sb[q] * d[q]) {
            dd[m - 1] *= d[q];
            sa[m - 1] = sa[q], sb[m - 1] = sb[q];
            continue;
        }
        dd[m] = d[q], sa[m] = sa[q], sb[m] = sb[q];
        m++;
    }
    if (m == 0) dd[0] = 1, sa[0] = sb[0] = 0, m = 1;
    int64_t L = dd[m - 1], idx[OMA_GT_MAX_RANK] = {0};
    size_t oa = 0, ob = 0;
    for (size_t o = 0; o < out->n; o += (size_t)L) {
        bin_row(kind, a->f + oa, sa[m - 1], b->f + ob, sb[m - 1], out->f + o, L);
        for (int q = m - 2; q >= 0; q--) {
            oa += (size_t)sa[q], ob += (size_t)sb[q];
            if (++idx[q] < dd[q]) break;
            oa -= (size_t)(sa[q] * dd[q]), ob -= (size_t)(sb[q] * dd[q]);
            idx[q] = 0;
        }
    }
}

static int op_binary(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                     char *err, size_t errlen, bin_kind kind)
{
    NEED_IN(2);
    const oma_gt *a = in[0], *b = in[1];
    if (a->dtype != b->dtype) return oma_gop_fail(err, errlen, node, "dtypes differ");
    int r;
    int64_t d[OMA_GT_MAX_RANK];
    if (oma_gt_bcast_shape(a, b, &r, d)) return oma_gop_fail(err, errlen, node, "shapes do not broadcast");
    if (oma_gop_alloc_raw(out, a->dtype, r, d)) return oma_gop_fail(err, errlen, node, "output too large");
    if (a->dtype == OMA_TFJS_F32) {
        if (out->n) bin_f32(kind, a, b, out, r, d);
        return 0;
    }
    /* int32: one element at a time, in double, with a division by zero refused */
    int64_t idx[OMA_GT_MAX_RANK] = {0};
    for (size_t k = 0; k < out->n; k++) {
        size_t oa = oma_gt_bcast_off(a, r, idx), ob = oma_gt_bcast_off(b, r, idx);
        if (b->i[ob] == 0 && (kind == BIN_DIV || kind == BIN_FLOORDIV)) goto divz;
        out->i[k] = (int32_t)bin(kind, a->i[oa], b->i[ob]);
        for (int q = r - 1; q >= 0; q--) {
            if (++idx[q] < d[q]) break;
            idx[q] = 0;
        }
    }
    return 0;
divz:
    oma_gt_free(out);
    return oma_gop_fail(err, errlen, node, "integer division by zero");
}

static int op_unary(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                    char *err, size_t errlen, oma_gop_act a)
{
    NEED_IN(1);
    const oma_gt *x = in[0];
    if (x->dtype != OMA_TFJS_F32) return oma_gop_fail(err, errlen, node, "needs float input");
    if (oma_gop_alloc_raw(out, OMA_TFJS_F32, x->rank, x->d)) return oma_gop_fail(err, errlen, node, "output too large");
    memcpy(out->f, x->f, x->n * sizeof(float));
    const float *alpha = NULL;
    float leaky = 0.2f;
    if (a == ACT_PRELU) {
        NEED_IN(2);
        if (in[1]->dtype != OMA_TFJS_F32 || in[1]->n == 0 || x->rank < 1 ||
            (in[1]->n != (size_t)x->d[x->rank - 1] && in[1]->n != 1)) {
            oma_gt_free(out);
            return oma_gop_fail(err, errlen, node, "alpha must be per channel");
        }
        alpha = in[1]->f;
        oma_gop_apply_act(out->f, out->n, (int)in[1]->n, a, alpha, leaky);
        return 0;
    }
    if (a == ACT_LEAKY) {
        double v;
        if (!oma_tfjs_attr_float(node, "alpha", &v)) leaky = (float)v;
    }
    oma_gop_apply_act(out->f, out->n, 1, a, alpha, leaky);
    return 0;
}

static int op_math1(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                    char *err, size_t errlen, int which)
{
    NEED_IN(1);
    const oma_gt *x = in[0];
    if (x->dtype != OMA_TFJS_F32) return oma_gop_fail(err, errlen, node, "needs float input");
    if (oma_gop_alloc_raw(out, OMA_TFJS_F32, x->rank, x->d)) return oma_gop_fail(err, errlen, node, "output too large");
    for (size_t k = 0; k < x->n; k++) {
        float v = x->f[k];
        out->f[k] = which == 0 ? sqrtf(v) : which == 1 ? expf(v) : which == 2 ? tanhf(v)
                  : which == 3 ? 1.0f / sqrtf(v) : which == 4 ? -v : fabsf(v);
    }
    return 0;
}

static int op_addn(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                   char *err, size_t errlen)
{
    NEED_IN(1);
    for (int k = 0; k < n_in; k++)
        if (in[k]->dtype != OMA_TFJS_F32 || in[k]->rank != in[0]->rank ||
            memcmp(in[k]->d, in[0]->d, sizeof(int64_t) * (size_t)in[0]->rank) != 0)
            return oma_gop_fail(err, errlen, node, "inputs differ");
    if (oma_gt_alloc(out, OMA_TFJS_F32, in[0]->rank, in[0]->d)) return oma_gop_fail(err, errlen, node, "output too large");
    for (int k = 0; k < n_in; k++)
        for (size_t e = 0; e < out->n; e++) out->f[e] += in[k]->f[e];
    return 0;
}

static int op_mean(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                   char *err, size_t errlen, int is_sum)
{
    NEED_IN(2);
    const oma_gt *x = in[0], *ax = in[1];
    if (x->dtype != OMA_TFJS_F32 || ax->dtype != OMA_TFJS_I32 || ax->n > (size_t)x->rank)
        return oma_gop_fail(err, errlen, node, "bad axes");
    int red[OMA_GT_MAX_RANK] = {0};
    for (size_t k = 0; k < ax->n; k++) {
        int a = ax->i[k] < 0 ? ax->i[k] + x->rank : ax->i[k];
        if (a < 0 || a >= x->rank) return oma_gop_fail(err, errlen, node, "axis out of range");
        red[a] = 1;
    }
    int keep = 0;
    oma_tfjs_attr_bool(node, "keep_dims", &keep);
    int64_t kd[OMA_GT_MAX_RANK], od[OMA_GT_MAX_RANK];
    int orank = 0;
    size_t cnt = 1;
    for (int k = 0; k < x->rank; k++) {
        kd[k] = red[k] ? 1 : x->d[k];
        if (red[k]) cnt *= (size_t)x->d[k];
        if (!red[k] || keep) od[orank++] = kd[k];
    }
    if (oma_gt_alloc(out, OMA_TFJS_F32, x->rank, kd)) return oma_gop_fail(err, errlen, node, "out of memory");
    int64_t idx[OMA_GT_MAX_RANK] = {0};
    for (size_t k = 0; k < x->n; k++) {
        size_t off = 0;
        for (int q = 0; q < x->rank; q++) off = off * (size_t)kd[q] + (size_t)(red[q] ? 0 : idx[q]);
        out->f[off] += x->f[k];
        for (int q = x->rank - 1; q >= 0; q--) {
            if (++idx[q] < x->d[q]) break;
            idx[q] = 0;
        }
    }
    if (!is_sum && cnt)
        for (size_t k = 0; k < out->n; k++) out->f[k] /= (float)cnt;
    out->rank = orank;
    for (int k = 0; k < orank; k++) out->d[k] = od[k];
    return 0;
}

static int op_cast(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                   char *err, size_t errlen)
{
    NEED_IN(1);
    const oma_gt *x = in[0];
    const json_t *a = node->attr ? json_object_get(node->attr, "DstT") : NULL;
    const char *t = a ? json_string_value(json_object_get(a, "type")) : NULL;
    int to_bool = t && !strcmp(t, "DT_BOOL");   /* booleans are int32 0/1 */
    oma_tfjs_dtype dt = t && (!strcmp(t, "DT_INT32") || to_bool) ? OMA_TFJS_I32 : OMA_TFJS_F32;
    if (oma_gt_alloc(out, dt, x->rank, x->d)) return oma_gop_fail(err, errlen, node, "out of memory");
    for (size_t k = 0; k < x->n; k++) {
        if (to_bool) out->i[k] = x->dtype == OMA_TFJS_F32 ? x->f[k] != 0 : x->i[k] != 0;
        else if (dt == OMA_TFJS_F32) out->f[k] = x->dtype == OMA_TFJS_F32 ? x->f[k] : (float)x->i[k];
        else {
            float v = x->dtype == OMA_TFJS_F32 ? x->f[k] : (float)x->i[k];
            if (!(v > -2147483520.0f && v < 2147483520.0f)) {
                oma_gt_free(out);
                return oma_gop_fail(err, errlen, node, "value out of int32 range");
            }
            out->i[k] = (int32_t)v;
        }
    }
    return 0;
}

static const char *const math_ops[] = {
    "Add", "AddV2", "BiasAdd", "Sub", "Mul", "RealDiv", "SquaredDifference", "Maximum", "Minimum",
    "FloorDiv", "Relu", "Relu6", "Prelu", "LeakyRelu", "Sigmoid", "Elu", "Sqrt", "Exp", "Tanh",
    "Rsqrt", "Neg", "Abs", "AddN", "Mean", "Sum", "Cast", NULL};

int oma_gop_math_supported(const char *op) { return oma_gop_in_list(math_ops, op); }

int oma_gop_math_run(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out, char *err,
                     size_t errlen)
{
    const char *op = node->op;
    if (!strcmp(op, "Add") || !strcmp(op, "AddV2") || !strcmp(op, "BiasAdd"))
        return op_binary(node, in, n_in, out, err, errlen, BIN_ADD);
    if (!strcmp(op, "Sub")) return op_binary(node, in, n_in, out, err, errlen, BIN_SUB);
    if (!strcmp(op, "Mul")) return op_binary(node, in, n_in, out, err, errlen, BIN_MUL);
    if (!strcmp(op, "RealDiv")) return op_binary(node, in, n_in, out, err, errlen, BIN_DIV);
    if (!strcmp(op, "SquaredDifference")) return op_binary(node, in, n_in, out, err, errlen, BIN_SQDIFF);
    if (!strcmp(op, "Maximum")) return op_binary(node, in, n_in, out, err, errlen, BIN_MAX);
    if (!strcmp(op, "Minimum")) return op_binary(node, in, n_in, out, err, errlen, BIN_MIN);
    if (!strcmp(op, "FloorDiv")) return op_binary(node, in, n_in, out, err, errlen, BIN_FLOORDIV);
    if (!strcmp(op, "Relu")) return op_unary(node, in, n_in, out, err, errlen, ACT_RELU);
    if (!strcmp(op, "Relu6")) return op_unary(node, in, n_in, out, err, errlen, ACT_RELU6);
    if (!strcmp(op, "Prelu")) return op_unary(node, in, n_in, out, err, errlen, ACT_PRELU);
    if (!strcmp(op, "LeakyRelu")) return op_unary(node, in, n_in, out, err, errlen, ACT_LEAKY);
    if (!strcmp(op, "Sigmoid")) return op_unary(node, in, n_in, out, err, errlen, ACT_SIGMOID);
    if (!strcmp(op, "Elu")) return op_unary(node, in, n_in, out, err, errlen, ACT_ELU);
    if (!strcmp(op, "Sqrt")) return op_math1(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "Exp")) return op_math1(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "Tanh")) return op_math1(node, in, n_in, out, err, errlen, 2);
    if (!strcmp(op, "Rsqrt")) return op_math1(node, in, n_in, out, err, errlen, 3);
    if (!strcmp(op, "Neg")) return op_math1(node, in, n_in, out, err, errlen, 4);
    if (!strcmp(op, "Abs")) return op_math1(node, in, n_in, out, err, errlen, 5);
    if (!strcmp(op, "AddN")) return op_addn(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "Mean")) return op_mean(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "Sum")) return op_mean(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "Cast")) return op_cast(node, in, n_in, out, err, errlen);
    return OMA_GOP_NOT_MINE;
}
