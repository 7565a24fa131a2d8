/* graph_ops_select.c — the TFJS graph ops that pick, compare and index rather than compute:
 * comparisons and logic (booleans are int32 0/1 here), Select, Range, Size, Fill, Tile,
 * GatherNd, ArgMax, Max/Min, and the ops with several outputs (Unpack, Split, TopKV2).
 * MoveNet MultiPose decodes its people inside the graph with these. Each follows TensorFlow's
 * definition (tfjs's CPU kernels where they choose, e.g. TopKV2 breaks ties by lower index,
 * ArgMax returns the first maximum) and checks every index it reads against the shapes, so a
 * hostile graph gets an error, never an out-of-bounds read. */
#include "models/pose/graph_ops_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double getv(const oma_gt *t, size_t k) { return t->dtype == OMA_TFJS_F32 ? (double)t->f[k] : (double)t->i[k]; }

static void setv(oma_gt *t, size_t k, double v)
{
    if (t->dtype == OMA_TFJS_F32) t->f[k] = (float)v;
    else t->i[k] = (int32_t)v;
}

/* Copies element a of x into element b of y (same dtype). */
static void cp1(const oma_gt *x, size_t a, oma_gt *y, size_t b)
{
    if (x->dtype == OMA_TFJS_F32) y->f[b] = x->f[a];
    else y->i[b] = x->i[a];
}

static int scalar_int(const oma_gt *t, int64_t *v)
{
    if (t->n != 1) return -1;
    double d = getv(t, 0);
    if (!(d > -1e15 && d < 1e15)) return -1;
    *v = (int64_t)d;
    return 0;
}

/* Steps a row-major multi-index over shape d (rank r). */
static void step(int64_t *idx, const int64_t *d, int r)
{
    for (int q = r - 1; q >= 0; q--) {
        if (++idx[q] < d[q]) return;
        idx[q] = 0;
    }
}

/* ---- comparisons and logic ---- */

typedef enum { CMP_LT, CMP_LE, CMP_GT, CMP_GE, CMP_EQ, CMP_NE, LOG_AND, LOG_OR } cmp_kind;

static int op_compare(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                      char *err, size_t errlen, cmp_kind kind)
{
    NEED_IN(2);
    const oma_gt *a = in[0], *b = in[1];
    if (a->dtype != b->dtype) return oma_gop_fail(err, errlen, node, "dtypes differ");
    int r;
    int64_t d[OMA_GT_MAX_RANK], idx[OMA_GT_MAX_RANK] = {0};
    if (oma_gt_bcast_shape(a, b, &r, d)) return oma_gop_fail(err, errlen, node, "shapes do not broadcast");
    if (oma_gt_alloc(out, OMA_TFJS_I32, r, d)) return oma_gop_fail(err, errlen, node, "output too large");
    for (size_t k = 0; k < out->n; k++) {
        double x = getv(a, oma_gt_bcast_off(a, r, idx)), y = getv(b, oma_gt_bcast_off(b, r, idx));
        int v = 0;
        switch (kind) {
        case CMP_LT: v = x < y; break;
        case CMP_LE: v = x <= y; break;
        case CMP_GT: v = x > y; break;
        case CMP_GE: v = x >= y; break;
        case CMP_EQ: v = x == y; break;
        case CMP_NE: v = x != y; break;
        case LOG_AND: v = x != 0 && y != 0; break;
        case LOG_OR: v = x != 0 || y != 0; break;
        }
        out->i[k] = v;
        step(idx, d, r);
    }
    return 0;
}

/* Select(cond, a, b): element-wise where the shapes broadcast (SelectV2); TF1's Select also
 * takes a vector cond that picks whole rows of a and b. */
static int op_select(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                     char *err, size_t errlen)
{
    NEED_IN(3);
    const oma_gt *c = in[0], *a = in[1], *b = in[2];
    if (a->dtype != b->dtype || c->dtype != OMA_TFJS_I32) return oma_gop_fail(err, errlen, node, "bad dtypes");
    int r, r2;
    int64_t d[OMA_GT_MAX_RANK], d2[OMA_GT_MAX_RANK], idx[OMA_GT_MAX_RANK] = {0};
    if (oma_gt_bcast_shape(a, b, &r, d)) return oma_gop_fail(err, errlen, node, "shapes do not broadcast");
    if (c->rank == 1 && r > 1 && c->n == (size_t)d[0] && a->rank == r && b->rank == r && a->n == b->n) {
        if (oma_gt_alloc(out, a->dtype, r, d)) return oma_gop_fail(err, errlen, node, "output too large");
        size_t row = c->n ? out->n / c->n : 0;
        for (size_t k = 0; k < out->n; k++) cp1(c->i[k / row] ? a : b, k, out, k);
        return 0;
    }
    oma_gt shape;
    memset(&shape, 0, sizeof shape);
    shape.rank = r;
    memcpy(shape.d, d, sizeof d);
    if (oma_gt_bcast_shape(&shape, c, &r2, d2)) return oma_gop_fail(err, errlen, node, "cond does not broadcast");
    if (oma_gt_alloc(out, a->dtype, r2, d2)) return oma_gop_fail(err, errlen, node, "output too large");
    for (size_t k = 0; k < out->n; k++) {
        const oma_gt *src = c->i[oma_gt_bcast_off(c, r2, idx)] ? a : b;
        cp1(src, oma_gt_bcast_off(src, r2, idx), out, k);
        step(idx, d2, r2);
    }
    return 0;
}

/* ---- makers ---- */

static int op_range(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                    char *err, size_t errlen)
{
    NEED_IN(3);
    if (in[0]->n != 1 || in[1]->n != 1 || in[2]->n != 1) return oma_gop_fail(err, errlen, node, "needs scalars");
    double s = getv(in[0], 0), l = getv(in[1], 0), dl = getv(in[2], 0);
    if (!(dl != 0) || !isfinite(s) || !isfinite(l) || !isfinite(dl)) return oma_gop_fail(err, errlen, node, "bad start/limit/delta");
    double cnt = ceil((l - s) / dl);
    if (cnt < 0) cnt = 0;
    if (cnt > (double)OMA_GT_MAX_ELEMS) return oma_gop_fail(err, errlen, node, "too many values");
    int64_t n = (int64_t)cnt;
    if (oma_gt_alloc(out, in[0]->dtype, 1, &n)) return oma_gop_fail(err, errlen, node, "output too large");
    for (int64_t k = 0; k < n; k++) setv(out, (size_t)k, s + (double)k * dl);
    return 0;
}

static int op_size(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                   char *err, size_t errlen)
{
    NEED_IN(1);
    if (oma_gt_alloc(out, OMA_TFJS_I32, 0, NULL)) return oma_gop_fail(err, errlen, node, "out of memory");
    out->i[0] = (int32_t)in[0]->n;   /* n <= OMA_GT_MAX_ELEMS < 2^31 */
    return 0;
}

/* Reads a 1-D int shape tensor into d. */
static int read_dims(const oma_gt *s, int64_t *d, int *rank)
{
    if (s->dtype != OMA_TFJS_I32 || s->rank > 1 || s->n > OMA_GT_MAX_RANK) return -1;
    for (size_t k = 0; k < s->n; k++) {
        if (s->i[k] < 0) return -1;
        d[k] = s->i[k];
    }
    *rank = (int)s->n;
    return 0;
}

static int op_fill(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                   char *err, size_t errlen)
{
    NEED_IN(2);
    int64_t d[OMA_GT_MAX_RANK];
    int r;
    if (read_dims(in[0], d, &r) || in[1]->n != 1) return oma_gop_fail(err, errlen, node, "bad dims or value");
    if (oma_gt_alloc(out, in[1]->dtype, r, d)) return oma_gop_fail(err, errlen, node, "output too large");
    for (size_t k = 0; k < out->n; k++) cp1(in[1], 0, out, k);
    return 0;
}

static int op_tile(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                   char *err, size_t errlen)
{
    NEED_IN(2);
    const oma_gt *x = in[0];
    int64_t m[OMA_GT_MAX_RANK], d[OMA_GT_MAX_RANK], idx[OMA_GT_MAX_RANK] = {0};
    int r;
    if (read_dims(in[1], m, &r) || r != x->rank) return oma_gop_fail(err, errlen, node, "bad multiples");
    for (int k = 0; k < r; k++) {
        if (m[k] > 0 && x->d[k] > (int64_t)OMA_GT_MAX_ELEMS / m[k]) return oma_gop_fail(err, errlen, node, "output too large");
        d[k] = x->d[k] * m[k];
    }
    if (oma_gt_alloc(out, x->dtype, r, d)) return oma_gop_fail(err, errlen, node, "output too large");
    for (size_t k = 0; k < out->n; k++) {
        size_t off = 0;
        for (int q = 0; q < r; q++) off = off * (size_t)x->d[q] + (size_t)(idx[q] % x->d[q]);
        cp1(x, off, out, k);
        step(idx, d, r);
    }
    return 0;
}

/* ---- indexing ---- */

static int op_gather_nd(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                        char *err, size_t errlen)
{
    NEED_IN(2);
    const oma_gt *p = in[0], *ix = in[1];
    if (ix->dtype != OMA_TFJS_I32 || ix->rank < 1) return oma_gop_fail(err, errlen, node, "bad indices");
    int64_t K = ix->d[ix->rank - 1];
    if (K < 1 || K > p->rank) return oma_gop_fail(err, errlen, node, "index depth %lld for rank %d", (long long)K, p->rank);
    int64_t d[OMA_GT_MAX_RANK];
    int r = 0;
    for (int k = 0; k < ix->rank - 1; k++) d[r++] = ix->d[k];
    for (int k = (int)K; k < p->rank; k++) {
        if (r >= OMA_GT_MAX_RANK) return oma_gop_fail(err, errlen, node, "output rank too large");
        d[r++] = p->d[k];
    }
    size_t slice = 1, n_idx = K ? ix->n / (size_t)K : 0;
    for (int k = (int)K; k < p->rank; k++) slice *= (size_t)p->d[k];
    if (oma_gt_alloc(out, p->dtype, r, d)) return oma_gop_fail(err, errlen, node, "output too large");
    for (size_t t = 0; t < n_idx; t++) {
        size_t off = 0;
        for (int64_t q = 0; q < K; q++) {
            int32_t v = ix->i[t * (size_t)K + (size_t)q];
            if (v < 0 || v >= p->d[q]) {
                oma_gt_free(out);
                return oma_gop_fail(err, errlen, node, "index %d out of range [0, %lld)", v, (long long)p->d[q]);
            }
            off = off * (size_t)p->d[q] + (size_t)v;
        }
        for (size_t e = 0; e < slice; e++) cp1(p, off * slice + e, out, t * slice + e);
    }
    return 0;
}

/* ArgMax (is_arg) or Max/Min over axes: reduce x. */
static int axis_of(const oma_gt *x, int64_t a, int *out)
{
    if (a < 0) a += x->rank;
    if (a < 0 || a >= x->rank) return -1;
    *out = (int)a;
    return 0;
}

static int op_argmax(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                     char *err, size_t errlen, int is_min)
{
    NEED_IN(2);
    const oma_gt *x = in[0];
    int64_t a;
    int ax;
    if (scalar_int(in[1], &a) || axis_of(x, a, &ax)) return oma_gop_fail(err, errlen, node, "bad axis");
    if (x->d[ax] == 0) return oma_gop_fail(err, errlen, node, "empty axis");
    int64_t d[OMA_GT_MAX_RANK];
    int r = 0;
    size_t outer = 1, inner = 1, len = (size_t)x->d[ax];
    for (int k = 0; k < x->rank; k++) {
        if (k != ax) d[r++] = x->d[k];
        if (k < ax) outer *= (size_t)x->d[k];
        if (k > ax) inner *= (size_t)x->d[k];
    }
    if (oma_gt_alloc(out, OMA_TFJS_I32, r, d)) return oma_gop_fail(err, errlen, node, "out of memory");
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            size_t best = 0;
            double bv = getv(x, o * len * inner + i);
            for (size_t k = 1; k < len; k++) {
                double v = getv(x, (o * len + k) * inner + i);
                if (is_min ? v < bv : v > bv) {
                    bv = v;
                    best = k;
                }
            }
            out->i[o * inner + i] = (int32_t)best;
        }
    return 0;
}

static int op_reduce_max(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                         char *err, size_t errlen, int is_min)
{
    NEED_IN(2);
    const oma_gt *x = in[0], *axes = in[1];
    if (axes->dtype != OMA_TFJS_I32 || axes->n > (size_t)x->rank) return oma_gop_fail(err, errlen, node, "bad axes");
    int red[OMA_GT_MAX_RANK] = {0};
    for (size_t k = 0; k < axes->n; k++) {
        int a;
        if (axis_of(x, axes->i[k], &a)) return oma_gop_fail(err, errlen, node, "axis out of range");
        red[a] = 1;
    }
    int keep = 0;
    oma_tfjs_attr_bool(node, "keep_dims", &keep);
    int64_t kd[OMA_GT_MAX_RANK], od[OMA_GT_MAX_RANK], idx[OMA_GT_MAX_RANK] = {0};
    int orank = 0;
    for (int k = 0; k < x->rank; k++) {
        if (red[k] && x->d[k] == 0) return oma_gop_fail(err, errlen, node, "empty axis");
        kd[k] = red[k] ? 1 : x->d[k];
        if (!red[k] || keep) od[orank++] = kd[k];
    }
    if (oma_gt_alloc(out, x->dtype, x->rank, kd)) return oma_gop_fail(err, errlen, node, "out of memory");
    char *seen = calloc(out->n ? out->n : 1, 1);
    if (!seen) {
        oma_gt_free(out);
        return oma_gop_fail(err, errlen, node, "out of memory");
    }
    for (size_t k = 0; k < x->n; k++) {
        size_t off = 0;
        for (int q = 0; q < x->rank; q++) off = off * (size_t)kd[q] + (size_t)(red[q] ? 0 : idx[q]);
        double v = getv(x, k), cur = getv(out, off);
        if (!seen[off] || (is_min ? v < cur : v > cur)) cp1(x, k, out, off);
        seen[off] = 1;
        step(idx, x->d, x->rank);
    }
    free(seen);
    out->rank = orank;
    for (int k = 0; k < orank; k++) out->d[k] = od[k];
    return 0;
}

static int op_reciprocal(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                         char *err, size_t errlen)
{
    NEED_IN(1);
    const oma_gt *x = in[0];
    if (x->dtype != OMA_TFJS_F32) return oma_gop_fail(err, errlen, node, "needs float input");
    if (oma_gt_alloc(out, OMA_TFJS_F32, x->rank, x->d)) return oma_gop_fail(err, errlen, node, "output too large");
    for (size_t k = 0; k < x->n; k++) out->f[k] = 1.0f / x->f[k];
    return 0;
}

/* ---- several outputs ---- */

/* Cuts x along axis ax into parts pieces of len each into outs[0..n_outs-1] (the rest are not
 * wanted); drop removes the axis (Unpack). */
static int cut(const oma_tfjs_node *node, const oma_gt *x, int ax, int64_t parts, int drop,
               oma_gt *outs, int n_outs, char *err, size_t errlen)
{
    if (parts < 1 || x->d[ax] % parts) return oma_gop_fail(err, errlen, node, "axis of %lld does not split in %lld",
                                                   (long long)x->d[ax], (long long)parts);
    if (n_outs > parts) return oma_gop_fail(err, errlen, node, "has %lld outputs, output %d read", (long long)parts, n_outs - 1);
    int64_t len = x->d[ax], piece = len / parts, d[OMA_GT_MAX_RANK];
    int r = 0;
    size_t outer = 1, inner = 1;
    for (int k = 0; k < x->rank; k++) {
        if (k != ax) d[r++] = x->d[k];
        else if (!drop) d[r++] = piece;
        if (k < ax) outer *= (size_t)x->d[k];
        if (k > ax) inner *= (size_t)x->d[k];
    }
    for (int p = 0; p < n_outs; p++) {
        if (oma_gt_alloc(&outs[p], x->dtype, r, d)) {
            for (int q = 0; q < p; q++) oma_gt_free(&outs[q]);
            return oma_gop_fail(err, errlen, node, "out of memory");
        }
        size_t chunk = (size_t)piece * inner, o = 0;
        for (size_t ou = 0; ou < outer; ou++)
            for (size_t e = 0; e < chunk; e++)
                cp1(x, (ou * (size_t)len + (size_t)p * (size_t)piece) * inner + e, &outs[p], o++);
    }
    return 0;
}

typedef struct {
    double v;
    int32_t i;
} vi_pair;

static int vi_cmp(const void *a, const void *b)
{
    const vi_pair *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? 1 : -1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static int op_topk(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *outs, int n_outs,
                   char *err, size_t errlen)
{
    NEED_IN(2);
    const oma_gt *x = in[0];
    int64_t k;
    if (n_outs > 2) return oma_gop_fail(err, errlen, node, "has 2 outputs");
    if (x->rank < 1 || scalar_int(in[1], &k) || k < 0 || k > x->d[x->rank - 1])
        return oma_gop_fail(err, errlen, node, "k out of range");
    int64_t d[OMA_GT_MAX_RANK];
    memcpy(d, x->d, sizeof d);
    d[x->rank - 1] = k;
    size_t len = (size_t)x->d[x->rank - 1], rows = len ? x->n / len : 0;
    vi_pair *pr = malloc((len ? len : 1) * sizeof *pr);
    if (!pr || oma_gt_alloc(&outs[0], x->dtype, x->rank, d) ||
        (n_outs > 1 && oma_gt_alloc(&outs[1], OMA_TFJS_I32, x->rank, d))) {
        free(pr);
        oma_gt_free(&outs[0]);
        return oma_gop_fail(err, errlen, node, "out of memory");
    }
    for (size_t r = 0; r < rows; r++) {
        for (size_t e = 0; e < len; e++) {
            pr[e].v = getv(x, r * len + e);
            pr[e].i = (int32_t)e;
        }
        qsort(pr, len, sizeof *pr, vi_cmp);
        for (int64_t e = 0; e < k; e++) {
            cp1(x, r * len + (size_t)pr[e].i, &outs[0], r * (size_t)k + (size_t)e);
            if (n_outs > 1) outs[1].i[r * (size_t)k + (size_t)e] = pr[e].i;
        }
    }
    free(pr);
    return 0;
}

int oma_gop_multi_ok(const char *op, int n_outs)
{
    if (!strcmp(op, "TopKV2")) return n_outs <= 2;
    return !strcmp(op, "Unpack") || !strcmp(op, "Split");
}

int oma_gop_run_multi(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *outs,
                      int n_outs, char *err, size_t errlen)
{
    for (int k = 0; k < n_outs; k++) memset(&outs[k], 0, sizeof outs[k]);
    if (n_outs < 1 || n_outs > OMA_GOP_MAX_OUTS) return oma_gop_fail(err, errlen, node, "bad output count");
    for (int k = 0; k < n_in; k++)
        if ((in[k]->dtype == OMA_TFJS_F32 && !in[k]->f) || (in[k]->dtype == OMA_TFJS_I32 && !in[k]->i))
            return oma_gop_fail(err, errlen, node, "input %d has no data", k);
    const char *op = node->op;
    if (!strcmp(op, "TopKV2")) return op_topk(node, in, n_in, outs, n_outs, err, errlen);
    if (!strcmp(op, "Unpack")) {
        NEED_IN(1);
        int64_t a = 0, num = -1;
        int ax;
        oma_tfjs_attr_int(node, "axis", &a);
        if (axis_of(in[0], a, &ax)) return oma_gop_fail(err, errlen, node, "bad axis");
        if (!oma_tfjs_attr_int(node, "num", &num) && num != in[0]->d[ax])
            return oma_gop_fail(err, errlen, node, "num %lld but axis has %lld", (long long)num, (long long)in[0]->d[ax]);
        return cut(node, in[0], ax, in[0]->d[ax], 1, outs, n_outs, err, errlen);
    }
    if (!strcmp(op, "Split")) {
        NEED_IN(2);
        int64_t a, num;
        int ax;
        if (scalar_int(in[0], &a) || axis_of(in[1], a, &ax)) return oma_gop_fail(err, errlen, node, "bad axis");
        if (oma_tfjs_attr_int(node, "num_split", &num)) return oma_gop_fail(err, errlen, node, "no num_split");
        return cut(node, in[1], ax, num, 0, outs, n_outs, err, errlen);
    }
    return oma_gop_fail(err, errlen, node, "not a multi-output op");
}

static const char *const supported[] = {
    "Less", "LessEqual", "Greater", "GreaterEqual", "Equal", "NotEqual", "LogicalAnd",
    "LogicalOr", "Select", "SelectV2", "Range", "Size", "Fill", "Tile", "GatherNd", "ArgMax",
    "ArgMin", "Max", "Min", "Reciprocal", "Unpack", "Split", "TopKV2", NULL,
};

int oma_gop_select_supported(const char *op)
{
    for (int k = 0; supported[k]; k++)
        if (!strcmp(supported[k], op)) return 1;
    return 0;
}

int oma_gop_select_run(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                       char *err, size_t errlen)
{
    const char *op = node->op;
    if (oma_gop_multi_ok(op, 1)) return oma_gop_run_multi(node, in, n_in, out, 1, err, errlen);
    static const struct { const char *op; cmp_kind k; } cmps[] = {
        {"Less", CMP_LT}, {"LessEqual", CMP_LE}, {"Greater", CMP_GT}, {"GreaterEqual", CMP_GE},
        {"Equal", CMP_EQ}, {"NotEqual", CMP_NE}, {"LogicalAnd", LOG_AND}, {"LogicalOr", LOG_OR},
    };
    for (size_t k = 0; k < sizeof cmps / sizeof cmps[0]; k++)
        if (!strcmp(op, cmps[k].op)) return op_compare(node, in, n_in, out, err, errlen, cmps[k].k);
    if (!strcmp(op, "Select") || !strcmp(op, "SelectV2")) return op_select(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "Range")) return op_range(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "Size")) return op_size(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "Fill")) return op_fill(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "Tile")) return op_tile(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "GatherNd")) return op_gather_nd(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "ArgMax")) return op_argmax(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "ArgMin")) return op_argmax(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "Max")) return op_reduce_max(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "Min")) return op_reduce_max(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "Reciprocal")) return op_reciprocal(node, in, n_in, out, err, errlen);
    return oma_gop_fail(err, errlen, node, "unsupported op");
}
