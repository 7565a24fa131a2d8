/* backward_attention.c — backward passes of attention, the GEGLU feed-forward, the
 * BasicTransformerBlock and the Transformer2DModel (see backward.h).
 *
 * Each recomputes its forward from its input (gradient checkpointing per block), keeps the
 * intermediates in the arena for the call only, and returns dx allocated before them. Attention
 * recomputes q, k, v and o (the fused forward), then the fused backward gives dq, dk, dv; each
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

int oma_attention_backward(const oma_attention *a, const oma_tensor *x, const oma_tensor *context,
                           const oma_tensor *dy, oma_arena *ar, oma_tensor *dx,
                           oma_tensor *dcontext)
{
    if (x->ndim != 3 || x->shape[2] != a->dim || !oma_tensor_same_shape(x, dy)) return -1;
    const oma_tensor *ctx = context ? context : x;
    if (ctx->ndim != 3 || ctx->shape[0] != x->shape[0] || ctx->shape[2] != a->context_dim) return -1;
    if (context && dcontext && !oma_tensor_same_shape(context, dcontext)) return -1;
    if (oma_arena_like(ar, x, dx) != 0) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor q, k, v, o, dout, dq, dk, dv;
    TRY(oma_linear_forward(&a->to_q, x, ar, &q));
    TRY(oma_linear_forward(&a->to_k, ctx, ar, &k));
    TRY(oma_linear_forward(&a->to_v, ctx, ar, &v));
    TRY(oma_arena_like(ar, &q, &o));
    TRY(oma_op_attention(&q, &k, &v, a->heads, 0.0f, 0, &o));
    TRY(oma_arena_like(ar, &o, &dout));
    TRY(oma_linear_grad(&a->to_out, &o, dy, dout.data, 0.0f));
    TRY(oma_arena_like(ar, &q, &dq));
    TRY(oma_arena_like(ar, &k, &dk));
    TRY(oma_arena_like(ar, &v, &dv));
    TRY(oma_op_attention_backward(&q, &k, &v, &o, &dout, a->heads, 0.0f, 0, &dq, &dk, &dv));
    TRY(oma_linear_grad(&a->to_q, x, &dq, dx->data, 0.0f));
    float *dc = context ? (dcontext ? dcontext->data : NULL) : dx->data;
    TRY(oma_linear_grad(&a->to_k, ctx, &dk, dc, 1.0f));
    TRY(oma_linear_grad(&a->to_v, ctx, &dv, dc, 1.0f));
    rc = 0;
fail:
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

/* g += norm_backward(x, sub_backward(norm(x))) for one residual branch of the block */
typedef enum { BR_ATTN1, BR_ATTN2, BR_FF } branch;

static int branch_backward(const oma_transformer *t, branch br, const oma_tensor *x,
                           const oma_tensor *context, oma_tensor *g, oma_arena *ar,
                           oma_tensor *dcontext)
{
    const oma_norm *n = br == BR_ATTN1 ? &t->norm1 : br == BR_ATTN2 ? &t->norm2 : &t->norm3;
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor h, dh, dn;
    TRY(oma_norm_forward(n, x, 0, ar, &h));
    if (br == BR_FF) TRY(oma_feedforward_backward(&t->ff, &h, g, ar, &dh));
    else if (br == BR_ATTN1) TRY(oma_attention_backward(&t->attn1, &h, NULL, g, ar, &dh, NULL));
    else TRY(oma_attention_backward(&t->attn2, &h, context, g, ar, &dh, dcontext));
    TRY(oma_norm_backward(n, x, 0, &dh, ar, &dn));
    TRY(oma_op_add(g, &dn, g));
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
    if (oma_arena_copy(ar, dy, dx) != 0) return -1;     /* dx is the running gradient */
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor x1, x2, h, a;
    /* recompute the inputs of the second and third branches */
    TRY(oma_arena_copy(ar, x, &x1));
    oma_arena_mark m1 = oma_arena_get_mark(ar);
    TRY(oma_norm_forward(&t->norm1, x, 0, ar, &h));
    TRY(oma_attention_forward(&t->attn1, &h, NULL, ar, &a));
    TRY(oma_op_add(&x1, &a, &x1));
    oma_arena_release(ar, m1);
    TRY(oma_arena_copy(ar, &x1, &x2));
    oma_arena_mark m2 = oma_arena_get_mark(ar);
    TRY(oma_norm_forward(&t->norm2, &x1, 0, ar, &h));
    TRY(oma_attention_forward(&t->attn2, &h, context, ar, &a));
    TRY(oma_op_add(&x2, &a, &x2));
    oma_arena_release(ar, m2);
    /* back through the branches, last first */
    TRY(branch_backward(t, BR_FF, &x2, context, dx, ar, NULL));
    TRY(branch_backward(t, BR_ATTN2, &x1, context, dx, ar, dcontext));
    TRY(branch_backward(t, BR_ATTN1, x, context, dx, ar, NULL));
    rc = 0;
fail:
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

int oma_transformer2d_backward(const oma_transformer2d *t, const oma_tensor *x,
                               const oma_tensor *context, const oma_tensor *dy, oma_arena *ar,
                               oma_tensor *dx, oma_tensor *dcontext)
{
    if (x->ndim != 4 || x->shape[1] != t->channels || !oma_tensor_same_shape(x, dy)) return -1;
    if (oma_arena_like(ar, x, dx) != 0) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    const oma_conv2d *cin = t->linear_proj ? NULL : &t->proj_in_conv;
    const oma_conv2d *cout = t->linear_proj ? NULL : &t->proj_out_conv;
    int64_t B = x->shape[0], C = t->channels, HW = x->shape[2] * x->shape[3];
    const oma_backend *be = oma_backend_current();
    oma_tensor h, ins[OMA_MAX_TRANSFORMER_LAYERS], dtok, dt2, dh;
    /* the blocks' inputs (the last block's own forward is not needed) */
    TRY(oma_norm_forward(&t->norm, x, 0, ar, &h));
    TRY(oma_proj_to_tokens(cin, &t->proj_in_lin, &h, ar, &ins[0]));
    for (int i = 1; i < t->n_blocks; i++) {
        TRY(oma_arena_copy(ar, &ins[i - 1], &ins[i]));
        TRY(oma_transformer_forward(&t->blocks[i - 1], &ins[i], context, ar));
    }
    /* proj_out: out[b, o, p] = sum_c W[o, c] tok[b, p, c]  ->  dtok_b = dy_b^T W */
    TRY(oma_arena_like(ar, &ins[0], &dtok));
    const float *w = proj_w(cout, &t->proj_out_lin);
    if (!w) goto fail;
    for (int64_t b = 0; b < B; b++)
        be->gemm(1, 0, HW, C, C, 1.0f, dy->data + b * C * HW, HW, w, C, 0.0f, dtok.data + b * HW * C, C);
    for (int i = t->n_blocks - 1; i >= 0; i--) {
        oma_arena_mark mb = oma_arena_get_mark(ar);
        int brc = oma_transformer_backward(&t->blocks[i], &ins[i], context, &dtok, ar, &dt2, dcontext);
        if (brc == 0) memcpy(dtok.data, dt2.data, sizeof(float) * (size_t)(B * HW * C));
        oma_arena_release(ar, mb);
        TRY(brc);
    }
    /* proj_in: tok[b, p, o] = sum_c W[o, c] h[b, c, p]  ->  dh_b = W^T dtok_b^T */
    TRY(oma_arena_like(ar, &h, &dh));
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
