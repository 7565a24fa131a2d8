/* ops_backward.h — tensor-level backward operations (training): check shapes, then call the
 * current backend's backward kernels (backend.h).
 *
 * Each returns the gradient with respect to the op's input(s) only: base weights are frozen in
 * the style recipe, so no weight, gamma or bias gradient exists. Outputs are caller-allocated
 * with the input's shape and written whole, except oma_op_embedding_backward, which adds.
 * 0, or -1 on a shape mismatch (nothing written) or when scratch memory cannot be had.
 */
#ifndef OMA_TENSOR_OPS_BACKWARD_H
#define OMA_TENSOR_OPS_BACKWARD_H

#include "tensor/tensor.h"

/* dx[N, C, H, W] for y = conv2d(x, w[OC, C, KH, KW], stride, pad) and dy = dL/dy. */
int oma_op_conv2d_backward(const oma_tensor *dy, const oma_tensor *w, int stride, int pad,
                           oma_tensor *dx);
/* Group norm (+ fused SiLU) and layer norm: x is the forward's input. */
int oma_op_group_norm_backward(const oma_tensor *x, int64_t groups, const oma_tensor *gamma,
                               const oma_tensor *beta, float eps, int silu, const oma_tensor *dy,
                               oma_tensor *dx);
int oma_op_layer_norm_backward(const oma_tensor *x, const oma_tensor *gamma, float eps,
                               const oma_tensor *dy, oma_tensor *dx);
/* Attention as oma_op_attention (q[B, Nq, H*D], k/v[B, Nk, H*D], scale 1/sqrt(D) when <= 0),
 * o its output, dout = dL/do: writes dq, dk, dv (shapes of q, k, v). */
int oma_op_attention_backward(const oma_tensor *q, const oma_tensor *k, const oma_tensor *v,
                              const oma_tensor *o, const oma_tensor *dout, int64_t heads,
                              float scale, int causal, oma_tensor *dq, oma_tensor *dk,
                              oma_tensor *dv);
/* dx = dy * f'(x); dx may be dy. */
int oma_op_gelu_backward(const oma_tensor *x, const oma_tensor *dy, oma_tensor *dx);
int oma_op_quick_gelu_backward(const oma_tensor *x, const oma_tensor *dy, oma_tensor *dx);
int oma_op_silu_backward(const oma_tensor *x, const oma_tensor *dy, oma_tensor *dx);
/* GEGLU: x[..., 2*dim], dy[..., dim] -> dx[..., 2*dim]. */
int oma_op_geglu_backward(const oma_tensor *x, const oma_tensor *dy, oma_tensor *dx);
/* dy[N, C, 2H, 2W] -> dx[N, C, H, W]. */
int oma_op_upsample_nearest2x_backward(const oma_tensor *dy, oma_tensor *dx);
/* The skip concat's backward: dy[N, ca+cb, H, W] -> da[N, ca, H, W], db[N, cb, H, W] (either
 * may be NULL). */
int oma_op_concat_channels_backward(const oma_tensor *dy, oma_tensor *da, oma_tensor *db);
/* Embedding lookup y[i] = table[ids[i]]: dtable[ids[i], :] += dy[i, :] for dy[count, dim]
 * (or [B, T, dim] with count = B*T). An id outside [0, rows) is an error (nothing written). */
int oma_op_embedding_backward(const int32_t *ids, int64_t count, const oma_tensor *dy,
                              oma_tensor *dtable);

#endif
