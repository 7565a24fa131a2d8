/* lora.h — a trainable LoRA adapter on a linear layer: y = W x + b + scale * up(down(x)).
 *
 * For inference a LoRA is merged into W (oma_linear_merge_lora); for training it stays apart,
 * attached to the layer through oma_linear.lora, so the forward adds the low-rank path and the
 * backward (nn/backward.h) accumulates g_down and g_up. down [rank, in] starts N(0, 1/rank)
 * (lora_pti), up [out, rank] starts at zero, so a fresh adapter changes nothing.
 */
#ifndef OMA_NN_LORA_H
#define OMA_NN_LORA_H

#include "tensor/tensor.h"

typedef struct oma_lora {
    int64_t rank, in, out;
    float scale;            /* 1 while training (lora_pti); alpha / rank in kohya files */
    oma_tensor down, up;    /* [rank, in], [out, rank] (owned) */
    oma_tensor g_down, g_up; /* their gradients, same shapes, accumulated by backward */
} oma_lora;

/* Standard-normal samples for oma_lora_init (the caller's seeded RNG, e.g. pipelines/rng). */
typedef float (*oma_randn_fn)(void *ctx);

/* Allocates an adapter for a linear layer in -> out: down N(0, (1/rank)^2) (lora_pti's
 * std = 1/r) drawn row-major from randn, or left zero for the caller to fill when randn is
 * NULL; up and both gradients zero. 0, or -1 on a bad size or no memory (nothing held). */
int oma_lora_init(oma_lora *l, int64_t in, int64_t out, int64_t rank, float scale,
                  oma_randn_fn randn, void *rng_ctx);
/* Zeroes g_down and g_up (before a step's first backward). */
void oma_lora_zero_grad(oma_lora *l);
void oma_lora_free(oma_lora *l);
/* y[rows, out] += scale * (x[rows, in] down^T) up^T: the adapter's part of a forward pass.
 * 0, or -1 on a shape mismatch or no memory. */
int oma_lora_forward_add(const oma_lora *l, const oma_tensor *x, oma_tensor *y);

#endif
