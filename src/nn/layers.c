/* layers.c — linear, conv2d and norm layers over the tensor ops (see layers.h). */
#include "nn/layers.h"


#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "nn/layers_internal.h"
#include "tensor/half.h"
#include "tensor/ops.h"

/* ---- 16-bit weights ---- */

/* Loads prefix.weight: 16-bit when asked and stored so (*w16 set, t left empty), else float. */
static int load_weight_data(const oma_weights *w, const char *prefix, int ndim, const int64_t *shape,
                            oma_tensor *t, uint16_t **w16, int *kind, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    *w16 = NULL;
    *kind = 0;
    if (w->keep_half && w->read_half) {
        int64_t n = oma_shape_numel(ndim, shape);
        char name[512];
        if (n < 0 || oma_weights_join(name, sizeof name, prefix, "weight") != 0) {
            snprintf(err, errlen, "weights: %s.weight: bad shape or name", prefix);
            return -1;
        }
        uint16_t *buf = malloc((size_t)n * sizeof *buf + 1);
        if (!buf) {
            snprintf(err, errlen, "weights: tensor '%s': cannot allocate", name);
            return -1;
        }
        int rc = w->read_half(w->ctx, name, ndim, shape, buf, kind, err, errlen);
        if (rc == 0 && (*kind == OMA_HALF_F16 || *kind == OMA_HALF_BF16)) {
            *w16 = buf;
            return oma_tensor_view(t, NULL, ndim, shape);   /* shape only */
        }
        free(buf);
        if (rc < 0) return -1;
    }
    return oma_weights_load(w, prefix, "weight", ndim, shape, t, err, errlen);
}

/* Loads a layer's weight and stamps it (tensor.h: the backend may keep a prepared copy). */
static int load_weight(const oma_weights *w, const char *prefix, int ndim, const int64_t *shape,
                       oma_tensor *t, uint16_t **w16, int *kind, char *err, size_t errlen)
{
    if (load_weight_data(w, prefix, ndim, shape, t, w16, kind, err, errlen) != 0) return -1;
    t->stamp = oma_stamp_next();
    return 0;
}

static pthread_key_t wkey;
static pthread_once_t wonce = PTHREAD_ONCE_INIT;
typedef struct {
    float *p;
    size_t cap;
} wbuf;

static void wbuf_free(void *v)
{
    wbuf *b = v;
    if (b) oma_aligned_free(b->p);
    free(b);
}

static void wkey_init(void) { (void)pthread_key_create(&wkey, wbuf_free); }

/* The float32 weights of a layer: its own, or its 16-bit ones widened into this thread's
 * buffer (valid until the next call on this thread). NULL when out of memory. */
const float *oma_layer_weights_f32(const oma_tensor *t, const uint16_t *w16, int kind)
{
    if (!w16) return t->data;
    size_t n = (size_t)oma_tensor_numel(t);
    pthread_once(&wonce, wkey_init);
    wbuf *b = pthread_getspecific(wkey);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b || pthread_setspecific(wkey, b) != 0) {
            free(b);
            return NULL;
        }
    }
    if (b->cap < n) {
        oma_aligned_free(b->p);
        b->p = oma_aligned_alloc(n * sizeof(float));
        b->cap = b->p ? n : 0;
        if (!b->p) return NULL;
    }
    oma_half_widen(w16, (oma_half_kind)kind, b->p, n);
    return b->p;
}

/* Makes the float32 weights permanent (for LoRA merging). */
static int materialize(oma_tensor *t, uint16_t **w16, int kind)
{
    if (!*w16) return 0;
    oma_tensor f;
    if (oma_tensor_alloc(&f, t->ndim, t->shape) != 0) return -1;
    oma_half_widen(*w16, (oma_half_kind)kind, f.data, (size_t)oma_tensor_numel(&f));
    free(*w16);
    *w16 = NULL;
    f.stamp = t->stamp;
    *t = f;
    return 0;
}

int oma_arena_like(oma_arena *ar, const oma_tensor *x, oma_tensor *y)
{
    return oma_arena_tensor_uninit(ar, y, x->ndim, x->shape);
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
    if (load_weight(w, prefix, 2, s, &l->w, &l->w16, &l->w16_kind, err, errlen) != 0) return -1;
    if (load_bias(w, prefix, out, bias, &l->b, err, errlen) != 0) {
        oma_linear_free(l);
        return -1;
    }
    return 0;
}

void oma_linear_free(oma_linear *l)
{
    oma_op_forget_weights(&l->w);
    oma_tensor_free(&l->w);
    oma_tensor_free(&l->b);
    free(l->w16);
    l->w16 = NULL;
}

size_t oma_linear_bytes(const oma_linear *l)
{
    size_t n = (size_t)oma_tensor_numel(&l->w) * (l->w16 ? 2 : 4);
    return n + (l->b.data ? (size_t)oma_tensor_numel(&l->b) * 4 : 0);
}

int oma_linear_forward(const oma_linear *l, const oma_tensor *x, oma_arena *ar, oma_tensor *y)
{
    if (x->ndim < 1 || x->shape[x->ndim - 1] != l->in) return -1;
    int64_t s[OMA_TENSOR_MAX_DIMS];
    memcpy(s, x->shape, sizeof s);
    s[x->ndim - 1] = l->out;
    if (oma_arena_tensor_uninit(ar, y, x->ndim, s) != 0) return -1;     /* the product fills it */
    return oma_linear_into(l, x, y);
}

int oma_linear_into(const oma_linear *l, const oma_tensor *x, oma_tensor *y)
{
    oma_tensor wt = l->w;
    wt.data = (float *)oma_layer_weights_f32(&l->w, l->w16, l->w16_kind);
    if (!wt.data) return -1;
    if (oma_op_linear(x, &wt, l->b.data ? &l->b : NULL, y) != 0) return -1;
    return l->lora ? oma_lora_forward_add(l->lora, x, y) : 0;
}

/* W[out, inner] += scale * up[out, r] @ down[r, inner] */
static int merge(oma_tensor *wt, int64_t out, int64_t inner, const oma_tensor *up,
                 const oma_tensor *down, float scale)
{
    int64_t r = up->shape[1];
    if (up->shape[0] != out || oma_tensor_numel(up) != out * r || down->shape[0] != r ||
        oma_tensor_numel(down) != r * inner)
        return -1;
    oma_op_forget_weights(wt);      /* what the backend prepared from the old values */
    oma_backend_current()->gemm(0, 0, out, inner, r, scale, up->data, r, down->data, inner, 1.0f,
                                wt->data, inner);
    wt->stamp = oma_stamp_next();
    return 0;
}

/* W += scale * delta (a full change of W's size: LyCORIS LoHa / LoKr). */
static int add_full(oma_tensor *wt, int64_t n, const float *delta, float scale)
{
    if (oma_tensor_numel(wt) != n) return -1;
    oma_op_forget_weights(wt);
    for (int64_t i = 0; i < n; i++) wt->data[i] += scale * delta[i];
    wt->stamp = oma_stamp_next();
    return 0;
}

int oma_linear_add_delta(oma_linear *l, const float *delta, float scale)
{
    if (materialize(&l->w, &l->w16, l->w16_kind) != 0) return -1;
    return add_full(&l->w, l->out * l->in, delta, scale);
}

int oma_conv2d_add_delta(oma_conv2d *c, const float *delta, float scale)
{
    if (materialize(&c->w, &c->w16, c->w16_kind) != 0) return -1;
    return add_full(&c->w, c->out * c->in * c->k * c->k, delta, scale);
}

int oma_linear_merge_lora(oma_linear *l, const oma_tensor *up, const oma_tensor *down, float scale)
{
    if (up->ndim != 2 || down->ndim != 2) return -1;
    if (materialize(&l->w, &l->w16, l->w16_kind) != 0) return -1;
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
    if (load_weight(w, prefix, 4, s, &c->w, &c->w16, &c->w16_kind, err, errlen) != 0) return -1;
    if (load_bias(w, prefix, out, bias, &c->b, err, errlen) != 0) {
        oma_conv2d_free(c);
        return -1;
    }
    return 0;
}

void oma_conv2d_free(oma_conv2d *c)
{
    oma_op_forget_weights(&c->w);
    oma_tensor_free(&c->w);
    oma_tensor_free(&c->b);
    free(c->w16);
    c->w16 = NULL;
}

size_t oma_conv2d_bytes(const oma_conv2d *c)
{
    size_t n = (size_t)oma_tensor_numel(&c->w) * (c->w16 ? 2 : 4);
    return n + (c->b.data ? (size_t)oma_tensor_numel(&c->b) * 4 : 0);
}

/* While on (oma_layers_hand_over), 3x3 convolutions hand their float weights over to the
 * backend on use (ops.h, oma_op_weights_consumable) */
static _Atomic int g_hand_over;

void oma_layers_hand_over(int on) { g_hand_over = on != 0; }

int oma_conv2d_run(const oma_conv2d *c, const oma_tensor *x, int stride, int pad, oma_tensor *y)
{
    if (g_hand_over && c->k == 3 && !c->w16 && c->w.owns) oma_op_weights_consumable(&c->w);
    oma_tensor wt = c->w;
    wt.data = (float *)oma_layer_weights_f32(&c->w, c->w16, c->w16_kind);
    if (!wt.data) return -1;
    return oma_op_conv2d(x, &wt, c->b.data ? &c->b : NULL, stride, pad, y);
}

int oma_conv2d_forward(const oma_conv2d *c, const oma_tensor *x, oma_arena *ar, oma_tensor *y)
{
    if (x->ndim != 4 || x->shape[1] != c->in) return -1;
    int64_t oh = oma_conv_out_size(x->shape[2], c->k, c->stride, c->pad);
    int64_t ow = oma_conv_out_size(x->shape[3], c->k, c->stride, c->pad);
    if (oh < 1 || ow < 1) return -1;
    int64_t s[4] = {x->shape[0], c->out, oh, ow};
    if (oma_arena_tensor_uninit(ar, y, 4, s) != 0) return -1;     /* the convolution fills it */
    return oma_conv2d_run(c, x, c->stride, c->pad, y);
}

/* The weight matrix [O, C] and bias of a 1x1 convolution or a linear layer. */
static int proj_weights(const oma_conv2d *c, const oma_linear *l, oma_tensor *w, const oma_tensor **b)
{
    if (c && (c->k != 1 || c->stride != 1 || c->pad != 0)) return -1;
    if (!c && l->lora) return -1;   /* adapters on the projections are not supported */
    const oma_tensor *src = c ? &c->w : &l->w;
    *w = *src;
    w->data = (float *)oma_layer_weights_f32(src, c ? c->w16 : l->w16, c ? c->w16_kind : l->w16_kind);
    if (!w->data) return -1;
    w->ndim = 2;
    w->shape[0] = c ? c->out : l->out;
    w->shape[1] = c ? c->in : l->in;
    w->shape[2] = w->shape[3] = 1;
    const oma_tensor *bias = c ? &c->b : &l->b;
    *b = bias->data ? bias : NULL;
    return 0;
}

int oma_proj_to_tokens(const oma_conv2d *c, const oma_linear *l, const oma_tensor *x,
                       oma_arena *ar, oma_tensor *y)
{
    oma_tensor w;
    const oma_tensor *b;
    if (x->ndim != 4 || proj_weights(c, l, &w, &b) != 0) return -1;
    int64_t s[3] = {x->shape[0], x->shape[2] * x->shape[3], w.shape[0]};
    if (oma_arena_tensor_uninit(ar, y, 3, s) != 0) return -1;
    return oma_op_linear_nchw_to_tokens(x, &w, b, y);
}

int oma_proj_to_nchw(const oma_conv2d *c, const oma_linear *l, const oma_tensor *x, int64_t h,
                     int64_t wd, oma_arena *ar, oma_tensor *y)
{
    oma_tensor w;
    const oma_tensor *b;
    if (x->ndim != 3 || proj_weights(c, l, &w, &b) != 0) return -1;
    int64_t s[4] = {x->shape[0], w.shape[0], h, wd};
    if (oma_arena_tensor_uninit(ar, y, 4, s) != 0) return -1;
    return oma_op_linear_tokens_to_nchw(x, &w, b, y);
}

int oma_conv2d_merge_lora(oma_conv2d *c, const oma_tensor *up, const oma_tensor *down, float scale)
{
    if (up->ndim != 2 && !(up->ndim == 4 && up->shape[2] == 1 && up->shape[3] == 1)) return -1;
    if (down->ndim != 2 && down->ndim != 4) return -1;
    if (down->ndim == 4 && (down->shape[1] != c->in || down->shape[2] != c->k || down->shape[3] != c->k))
        return -1;
    if (down->ndim == 2 && (c->k != 1 || down->shape[1] != c->in)) return -1;
    if (materialize(&c->w, &c->w16, c->w16_kind) != 0) return -1;
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
