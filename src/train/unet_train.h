/* unet_train.h — one training pass of the SD UNet with frozen base weights: forward, the
 * noise-prediction loss, and backward into the LoRA adapters attached to its linear layers
 * (nn/lora.h) and into the text context.
 *
 * The idea: the forward keeps each block's input and the skip connections, and, while the
 * arena stays under a memory budget (OMA_TRAIN_KEEP_MB, see unet_train.c), the intermediates
 * the block's backward needs (nn/backward.h *_forward_keep): attention projections and
 * outputs, norm outputs, the feed-forward's hidden state, a resnet's conv1 output. A block
 * past the budget is recomputed from its input in the backward (gradient checkpointing per
 * block); the results are the same bit for bit. Backward runs the blocks in reverse: an up
 * block's resnet input is concat(h, skip), so its gradient splits into the gradient of h and
 * one that is added to the skip's own gradient when the backward reaches the down block that
 * produced it. The time embedding depends on the timestep only and is frozen; below the first
 * block's first attention (its resnet 0, conv_in) nothing is trainable, so the backward stops
 * there: that attention forms its adapters' gradients and dcontext but no input gradient.
 */
#ifndef OMA_TRAIN_UNET_TRAIN_H
#define OMA_TRAIN_UNET_TRAIN_H

#include <stddef.h>

#include "models/sd/unet.h"
#include "tensor/arena.h"

/* noisy [B, 4, h, w], timesteps [B], context [B, n, ctx_dim], target (the noise) like noisy.
 * loss = mean((unet(noisy, t, context) - target)^2); the backward is of loss * grad_scale
 * (1 / gradient accumulation). LoRA gradients are added (+=) to the adapters' g_down/g_up;
 * dcontext (allocated by the caller, shaped like context, or NULL) is added to. Arena memory
 * used by the pass is released before returning. 0, or -1 with err. */
int oma_unet_train_pass(const oma_unet *u, const oma_tensor *noisy, const float *timesteps,
                        const oma_tensor *context, const oma_tensor *target, float grad_scale,
                        oma_arena *ar, float *loss, oma_tensor *dcontext, char *err,
                        size_t errlen);

#endif
