/* layers.h — the basic layers: linear, conv2d, group norm, layer norm, with LoRA merging.
 *
 * Each layer owns float weights loaded by name through oma_weights, and its forward pass
 * allocates its output in the caller's arena (see tensor/arena.h). A LoRA adapter is applied
 * by merging: W += scale * up @ down (for a conv, up [out, r, 1, 1] @ down [r, in, kh, kw]),
 * and removed by merging with -scale, so inference costs nothing extra.
 * With oma_weights.keep_half, linear and conv weights stored as fp16/bf16 stay 16-bit (half the
 * memory) and are widened into a per-thread buffer just before each GEMM; the results are the
 * same as with float32 weights, since widening is exact. Merging a LoRA widens them for good.
 */
#ifndef OMA_NN_LAYERS_H
#define OMA_NN_LAYERS_H

#include "nn/lora.h"
#include "nn/weights.h"
#include "tensor/arena.h"
#include "tensor/tensor.h"

typedef struct oma_linear {
    int64_t in, out;
    oma_tensor w;       /* [out, in]; data NULL while the weights are kept 16-bit */
    oma_tensor b;       /* [out] or empty (data NULL) */
    uint16_t *w16;      /* fp16/bf16 weights (keep_half), or NULL */
    int w16_kind;       /* oma_half_kind */
    /* A trainable adapter (nn/lora.h) the forward adds, or NULL (inference: merged instead).
     * Not owned: whoever attaches it frees it. */
    oma_lora *lora;
} oma_linear;

/* bias: 1 required, 0 none, -1 optional (loaded when present). */
int oma_linear_load(oma_linear *l, const oma_weights *w, const char *prefix, int64_t in,
                    int64_t out, int bias, char *err, size_t errlen);
void oma_linear_free(oma_linear *l);
/* y[..., out] for x[..., in] (+ scale * up(down(x)) when l->lora is attached); y is allocated
 * in the arena. */
int oma_linear_forward(const oma_linear *l, const oma_tensor *x, oma_arena *ar, oma_tensor *y);
/* The same into an existing y of the right shape (a block's output allocated before its
 * temporaries). 0, or -1 on a shape mismatch. */
int oma_linear_into(const oma_linear *l, const oma_tensor *x, oma_tensor *y);
/* W += scale * up[out, r] @ down[r, in]. */
int oma_linear_merge_lora(oma_linear *l, const oma_tensor *up, const oma_tensor *down, float scale);

typedef struct oma_conv2d {
    int64_t in, out, k;
    int stride, pad;
    oma_tensor w;       /* [out, in, k, k]; data NULL while kept 16-bit */
    oma_tensor b;       /* [out] or empty */
    uint16_t *w16;      /* fp16/bf16 weights (keep_half), or NULL */
    int w16_kind;
} oma_conv2d;

int oma_conv2d_load(oma_conv2d *c, const oma_weights *w, const char *prefix, int64_t in,
                    int64_t out, int64_t k, int stride, int pad, int bias, char *err, size_t errlen);
void oma_conv2d_free(oma_conv2d *c);
int oma_conv2d_forward(const oma_conv2d *c, const oma_tensor *x, oma_arena *ar, oma_tensor *y);
/* The convolution into a caller-allocated y, with another stride/padding (VAE downsample). */
int oma_conv2d_run(const oma_conv2d *c, const oma_tensor *x, int stride, int pad, oma_tensor *y);
/* For a process that frees the model after one use (oma generate): while on, each 3x3
 * convolution run hands its float weights over to the backend, which may write their prepared
 * form (bf16 blocked) over them instead of into new memory (tensor/ops.h). The float values
 * are then gone: turn it on only for a model nothing reads as floats again (no LoRA merge, no
 * other precision) and that is freed after; every pass should have the same shapes (another
 * layout would need the floats: such a convolution fails instead of reading them). */
void oma_layers_hand_over(int on);
/* W += scale * up[out, r(,1,1)] @ down[r, in(, k, k)]. */
int oma_conv2d_merge_lora(oma_conv2d *c, const oma_tensor *up, const oma_tensor *down, float scale);
/* W += scale * delta, delta a full [out, in(, k, k)] change (LyCORIS LoHa / LoKr). 0, or -1. */
int oma_linear_add_delta(oma_linear *l, const float *delta, float scale);
int oma_conv2d_add_delta(oma_conv2d *c, const float *delta, float scale);

typedef struct oma_norm {
    int64_t channels, groups;   /* groups 0 = layer norm over the last dim */
    float eps;
    oma_tensor gamma, beta;
} oma_norm;

int oma_group_norm_load(oma_norm *n, const oma_weights *w, const char *prefix, int64_t channels,
                        int64_t groups, float eps, char *err, size_t errlen);
int oma_layer_norm_load(oma_norm *n, const oma_weights *w, const char *prefix, int64_t dim,
                        float eps, char *err, size_t errlen);
void oma_norm_free(oma_norm *n);
/* Group norm on [N, C, H, W] (silu fuses SiLU), or layer norm on [..., C]. */
int oma_norm_forward(const oma_norm *n, const oma_tensor *x, int silu, oma_arena *ar, oma_tensor *y);

/* Bytes of weights a layer holds (to report a model's memory). */
size_t oma_linear_bytes(const oma_linear *l);
size_t oma_conv2d_bytes(const oma_conv2d *c);

/* A 1x1 convolution (or a linear layer: pass one of the two, the other NULL) that reads
 * x[B, C, H, W] and writes tokens y[B, HW, O], or reads tokens x[B, HW, C] and writes
 * y[B, O, H, W]; y allocated in the arena. The transposes are folded into the products. */
int oma_proj_to_tokens(const oma_conv2d *c, const oma_linear *l, const oma_tensor *x,
                       oma_arena *ar, oma_tensor *y);
int oma_proj_to_nchw(const oma_conv2d *c, const oma_linear *l, const oma_tensor *x, int64_t h,
                     int64_t w, oma_arena *ar, oma_tensor *y);

/* Allocates a tensor of x's shape in the arena, uninitialised: for an op that fills it. */
int oma_arena_like(oma_arena *ar, const oma_tensor *x, oma_tensor *y);

#endif
