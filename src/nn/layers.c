/* layers.c — linear, conv2d and norm layers over the tensor ops (see layers.h). */
#include "nn/layers.h"

#include <stdio.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/ops.h"

int oma_arena_like(oma_arena *ar, const oma_tensor *x, oma_tensor *y)
{
    return oma_arena_tensor(ar, y, x->ndim, x->shape);
}

static int load_bias(const oma_weights *w, const char *prefix, int64_t n, int bias, oma_tensor *b,
                     char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    if (bias == 0 || (bias < 0 && !oma_weights_has(w, prefix, "bias"))) return 0;
    int64_t s[1] = {n};
    return oma_weights_load(w, prefix, "bias", 1, s, b, err, errlen);
}

int oma_linear_load(oma_linear *l, const oma_weights *w, const char *prefix, int64_t in,
                    int64_t out, int bias, char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    l->in = in;
    l->out = out;
    int64_t s[2] = {out, in};
    if (oma_weights_load(w, prefix, "weight", 2, s, &l->w, err, errlen) != 0) return -1;
    if (load_bias(w, prefix, out, bias, &l->b, err, errlen) != 0) {
        oma_linear_free(l);
        return -1;
    }
    return 0;
}

void oma_linear_free(oma_linear *l)
{
    oma_tensor_free(&l->w);
    oma_tensor_free(&l->b);
}

int oma_linear_forward(const oma_linear *l, const oma_tensor *x, oma_arena *ar, oma_tensor *y)
{
    if (x->ndim < 1 || x->shape[x->ndim - 1] != l->in) return -1;
    int64_t s[OMA_TENSOR_MAX_DIMS];
    memcpy(s, x->shape, sizeof s);
    s[x->ndim - 1] = l->out;
    if (oma_arena_tensor(ar, y, x->ndim, s) != 0) return -1;
    return oma_op_linear(x, &l->w, l->b.data ? &l->b : NULL, y);
}

/* W[out, inner] += scale * up[out, r] @ down[r, inner] */
static int merge(oma_tensor *wt, int64_t out, int64_t inner, const oma_tensor *up,
                 const oma_tensor *down, float scale)
{
    int64_t r = up->shape[1];
    if (up->shape[0] != out || oma_tensor_numel(up) != out * r || down->shape[0] != r ||
        oma_tensor_numel(down) != r * inner)
        return -1;
    oma_backend_current()->gemm(0, 0, out, inner, r, scale, up->data, r, down->data, inner, 1.0f,
                                wt->data, inner);
    return 0;
}

int oma_linear_merge_lora(oma_linear *l, const oma_tensor *up, const oma_tensor *down, float scale)
{
    if (up->ndim != 2 || down->ndim != 2) return -1;
    return merge(&l->w, l->out, l->in, up, down, scale);
}

int oma_conv2d_load(oma_conv2d *c, const oma_weights *w, const char *prefix, int64_t in,
                    int64_t out, int64_t k, int stride, int pad, int bias, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->in = in;
    c->out = out;
    c->k = k;
    c->stride = stride;
    c->pad = pad;
    int64_t s[4] = {out, in, k, k};
    if (oma_weights_load(w, prefix, "weight", 4, s, &c->w, err, errlen) != 0) return -1;
    if (load_bias(w, prefix, out, bias, &c->b, err, errlen) != 0) {
        oma_conv2d_free(c);
        return -1;
    }
    return 0;
}

void oma_conv2d_free(oma_conv2d *c)
{
    oma_tensor_free(&c->w);
    oma_tensor_free(&c->b);
}

int oma_conv2d_forward(const oma_conv2d *c, const oma_tensor *x, oma_arena *ar, oma_tensor *y)
{
    if (x->ndim != 4 || x->shape[1] != c->in) return -1;
    int64_t oh = oma_conv_out_size(x->shape[2], c->k, c->stride, c->pad);
    int64_t ow = oma_conv_out_size(x->shape[3], c->k, c->stride, c->pad);
    if (oh < 1 || ow < 1) return -1;
    int64_t s[4] = {x->shape[0], c->out, oh, ow};
    if (oma_arena_tensor(ar, y, 4, s) != 0) return -1;
    return oma_op_conv2d(x, &c->w, c->b.data ? &c->b : NULL, c->stride, c->pad, y);
}

int oma_conv2d_merge_lora(oma_conv2d *c, const oma_tensor *up, const oma_tensor *down, float scale)
{
    if (up->ndim != 2 && !(up->ndim == 4 && up->shape[2] == 1 && up->shape[3] == 1)) return -1;
    if (down->ndim != 2 && down->ndim != 4) return -1;
    if (down->ndim == 4 && (down->shape[1] != c->in || down->shape[2] != c->k || down->shape[3] != c->k))
        return -1;
    if (down->ndim == 2 && (c->k != 1 || down->shape[1] != c->in)) return -1;
    return merge(&c->w, c->out, c->in * c->k * c->k, up, down, scale);
}

static int load_affine(oma_norm *n, const oma_weights *w, const char *prefix, int64_t c,
                       char *err, size_t errlen)
{
    int64_t s[1] = {c};
    if (oma_weights_load(w, prefix, "weight", 1, s, &n->gamma, err, errlen) != 0) return -1;
    if (oma_weights_load(w, prefix, "bias", 1, s, &n->beta, err, errlen) != 0) {
        oma_tensor_free(&n->gamma);
        return -1;
    }
    return 0;
}

int oma_group_norm_load(oma_norm *n, const oma_weights *w, const char *prefix, int64_t channels,
                        int64_t groups, float eps, char *err, size_t errlen)
{
    memset(n, 0, sizeof *n);
    if (groups < 1 || channels % groups != 0) {
        snprintf(err, errlen, "%s: %lld channels do not split into %lld groups", prefix,
                 (long long)channels, (long long)groups);
        return -1;
    }
    n->channels = channels;
    n->groups = groups;
    n->eps = eps;
    return load_affine(n, w, prefix, channels, err, errlen);
}

int oma_layer_norm_load(oma_norm *n, const oma_weights *w, const char *prefix, int64_t dim,
                        float eps, char *err, size_t errlen)
{
    memset(n, 0, sizeof *n);
    n->channels = dim;
    n->eps = eps;
    return load_affine(n, w, prefix, dim, err, errlen);
}

void oma_norm_free(oma_norm *n)
{
    oma_tensor_free(&n->gamma);
    oma_tensor_free(&n->beta);
}

int oma_norm_forward(const oma_norm *n, const oma_tensor *x, int silu, oma_arena *ar, oma_tensor *y)
{
    if (oma_arena_like(ar, x, y) != 0) return -1;
    if (n->groups > 0) {
        if (x->ndim != 4 || x->shape[1] != n->channels) return -1;
        return oma_op_group_norm(x, n->groups, &n->gamma, &n->beta, n->eps, silu, y);
    }
    if (silu) return -1;
    return oma_op_layer_norm(x, &n->gamma, &n->beta, n->eps, y);
}
