/* graph_ops.c — the graph executor's tensors (alloc, free, views, copies) and the one entry
 * that runs a node (see graph_ops.h). The ops themselves live by family: graph_ops_conv.c
 * (convolutions, MatMul), graph_ops_math.c (element-wise, reductions, Cast), graph_ops_shape.c
 * (reshape, slices, concat), graph_ops_spatial.c (pad, pool, resize) and graph_ops_select.c
 * (comparisons, indexing, several-output ops); each names its own ops and dispatches them, this
 * file asks each in turn. Layout is NHWC float32 throughout; int32 tensors only carry shapes,
 * indices and booleans. */
#include "models/pose/graph_ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/pose/graph_ops_impl.h"

int oma_gop_fail(char *err, size_t errlen, const oma_tfjs_node *n, const char *fmt, ...)
{
    if (err && errlen) {
        int k = snprintf(err, errlen, "graph: %s (%s): ", n->name, n->op);
        if (k > 0 && (size_t)k < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

int oma_gop_in_list(const char *const *names, const char *op)
{
    for (int k = 0; names[k]; k++)
        if (!strcmp(names[k], op)) return 1;
    return 0;
}

static int gt_alloc(oma_gt *t, oma_tfjs_dtype dt, int rank, const int64_t *dims, int zero);

int oma_gt_alloc(oma_gt *t, oma_tfjs_dtype dt, int rank, const int64_t *dims)
{
    return gt_alloc(t, dt, rank, dims, 1);
}

int oma_gop_alloc_raw(oma_gt *t, oma_tfjs_dtype dt, int rank, const int64_t *dims)
{
    return gt_alloc(t, dt, rank, dims, 0);
}

static int gt_alloc(oma_gt *t, oma_tfjs_dtype dt, int rank, const int64_t *dims, int zero)
{
    memset(t, 0, sizeof *t);
    if (rank < 0 || rank > OMA_GT_MAX_RANK) return -1;
    size_t n = 1;
    for (int k = 0; k < rank; k++) {
        if (dims[k] < 0 || (dims[k] && n > OMA_GT_MAX_ELEMS / (size_t)dims[k])) return -1;
        n *= (size_t)dims[k];
        t->d[k] = dims[k];
    }
    t->rank = rank;
    t->n = n;
    t->dtype = dt;
    size_t es = dt == OMA_TFJS_F32 ? sizeof(float) : sizeof(int32_t);
    void *m = zero ? calloc(n ? n : 1, es) : malloc((n ? n : 1) * es);
    if (dt == OMA_TFJS_F32) t->f = m;
    else t->i = m;
    if (!t->f && !t->i) return -1;
    return 0;
}

void oma_gt_free(oma_gt *t)
{
    if (!t) return;
    if (!t->borrowed) {
        free(t->f);
        free(t->i);
    }
    memset(t, 0, sizeof *t);
}

oma_gt oma_gt_view_f32(float *data, int rank, const int64_t *dims)
{
    oma_gt t;
    memset(&t, 0, sizeof t);
    t.dtype = OMA_TFJS_F32;
    t.rank = rank;
    t.n = 1;
    for (int k = 0; k < rank; k++) {
        t.d[k] = dims[k];
        t.n *= (size_t)dims[k];
    }
    t.f = data;
    t.borrowed = 1;
    return t;
}

int oma_gop_copy_shaped(const oma_gt *x, oma_gt *out, int rank, const int64_t *d)
{
    if (oma_gop_alloc_raw(out, x->dtype, rank, d) || out->n != x->n) {
        oma_gt_free(out);
        return -1;
    }
    if (x->dtype == OMA_TFJS_F32) memcpy(out->f, x->f, x->n * sizeof(float));
    else memcpy(out->i, x->i, x->n * sizeof(int32_t));
    return 0;
}

int oma_gt_copy(const oma_gt *x, oma_gt *out)
{
    return oma_gop_copy_shaped(x, out, x->rank, x->d);
}

/* ---- dispatch ---- */

typedef int (*family_run)(const oma_tfjs_node *, oma_gt *const *, int, oma_gt *, char *, size_t);

static const family_run families[] = {oma_gop_conv_run, oma_gop_math_run, oma_gop_shape_run,
                                      oma_gop_spatial_run};

int oma_gop_supported(const char *op)
{
    return oma_gop_conv_supported(op) || oma_gop_math_supported(op) || oma_gop_shape_supported(op) ||
           oma_gop_spatial_supported(op) || oma_gop_select_supported(op);
}

int oma_gop_run(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out, char *err,
                size_t errlen)
{
    memset(out, 0, sizeof *out);
    for (int k = 0; k < n_in; k++)
        if ((in[k]->dtype == OMA_TFJS_F32 && !in[k]->f) || (in[k]->dtype == OMA_TFJS_I32 && !in[k]->i))
            return oma_gop_fail(err, errlen, node, "input %d has no data", k);
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        int rc = families[f](node, in, n_in, out, err, errlen);
        if (rc != OMA_GOP_NOT_MINE) return rc;
    }
    if (oma_gop_select_supported(node->op)) return oma_gop_select_run(node, in, n_in, out, err, errlen);
    return oma_gop_fail(err, errlen, node, "unsupported op");
}
