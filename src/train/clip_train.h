/* clip_train.h — the CLIP text encoder's training pass for textual inversion + LoRA: frozen
 * base weights, gradients for the LoRA adapters attached to q/k/v/out_proj (nn/lora.h) and for
 * the embedding rows of added tokens (<s1><s2>).
 *
 * Added tokens have ids vocab_size + i and their embedding rows live outside the model (the
 * trainer owns them), so the model itself is never modified. The forward keeps each layer's
 * input (the residual stream) and the final layer norm's input; the backward recomputes a
 * layer from its input and runs it in reverse: MLP (fc2, quick-GELU, fc1, layer_norm2), then
 * causal self-attention (out_proj, flash-style attention backward, q/k/v, layer_norm1), each
 * with its residual; the embedding lookup's backward sums the gradient of every position that
 * holds an added token into that token's row.
 */
#ifndef OMA_TRAIN_CLIP_TRAIN_H
#define OMA_TRAIN_CLIP_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "models/sd/clip_text.h"
#include "tensor/arena.h"

typedef struct oma_clip_tape {
    int64_t n_tokens;
    int n_layers;
    oma_tensor *layer_in;           /* [n_layers + 1]: inputs of each layer, then the final ln's */
} oma_clip_tape;

/* ids [n_tokens] (batch 1), each < vocab + n_extra; extra [n_extra, hidden] the added rows.
 * out [1, n, hidden] and the tape's tensors are allocated in the arena (free them with the
 * caller's mark). 0, or -1 with err. */
int oma_clip_train_forward(const oma_clip_text *m, const int32_t *ids, int64_t n_tokens,
                           const float *extra, int n_extra, oma_arena *ar, oma_clip_tape *tape,
                           oma_tensor *out, char *err, size_t errlen);
/* dout [1, n, hidden]: LoRA grads += and dextra [n_extra, hidden] += (may be NULL). */
int oma_clip_train_backward(const oma_clip_text *m, const int32_t *ids, int n_extra,
                            const oma_clip_tape *tape, const oma_tensor *dout, oma_arena *ar,
                            float *dextra, char *err, size_t errlen);

#endif
