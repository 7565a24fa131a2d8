/* graph_ops_shape.c — the TFJS graph ops that move data without computing: Reshape (one -1
 * inferred), Squeeze, ExpandDims, Shape, StridedSlice (begin/end/ellipsis/new-axis/shrink
 * masks), Slice, ConcatV2, Pack, Identity, StopGradient. Every index and size read from a
 * tensor is checked against the shapes before a byte is copied. */
#include <stdlib.h>
#include <string.h>

#include "models/pose/graph_ops_impl.h"

static int op_reshape(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                      char *err, size_t errlen)
{
    NEED_IN(2);
    const oma_gt *x = in[0], *s = in[1];
    if (s->dtype != OMA_TFJS_I32 || s->n > OMA_GT_MAX_RANK) return oma_gop_fail(err, errlen, node, "bad shape");
    int64_t d[OMA_GT_MAX_RANK];
    int neg = -1;
    size_t known = 1;
    for (size_t k = 0; k < s->n; k++) {
        d[k] = s->i[k];
        if (d[k] == -1) {
            if (neg >= 0) return oma_gop_fail(err, errlen, node, "two -1 in shape");
            neg = (int)k;
        } else if (d[k] < 0) return oma_gop_fail(err, errlen, node, "negative size");
        else known *= (size_t)d[k];
    }
    if (neg >= 0) {
        if (known == 0 || x->n % known) return oma_gop_fail(err, errlen, node, "cannot infer -1");
        d[neg] = (int64_t)(x->n / known);
    }
    if (oma_gop_copy_shaped(x, out, (int)s->n, d)) return oma_gop_fail(err, errlen, node, "size mismatch");
    return 0;
}

static int op_squeeze_expand(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                             char *err, size_t errlen, int expand)
{
    NEED_IN(1);
    const oma_gt *x = in[0];
    int64_t d[OMA_GT_MAX_RANK];
    int r = 0;
    if (expand) {
        NEED_IN(2);
        if (in[1]->dtype != OMA_TFJS_I32 || in[1]->n != 1 || x->rank >= OMA_GT_MAX_RANK)
            return oma_gop_fail(err, errlen, node, "bad axis");
        int ax = in[1]->i[0];
        if (ax < 0) ax += x->rank + 1;
        if (ax < 0 || ax > x->rank) return oma_gop_fail(err, errlen, node, "axis out of range");
        for (int k = 0; k <= x->rank; k++) d[r++] = k == ax ? 1 : x->d[k < ax ? k : k - 1];
    } else {
        int64_t axes[OMA_GT_MAX_RANK];
        int na = 0;
        oma_tfjs_attr_ints(node, "squeeze_dims", axes, OMA_GT_MAX_RANK, &na);
        for (int k = 0; k < x->rank; k++) {
            int drop = 0;
            if (na == 0) drop = x->d[k] == 1;
            for (int q = 0; q < na; q++)
                if (axes[q] == k || axes[q] + x->rank == k) drop = 1;
            if (drop && x->d[k] != 1) return oma_gop_fail(err, errlen, node, "squeezing a non-1 axis");
            if (!drop) d[r++] = x->d[k];
        }
    }
    if (oma_gop_copy_shaped(x, out, r, d)) return oma_gop_fail(err, errlen, node, "out of memory");
    return 0;
}

static int op_shape(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                    char *err, size_t errlen)
{
    NEED_IN(1);
    int64_t d = in[0]->rank;
    if (oma_gt_alloc(out, OMA_TFJS_I32, 1, &d)) return oma_gop_fail(err, errlen, node, "out of memory");
    for (int k = 0; k < in[0]->rank; k++) out->i[k] = (int32_t)in[0]->d[k];
    return 0;
}

/* Copies a box [begin, begin + stride * size) of x into out (same rank); generic rank. */
static void gather_box(const oma_gt *x, const int64_t *begin, const int64_t *stride, oma_gt *out)
{
    int r = x->rank;
    int64_t idx[OMA_GT_MAX_RANK] = {0};
    for (size_t k = 0; k < out->n; k++) {
        size_t off = 0;
        for (int q = 0; q < r; q++) off = off * (size_t)x->d[q] + (size_t)(begin[q] + idx[q] * stride[q]);
        if (x->dtype == OMA_TFJS_F32) out->f[k] = x->f[off];
        else out->i[k] = x->i[off];
        for (int q = r - 1; q >= 0; q--) {
            if (++idx[q] < out->d[q]) break;
            idx[q] = 0;
        }
    }
}

/* TF's StridedSlice without ellipsis: spec entry j either inserts a new axis of size 1
 * (new_axis_mask bit j, no input axis used) or slices the next input axis (begin/end masks,
 * shrink_axis_mask drops it); input axes past the spec are taken whole. */
static int op_strided_slice(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                            char *err, size_t errlen)
{
    NEED_IN(4);
    const oma_gt *x = in[0], *b = in[1], *e = in[2], *s = in[3];
    if (b->dtype != OMA_TFJS_I32 || e->dtype != OMA_TFJS_I32 || s->dtype != OMA_TFJS_I32 ||
        b->n != e->n || b->n != s->n || b->n > OMA_GT_MAX_RANK)
        return oma_gop_fail(err, errlen, node, "bad begin/end/strides");
    int64_t bm = 0, em = 0, sm = 0, elm = 0, nam = 0;
    oma_tfjs_attr_int(node, "begin_mask", &bm);
    oma_tfjs_attr_int(node, "end_mask", &em);
    oma_tfjs_attr_int(node, "shrink_axis_mask", &sm);
    oma_tfjs_attr_int(node, "ellipsis_mask", &elm);
    oma_tfjs_attr_int(node, "new_axis_mask", &nam);
    if (elm) return oma_gop_fail(err, errlen, node, "ellipsis unsupported");
    int64_t beg[OMA_GT_MAX_RANK] = {0}, st[OMA_GT_MAX_RANK] = {0}, full[OMA_GT_MAX_RANK] = {0},
            od[OMA_GT_MAX_RANK] = {0};
    int orank = 0, q = 0;
    const int m = (int)b->n;
    for (int j = 0; j < m || q < x->rank; j++) {
        if (j < m && ((nam >> j) & 1)) {
            if (orank >= OMA_GT_MAX_RANK) return oma_gop_fail(err, errlen, node, "output rank too large");
            od[orank++] = 1;
            continue;
        }
        if (q >= x->rank) return oma_gop_fail(err, errlen, node, "spec longer than the input's rank");
        int64_t dim = x->d[q], bb = 0, ee = dim, ss = 1;
        int shrink = 0;
        if (j < m) {
            ss = s->i[j];
            if (ss == 0) return oma_gop_fail(err, errlen, node, "zero stride");
            bb = (bm >> j) & 1 ? (ss > 0 ? 0 : dim - 1) : b->i[j];
            ee = (em >> j) & 1 ? (ss > 0 ? dim : -dim - 1) : e->i[j];
            if (!((bm >> j) & 1) && bb < 0) bb += dim;
            if (!((em >> j) & 1) && ee < 0) ee += dim;
            if ((sm >> j) & 1) {
                if (bb < 0 || bb >= dim) return oma_gop_fail(err, errlen, node, "index out of range");
                ee = bb + 1;
                ss = 1;
                shrink = 1;
            }
        }
        if (ss > 0) {
            bb = bb < 0 ? 0 : bb > dim ? dim : bb;
            ee = ee < 0 ? 0 : ee > dim ? dim : ee;
        } else {
            bb = bb < -1 ? -1 : bb > dim - 1 ? dim - 1 : bb;
            ee = ee < -1 ? -1 : ee > dim - 1 ? dim - 1 : ee;
        }
        int64_t n = ss > 0 ? (ee > bb ? (ee - bb + ss - 1) / ss : 0) : (bb > ee ? (bb - ee - ss - 1) / -ss : 0);
        beg[q] = bb;
        st[q] = ss;
        full[q] = n;
        q++;
        if (!shrink) {
            if (orank >= OMA_GT_MAX_RANK) return oma_gop_fail(err, errlen, node, "output rank too large");
            od[orank++] = n;
        }
    }
    oma_gt tmp;
    if (oma_gt_alloc(&tmp, x->dtype, x->rank, full)) return oma_gop_fail(err, errlen, node, "out of memory");
    gather_box(x, beg, st, &tmp);
    for (int k = 0; k < orank; k++) tmp.d[k] = od[k];
    tmp.rank = orank;
    *out = tmp;
    return 0;
}

static int op_slice(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                    char *err, size_t errlen)
{
    NEED_IN(3);
    const oma_gt *x = in[0], *b = in[1], *sz = in[2];
    if (b->dtype != OMA_TFJS_I32 || sz->dtype != OMA_TFJS_I32 || b->n != (size_t)x->rank || sz->n != b->n)
        return oma_gop_fail(err, errlen, node, "bad begin/size");
    int64_t beg[OMA_GT_MAX_RANK], st[OMA_GT_MAX_RANK], d[OMA_GT_MAX_RANK];
    for (int k = 0; k < x->rank; k++) {
        beg[k] = b->i[k];
        d[k] = sz->i[k] == -1 ? x->d[k] - beg[k] : sz->i[k];
        st[k] = 1;
        if (beg[k] < 0 || d[k] < 0 || beg[k] + d[k] > x->d[k]) return oma_gop_fail(err, errlen, node, "out of range");
    }
    if (oma_gt_alloc(out, x->dtype, x->rank, d)) return oma_gop_fail(err, errlen, node, "out of memory");
    gather_box(x, beg, st, out);
    return 0;
}

static int op_concat(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                     char *err, size_t errlen, int pack)
{
    NEED_IN(pack ? 1 : 2);
    int nt = pack ? n_in : n_in - 1;
    int64_t axis;
    if (pack) {
        if (oma_tfjs_attr_int(node, "axis", &axis)) axis = 0;
    } else {
        const oma_gt *a = in[n_in - 1];
        if (a->dtype != OMA_TFJS_I32 || a->n != 1) return oma_gop_fail(err, errlen, node, "bad axis");
        axis = a->i[0];
    }
    const oma_gt *f = in[0];
    int r = pack ? f->rank + 1 : f->rank;
    if (r > OMA_GT_MAX_RANK || r < 1) return oma_gop_fail(err, errlen, node, "bad rank");
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r) return oma_gop_fail(err, errlen, node, "axis out of range");
    int64_t d[OMA_GT_MAX_RANK];
    int64_t total = 0;
    for (int t = 0; t < nt; t++) {
        const oma_gt *x = in[t];
        if (x->dtype != f->dtype || x->rank != f->rank) return oma_gop_fail(err, errlen, node, "inputs differ");
        for (int k = 0; k < f->rank; k++)
            if ((pack || k != axis) && x->d[k] != f->d[k]) return oma_gop_fail(err, errlen, node, "shapes differ");
        total += pack ? 1 : x->d[axis];
    }
    for (int k = 0; k < r; k++)
        d[k] = k == axis ? total : f->d[pack && k > axis ? k - 1 : k];
    if (oma_gt_alloc(out, f->dtype, r, d)) return oma_gop_fail(err, errlen, node, "output too large");
    size_t outer = 1, inner = 1;
    for (int k = 0; k < axis; k++) outer *= (size_t)d[k];
    for (int k = (int)axis + 1; k < r; k++) inner *= (size_t)d[k];
    size_t es = f->dtype == OMA_TFJS_F32 ? sizeof(float) : sizeof(int32_t);
    uint8_t *o = f->dtype == OMA_TFJS_F32 ? (uint8_t *)out->f : (uint8_t *)out->i;
    size_t pos = 0;
    for (size_t ou = 0; ou < outer; ou++)
        for (int t = 0; t < nt; t++) {
            const oma_gt *x = in[t];
            size_t chunk = (pack ? 1 : (size_t)x->d[axis]) * inner;
            const uint8_t *src = x->dtype == OMA_TFJS_F32 ? (const uint8_t *)x->f : (const uint8_t *)x->i;
            memcpy(o + pos * es, src + ou * chunk * es, chunk * es);
            pos += chunk;
        }
    return 0;
}
static const char *const shape_ops[] = {"Reshape", "Squeeze", "ExpandDims", "Shape", "StridedSlice",
                                        "Slice", "ConcatV2", "Pack", "Identity", "StopGradient", NULL};

int oma_gop_shape_supported(const char *op) { return oma_gop_in_list(shape_ops, op); }

int oma_gop_shape_run(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out, char *err,
                      size_t errlen)
{
    const char *op = node->op;
    if (!strcmp(op, "Reshape")) return op_reshape(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "Squeeze")) return op_squeeze_expand(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "ExpandDims")) return op_squeeze_expand(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "Shape")) return op_shape(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "StridedSlice")) return op_strided_slice(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "Slice")) return op_slice(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "ConcatV2")) return op_concat(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "Pack")) return op_concat(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "Identity") || !strcmp(op, "StopGradient")) {
        NEED_IN(1);
        if (oma_gop_copy_shaped(in[0], out, in[0]->rank, in[0]->d))
            return oma_gop_fail(err, errlen, node, "out of memory");
        return 0;
    }
    return OMA_GOP_NOT_MINE;
}
