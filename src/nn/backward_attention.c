/* backward_attention.c — backward passes of attention, the GEGLU feed-forward, the
 * BasicTransformerBlock and the Transformer2DModel (see backward.h).
 *
 * Each recomputes its forward from its input (gradient checkpointing per block), keeps the
 * intermediates in the arena for the call only, and returns dx allocated before them. Attention
 * recomputes q, k, v and o (the fused forward), then the fused backward gives dq, dk, dv; a
 * transformer block recomputes each attention once and keeps that state for its backward; each
 * projection's backward also feeds its adapter's gradients. Self-attention adds the k and v
 * paths into dx; cross-attention adds them into dcontext (the text encoder's output, needed
 * for textual inversion and the text-encoder LoRA).
 */
#include <string.h>

#include "nn/backward.h"
#include "nn/backward_internal.h"
#include "nn/layers_internal.h"
#include "tensor/backend.h"
#include "tensor/ops.h"
#include "tensor/ops_backward.h"

#define TRY(x) do { if ((x) != 0) goto fail; } while (0)

/* What an attention's backward needs of its forward (oma_attn_keep): the projections and the
 * output before to_out (computed once, shared by a block's forward and its backward). */
typedef oma_attn_keep attn_state;

static int attention_recompute(const oma_attention *a, const oma_tensor *x, const oma_tensor *ctx,
                               oma_arena *ar, attn_state *st)
{
    if (oma_linear_forward(&a->to_q, x, ar, &st->q) != 0 ||
        oma_linear_forward(&a->to_k, ctx, ar, &st->k) != 0 ||
        oma_linear_forward(&a->to_v, ctx, ar, &st->v) != 0 || oma_arena_like(ar, &st->q, &st->o) != 0)
        return -1;
    return oma_op_attention(&st->q, &st->k, &st->v, a->heads, 0.0f, 0, &st->o);
}

/* dx (allocated by the caller, written whole; NULL: not wanted, only the adapters' gradients and
 * dcontext) and dcontext += from a recomputed state */
static int attention_backward_from(const oma_attention *a, const oma_tensor *x,
                                   const oma_tensor *context, const attn_state *st,
                                   const oma_tensor *dy, oma_arena *ar, oma_tensor *dx,
                                   oma_tensor *dcontext)
{
    const oma_tensor *ctx = context ? context : x;
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor dout, dq, dk, dv;
    TRY(oma_arena_like(ar, &st->o, &dout));
    TRY(oma_linear_grad(&a->to_out, &st->o, dy, dout.data, 0.0f));
    TRY(oma_arena_like(ar, &st->q, &dq));
    TRY(oma_arena_like(ar, &st->k, &dk));
    TRY(oma_arena_like(ar, &st->v, &dv));
    TRY(oma_op_attention_backward(&st->q, &st->k, &st->v, &st->o, &dout, a->heads, 0.0f, 0, &dq,
                                  &dk, &dv));
    TRY(oma_linear_grad(&a->to_q, x, &dq, dx ? dx->data : NULL, 0.0f));
    float *dc = context ? (dcontext ? dcontext->data : NULL) : (dx ? dx->data : NULL);
    TRY(oma_linear_grad(&a->to_k, ctx, &dk, dc, 1.0f));
    TRY(oma_linear_grad(&a->to_v, ctx, &dv, dc, 1.0f));
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}

static int attention_check(const oma_attention *a, const oma_tensor *x, const oma_tensor *context,
                           const oma_tensor *dy, const oma_tensor *dcontext)
{
    if (x->ndim != 3 || x->shape[2] != a->dim || !oma_tensor_same_shape(x, dy)) return -1;
    const oma_tensor *ctx = context ? context : x;
    if (ctx->ndim != 3 || ctx->shape[0] != x->shape[0] || ctx->shape[2] != a->context_dim) return -1;
    if (context && dcontext && !oma_tensor_same_shape(context, dcontext)) return -1;
    return 0;
}

int oma_attention_backward(const oma_attention *a, const oma_tensor *x, const oma_tensor *context,
                           const oma_tensor *dy, oma_arena *ar, oma_tensor *dx,
                           oma_tensor *dcontext)
{
    if (attention_check(a, x, context, dy, dcontext) != 0) return -1;
    if (oma_arena_like(ar, x, dx) != 0) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    attn_state st;
    int rc = -1;
    if (attention_recompute(a, x, context ? context : x, ar, &st) == 0)
        rc = attention_backward_from(a, x, context, &st, dy, ar, dx, dcontext);
    oma_arena_release(ar, m);
    return rc;
}

int oma_feedforward_backward(const oma_feedforward *f, const oma_tensor *x, const oma_tensor *dy,
                             oma_arena *ar, oma_tensor *dx)
{
    if (!oma_tensor_same_shape(x, dy) || oma_arena_like(ar, x, dx) != 0) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor h, g, dg, dh;
    TRY(oma_linear_forward(&f->proj, x, ar, &h));
    int64_t s[OMA_TENSOR_MAX_DIMS];
    memcpy(s, h.shape, sizeof s);
    s[h.ndim - 1] /= 2;
    TRY(oma_arena_tensor_uninit(ar, &g, h.ndim, s));
    TRY(oma_op_geglu(&h, &g));
    TRY(oma_arena_like(ar, &g, &dg));
    TRY(oma_linear_grad(&f->out, &g, dy, dg.data, 0.0f));
    TRY(oma_arena_like(ar, &h, &dh));
    TRY(oma_op_geglu_backward(&h, &dg, &dh));
    TRY(oma_linear_grad(&f->proj, x, &dh, dx->data, 0.0f));
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}

/* One attention branch of the block, forward: h = norm(x), its attention state, and
 * xo = x + to_out(o) (the next branch's input). */
static int attn_branch_forward(const oma_norm *n, const oma_attention *a, const oma_tensor *x,
                               const oma_tensor *context, oma_arena *ar, oma_tensor *h,
                               attn_state *st, oma_tensor *xo)
{
    if (oma_norm_forward(n, x, 0, ar, h) != 0) return -1;
    if (context && (context->ndim != 3 || context->shape[0] != x->shape[0] ||
                    context->shape[2] != a->context_dim))
        return -1;
    if (attention_recompute(a, h, context ? context : h, ar, st) != 0) return -1;
    if (oma_arena_copy(ar, x, xo) != 0) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    oma_tensor y;
    int rc = -1;
    if (oma_linear_forward(&a->to_out, &st->o, ar, &y) == 0) rc = oma_op_add(xo, &y, xo);
    oma_arena_release(ar, m);
    return rc;
}

/* g += norm_backward(x, attention_backward(h = norm(x), g)); with need_in 0 g is left as it
 * is (the branch's input gradient is not wanted): only the adapters' gradients and dcontext */
static int attn_branch_backward(const oma_norm *n, const oma_attention *a, const oma_tensor *x,
                                const oma_tensor *h, const attn_state *st,
                                const oma_tensor *context, oma_tensor *g, oma_arena *ar,
                                oma_tensor *dcontext, int need_in)
{
    if (!need_in) return attention_backward_from(a, h, context, st, g, ar, NULL, dcontext);
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor dh, dn;
    TRY(oma_arena_like(ar, h, &dh));
    TRY(attention_backward_from(a, h, context, st, g, ar, &dh, dcontext));
    TRY(oma_norm_backward(n, x, 0, &dh, ar, &dn));
    TRY(oma_op_add(g, &dn, g));
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}

/* The block's forward keeping its state: k->x = x (not copied; the caller keeps it), the
 * output y = x3 allocated in the arena before nothing else of the state. */
static int transformer_forward_keep(const oma_transformer *t, const oma_tensor *x,
                                    const oma_tensor *context, oma_arena *ar,
                                    oma_transformer_keep *k, oma_tensor *y)
{
    k->x = *x;
    TRY(attn_branch_forward(&t->norm1, &t->attn1, x, NULL, ar, &k->h1, &k->s1, &k->x1));
    TRY(attn_branch_forward(&t->norm2, &t->attn2, &k->x1, context, ar, &k->h2, &k->s2, &k->x2));
    TRY(oma_norm_forward(&t->norm3, &k->x2, 0, ar, &k->h3));
    TRY(oma_linear_forward(&t->ff.proj, &k->h3, ar, &k->ffh));
    int64_t s[OMA_TENSOR_MAX_DIMS];
    memcpy(s, k->ffh.shape, sizeof s);
    s[k->ffh.ndim - 1] /= 2;
    TRY(oma_arena_tensor_uninit(ar, &k->ffg, k->ffh.ndim, s));
    TRY(oma_op_geglu(&k->ffh, &k->ffg));
    TRY(oma_arena_copy(ar, &k->x2, y));
    oma_arena_mark m = oma_arena_get_mark(ar);
    oma_tensor f;
    int rc = oma_linear_forward(&t->ff.out, &k->ffg, ar, &f);
    if (rc == 0) rc = oma_op_add(y, &f, y);
    oma_arena_release(ar, m);
    return rc;
fail:
    return -1;
}

/* dx (caller-allocated, x's shape) from the kept state; need_in 0: dx is only a work buffer
 * (the block's input gradient is not wanted, its last piece is not computed) */
static int transformer_backward_into(const oma_transformer *t, const oma_transformer_keep *k,
                                     const oma_tensor *context, const oma_tensor *dy,
                                     oma_arena *ar, oma_tensor *dx, oma_tensor *dcontext,
                                     int need_in)
{
    memcpy(dx->data, dy->data, sizeof(float) * (size_t)oma_tensor_numel(dy));   /* running */
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor dg, dh, dh3, dn;
    /* ff: out(geglu(proj(h3))) */
    TRY(oma_arena_like(ar, &k->ffg, &dg));
    TRY(oma_linear_grad(&t->ff.out, &k->ffg, dx, dg.data, 0.0f));
    TRY(oma_arena_like(ar, &k->ffh, &dh));
    TRY(oma_op_geglu_backward(&k->ffh, &dg, &dh));
    TRY(oma_arena_like(ar, &k->h3, &dh3));
    TRY(oma_linear_grad(&t->ff.proj, &k->h3, &dh, dh3.data, 0.0f));
    TRY(oma_norm_backward(&t->norm3, &k->x2, 0, &dh3, ar, &dn));
    TRY(oma_op_add(dx, &dn, dx));
    oma_arena_release(ar, m);
    TRY(attn_branch_backward(&t->norm2, &t->attn2, &k->x1, &k->h2, &k->s2, context, dx, ar,
                             dcontext, 1));
    TRY(attn_branch_backward(&t->norm1, &t->attn1, &k->x, &k->h1, &k->s1, NULL, dx, ar, NULL,
                             need_in));
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}

int oma_transformer_backward(const oma_transformer *t, const oma_tensor *x,
                             const oma_tensor *context, const oma_tensor *dy, oma_arena *ar,
                             oma_tensor *dx, oma_tensor *dcontext)
{
    if (x->ndim != 3 || !oma_tensor_same_shape(x, dy)) return -1;
    if (context && dcontext && !oma_tensor_same_shape(context, dcontext)) return -1;
    if (oma_arena_like(ar, dy, dx) != 0) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    oma_transformer_keep k;
    oma_tensor y;
    /* the forward again, keeping what the backward needs (gradient checkpointing) */
    int rc = transformer_forward_keep(t, x, context, ar, &k, &y);
    if (rc == 0) rc = transformer_backward_into(t, &k, context, dy, ar, dx, dcontext, 1);
    oma_arena_release(ar, m);
    return rc;
}

/* The projection weights [O, C] as float (a 1x1 conv's or a linear's), NULL on failure. */
static const float *proj_w(const oma_conv2d *c, const oma_linear *l)
{
    if (c) return oma_layer_weights_f32(&c->w, c->w16, c->w16_kind);
    if (l->lora) return NULL;       /* adapters on the projections are not supported */
    return oma_layer_weights_f32(&l->w, l->w16, l->w16_kind);
}

int oma_transformer2d_forward_keep(const oma_transformer2d *t, const oma_tensor *x,
                                   const oma_tensor *context, oma_arena *ar, oma_tensor *y,
                                   oma_transformer2d_keep *k)
{
    if (x->ndim != 4 || x->shape[1] != t->channels) return -1;
    if (oma_arena_like(ar, x, y) != 0) return -1;
    const oma_conv2d *cin = t->linear_proj ? NULL : &t->proj_in_conv;
    const oma_conv2d *cout = t->linear_proj ? NULL : &t->proj_out_conv;
    oma_tensor h, tok, tmp, out;
    /* the tokens stay (the first block's input); norm(x) does not (group norm backward reads x) */
    int64_t ts[3] = {x->shape[0], x->shape[2] * x->shape[3], t->channels};
    TRY(oma_arena_tensor_uninit(ar, &tok, 3, ts));
    oma_arena_mark m = oma_arena_get_mark(ar);
    TRY(oma_norm_forward(&t->norm, x, 0, ar, &h));
    TRY(oma_proj_to_tokens(cin, &t->proj_in_lin, &h, ar, &tmp));
    if (!oma_tensor_same_shape(&tmp, &tok)) goto fail;
    memcpy(tok.data, tmp.data, sizeof(float) * (size_t)oma_tensor_numel(&tok));
    oma_arena_release(ar, m);
    for (int i = 0; i < t->n_blocks; i++) {
        oma_tensor next;
        TRY(transformer_forward_keep(&t->blocks[i], &tok, context, ar, &k->blocks[i], &next));
        tok = next;
    }
    m = oma_arena_get_mark(ar);
    TRY(oma_proj_to_nchw(cout, &t->proj_out_lin, &tok, x->shape[2], x->shape[3], ar, &out));
    TRY(oma_op_add(&out, x, y));
    oma_arena_release(ar, m);
    return 0;
fail:
    return -1;
}

/* dx (caller-allocated, written whole; NULL: not wanted, the blocks' adapters and dcontext only:
 * the first block's attn1 input gradient, proj_in's and the norm's are skipped) from the kept
 * blocks */
static int transformer2d_backward_into(const oma_transformer2d *t, const oma_tensor *x,
                                       const oma_transformer2d_keep *k, const oma_tensor *context,
                                       const oma_tensor *dy, oma_arena *ar, oma_tensor *dx,
                                       oma_tensor *dcontext)
{
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    const oma_conv2d *cin = t->linear_proj ? NULL : &t->proj_in_conv;
    const oma_conv2d *cout = t->linear_proj ? NULL : &t->proj_out_conv;
    int64_t B = x->shape[0], C = t->channels, HW = x->shape[2] * x->shape[3];
    const oma_backend *be = oma_backend_current();
    oma_tensor dtok, dt2, dh;
    /* proj_out: out[b, o, p] = sum_c W[o, c] tok[b, p, c]  ->  dtok_b = dy_b^T W */
    TRY(oma_arena_like(ar, &k->blocks[0].x, &dtok));
    const float *w = proj_w(cout, &t->proj_out_lin);
    if (!w) goto fail;
    for (int64_t b = 0; b < B; b++)
        be->gemm(1, 0, HW, C, C, 1.0f, dy->data + b * C * HW, HW, w, C, 0.0f, dtok.data + b * HW * C, C);
    TRY(oma_arena_like(ar, &dtok, &dt2));
    for (int i = t->n_blocks - 1; i >= 0; i--) {
        TRY(transformer_backward_into(&t->blocks[i], &k->blocks[i], context, &dtok, ar, &dt2,
                                      dcontext, dx || i > 0));
        memcpy(dtok.data, dt2.data, sizeof(float) * (size_t)(B * HW * C));
    }
    if (!dx) {     /* nothing trainable below: stop here */
        oma_arena_release(ar, m);
        return 0;
    }
    /* proj_in: tok[b, p, o] = sum_c W[o, c] h[b, c, p]  ->  dh_b = W^T dtok_b^T */
    TRY(oma_arena_like(ar, x, &dh));
    w = proj_w(cin, &t->proj_in_lin);
    if (!w) goto fail;
    for (int64_t b = 0; b < B; b++)
        be->gemm(1, 1, C, HW, C, 1.0f, w, C, dtok.data + b * HW * C, C, 0.0f, dh.data + b * C * HW, HW);
    TRY(oma_op_group_norm_backward(x, t->norm.groups, &t->norm.gamma, &t->norm.beta, t->norm.eps, 0,
                                   &dh, dx));
    TRY(oma_op_add(dx, dy, dx));        /* the residual */
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}

static int t2d_check(const oma_transformer2d *t, const oma_tensor *x, const oma_tensor *dy)
{
    return x->ndim == 4 && x->shape[1] == t->channels && oma_tensor_same_shape(x, dy) &&
                   t->n_blocks >= 1 ? 0 : -1;
}

int oma_transformer2d_backward_kept(const oma_transformer2d *t, const oma_tensor *x,
                                    const oma_transformer2d_keep *k, const oma_tensor *context,
                                    const oma_tensor *dy, oma_arena *ar, oma_tensor *dx,
                                    oma_tensor *dcontext)
{
    if (t2d_check(t, x, dy) != 0 || (dx && oma_arena_like(ar, x, dx) != 0)) return -1;
    return transformer2d_backward_into(t, x, k, context, dy, ar, dx, dcontext);
}

int oma_transformer2d_backward(const oma_transformer2d *t, const oma_tensor *x,
                               const oma_tensor *context, const oma_tensor *dy, oma_arena *ar,
                               oma_tensor *dx, oma_tensor *dcontext)
{
    if (t2d_check(t, x, dy) != 0 || (dx && oma_arena_like(ar, x, dx) != 0)) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    oma_transformer2d_keep k;
    oma_tensor y;
    /* the forward again, keeping what the backward needs (gradient checkpointing) */
    int rc = oma_transformer2d_forward_keep(t, x, context, ar, &y, &k);
    if (rc == 0) rc = transformer2d_backward_into(t, x, &k, context, dy, ar, dx, dcontext);
    oma_arena_release(ar, m);
    return rc;
}
