/* backward.h — backward passes of the layers and blocks, for training LoRA adapters and
 * textual-inversion embeddings (the style recipe; see src/train).
 *
 * The idea: in that recipe every base weight is frozen. So a backward pass here returns the
 * gradient with respect to its input(s) only, and adds (+=) into the gradients of the LoRA
 * adapters attached to its linear layers (nn/lora.h); no gradient is ever formed for a base
 * weight, norm scale or bias. Each block's backward recomputes its own forward from its input,
 * keeping the intermediates it needs in the arena only for the duration of the call (gradient
 * checkpointing per block): a caller keeps just the block inputs of the forward pass.
 * Attention backward is flash-style: no n x n matrix is kept, scores are recomputed.
 *
 * Conventions: dx (and every other returned gradient) is allocated in the arena, shaped like
 * its input. A "+=" gradient (dcontext) is accumulated into a caller-allocated tensor when
 * non-NULL and skipped when NULL. 0 on success, -1 on a shape mismatch or no memory.
 */
#ifndef OMA_NN_BACKWARD_H
#define OMA_NN_BACKWARD_H

#include "nn/attention.h"
#include "nn/blocks.h"
#include "nn/layers.h"

/* y = x W^T + b [+ lora]; x [..., in], dy [..., out] -> dx [..., in]; lora grads += . */
int oma_linear_backward(const oma_linear *l, const oma_tensor *x, const oma_tensor *dy,
                        oma_arena *ar, oma_tensor *dx);
/* Convolution (any k, stride, padding as loaded), backward data: dx [N, C, H, W]. */
int oma_conv2d_backward(const oma_conv2d *c, const oma_tensor *x, const oma_tensor *dy,
                        oma_arena *ar, oma_tensor *dx);
/* Group norm [N, C, H, W] (silu: the fused SiLU after it) or layer norm over the last dim. */
int oma_norm_backward(const oma_norm *n, const oma_tensor *x, int silu, const oma_tensor *dy,
                      oma_arena *ar, oma_tensor *dx);

/* Attention (self when context is NULL): dx, and dcontext += when context is given. */
int oma_attention_backward(const oma_attention *a, const oma_tensor *x, const oma_tensor *context,
                           const oma_tensor *dy, oma_arena *ar, oma_tensor *dx,
                           oma_tensor *dcontext);
int oma_feedforward_backward(const oma_feedforward *f, const oma_tensor *x, const oma_tensor *dy,
                             oma_arena *ar, oma_tensor *dx);
/* BasicTransformerBlock: x is the block input [B, N, dim] (the forward is in place). */
int oma_transformer_backward(const oma_transformer *t, const oma_tensor *x,
                             const oma_tensor *context, const oma_tensor *dy, oma_arena *ar,
                             oma_tensor *dx, oma_tensor *dcontext);
/* Transformer2DModel on [B, C, H, W]. dx NULL (here and in the _kept form): the input's gradient
 * is not wanted (nothing trainable below): only the adapters' gradients and dcontext are formed,
 * the same bits as with dx, without the first block's attn1 input path, proj_in and the norm. */
int oma_transformer2d_backward(const oma_transformer2d *t, const oma_tensor *x,
                               const oma_tensor *context, const oma_tensor *dy, oma_arena *ar,
                               oma_tensor *dx, oma_tensor *dcontext);
/* Training forwards that keep what the backward needs, so the backward recomputes nothing
 * (used when memory allows; the plain backwards above recompute from the input instead).
 * The kept tensors live in the arena until the caller releases it; y is allocated first.
 * A kept backward needs the same x, context (and temb) the forward saw. */
typedef struct oma_attn_keep {
    oma_tensor q, k, v, o;          /* projections and the attention output before to_out */
} oma_attn_keep;
typedef struct oma_transformer_keep {
    oma_tensor x, h1, x1, h2, x2, h3;   /* block input, norm outputs, branch inputs */
    oma_attn_keep s1, s2;
    oma_tensor ffh, ffg;            /* ff.net.0.proj output, GEGLU output */
} oma_transformer_keep;
typedef struct oma_transformer2d_keep {
    oma_transformer_keep blocks[OMA_MAX_TRANSFORMER_LAYERS];
} oma_transformer2d_keep;
typedef struct oma_resnet_keep {
    oma_tensor h1;                  /* conv1(silu(norm1 x)) + time_emb_proj(silu temb) */
} oma_resnet_keep;

int oma_transformer2d_forward_keep(const oma_transformer2d *t, const oma_tensor *x,
                                   const oma_tensor *context, oma_arena *ar, oma_tensor *y,
                                   oma_transformer2d_keep *k);
int oma_transformer2d_backward_kept(const oma_transformer2d *t, const oma_tensor *x,
                                    const oma_transformer2d_keep *k, const oma_tensor *context,
                                    const oma_tensor *dy, oma_arena *ar, oma_tensor *dx,
                                    oma_tensor *dcontext);
int oma_resnet_forward_keep(const oma_resnet *r, const oma_tensor *x, const oma_tensor *temb,
                            oma_arena *ar, oma_tensor *y, oma_resnet_keep *k);
int oma_resnet_backward_kept(const oma_resnet *r, const oma_tensor *x,
                             const oma_resnet_keep *k, const oma_tensor *dy, oma_arena *ar,
                             oma_tensor *dx);

/* ResnetBlock2D; temb is frozen (it comes from the timestep only), so it has no gradient. */
int oma_resnet_backward(const oma_resnet *r, const oma_tensor *x, const oma_tensor *temb,
                        const oma_tensor *dy, oma_arena *ar, oma_tensor *dx);
int oma_downsample_backward(const oma_downsample *d, const oma_tensor *x, const oma_tensor *dy,
                            oma_arena *ar, oma_tensor *dx);
int oma_upsample_backward(const oma_upsample *u, const oma_tensor *x, const oma_tensor *dy,
                          oma_arena *ar, oma_tensor *dx);

#endif
