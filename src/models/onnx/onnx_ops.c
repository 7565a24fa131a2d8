/* onnx_ops.c — the ONNX runtime's element-wise and shape ops (see onnx_rt.h): numpy-style
 * broadcasting binary ops on float and int64, unary float ops, and the data-movement ops
 * (Concat, Split, Slice, Gather, Reshape, Transpose, Flatten, Shape, (Un)squeeze, Cast,
 * Constant, Identity), plus the op-name table. Shapes and attributes are checked first; the
 * loops then trust them. */
#include "models/onnx/onnx_ops.h"
#include "tensor/threadpool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t ort_attr_int(const oma_onnx_node *n, const char *name, int64_t dflt)
{
    const oma_onnx_attr *a = oma_onnx_find_attr(n, name);
    return a && a->type == OMA_ONNX_ATTR_INT ? a->i : dflt;
}

float ort_attr_float(const oma_onnx_node *n, const char *name, float dflt)
{
    const oma_onnx_attr *a = oma_onnx_find_attr(n, name);
    return a && a->type == OMA_ONNX_ATTR_FLOAT ? a->f : dflt;
}

int ort_attr_ints(const oma_onnx_node *n, const char *name, int64_t *dst, int max)
{
    const oma_onnx_attr *a = oma_onnx_find_attr(n, name);
    if (!a || a->type != OMA_ONNX_ATTR_INTS) return -1;
    if (a->n > (size_t)max) return -2;
    for (size_t i = 0; i < a->n; i++) dst[i] = a->ints[i];
    return (int)a->n;
}

int ort_need(ort_ctx *c, oma_ort_value *const *in, int nin, int i, int dtype)
{
    if (i >= nin || !in[i]) return ort_fail(c, "input %d is missing", i);
    if (dtype && in[i]->dtype != dtype) return ort_fail(c, "input %d is %s, %s expected", i, oma_onnx_dtype_name(in[i]->dtype), oma_onnx_dtype_name(dtype));
    return 0;
}

int ort_axis(ort_ctx *c, int64_t axis, int r)
{
    if (axis < -r || axis >= (r ? r : 1)) return ort_fail(c, "axis %lld out of range for rank %d", (long long)axis, r);
    return (int)(axis < 0 ? axis + r : axis);
}

static size_t esize(int dtype) { return dtype == OMA_ONNX_FLOAT ? 4 : 8; }

/* ---------- broadcasting binary ops ---------- */

enum { B_ADD, B_SUB, B_MUL, B_DIV, B_POW };

static int binary(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int op)
{
    if (ort_need(c, in, nin, 0, 0) || ort_need(c, in, nin, 1, 0)) return -1;
    const oma_ort_value *a = in[0], *b = in[1];
    int dt = a->dtype;
    if (b->dtype != dt && !(op == B_POW && dt == OMA_ONNX_FLOAT)) return ort_fail(c, "inputs of different types");
    int r = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t dims[OMA_ONNX_MAX_DIMS], sa[OMA_ONNX_MAX_DIMS], sb[OMA_ONNX_MAX_DIMS];
    int64_t stA = 1, stB = 1;
    for (int k = r - 1; k >= 0; k--) {
        int ia = k - (r - a->ndim), ib = k - (r - b->ndim);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) return ort_fail(c, "shapes do not broadcast (dim %d: %lld vs %lld)", k, (long long)da, (long long)db);
        dims[k] = da == 1 ? db : da;
        sa[k] = da == 1 ? 0 : stA;
        sb[k] = db == 1 ? 0 : stB;
        stA *= da;
        stB *= db;
    }
    if (oma_ort_value_alloc(out, dt, r, dims) != 0) return ort_fail(c, "out of memory");
    int64_t idx[OMA_ONNX_MAX_DIMS] = {0}, oa = 0, ob = 0;
    for (int64_t i = 0; i < out->numel; i++) {
        if (dt == OMA_ONNX_FLOAT) {
            float x = ((const float *)a->data)[oa];
            float y = b->dtype == OMA_ONNX_FLOAT ? ((const float *)b->data)[ob] : (float)((const int64_t *)b->data)[ob];
            float z;
            switch (op) {
            case B_ADD: z = x + y; break;
            case B_SUB: z = x - y; break;
            case B_MUL: z = x * y; break;
            case B_DIV: z = x / y; break;
            default: z = y == 2.0f ? x * x : powf(x, y); break;
            }
            ((float *)out->data)[i] = z;
        } else {
            int64_t x = ((const int64_t *)a->data)[oa], y = ((const int64_t *)b->data)[ob], z;
            switch (op) {
            case B_ADD: z = (int64_t)((uint64_t)x + (uint64_t)y); break;
            case B_SUB: z = (int64_t)((uint64_t)x - (uint64_t)y); break;
            case B_MUL: z = (int64_t)((uint64_t)x * (uint64_t)y); break;
            case B_DIV:
                if (y == 0 || (x == INT64_MIN && y == -1)) { oma_ort_value_free(out); return ort_fail(c, "integer division by zero"); }
                z = x / y; break;
            default: z = (int64_t)pow((double)x, (double)y); break;
            }
            ((int64_t *)out->data)[i] = z;
        }
        for (int k = r - 1; k >= 0; k--) {
            oa += sa[k]; ob += sb[k];
            if (++idx[k] < dims[k]) break;
            oa -= sa[k] * dims[k]; ob -= sb[k] * dims[k];
            idx[k] = 0;
        }
    }
    return 0;
}

#define BIN(name, op) \
    static int name(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout) \
    { (void)nout; return binary(c, in, nin, out, op); }
BIN(op_add, B_ADD)
BIN(op_sub, B_SUB)
BIN(op_mul, B_MUL)
BIN(op_div, B_DIV)
BIN(op_pow, B_POW)

/* ---------- unary float ops ---------- */

enum { U_SIGMOID, U_RELU, U_SQRT, U_EXP };

static int unary(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int op)
{
    if (ort_need(c, in, nin, 0, OMA_ONNX_FLOAT)) return -1;
    const oma_ort_value *x = in[0];
    if (oma_ort_value_alloc(out, OMA_ONNX_FLOAT, x->ndim, x->dims) != 0) return ort_fail(c, "out of memory");
    const float *s = x->data;
    float *d = out->data;
    for (int64_t i = 0; i < x->numel; i++) {
        float v = s[i];
        switch (op) {
        case U_SIGMOID: d[i] = 1.0f / (1.0f + expf(-v)); break;
        case U_RELU: d[i] = v > 0 ? v : 0; break;
        case U_SQRT: d[i] = sqrtf(v); break;
        default: d[i] = expf(v); break;
        }
    }
    return 0;
}

#define UN(name, op) \
    static int name(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout) \
    { (void)nout; return unary(c, in, nin, out, op); }
UN(op_sigmoid, U_SIGMOID)
UN(op_relu, U_RELU)
UN(op_sqrt, U_SQRT)
UN(op_exp, U_EXP)

/* SiLU fused (onnx_rt.c's create pass): Mul(X, Sigmoid(X)) as one pass over X, in parallel;
 * x * (1 / (1 + exp(-x))) in float, the same arithmetic as the two ops (so the same bits).
 * The Mul node gets X as its only present input; the Sigmoid node runs ort_op_skip. */
typedef struct { const float *x; float *y; } silu_job;
static void silu_range(void *ctx, int64_t b, int64_t e)
{
    const silu_job *j = ctx;
    for (int64_t i = b; i < e; i++) {
        float v = j->x[i], sg = 1.0f / (1.0f + expf(-v));
        j->y[i] = v * sg;
    }
}

int ort_op_silu(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    const oma_ort_value *x = NULL;
    for (int i = 0; i < nin; i++) if (in[i]) x = in[i];
    if (!x || x->dtype != OMA_ONNX_FLOAT) return ort_fail(c, "fused SiLU: float input expected");
    if (oma_ort_value_alloc(out, OMA_ONNX_FLOAT, x->ndim, x->dims) != 0) return ort_fail(c, "out of memory");
    silu_job j = {x->data, out->data};
    oma_parallel_for(x->numel, 16384, silu_range, &j);
    return 0;
}

int ort_op_skip(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)c; (void)in; (void)nin; (void)out; (void)nout;
    return 0;
}

static int op_hardsigmoid(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, OMA_ONNX_FLOAT)) return -1;
    float alpha = ort_attr_float(c->n, "alpha", 0.2f), beta = ort_attr_float(c->n, "beta", 0.5f);
    const oma_ort_value *x = in[0];
    if (oma_ort_value_alloc(out, OMA_ONNX_FLOAT, x->ndim, x->dims) != 0) return ort_fail(c, "out of memory");
    for (int64_t i = 0; i < x->numel; i++) {
        float v = alpha * ((const float *)x->data)[i] + beta;
        ((float *)out->data)[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    return 0;
}

/* Clip: min/max from inputs 1/2 (opset 11+, optional scalars) or attributes (older). */
static int op_clip(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, OMA_ONNX_FLOAT)) return -1;
    float lo = ort_attr_float(c->n, "min", -INFINITY), hi = ort_attr_float(c->n, "max", INFINITY);
    for (int i = 1; i <= 2; i++) {
        if (nin <= i || !in[i]) continue;
        if (in[i]->dtype != OMA_ONNX_FLOAT || in[i]->numel != 1) return ort_fail(c, "min/max must be float scalars");
        *(i == 1 ? &lo : &hi) = ((const float *)in[i]->data)[0];
    }
    const oma_ort_value *x = in[0];
    if (oma_ort_value_alloc(out, OMA_ONNX_FLOAT, x->ndim, x->dims) != 0) return ort_fail(c, "out of memory");
    for (int64_t i = 0; i < x->numel; i++) {
        float v = ((const float *)x->data)[i];
        ((float *)out->data)[i] = v < lo ? lo : v > hi ? hi : v;
    }
    return 0;
}

/* ---------- data movement ---------- */

static int copy_value(ort_ctx *c, const oma_ort_value *x, int ndim, const int64_t *dims, oma_ort_value *out)
{
    if (oma_ort_value_alloc(out, x->dtype, ndim, dims) != 0) return ort_fail(c, "out of memory or bad shape");
    if (out->numel != x->numel) { oma_ort_value_free(out); return ort_fail(c, "element count changes (%lld -> %lld)", (long long)x->numel, (long long)out->numel); }
    memcpy(out->data, x->data, (size_t)x->numel * esize(x->dtype));
    return 0;
}

static int op_identity(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, 0)) return -1;
    return copy_value(c, in[0], in[0]->ndim, in[0]->dims, out);
}

static int op_reshape(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, 0) || ort_need(c, in, nin, 1, OMA_ONNX_INT64)) return -1;
    const oma_ort_value *x = in[0], *sh = in[1];
    if (sh->ndim != 1 || sh->numel > OMA_ONNX_MAX_DIMS) return ort_fail(c, "shape must be a 1-D tensor of at most %d values", OMA_ONNX_MAX_DIMS);
    int64_t dims[OMA_ONNX_MAX_DIMS], known = 1;
    int nd = (int)sh->numel, minus = -1;
    for (int i = 0; i < nd; i++) {
        int64_t d = ((const int64_t *)sh->data)[i];
        if (d == 0 && !ort_attr_int(c->n, "allowzero", 0)) {
            if (i >= x->ndim) return ort_fail(c, "shape[%d] = 0 copies a dim the input lacks", i);
            d = x->dims[i];
        }
        if (d == -1) { if (minus >= 0) return ort_fail(c, "more than one -1 in the shape"); minus = i; dims[i] = 1; continue; }
        if (d < 0 || d > OMA_ONNX_MAX_DIM) return ort_fail(c, "shape value %lld out of range", (long long)d);
        dims[i] = d;
        if (d && known > OMA_ONNX_MAX_NUMEL / d) return ort_fail(c, "shape too large");
        known *= d;
    }
    if (minus >= 0) {
        if (known == 0 || x->numel % known) return ort_fail(c, "cannot infer -1: %lld elements into a multiple of %lld", (long long)x->numel, (long long)known);
        dims[minus] = x->numel / known;
    }
    return copy_value(c, x, nd, dims, out);
}

static int op_flatten(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, 0)) return -1;
    const oma_ort_value *x = in[0];
    int64_t axis = ort_attr_int(c->n, "axis", 1);
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis > x->ndim) return ort_fail(c, "axis out of range");
    int64_t d[2] = {1, 1};
    for (int i = 0; i < x->ndim; i++) d[i >= axis] *= x->dims[i];
    return copy_value(c, x, 2, d, out);
}

/* Axes from the "axes" attribute (old opsets) or input 1 (opset 13). */
static int get_axes(ort_ctx *c, oma_ort_value *const *in, int nin, int64_t *axes, int max)
{
    if (nin > 1 && in[1]) {
        if (in[1]->dtype != OMA_ONNX_INT64 || in[1]->ndim > 1 || in[1]->numel > max) return ort_fail(c, "axes must be int64, at most %d", max);
        for (int64_t i = 0; i < in[1]->numel; i++) axes[i] = ((const int64_t *)in[1]->data)[i];
        return (int)in[1]->numel;
    }
    int n = ort_attr_ints(c->n, "axes", axes, max);
    return n == -2 ? ort_fail(c, "too many axes") : n;
}

static int op_unsqueeze(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, 0)) return -1;
    const oma_ort_value *x = in[0];
    int64_t axes[OMA_ONNX_MAX_DIMS];
    int na = get_axes(c, in, nin, axes, OMA_ONNX_MAX_DIMS);
    if (na < 0) return na == -1 && !(nin > 1 && in[1]) ? ort_fail(c, "no axes") : -1;
    int r = x->ndim + na;
    if (r > OMA_ONNX_MAX_DIMS) return ort_fail(c, "rank above %d", OMA_ONNX_MAX_DIMS);
    int mark[OMA_ONNX_MAX_DIMS] = {0};
    for (int i = 0; i < na; i++) {
        int a = ort_axis(c, axes[i], r);
        if (a < 0) return -1;
        if (mark[a]) return ort_fail(c, "axis repeated");
        mark[a] = 1;
    }
    int64_t dims[OMA_ONNX_MAX_DIMS];
    for (int i = 0, j = 0; i < r; i++) dims[i] = mark[i] ? 1 : x->dims[j++];
    return copy_value(c, x, r, dims, out);
}

static int op_squeeze(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, 0)) return -1;
    const oma_ort_value *x = in[0];
    int64_t axes[OMA_ONNX_MAX_DIMS];
    int na = get_axes(c, in, nin, axes, OMA_ONNX_MAX_DIMS);
    if (na < -1) return -1;
    int mark[OMA_ONNX_MAX_DIMS] = {0};
    if (na < 0) { for (int i = 0; i < x->ndim; i++) mark[i] = x->dims[i] == 1; }
    else for (int i = 0; i < na; i++) {
        int a = ort_axis(c, axes[i], x->ndim);
        if (a < 0) return -1;
        if (x->dims[a] != 1) return ort_fail(c, "squeezed dim %d is %lld, not 1", a, (long long)x->dims[a]);
        mark[a] = 1;
    }
    int64_t dims[OMA_ONNX_MAX_DIMS];
    int r = 0;
    for (int i = 0; i < x->ndim; i++) if (!mark[i]) dims[r++] = x->dims[i];
    return copy_value(c, x, r, dims, out);
}

static int op_shape(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, 0)) return -1;
    int64_t n = in[0]->ndim;
    if (oma_ort_value_alloc(out, OMA_ONNX_INT64, 1, &n) != 0) return ort_fail(c, "out of memory");
    memcpy(out->data, in[0]->dims, (size_t)n * 8);
    return 0;
}

static int op_cast(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, 0)) return -1;
    int64_t to = ort_attr_int(c->n, "to", 0);
    const oma_ort_value *x = in[0];
    int dt = to == OMA_ONNX_FLOAT || to == OMA_ONNX_DOUBLE ? OMA_ONNX_FLOAT
           : to == OMA_ONNX_INT64 || to == OMA_ONNX_INT32 ? OMA_ONNX_INT64 : 0;
    if (!dt) return ort_fail(c, "cast to type %lld is not supported", (long long)to);
    if (oma_ort_value_alloc(out, dt, x->ndim, x->dims) != 0) return ort_fail(c, "out of memory");
    for (int64_t i = 0; i < x->numel; i++) {
        if (dt == OMA_ONNX_FLOAT)
            ((float *)out->data)[i] = x->dtype == OMA_ONNX_FLOAT ? ((const float *)x->data)[i] : (float)((const int64_t *)x->data)[i];
        else if (x->dtype == OMA_ONNX_INT64)
            ((int64_t *)out->data)[i] = ((const int64_t *)x->data)[i];
        else {
            float f = ((const float *)x->data)[i];
            if (!(f > -9.2e18f && f < 9.2e18f)) { oma_ort_value_free(out); return ort_fail(c, "value out of int64 range"); }
            ((int64_t *)out->data)[i] = (int64_t)f;
        }
    }
    return 0;
}

static int op_constant(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)in; (void)nin; (void)nout;
    const oma_onnx_attr *a = oma_onnx_find_attr(c->n, "value");
    if (a && a->type == OMA_ONNX_ATTR_TENSOR) {
        const oma_onnx_tensor *t = a->t;
        int dt = t->dtype == OMA_ONNX_FLOAT ? OMA_ONNX_FLOAT : t->dtype == OMA_ONNX_INT64 ? OMA_ONNX_INT64 : 0;
        if (!dt) return ort_fail(c, "constant of type %s is not supported", oma_onnx_dtype_name(t->dtype));
        if (oma_ort_value_alloc(out, dt, t->ndim, t->dims) != 0) return ort_fail(c, "out of memory");
        memcpy(out->data, t->data, t->nbytes);
        return 0;
    }
    if ((a = oma_onnx_find_attr(c->n, "value_float")) && a->type == OMA_ONNX_ATTR_FLOAT) {
        if (oma_ort_value_alloc(out, OMA_ONNX_FLOAT, 0, NULL) != 0) return ort_fail(c, "out of memory");
        ((float *)out->data)[0] = a->f;
        return 0;
    }
    if ((a = oma_onnx_find_attr(c->n, "value_int")) && a->type == OMA_ONNX_ATTR_INT) {
        if (oma_ort_value_alloc(out, OMA_ONNX_INT64, 0, NULL) != 0) return ort_fail(c, "out of memory");
        ((int64_t *)out->data)[0] = a->i;
        return 0;
    }
    if ((a = oma_onnx_find_attr(c->n, "value_ints")) && a->type == OMA_ONNX_ATTR_INTS) {
        int64_t n = (int64_t)a->n;
        if (oma_ort_value_alloc(out, OMA_ONNX_INT64, 1, &n) != 0) return ort_fail(c, "out of memory");
        memcpy(out->data, a->ints, a->n * 8);
        return 0;
    }
    return ort_fail(c, "no supported value attribute");
}

/* outer x axis x inner block copies: the common walk of Concat, Split, Gather, Slice. */
static void split_dims(const oma_ort_value *x, int axis, int64_t *outer, int64_t *inner)
{
    *outer = 1; *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= x->dims[i];
    for (int i = axis + 1; i < x->ndim; i++) *inner *= x->dims[i];
}

static int op_concat(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, 0)) return -1;
    const oma_ort_value *x0 = in[0];
    int axis = ort_axis(c, ort_attr_int(c->n, "axis", 0), x0->ndim);
    if (axis < 0) return -1;
    int64_t dims[OMA_ONNX_MAX_DIMS];
    memcpy(dims, x0->dims, sizeof dims);
    dims[axis] = 0;
    for (int i = 0; i < nin; i++) {
        if (ort_need(c, in, nin, i, x0->dtype)) return -1;
        if (in[i]->ndim != x0->ndim) return ort_fail(c, "inputs of different ranks");
        for (int k = 0; k < x0->ndim; k++)
            if (k != axis && in[i]->dims[k] != x0->dims[k]) return ort_fail(c, "input %d: dim %d is %lld, not %lld", i, k, (long long)in[i]->dims[k], (long long)x0->dims[k]);
        dims[axis] += in[i]->dims[axis];
    }
    if (oma_ort_value_alloc(out, x0->dtype, x0->ndim, dims) != 0) return ort_fail(c, "out of memory");
    int64_t outer, inner;
    split_dims(out, axis, &outer, &inner);
    size_t es = esize(x0->dtype);
    uint8_t *d = out->data;
    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < nin; i++) {
            size_t blk = (size_t)(in[i]->dims[axis] * inner) * es;
            memcpy(d, (const uint8_t *)in[i]->data + (size_t)o * blk, blk);
            d += blk;
        }
    return 0;
}

static int op_split(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    if (ort_need(c, in, nin, 0, 0)) return -1;
    const oma_ort_value *x = in[0];
    int axis = ort_axis(c, ort_attr_int(c->n, "axis", 0), x->ndim);
    if (axis < 0) return -1;
    int64_t sizes[OMA_ONNX_MAX_IO];
    if (nin > 1 && in[1]) {
        if (in[1]->dtype != OMA_ONNX_INT64 || in[1]->numel != nout) return ort_fail(c, "split sizes must be %d int64 values", nout);
        memcpy(sizes, in[1]->data, (size_t)nout * 8);
    } else {
        int n = ort_attr_ints(c->n, "split", sizes, OMA_ONNX_MAX_IO);
        if (n >= 0 && n != nout) return ort_fail(c, "split attribute has %d values for %d outputs", n, nout);
        if (n < 0) {
            if (x->dims[axis] % nout) return ort_fail(c, "dim %lld does not split evenly in %d", (long long)x->dims[axis], nout);
            for (int i = 0; i < nout; i++) sizes[i] = x->dims[axis] / nout;
        }
    }
    int64_t total = 0;
    for (int i = 0; i < nout; i++) {
        if (sizes[i] < 0 || sizes[i] > x->dims[axis]) return ort_fail(c, "split size out of range");
        total += sizes[i];
    }
    if (total != x->dims[axis]) return ort_fail(c, "split sizes sum to %lld, the dim is %lld", (long long)total, (long long)x->dims[axis]);
    int64_t outer, inner;
    split_dims(x, axis, &outer, &inner);
    size_t es = esize(x->dtype);
    int64_t at = 0;
    for (int i = 0; i < nout; i++) {
        int64_t dims[OMA_ONNX_MAX_DIMS];
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = sizes[i];
        if (oma_ort_value_alloc(&out[i], x->dtype, x->ndim, dims) != 0) return ort_fail(c, "out of memory");
        size_t blk = (size_t)(sizes[i] * inner) * es, row = (size_t)(x->dims[axis] * inner) * es;
        for (int64_t o = 0; o < outer; o++)
            memcpy((uint8_t *)out[i].data + (size_t)o * blk, (const uint8_t *)x->data + (size_t)o * row + (size_t)(at * inner) * es, blk);
        at += sizes[i];
    }
    return 0;
}

static int op_gather(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, 0) || ort_need(c, in, nin, 1, OMA_ONNX_INT64)) return -1;
    const oma_ort_value *x = in[0], *ix = in[1];
    int axis = ort_axis(c, ort_attr_int(c->n, "axis", 0), x->ndim);
    if (axis < 0) return -1;
    int r = x->ndim - 1 + ix->ndim;
    if (r > OMA_ONNX_MAX_DIMS) return ort_fail(c, "rank above %d", OMA_ONNX_MAX_DIMS);
    int64_t dims[OMA_ONNX_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < axis; i++) dims[k++] = x->dims[i];
    for (int i = 0; i < ix->ndim; i++) dims[k++] = ix->dims[i];
    for (int i = axis + 1; i < x->ndim; i++) dims[k++] = x->dims[i];
    int64_t outer, inner, n = x->dims[axis];
    split_dims(x, axis, &outer, &inner);
    for (int64_t j = 0; j < ix->numel; j++) {
        int64_t v = ((const int64_t *)ix->data)[j];
        if (v < -n || v >= n) return ort_fail(c, "index %lld out of range [-%lld, %lld)", (long long)v, (long long)n, (long long)n);
    }
    if (oma_ort_value_alloc(out, x->dtype, r, dims) != 0) return ort_fail(c, "out of memory");
    size_t es = esize(x->dtype), blk = (size_t)inner * es;
    uint8_t *d = out->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < ix->numel; j++) {
            int64_t v = ((const int64_t *)ix->data)[j];
            if (v < 0) v += n;
            memcpy(d, (const uint8_t *)x->data + (size_t)(o * n + v) * blk, blk);
            d += blk;
        }
    return 0;
}

static int op_transpose(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, 0)) return -1;
    const oma_ort_value *x = in[0];
    int r = x->ndim;
    int64_t perm[OMA_ONNX_MAX_DIMS];
    int np = ort_attr_ints(c->n, "perm", perm, OMA_ONNX_MAX_DIMS);
    if (np < 0) for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
    else if (np != r) return ort_fail(c, "perm has %d values for rank %d", np, r);
    int seen[OMA_ONNX_MAX_DIMS] = {0};
    int64_t dims[OMA_ONNX_MAX_DIMS], st[OMA_ONNX_MAX_DIMS], src_st[OMA_ONNX_MAX_DIMS];
    for (int i = 0; i < r; i++) {
        if (perm[i] < 0 || perm[i] >= r || seen[perm[i]]++) return ort_fail(c, "perm is not a permutation");
        dims[i] = x->dims[perm[i]];
    }
    int64_t s = 1;
    for (int i = r - 1; i >= 0; i--) { src_st[i] = s; s *= x->dims[i]; }
    for (int i = 0; i < r; i++) st[i] = src_st[perm[i]];
    if (oma_ort_value_alloc(out, x->dtype, r, dims) != 0) return ort_fail(c, "out of memory");
    size_t es = esize(x->dtype);
    int64_t idx[OMA_ONNX_MAX_DIMS] = {0}, off = 0;
    for (int64_t i = 0; i < out->numel; i++) {
        memcpy((uint8_t *)out->data + (size_t)i * es, (const uint8_t *)x->data + (size_t)off * es, es);
        for (int k = r - 1; k >= 0; k--) {
            off += st[k];
            if (++idx[k] < dims[k]) break;
            off -= st[k] * dims[k];
            idx[k] = 0;
        }
    }
    return 0;
}

static int op_slice(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, 0) || ort_need(c, in, nin, 1, OMA_ONNX_INT64) || ort_need(c, in, nin, 2, OMA_ONNX_INT64)) return -1;
    const oma_ort_value *x = in[0];
    int r = x->ndim;
    int64_t n = in[1]->numel;
    if (in[1]->ndim != 1 || in[2]->numel != n || n > r) return ort_fail(c, "starts/ends must be 1-D of equal length <= rank");
    const oma_ort_value *ax = nin > 3 ? in[3] : NULL, *stp = nin > 4 ? in[4] : NULL;
    if ((ax && (ax->dtype != OMA_ONNX_INT64 || ax->numel != n)) || (stp && (stp->dtype != OMA_ONNX_INT64 || stp->numel != n)))
        return ort_fail(c, "axes/steps must be int64 of the starts' length");
    int64_t start[OMA_ONNX_MAX_DIMS], step[OMA_ONNX_MAX_DIMS], dims[OMA_ONNX_MAX_DIMS];
    int used[OMA_ONNX_MAX_DIMS] = {0};
    for (int i = 0; i < r; i++) { start[i] = 0; step[i] = 1; dims[i] = x->dims[i]; }
    for (int64_t i = 0; i < n; i++) {
        int a = ort_axis(c, ax ? ((const int64_t *)ax->data)[i] : i, r);
        if (a < 0) return -1;
        if (used[a]++) return ort_fail(c, "axis repeated");
        int64_t d = x->dims[a], s = ((const int64_t *)in[1]->data)[i], e = ((const int64_t *)in[2]->data)[i];
        int64_t t = stp ? ((const int64_t *)stp->data)[i] : 1;
        if (t == 0) return ort_fail(c, "step 0");
        if (s < 0) s += d;
        if (e < 0 && e > INT64_MIN / 2) e += d;
        if (t > 0) {
            s = s < 0 ? 0 : s > d ? d : s;
            e = e < 0 ? 0 : e > d ? d : e;
            dims[a] = e > s ? (e - s + t - 1) / t : 0;
        } else {
            s = s < 0 ? -1 : s > d - 1 ? d - 1 : s;
            e = e < -1 ? -1 : e > d - 1 ? d - 1 : e;
            dims[a] = s > e ? (s - e + (-t) - 1) / (-t) : 0;
        }
        start[a] = s;
        step[a] = t;
    }
    if (oma_ort_value_alloc(out, x->dtype, r, dims) != 0) return ort_fail(c, "out of memory");
    int64_t src_st[OMA_ONNX_MAX_DIMS], s = 1;
    for (int i = r - 1; i >= 0; i--) { src_st[i] = s; s *= x->dims[i]; }
    size_t es = esize(x->dtype);
    int64_t idx[OMA_ONNX_MAX_DIMS] = {0};
    for (int64_t i = 0; i < out->numel; i++) {
        int64_t off = 0;
        for (int k = 0; k < r; k++) off += (start[k] + idx[k] * step[k]) * src_st[k];
        memcpy((uint8_t *)out->data + (size_t)i * es, (const uint8_t *)x->data + (size_t)off * es, es);
        for (int k = r - 1; k >= 0; k--) {
            if (++idx[k] < dims[k]) break;
            idx[k] = 0;
        }
    }
    return 0;
}

static const struct { const char *name; ort_op_fn fn; } ops[] = {
    {"Add", op_add}, {"Sub", op_sub}, {"Mul", op_mul}, {"Div", op_div}, {"Pow", op_pow},
    {"Sigmoid", op_sigmoid}, {"Relu", op_relu}, {"Sqrt", op_sqrt}, {"Exp", op_exp},
    {"Identity", op_identity}, {"Reshape", op_reshape}, {"Flatten", op_flatten},
    {"Unsqueeze", op_unsqueeze}, {"Squeeze", op_squeeze}, {"Shape", op_shape}, {"Cast", op_cast},
    {"Constant", op_constant}, {"Concat", op_concat}, {"Split", op_split}, {"Gather", op_gather},
    {"Transpose", op_transpose}, {"Slice", op_slice},
    {"Conv", ort_op_conv}, {"MaxPool", ort_op_maxpool}, {"Resize", ort_op_resize},
    {"MatMul", ort_op_matmul}, {"Gemm", ort_op_gemm}, {"Softmax", ort_op_softmax},
    {"ReduceMean", ort_op_reducemean}, {"ReduceSum", ort_op_reducesum},
    {"GlobalAveragePool", ort_op_global_avgpool}, {"HardSigmoid", op_hardsigmoid}, {"Clip", op_clip},
};

ort_op_fn ort_find_op(const char *op_type)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(ops[i].name, op_type)) return ops[i].fn;
    return NULL;
}
