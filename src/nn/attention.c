/* attention.c — attention, GEGLU feed-forward and the transformer blocks (see attention.h). */
#include "nn/attention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/ops.h"

#define TRY(x) do { if ((x) != 0) goto fail; } while (0)

static int sub(char *buf, size_t len, const char *prefix, const char *part)
{
    return oma_weights_join(buf, len, prefix, part);
}

int oma_attention_load(oma_attention *a, const oma_weights *w, const char *prefix, int64_t dim,
                       int64_t context_dim, int64_t heads, int qkv_bias, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    if (errlen) err[0] = 0;
    if (heads < 1 || dim % heads != 0) {
        snprintf(err, errlen, "%s: %lld channels do not split into %lld heads", prefix,
                 (long long)dim, (long long)heads);
        return -1;
    }
    a->dim = dim;
    a->context_dim = context_dim;
    a->heads = heads;
    char p[512];
    TRY(sub(p, sizeof p, prefix, "to_q"));
    TRY(oma_linear_load(&a->to_q, w, p, dim, dim, qkv_bias, err, errlen));
    TRY(sub(p, sizeof p, prefix, "to_k"));
    TRY(oma_linear_load(&a->to_k, w, p, context_dim, dim, qkv_bias, err, errlen));
    TRY(sub(p, sizeof p, prefix, "to_v"));
    TRY(oma_linear_load(&a->to_v, w, p, context_dim, dim, qkv_bias, err, errlen));
    TRY(sub(p, sizeof p, prefix, "to_out.0"));
    TRY(oma_linear_load(&a->to_out, w, p, dim, dim, 1, err, errlen));
    return 0;
fail:
    if (!err[0]) snprintf(err, errlen, "%s: name too long", prefix);
    oma_attention_free(a);
    return -1;
}

void oma_attention_free(oma_attention *a)
{
    oma_linear_free(&a->to_q);
    oma_linear_free(&a->to_k);
    oma_linear_free(&a->to_v);
    oma_linear_free(&a->to_out);
}

int oma_attention_forward(const oma_attention *a, const oma_tensor *x, const oma_tensor *context,
                          oma_arena *ar, oma_tensor *y)
{
    if (x->ndim != 3 || x->shape[2] != a->dim) return -1;
    const oma_tensor *ctx = context ? context : x;
    if (ctx->ndim != 3 || ctx->shape[0] != x->shape[0] || ctx->shape[2] != a->context_dim) return -1;
    if (oma_arena_like(ar, x, y) != 0) return -1;   /* output first, temporaries after */
    oma_arena_mark m = oma_arena_get_mark(ar);
    oma_tensor q, k, v, o;
    int rc = -1;
    TRY(oma_linear_forward(&a->to_q, x, ar, &q));
    TRY(oma_linear_forward(&a->to_k, ctx, ar, &k));
    TRY(oma_linear_forward(&a->to_v, ctx, ar, &v));
    TRY(oma_arena_like(ar, &q, &o));
    TRY(oma_op_attention(&q, &k, &v, a->heads, 0.0f, 0, &o));
    TRY(oma_linear_into(&a->to_out, &o, y));
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}

int oma_feedforward_load(oma_feedforward *f, const oma_weights *w, const char *prefix, int64_t dim,
                         int64_t inner, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    if (errlen) err[0] = 0;
    char p[512];
    TRY(sub(p, sizeof p, prefix, "net.0.proj"));
    TRY(oma_linear_load(&f->proj, w, p, dim, 2 * inner, 1, err, errlen));
    TRY(sub(p, sizeof p, prefix, "net.2"));
    TRY(oma_linear_load(&f->out, w, p, inner, dim, 1, err, errlen));
    return 0;
fail:
    if (!err[0]) snprintf(err, errlen, "%s: name too long", prefix);
    oma_feedforward_free(f);
    return -1;
}

void oma_feedforward_free(oma_feedforward *f)
{
    oma_linear_free(&f->proj);
    oma_linear_free(&f->out);
}

int oma_feedforward_forward(const oma_feedforward *f, const oma_tensor *x, oma_arena *ar,
                            oma_tensor *y)
{
    if (oma_arena_like(ar, x, y) != 0) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor h, g;
    TRY(oma_linear_forward(&f->proj, x, ar, &h));
    int64_t s[OMA_TENSOR_MAX_DIMS];
    memcpy(s, h.shape, sizeof s);
    s[h.ndim - 1] /= 2;
    TRY(oma_arena_tensor_uninit(ar, &g, h.ndim, s));
    TRY(oma_op_geglu(&h, &g));
    TRY(oma_linear_into(&f->out, &g, y));
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}

int oma_transformer_load(oma_transformer *t, const oma_weights *w, const char *prefix, int64_t dim,
                         int64_t context_dim, int64_t heads, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (errlen) err[0] = 0;
    char p[512];
    TRY(sub(p, sizeof p, prefix, "norm1"));
    TRY(oma_layer_norm_load(&t->norm1, w, p, dim, 1e-5f, err, errlen));
    TRY(sub(p, sizeof p, prefix, "norm2"));
    TRY(oma_layer_norm_load(&t->norm2, w, p, dim, 1e-5f, err, errlen));
    TRY(sub(p, sizeof p, prefix, "norm3"));
    TRY(oma_layer_norm_load(&t->norm3, w, p, dim, 1e-5f, err, errlen));
    TRY(sub(p, sizeof p, prefix, "attn1"));
    TRY(oma_attention_load(&t->attn1, w, p, dim, dim, heads, 0, err, errlen));
    TRY(sub(p, sizeof p, prefix, "attn2"));
    TRY(oma_attention_load(&t->attn2, w, p, dim, context_dim, heads, 0, err, errlen));
    TRY(sub(p, sizeof p, prefix, "ff"));
    TRY(oma_feedforward_load(&t->ff, w, p, dim, 4 * dim, err, errlen));
    return 0;
fail:
    if (!err[0]) snprintf(err, errlen, "%s: name too long", prefix);
    oma_transformer_free(t);
    return -1;
}

void oma_transformer_free(oma_transformer *t)
{
    oma_norm_free(&t->norm1);
    oma_norm_free(&t->norm2);
    oma_norm_free(&t->norm3);
    oma_attention_free(&t->attn1);
    oma_attention_free(&t->attn2);
    oma_feedforward_free(&t->ff);
}

void oma_ref_bank_free(oma_ref_bank *b)
{
    for (int i = 0; i < b->cap; i++) oma_tensor_free(&b->feats[i]);
    free(b->feats);
    memset(b, 0, sizeof *b);
}

/* WRITE: keeps row write_row of h [B, N, C]. */
static int bank_write(oma_ref_bank *b, const oma_tensor *h)
{
    if (b->write_row < 0 || b->write_row >= h->shape[0]) return -1;
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 16;
        if (cap > 4096) return -1;
        oma_tensor *f = realloc(b->feats, (size_t)cap * sizeof *f);
        if (!f) return -1;
        memset(f + b->cap, 0, (size_t)(cap - b->cap) * sizeof *f);
        b->feats = f;
        b->cap = cap;
    }
    int64_t n = h->shape[1], c = h->shape[2];
    if (oma_tensor_alloc4(&b->feats[b->n], 2, n, c, 0, 0) != 0) return -1;
    memcpy(b->feats[b->n].data, h->data + b->write_row * n * c, sizeof(float) * (size_t)(n * c));
    b->n++;
    return 0;
}

/* READ: a = attn1 over h [B, N, C], rows >= first_bank_row with keys/values cat(own, bank). */
static int bank_read(const oma_attention *at, oma_ref_bank *b, const oma_tensor *h, oma_arena *ar,
                     oma_tensor *a)
{
    if (b->n >= b->count) return -1;
    const oma_tensor *f = &b->feats[b->n++];
    int64_t B = h->shape[0], n = h->shape[1], c = h->shape[2];
    if (f->ndim != 2 || f->shape[1] != c) return -1;
    if (oma_arena_like(ar, h, a) != 0) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    for (int64_t r = 0; r < B; r++) {
        oma_tensor row, ctx, o;
        int64_t rs[3] = {1, n, c}, cs[3] = {1, n + f->shape[0], c};
        TRY(oma_tensor_view(&row, h->data + r * n * c, 3, rs));
        if (r < b->first_bank_row) {
            TRY(oma_attention_forward(at, &row, NULL, ar, &o));
        } else {
            TRY(oma_arena_tensor_uninit(ar, &ctx, 3, cs));
            memcpy(ctx.data, row.data, sizeof(float) * (size_t)(n * c));
            memcpy(ctx.data + n * c, f->data, sizeof(float) * (size_t)(f->shape[0] * c));
            TRY(oma_attention_forward(at, &row, &ctx, ar, &o));
        }
        memcpy(a->data + r * n * c, o.data, sizeof(float) * (size_t)(n * c));
        oma_arena_release(ar, m);
    }
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}

int oma_transformer_forward(const oma_transformer *t, oma_tensor *x, const oma_tensor *context,
                            oma_arena *ar)
{
    return oma_transformer_forward_ref(t, x, context, NULL, ar);
}

int oma_transformer_forward_ref(const oma_transformer *t, oma_tensor *x, const oma_tensor *context,
                                oma_ref_bank *bank, oma_arena *ar)
{
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor h, a;
    int mode = bank ? bank->mode : OMA_REF_OFF;
    TRY(oma_norm_forward(&t->norm1, x, 0, ar, &h));
    if (mode == OMA_REF_WRITE) TRY(bank_write(bank, &h));
    if (mode == OMA_REF_READ) TRY(bank_read(&t->attn1, bank, &h, ar, &a));
    else TRY(oma_attention_forward(&t->attn1, &h, NULL, ar, &a));
    TRY(oma_op_add(x, &a, x));
    oma_arena_release(ar, m);
    TRY(oma_norm_forward(&t->norm2, x, 0, ar, &h));
    TRY(oma_attention_forward(&t->attn2, &h, context, ar, &a));
    TRY(oma_op_add(x, &a, x));
    oma_arena_release(ar, m);
    TRY(oma_norm_forward(&t->norm3, x, 0, ar, &h));
    TRY(oma_feedforward_forward(&t->ff, &h, ar, &a));
    TRY(oma_op_add(x, &a, x));
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}

int oma_transformer2d_load(oma_transformer2d *t, const oma_weights *w, const char *prefix,
                           int64_t channels, int64_t heads, int64_t context_dim, int n_layers,
                           int linear_proj, int64_t groups, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (errlen) err[0] = 0;
    if (n_layers < 1 || n_layers > OMA_MAX_TRANSFORMER_LAYERS) {
        snprintf(err, errlen, "%s: %d transformer layers not supported", prefix, n_layers);
        return -1;
    }
    t->channels = channels;
    t->linear_proj = linear_proj;
    char p[512];
    TRY(sub(p, sizeof p, prefix, "norm"));
    TRY(oma_group_norm_load(&t->norm, w, p, channels, groups, 1e-6f, err, errlen));
    TRY(sub(p, sizeof p, prefix, "proj_in"));
    if (linear_proj) TRY(oma_linear_load(&t->proj_in_lin, w, p, channels, channels, 1, err, errlen));
    else TRY(oma_conv2d_load(&t->proj_in_conv, w, p, channels, channels, 1, 1, 0, 1, err, errlen));
    TRY(sub(p, sizeof p, prefix, "proj_out"));
    if (linear_proj) TRY(oma_linear_load(&t->proj_out_lin, w, p, channels, channels, 1, err, errlen));
    else TRY(oma_conv2d_load(&t->proj_out_conv, w, p, channels, channels, 1, 1, 0, 1, err, errlen));
    for (int i = 0; i < n_layers; i++) {
        char part[64];
        snprintf(part, sizeof part, "transformer_blocks.%d", i);
        TRY(sub(p, sizeof p, prefix, part));
        TRY(oma_transformer_load(&t->blocks[i], w, p, channels, context_dim, heads, err, errlen));
        t->n_blocks = i + 1;
    }
    return 0;
fail:
    if (!err[0]) snprintf(err, errlen, "%s: name too long", prefix);
    oma_transformer2d_free(t);
    return -1;
}

void oma_transformer2d_free(oma_transformer2d *t)
{
    oma_norm_free(&t->norm);
    oma_conv2d_free(&t->proj_in_conv);
    oma_conv2d_free(&t->proj_out_conv);
    oma_linear_free(&t->proj_in_lin);
    oma_linear_free(&t->proj_out_lin);
    for (int i = 0; i < t->n_blocks; i++) oma_transformer_free(&t->blocks[i]);
    t->n_blocks = 0;
}

int oma_transformer2d_forward(const oma_transformer2d *t, const oma_tensor *x,
                              const oma_tensor *context, oma_arena *ar, oma_tensor *y)
{
    return oma_transformer2d_forward_ref(t, x, context, NULL, ar, y);
}

int oma_transformer2d_forward_ref(const oma_transformer2d *t, const oma_tensor *x,
                                  const oma_tensor *context, oma_ref_bank *bank, oma_arena *ar,
                                  oma_tensor *y)
{
    if (x->ndim != 4 || x->shape[1] != t->channels) return -1;
    if (oma_arena_like(ar, x, y) != 0) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor h, tok, out;
    const oma_conv2d *cin = t->linear_proj ? NULL : &t->proj_in_conv;
    const oma_conv2d *cout = t->linear_proj ? NULL : &t->proj_out_conv;
    /* norm, projection into tokens (1x1 conv or linear, the transpose folded in), the blocks,
     * projection back to NCHW, residual */
    TRY(oma_norm_forward(&t->norm, x, 0, ar, &h));
    TRY(oma_proj_to_tokens(cin, &t->proj_in_lin, &h, ar, &tok));
    for (int i = 0; i < t->n_blocks; i++)
        TRY(oma_transformer_forward_ref(&t->blocks[i], &tok, context, bank, ar));
    TRY(oma_proj_to_nchw(cout, &t->proj_out_lin, &tok, x->shape[2], x->shape[3], ar, &out));
    TRY(oma_op_add(&out, x, y));
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}

int oma_vae_attention_load(oma_vae_attention *a, const oma_weights *w, const char *prefix,
                           int64_t channels, int64_t groups, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    if (errlen) err[0] = 0;
    char p[512];
    TRY(sub(p, sizeof p, prefix, "group_norm"));
    TRY(oma_group_norm_load(&a->norm, w, p, channels, groups, 1e-6f, err, errlen));
    TRY(oma_attention_load(&a->attn, w, prefix, channels, channels, 1, 1, err, errlen));
    return 0;
fail:
    if (!err[0]) snprintf(err, errlen, "%s: name too long", prefix);
    oma_vae_attention_free(a);
    return -1;
}

void oma_vae_attention_free(oma_vae_attention *a)
{
    oma_norm_free(&a->norm);
    oma_attention_free(&a->attn);
}

int oma_vae_attention_forward(const oma_vae_attention *a, const oma_tensor *x, oma_arena *ar,
                              oma_tensor *y)
{
    if (x->ndim != 4 || x->shape[1] != a->attn.dim) return -1;
    if (oma_arena_like(ar, x, y) != 0) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    int64_t ts[3] = {x->shape[0], x->shape[2] * x->shape[3], x->shape[1]};
    oma_tensor h, tok, o;
    TRY(oma_norm_forward(&a->norm, x, 0, ar, &h));
    TRY(oma_arena_tensor_uninit(ar, &tok, 3, ts));
    TRY(oma_op_nchw_to_tokens(&h, &tok));
    TRY(oma_attention_forward(&a->attn, &tok, NULL, ar, &o));
    TRY(oma_op_tokens_to_nchw(&o, &h));
    TRY(oma_op_add(&h, x, y));
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}
