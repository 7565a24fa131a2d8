/* ops.c — shape checks in front of the backend kernels (see ops.h). */
#include "tensor/ops.h"

#include <math.h>

#include "tensor/backend.h"

static const oma_backend *be(void) { return oma_backend_current(); }

static int64_t last_dim(const oma_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }
static int64_t rows_of(const oma_tensor *t)
{
    int64_t d = last_dim(t);
    return d ? oma_tensor_numel(t) / d : 0;
}

int oma_op_linear(const oma_tensor *x, const oma_tensor *w, const oma_tensor *b, oma_tensor *y)
{
    if (!x->data || !w->data || !y->data || w->ndim != 2 || x->ndim < 1 || y->ndim != x->ndim)
        return -1;
    int64_t in = w->shape[1], out = w->shape[0];
    if (last_dim(x) != in || last_dim(y) != out || rows_of(x) != rows_of(y)) return -1;
    for (int i = 0; i < x->ndim - 1; i++)
        if (x->shape[i] != y->shape[i]) return -1;
    if (b && (oma_tensor_numel(b) != out || !b->data)) return -1;
    int64_t rows = rows_of(x);
    if (rows == 0) return 0;
    be()->gemm(0, 1, rows, out, in, 1.0f, x->data, in, w->data, in, 0.0f, y->data, out);
    if (b) be()->add_bias(y->data, b->data, rows, out, 1);
    return 0;
}

void oma_op_forget_weights(const oma_tensor *w)
{
    if (w->stamp) be()->forget_weights(w->stamp);
}

void oma_op_weights_consumable(const oma_tensor *w)
{
    int64_t n = oma_tensor_numel(w);
    if (w->stamp && w->data && w->owns && n > 0 && be()->weights_consumable)
        be()->weights_consumable(w->stamp, w->data, (size_t)n * sizeof(float));
}

int64_t oma_conv_out_size(int64_t in, int64_t k, int stride, int pad)
{
    if (stride < 1 || pad < 0 || k < 1) return -1;
    int64_t span = in + 2 * (int64_t)pad - k;
    if (span < 0) return -1;
    return span / stride + 1;
}

int oma_op_conv2d(const oma_tensor *x, const oma_tensor *w, const oma_tensor *b, int stride,
                  int pad, oma_tensor *y)
{
    if (x->ndim != 4 || w->ndim != 4 || y->ndim != 4 || x->shape[1] != w->shape[1]) return -1;
    int64_t oh = oma_conv_out_size(x->shape[2], w->shape[2], stride, pad);
    int64_t ow = oma_conv_out_size(x->shape[3], w->shape[3], stride, pad);
    if (oh < 1 || ow < 1) return -1;
    if (y->shape[0] != x->shape[0] || y->shape[1] != w->shape[0] || y->shape[2] != oh ||
        y->shape[3] != ow)
        return -1;
    if (b && oma_tensor_numel(b) != w->shape[0]) return -1;
    return be()->conv2d(x->data, x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->data,
                        w->stamp, b ? b->data : NULL, w->shape[0], w->shape[2], w->shape[3], stride, pad,
                        y->data, oh, ow);
}

int64_t oma_op_conv2d_up2x_work(const oma_tensor *x, const oma_tensor *w)
{
    if (x->ndim != 4 || w->ndim != 4 || x->shape[1] != w->shape[1] || w->shape[2] != 3 ||
        w->shape[3] != 3 || !be()->conv2d_up2x_work || !be()->conv2d_up2x || oma_tensor_numel(x) == 0)
        return 0;
    return be()->conv2d_up2x_work(x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0],
                                  w->stamp);
}

int oma_op_conv2d_up2x(const oma_tensor *x, const oma_tensor *w, const oma_tensor *b, oma_tensor *y,
                       oma_tensor *work)
{
    if (x->ndim != 4 || w->ndim != 4 || y->ndim != 4 || x->shape[1] != w->shape[1] ||
        w->shape[2] != 3 || w->shape[3] != 3)
        return -1;
    if (y->shape[0] != x->shape[0] || y->shape[1] != w->shape[0] || y->shape[2] != 2 * x->shape[2] ||
        y->shape[3] != 2 * x->shape[3])
        return -1;
    if (b && oma_tensor_numel(b) != w->shape[0]) return -1;
    if (!be()->conv2d_up2x || oma_tensor_numel(x) == 0 || !work || oma_tensor_numel(work) < 1) return -2;
    return be()->conv2d_up2x(x->data, x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->data,
                             w->stamp, b ? b->data : NULL, w->shape[0], y->data, work->data,
                             oma_tensor_numel(work));
}

int oma_op_group_norm(const oma_tensor *x, int64_t groups, const oma_tensor *gamma,
                      const oma_tensor *beta, float eps, int silu, oma_tensor *y)
{
    if (x->ndim < 2 || !oma_tensor_same_shape(x, y) || groups < 1) return -1;
    int64_t n = x->shape[0], c = x->shape[1];
    if (c % groups != 0) return -1;
    if ((gamma && oma_tensor_numel(gamma) != c) || (beta && oma_tensor_numel(beta) != c)) return -1;
    int64_t hw = (n > 0 && c > 0) ? oma_tensor_numel(x) / (n * c) : 0;
    if (hw == 0) return 0;
    be()->group_norm(x->data, n, c, hw, groups, gamma ? gamma->data : NULL,
                     beta ? beta->data : NULL, eps, silu, y->data);
    return 0;
}

int oma_op_layer_norm(const oma_tensor *x, const oma_tensor *gamma, const oma_tensor *beta,
                      float eps, oma_tensor *y)
{
    if (x->ndim < 1 || !oma_tensor_same_shape(x, y)) return -1;
    int64_t d = last_dim(x);
    if ((gamma && oma_tensor_numel(gamma) != d) || (beta && oma_tensor_numel(beta) != d)) return -1;
    if (d == 0) return 0;
    be()->layer_norm(x->data, rows_of(x), d, gamma ? gamma->data : NULL,
                     beta ? beta->data : NULL, eps, y->data);
    return 0;
}

int oma_op_softmax(oma_tensor *x)
{
    if (x->ndim < 1) return -1;
    if (last_dim(x) == 0) return 0;
    be()->softmax(x->data, rows_of(x), last_dim(x));
    return 0;
}

int oma_op_attention(const oma_tensor *q, const oma_tensor *k, const oma_tensor *v, int64_t heads,
                     float scale, int causal, oma_tensor *out)
{
    if (q->ndim != 3 || k->ndim != 3 || v->ndim != 3 || !oma_tensor_same_shape(q, out) ||
        !oma_tensor_same_shape(k, v) || heads < 1)
        return -1;
    int64_t b = q->shape[0], nq = q->shape[1], c = q->shape[2];
    if (k->shape[0] != b || k->shape[2] != c || c % heads != 0) return -1;
    if (causal && k->shape[1] != nq) return -1;
    int64_t d = c / heads;
    oma_attn_args a = {q->data, k->data, v->data, out->data, b, heads, nq, k->shape[1], d,
                       c, c, c, c, scale > 0 ? scale : (float)(1.0 / sqrt((double)d)), causal};
    return be()->attention(&a);
}

static int unary(void (*fn)(const float *, float *, int64_t), const oma_tensor *x, oma_tensor *y)
{
    if (!oma_tensor_same_shape(x, y)) return -1;
    fn(x->data, y->data, oma_tensor_numel(x));
    return 0;
}

int oma_op_gelu(const oma_tensor *x, oma_tensor *y) { return unary(be()->gelu, x, y); }
int oma_op_quick_gelu(const oma_tensor *x, oma_tensor *y) { return unary(be()->quick_gelu, x, y); }
int oma_op_silu(const oma_tensor *x, oma_tensor *y) { return unary(be()->silu, x, y); }

int oma_op_geglu(const oma_tensor *x, oma_tensor *y)
{
    if (x->ndim < 1 || x->ndim != y->ndim || last_dim(x) != 2 * last_dim(y)) return -1;
    for (int i = 0; i < x->ndim - 1; i++)
        if (x->shape[i] != y->shape[i]) return -1;
    be()->geglu(x->data, rows_of(y), last_dim(y), y->data);
    return 0;
}

int oma_op_upsample_nearest2x(const oma_tensor *x, oma_tensor *y)
{
    if (x->ndim != 4 || y->ndim != 4 || y->shape[0] != x->shape[0] || y->shape[1] != x->shape[1] ||
        y->shape[2] != 2 * x->shape[2] || y->shape[3] != 2 * x->shape[3])
        return -1;
    be()->upsample_nearest2x(x->data, x->shape[0] * x->shape[1], x->shape[2], x->shape[3], y->data);
    return 0;
}

int oma_op_concat_channels(const oma_tensor *a, const oma_tensor *b, oma_tensor *y)
{
    if (a->ndim != 4 || b->ndim != 4 || y->ndim != 4) return -1;
    if (a->shape[0] != b->shape[0] || a->shape[2] != b->shape[2] || a->shape[3] != b->shape[3] ||
        y->shape[0] != a->shape[0] || y->shape[1] != a->shape[1] + b->shape[1] ||
        y->shape[2] != a->shape[2] || y->shape[3] != a->shape[3])
        return -1;
    be()->concat_channels(a->data, a->shape[1], b->data, b->shape[1], a->shape[0],
                          a->shape[2] * a->shape[3], y->data);
    return 0;
}

int oma_op_add(const oma_tensor *a, const oma_tensor *b, oma_tensor *y)
{
    if (!oma_tensor_same_shape(a, b) || !oma_tensor_same_shape(a, y)) return -1;
    be()->add(a->data, b->data, y->data, oma_tensor_numel(a));
    return 0;
}

int oma_op_mul(const oma_tensor *a, const oma_tensor *b, oma_tensor *y)
{
    if (!oma_tensor_same_shape(a, b) || !oma_tensor_same_shape(a, y)) return -1;
    be()->mul(a->data, b->data, y->data, oma_tensor_numel(a));
    return 0;
}

int oma_op_axpby(float alpha, const oma_tensor *x, float beta, oma_tensor *y)
{
    if (!oma_tensor_same_shape(x, y)) return -1;
    be()->axpby(alpha, x->data, beta, y->data, oma_tensor_numel(x));
    return 0;
}

int oma_op_add_bias(oma_tensor *x, const oma_tensor *b)
{
    int64_t nb = oma_tensor_numel(b);
    if (x->ndim == 4) {
        if (nb != x->shape[1]) return -1;
        be()->add_bias(x->data, b->data, x->shape[0], x->shape[1], x->shape[2] * x->shape[3]);
        return 0;
    }
    if (x->ndim < 1 || nb != last_dim(x)) return -1;
    be()->add_bias(x->data, b->data, rows_of(x), nb, 1);
    return 0;
}

int oma_op_nchw_to_tokens(const oma_tensor *x, oma_tensor *y)
{
    if (x->ndim != 4 || y->ndim != 3 || y->shape[0] != x->shape[0] ||
        y->shape[1] != x->shape[2] * x->shape[3] || y->shape[2] != x->shape[1])
        return -1;
    be()->transpose(x->data, x->shape[0], x->shape[1], y->shape[1], y->data);
    return 0;
}

int oma_op_linear_nchw_to_tokens(const oma_tensor *x, const oma_tensor *w, const oma_tensor *b,
                                 oma_tensor *y)
{
    if (!x->data || !w->data || !y->data || x->ndim != 4 || w->ndim != 2 || y->ndim != 3) return -1;
    int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3], o = w->shape[0];
    if (w->shape[1] != c || y->shape[0] != n || y->shape[1] != hw || y->shape[2] != o) return -1;
    if (b && (!b->data || oma_tensor_numel(b) != o)) return -1;
    /* y_b[hw, o] = x_b^T (x_b is [c, hw]) times w^T */
    for (int64_t i = 0; i < n; i++)
        be()->gemm(1, 1, hw, o, c, 1.0f, x->data + i * c * hw, hw, w->data, c, 0.0f,
                   y->data + i * hw * o, o);
    if (b) be()->add_bias(y->data, b->data, n * hw, o, 1);
    return 0;
}

int oma_op_linear_tokens_to_nchw(const oma_tensor *x, const oma_tensor *w, const oma_tensor *b,
                                 oma_tensor *y)
{
    if (!x->data || !w->data || !y->data || x->ndim != 3 || w->ndim != 2 || y->ndim != 4) return -1;
    int64_t n = x->shape[0], hw = x->shape[1], c = x->shape[2], o = w->shape[0];
    if (w->shape[1] != c || y->shape[0] != n || y->shape[1] != o || y->shape[2] * y->shape[3] != hw)
        return -1;
    if (b && (!b->data || oma_tensor_numel(b) != o)) return -1;
    /* y_b[o, hw] = w times x_b^T (x_b is [hw, c]) */
    for (int64_t i = 0; i < n; i++)
        be()->gemm(0, 1, o, hw, c, 1.0f, w->data, c, x->data + i * hw * c, c, 0.0f,
                   y->data + i * o * hw, hw);
    if (b) be()->add_bias(y->data, b->data, n, o, hw);
    return 0;
}

int oma_op_tokens_to_nchw(const oma_tensor *x, oma_tensor *y)
{
    if (x->ndim != 3 || y->ndim != 4 || y->shape[0] != x->shape[0] ||
        x->shape[1] != y->shape[2] * y->shape[3] || x->shape[2] != y->shape[1])
        return -1;
    be()->transpose(x->data, x->shape[0], x->shape[1], x->shape[2], y->data);
    return 0;
}
