/* backward_internal.h — what the backward passes of src/nn share (not for use outside nn). */
#ifndef OMA_NN_BACKWARD_INTERNAL_H
#define OMA_NN_BACKWARD_INTERNAL_H

#include "nn/layers.h"

/* The linear layer's backward on raw rows: dx[rows, in] = beta * dx + dy W (skipped when dx is
 * NULL), and, with an adapter attached, its g_up/g_down += (its input x recomputed through
 * down). x [.., in] and dy [.., out] are checked against the layer. 0, or -1. */
int oma_linear_grad(const oma_linear *l, const oma_tensor *x, const oma_tensor *dy, float *dx,
                    float beta);

/* dx (caller-shaped, written whole) for the convolution's weights with this stride/padding
 * (the VAE downsample runs its conv on a padded copy). */
int oma_conv2d_backward_stride(const oma_conv2d *c, const oma_tensor *dy, int stride, int pad,
                               oma_tensor *dx);

/* y = a copy of x in the arena. */
int oma_arena_copy(oma_arena *ar, const oma_tensor *x, oma_tensor *y);

#endif
