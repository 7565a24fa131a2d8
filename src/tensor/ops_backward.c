/* ops_backward.c — shape checks in front of the backend's backward kernels (see
 * ops_backward.h). */
#include "tensor/ops_backward.h"

#include <math.h>

#include "tensor/backend.h"
#include "tensor/ops.h"

static const oma_backend *be(void) { return oma_backend_current(); }

static int64_t last_dim(const oma_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }

int oma_op_conv2d_backward(const oma_tensor *dy, const oma_tensor *w, int stride, int pad,
                           oma_tensor *dx)
{
    if (dy->ndim != 4 || w->ndim != 4 || dx->ndim != 4 || !dy->data || !w->data || !dx->data)
        return -1;
    if (dx->shape[1] != w->shape[1] || dy->shape[1] != w->shape[0] || dy->shape[0] != dx->shape[0])
        return -1;
    int64_t oh = oma_conv_out_size(dx->shape[2], w->shape[2], stride, pad);
    int64_t ow = oma_conv_out_size(dx->shape[3], w->shape[3], stride, pad);
    if (oh < 1 || ow < 1 || dy->shape[2] != oh || dy->shape[3] != ow) return -1;
    return be()->conv2d_backward_data(dy->data, dy->shape[0], dy->shape[1], oh, ow, w->data,
                                      w->stamp, dx->shape[1], w->shape[2], w->shape[3], stride, pad,
                                      dx->data, dx->shape[2], dx->shape[3]);
}

int oma_op_group_norm_backward(const oma_tensor *x, int64_t groups, const oma_tensor *gamma,
                               const oma_tensor *beta, float eps, int silu, const oma_tensor *dy,
                               oma_tensor *dx)
{
    if (x->ndim < 2 || !oma_tensor_same_shape(x, dy) || !oma_tensor_same_shape(x, dx) ||
        groups < 1 || dx->data == x->data || dx->data == dy->data)
        return -1;
    int64_t n = x->shape[0], c = x->shape[1];
    if (c % groups != 0) return -1;
    if ((gamma && oma_tensor_numel(gamma) != c) || (beta && oma_tensor_numel(beta) != c)) return -1;
    int64_t hw = (n > 0 && c > 0) ? oma_tensor_numel(x) / (n * c) : 0;
    if (hw == 0) return 0;
    be()->group_norm_backward(x->data, n, c, hw, groups, gamma ? gamma->data : NULL,
                              beta ? beta->data : NULL, eps, silu, dy->data, dx->data);
    return 0;
}

int oma_op_layer_norm_backward(const oma_tensor *x, const oma_tensor *gamma, float eps,
                               const oma_tensor *dy, oma_tensor *dx)
{
    if (x->ndim < 1 || !oma_tensor_same_shape(x, dy) || !oma_tensor_same_shape(x, dx) ||
        dx->data == x->data)
        return -1;
    int64_t d = last_dim(x);
    if (d < 1 || (gamma && oma_tensor_numel(gamma) != d)) return -1;
    be()->layer_norm_backward(x->data, oma_tensor_numel(x) / d, d, gamma ? gamma->data : NULL,
                              eps, dy->data, dx->data);
    return 0;
}

int oma_op_attention_backward(const oma_tensor *q, const oma_tensor *k, const oma_tensor *v,
                              const oma_tensor *o, const oma_tensor *dout, int64_t heads,
                              float scale, int causal, oma_tensor *dq, oma_tensor *dk,
                              oma_tensor *dv)
{
    if (q->ndim != 3 || k->ndim != 3 || !oma_tensor_same_shape(k, v) || heads < 1 ||
        !oma_tensor_same_shape(q, o) || !oma_tensor_same_shape(q, dout) ||
        !oma_tensor_same_shape(q, dq) || !oma_tensor_same_shape(k, dk) ||
        !oma_tensor_same_shape(v, dv))
        return -1;
    int64_t b = q->shape[0], nq = q->shape[1], c = q->shape[2];
    if (k->shape[0] != b || k->shape[2] != c || c % heads != 0) return -1;
    if (causal && k->shape[1] != nq) return -1;
    int64_t d = c / heads;
    oma_attn_bwd_args a = {q->data, k->data, v->data, o->data, dout->data, dq->data, dk->data,
                           dv->data, b, heads, nq, k->shape[1], d, c, c, c, c,
                           scale > 0 ? scale : (float)(1.0 / sqrt((double)d)), causal};
    return be()->attention_backward(&a);
}

static int unary_bwd(void (*fn)(const float *, const float *, float *, int64_t),
                     const oma_tensor *x, const oma_tensor *dy, oma_tensor *dx)
{
    if (!oma_tensor_same_shape(x, dy) || !oma_tensor_same_shape(x, dx)) return -1;
    fn(x->data, dy->data, dx->data, oma_tensor_numel(x));
    return 0;
}

int oma_op_gelu_backward(const oma_tensor *x, const oma_tensor *dy, oma_tensor *dx)
{
    return unary_bwd(be()->gelu_backward, x, dy, dx);
}

int oma_op_quick_gelu_backward(const oma_tensor *x, const oma_tensor *dy, oma_tensor *dx)
{
    return unary_bwd(be()->quick_gelu_backward, x, dy, dx);
}

int oma_op_silu_backward(const oma_tensor *x, const oma_tensor *dy, oma_tensor *dx)
{
    return unary_bwd(be()->silu_backward, x, dy, dx);
}

int oma_op_geglu_backward(const oma_tensor *x, const oma_tensor *dy, oma_tensor *dx)
{
    if (x->ndim < 1 || !oma_tensor_same_shape(x, dx) || dy->ndim != x->ndim ||
        last_dim(x) != 2 * last_dim(dy) || dx->data == x->data || dx->data == dy->data)
        return -1;
    for (int i = 0; i < x->ndim - 1; i++)
        if (x->shape[i] != dy->shape[i]) return -1;
    int64_t d = last_dim(dy);
    if (d < 1) return 0;
    be()->geglu_backward(x->data, dy->data, oma_tensor_numel(dy) / d, d, dx->data);
    return 0;
}

int oma_op_upsample_nearest2x_backward(const oma_tensor *dy, oma_tensor *dx)
{
    if (dy->ndim != 4 || dx->ndim != 4 || dy->shape[0] != dx->shape[0] ||
        dy->shape[1] != dx->shape[1] || dy->shape[2] != 2 * dx->shape[2] ||
        dy->shape[3] != 2 * dx->shape[3])
        return -1;
    be()->upsample_nearest2x_backward(dy->data, dx->shape[0] * dx->shape[1], dx->shape[2],
                                      dx->shape[3], dx->data);
    return 0;
}

/* a is [N, ca, H, W] with dy's N, H, W (or NULL) */
static int split_part(const oma_tensor *dy, const oma_tensor *a, int64_t *ca)
{
    *ca = 0;
    if (!a) return 0;
    if (a->ndim != 4 || a->shape[0] != dy->shape[0] || a->shape[2] != dy->shape[2] ||
        a->shape[3] != dy->shape[3])
        return -1;
    *ca = a->shape[1];
    return 0;
}

int oma_op_concat_channels_backward(const oma_tensor *dy, oma_tensor *da, oma_tensor *db)
{
    int64_t ca, cb;
    if (dy->ndim != 4 || (!da && !db) || split_part(dy, da, &ca) != 0 || split_part(dy, db, &cb) != 0)
        return -1;
    if (!da) ca = dy->shape[1] - cb;
    if (!db) cb = dy->shape[1] - ca;
    if (ca < 0 || cb < 0 || ca + cb != dy->shape[1]) return -1;
    be()->split_channels(dy->data, dy->shape[0], ca, cb, dy->shape[2] * dy->shape[3],
                         da ? da->data : NULL, db ? db->data : NULL);
    return 0;
}

int oma_op_embedding_backward(const int32_t *ids, int64_t count, const oma_tensor *dy,
                              oma_tensor *dtable)
{
    if (dtable->ndim != 2 || dy->ndim < 1 || count < 0) return -1;
    int64_t rows = dtable->shape[0], dim = dtable->shape[1];
    if (last_dim(dy) != dim || oma_tensor_numel(dy) != count * dim) return -1;
    for (int64_t i = 0; i < count; i++)
        if (ids[i] < 0 || ids[i] >= rows) return -1;
    be()->embedding_backward(ids, count, dy->data, dim, dtable->data);
    return 0;
}
