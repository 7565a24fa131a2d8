/* clip_text.h — the CLIP text encoder of SD 1.x (transformers' CLIPTextModel).
 *
 * Token ids [B, 77] -> embeddings [B, 77, hidden]: token + position embeddings, then
 * num_hidden_layers pre-norm transformer layers (layer_norm1, causal multi-head self-attention
 * with biased q/k/v/out projections, layer_norm2, MLP fc1 -> quick-GELU (or GELU, as the config
 * says) -> fc2), then final_layer_norm. clip_skip = k > 0 stops k layers early and still applies
 * final_layer_norm (A1111's "clip skip 2" is k = 1; diffusers' clip_skip=1 is the same).
 * Weights are read as "<prefix>.text_model.*" through oma_weights.
 */
#ifndef OMA_MODELS_CLIP_TEXT_H
#define OMA_MODELS_CLIP_TEXT_H

#include <stdint.h>

#include "nn/layers.h"

typedef struct oma_clip_text_params {
    int vocab_size, hidden_size, intermediate_size, num_layers, num_heads, max_positions;
    float eps;
    int quick_gelu;         /* 1: quick_gelu (SD 1.x), 0: exact GELU */
} oma_clip_text_params;

typedef struct oma_clip_layer {
    oma_norm ln1, ln2;
    oma_linear q, k, v, out, fc1, fc2;
} oma_clip_layer;

typedef struct oma_clip_text {
    oma_clip_text_params p;
    oma_tensor tok_emb, pos_emb;
    oma_clip_layer *layers;
    int n_loaded;
    oma_norm final_ln;
} oma_clip_text;

/* prefix: "text_encoder" (names "text_encoder.text_model.embeddings..."). 0, or -1 with err. */
int oma_clip_text_load(oma_clip_text *m, const oma_weights *w, const char *prefix,
                       const oma_clip_text_params *p, char *err, size_t errlen);
void oma_clip_text_free(oma_clip_text *m);
/* ids [batch * n_tokens] (each in [0, vocab)), n_tokens <= max_positions; out [B, n, hidden]
 * allocated in the arena. */
int oma_clip_text_forward(const oma_clip_text *m, const int32_t *ids, int64_t batch,
                          int64_t n_tokens, int clip_skip, oma_arena *ar, oma_tensor *out,
                          char *err, size_t errlen);

/* One encoder layer's weights under base ("<tower>.encoder.layers.N"), shared by the text and
 * vision towers; 0, or -1 with err (the caller frees what loaded with oma_clip_layer_free). */
int oma_clip_layer_load(oma_clip_layer *l, const oma_weights *w, const char *base, int64_t H,
                        int64_t inter, float eps, char *err, size_t errlen);
void oma_clip_layer_free(oma_clip_layer *l);

/* What a layer's backward needs of its forward (training, src/train/clip_train.c): ln1's
 * output, the projections and the attention output, the input of the MLP half (x1) and ln2's
 * output, fc1's output before and after the activation. */
typedef struct oma_clip_layer_keep {
    oma_tensor h, q, k, v, o, x1, h2, f1, f1a;
} oma_clip_layer_keep;
/* One encoder layer, in place on x [B, n, hidden]: the one forward the text tower, the vision
 * tower (models/animate/clip_vision.c) and training share. num_heads attention heads; causal 1
 * masks later tokens (text), 0 lets every token see every other (vision); quick_gelu 1 is
 * quick-GELU, 0 exact GELU. keep NULL: its temporaries are released; else they stay in the
 * arena, described by *keep (the caller releases them). 0, or -1 (shapes, no memory). */
int oma_clip_layer_forward(const oma_clip_layer *l, int num_heads, int causal, int quick_gelu, oma_tensor *x,
                           oma_arena *ar, oma_clip_layer_keep *keep);

#endif
