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

#endif
