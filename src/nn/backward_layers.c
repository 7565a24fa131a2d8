/* backward_layers.c — backward passes of the basic layers (see backward.h): linear (with the
 * LoRA adapter's gradients), convolution (backward-data) and the norms.
 *
 * Linear: y = x W^T + b + s (x D^T) U^T. With h = x D^T and g = dy: dx = g W + (s g U) D,
 * dU += s g^T h, dD += (s g U)^T x; the frozen W and b get nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/backward.h"
#include "nn/backward_internal.h"
#include "nn/layers_internal.h"
#include "tensor/backend.h"
#include "tensor/ops_backward.h"

int oma_arena_copy(oma_arena *ar, const oma_tensor *x, oma_tensor *y)
{
    if (oma_arena_like(ar, x, y) != 0) return -1;
    memcpy(y->data, x->data, sizeof(float) * (size_t)oma_tensor_numel(x));
    return 0;
}

static int lora_grad(const oma_lora *lo, const float *x, const float *dy, int64_t rows, float *dx)
{
    const oma_backend *be = oma_backend_current();
    int64_t r = lo->rank, in = lo->in, out = lo->out;
    float *h = oma_aligned_alloc(sizeof(float) * (size_t)(2 * rows * r));
    if (!h) return -1;
    float *dh = h + rows * r;
    be->gemm(0, 1, rows, r, in, 1.0f, x, in, lo->down.data, in, 0.0f, h, r);          /* x D^T */
    be->gemm(1, 0, out, r, rows, lo->scale, dy, out, h, r, 1.0f, lo->g_up.data, r);    /* dU */
    be->gemm(0, 0, rows, r, out, lo->scale, dy, out, lo->up.data, r, 0.0f, dh, r);     /* s g U */
    be->gemm(1, 0, r, in, rows, 1.0f, dh, r, x, in, 1.0f, lo->g_down.data, in);        /* dD */
    if (dx) be->gemm(0, 0, rows, in, r, 1.0f, dh, r, lo->down.data, in, 1.0f, dx, in);
    oma_aligned_free(h);
    return 0;
}

int oma_linear_grad(const oma_linear *l, const oma_tensor *x, const oma_tensor *dy, float *dx,
                    float beta)
{
    if (x->ndim < 1 || dy->ndim != x->ndim || x->shape[x->ndim - 1] != l->in ||
        dy->shape[dy->ndim - 1] != l->out)
        return -1;
    for (int i = 0; i < x->ndim - 1; i++)
        if (x->shape[i] != dy->shape[i]) return -1;
    const oma_lora *lo = l->lora;
    if (lo && (lo->in != l->in || lo->out != l->out || !lo->g_up.data || !lo->g_down.data))
        return -1;
    int64_t rows = oma_tensor_numel(x) / l->in;
    if (rows == 0 || (!dx && !lo)) return 0;
    if (dx) {
        const float *w = oma_layer_weights_f32(&l->w, l->w16, l->w16_kind);
        if (!w) return -1;
        oma_backend_current()->gemm(0, 0, rows, l->in, l->out, 1.0f, dy->data, l->out, w, l->in,
                                    beta, dx, l->in);
    }
    return lo ? lora_grad(lo, x->data, dy->data, rows, dx) : 0;
}

int oma_linear_backward(const oma_linear *l, const oma_tensor *x, const oma_tensor *dy,
                        oma_arena *ar, oma_tensor *dx)
{
    if (oma_arena_like(ar, x, dx) != 0) return -1;
    return oma_linear_grad(l, x, dy, dx->data, 0.0f);
}

/* dx for the layer's convolution with an explicit stride/padding into a caller-shaped dx */
static int conv_grad(const oma_conv2d *c, const oma_tensor *dy, int stride, int pad, oma_tensor *dx)
{
    oma_tensor w = c->w;
    w.data = (float *)oma_layer_weights_f32(&c->w, c->w16, c->w16_kind);
    if (!w.data) return -1;
    return oma_op_conv2d_backward(dy, &w, stride, pad, dx);
}

int oma_conv2d_backward_stride(const oma_conv2d *c, const oma_tensor *dy, int stride, int pad,
                               oma_tensor *dx)
{
    return conv_grad(c, dy, stride, pad, dx);
}

int oma_conv2d_backward(const oma_conv2d *c, const oma_tensor *x, const oma_tensor *dy,
                        oma_arena *ar, oma_tensor *dx)
{
    if (x->ndim != 4 || x->shape[1] != c->in || dy->ndim != 4 || dy->shape[1] != c->out) return -1;
    if (oma_arena_like(ar, x, dx) != 0) return -1;
    return conv_grad(c, dy, c->stride, c->pad, dx);
}

int oma_norm_backward(const oma_norm *n, const oma_tensor *x, int silu, const oma_tensor *dy,
                      oma_arena *ar, oma_tensor *dx)
{
    if (oma_arena_like(ar, x, dx) != 0) return -1;
    if (n->groups > 0) {
        if (x->ndim != 4 || x->shape[1] != n->channels) return -1;
        return oma_op_group_norm_backward(x, n->groups, &n->gamma, &n->beta, n->eps, silu, dy, dx);
    }
    if (silu || x->ndim < 1 || x->shape[x->ndim - 1] != n->channels) return -1;
    return oma_op_layer_norm_backward(x, &n->gamma, n->eps, dy, dx);
}
