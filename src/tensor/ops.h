/* ops.h — tensor-level operations: check shapes, then call the current backend.
 *
 * Layers (src/nn) call these instead of the backend table so every kernel call is guarded: a
 * shape mismatch (for instance from a checkpoint whose tensors do not fit the config) returns
 * -1 with no memory touched. Outputs are caller-allocated with the right shape. In-place use
 * (y == x) is allowed for the element-wise ops, norms and softmax.
 */
#ifndef OMA_TENSOR_OPS_H
#define OMA_TENSOR_OPS_H

#include "tensor/tensor.h"

/* y[..., out] = x[..., in] w[out, in]^T + b[out] (b may be NULL). */
int oma_op_linear(const oma_tensor *x, const oma_tensor *w, const oma_tensor *b, oma_tensor *y);
/* y[N, OC, OH, OW] = conv2d(x[N, C, H, W], w[OC, C, KH, KW]) + b[OC]. */
int oma_op_conv2d(const oma_tensor *x, const oma_tensor *w, const oma_tensor *b, int stride,
                  int pad, oma_tensor *y);
/* Tells the backend that weights w (w->stamp) are changing or going away: it drops what it
 * prepared from them. A no-op for stamp 0. */
void oma_op_forget_weights(const oma_tensor *w);
/* Tells the backend that w's float values will never be read again (a process that frees the
 * model after one use): it may write a prepared form of them over w's own memory (backend.h,
 * weights_consumable). Only for weights w owns; a no-op elsewhere. */
void oma_op_weights_consumable(const oma_tensor *w);
/* Output size of a convolution along one axis; -1 when it would be < 1. */
int64_t oma_conv_out_size(int64_t in, int64_t k, int stride, int pad);
/* Group norm of x[N, C, ...] (C % groups == 0); gamma/beta [C] or NULL; silu fuses SiLU. */
int oma_op_group_norm(const oma_tensor *x, int64_t groups, const oma_tensor *gamma,
                      const oma_tensor *beta, float eps, int silu, oma_tensor *y);
/* Layer norm over the last dim; gamma/beta [dim] or NULL. */
int oma_op_layer_norm(const oma_tensor *x, const oma_tensor *gamma, const oma_tensor *beta,
                      float eps, oma_tensor *y);
int oma_op_softmax(oma_tensor *x);                      /* in place, last dim */
/* out[B, Nq, H*D] = attention(q[B, Nq, H*D], k[B, Nk, H*D], v[B, Nk, H*D]) with `heads` heads,
 * scale 1/sqrt(D) when scale <= 0. */
int oma_op_attention(const oma_tensor *q, const oma_tensor *k, const oma_tensor *v, int64_t heads,
                     float scale, int causal, oma_tensor *out);
int oma_op_gelu(const oma_tensor *x, oma_tensor *y);
int oma_op_quick_gelu(const oma_tensor *x, oma_tensor *y);
int oma_op_silu(const oma_tensor *x, oma_tensor *y);
/* y[..., dim] = x[..., :dim] * gelu(x[..., dim:]) for x[..., 2*dim]. */
int oma_op_geglu(const oma_tensor *x, oma_tensor *y);
int oma_op_upsample_nearest2x(const oma_tensor *x, oma_tensor *y);     /* [N,C,H,W]->[N,C,2H,2W] */
/* y = conv2d(upsample_nearest2x(x), w [OC,C,3,3], b, stride 1, pad 1) where the backend has a
 * faster way (backend.h conv2d_up2x): oma_op_conv2d_up2x_work says how many floats of
 * workspace it wants (0: none, run the two ops), then the op runs with `work` of that size:
 * 0, -1 on bad shapes or memory, -2 when it declines after all (run the two ops then). */
int64_t oma_op_conv2d_up2x_work(const oma_tensor *x, const oma_tensor *w);
int oma_op_conv2d_up2x(const oma_tensor *x, const oma_tensor *w, const oma_tensor *b, oma_tensor *y,
                       oma_tensor *work);
int oma_op_concat_channels(const oma_tensor *a, const oma_tensor *b, oma_tensor *y);
int oma_op_add(const oma_tensor *a, const oma_tensor *b, oma_tensor *y);
int oma_op_mul(const oma_tensor *a, const oma_tensor *b, oma_tensor *y);
/* y = alpha * x + beta * y (same shapes). */
int oma_op_axpby(float alpha, const oma_tensor *x, float beta, oma_tensor *y);
/* y[B, HW, C] from x[B, C, H, W] (to tokens) and back (y must have the target shape). */
int oma_op_nchw_to_tokens(const oma_tensor *x, oma_tensor *y);
int oma_op_tokens_to_nchw(const oma_tensor *x, oma_tensor *y);
/* A linear layer (w[O, C], optional b[O]) across the layout change, the transpose folded into
 * the product: y[B, HW, O] = tokens(x[B, C, H, W]) w^T + b, and y[B, O, H, W] from x[B, HW, C]
 * (a transformer's 1x1 projections in and out). */
int oma_op_linear_nchw_to_tokens(const oma_tensor *x, const oma_tensor *w, const oma_tensor *b,
                                 oma_tensor *y);
int oma_op_linear_tokens_to_nchw(const oma_tensor *x, const oma_tensor *w, const oma_tensor *b,
                                 oma_tensor *y);
/* x[N, C, H, W] += b[C], or x[..., C] += b[C] for 1-3-D x. */
int oma_op_add_bias(oma_tensor *x, const oma_tensor *b);

#endif
