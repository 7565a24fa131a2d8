/* clip_vision.h — CLIP's vision tower with its projection (transformers'
 * CLIPVisionModelWithProjection), as AnimateAnyone's image encoder, and CLIP's preprocessing.
 *
 * pixels [1, 3, S, S] -> patch embedding (conv P x P, stride P, no bias) -> [class token,
 * patches] + position embeddings -> pre_layrnorm (sic) -> pre-norm transformer layers
 * (oma_clip_layer_forward, the text encoder's layer without the causal mask) -> the class
 * token through post_layernorm -> visual_projection (no bias) = image_embeds [1, proj].
 * Weights "<prefix>.vision_model.*" and "<prefix>.visual_projection.weight"; the sizes come
 * from image_encoder/config.json.
 */
#ifndef OMA_MODELS_ANIMATE_CLIP_VISION_H
#define OMA_MODELS_ANIMATE_CLIP_VISION_H

#include "formats/image.h"
#include "models/sd/clip_text.h"

typedef struct oma_clip_vision_params {
    int hidden_size, intermediate_size, num_layers, num_heads, image_size, patch_size, projection_dim;
    float eps;
    int quick_gelu;
} oma_clip_vision_params;

typedef struct oma_clip_vision {
    oma_clip_vision_params p;
    oma_conv2d patch;
    oma_tensor class_emb, pos_emb;
    oma_norm pre_ln, post_ln;
    oma_clip_layer *layers;
    int n_loaded;
    oma_linear proj;
} oma_clip_vision;

/* ViT-L/14 with the 768 projection (sd-image-variations' image encoder). */
void oma_clip_vision_defaults(oma_clip_vision_params *p);
/* Reads config.json over the defaults. 0, or -1 with err. */
int oma_clip_vision_parse_config(const char *path, oma_clip_vision_params *p, char *err, size_t errlen);
int oma_clip_vision_load(oma_clip_vision *m, const oma_weights *w, const char *prefix,
                         const oma_clip_vision_params *p, char *err, size_t errlen);
void oma_clip_vision_free(oma_clip_vision *m);
/* pixels [1, 3, S, S] -> embeds [1, projection_dim] in the arena. */
int oma_clip_vision_forward(const oma_clip_vision *m, const oma_tensor *pixels, oma_arena *ar, oma_tensor *embeds,
                            char *err, size_t errlen);
/* What Moore's pipeline does before the encoder: the RGB picture resized to S x S with Pillow's
 * BICUBIC (ref.resize((224, 224))), then CLIPImageProcessor (its resize and crop are no-ops at
 * that size): x = float32(u8 * (1/255) in double), (x - mean) / std in float32 with OpenAI's
 * mean and std. pixels [1, 3, S, S] allocated (owned). */
int oma_clip_preprocess(const oma_image *rgb, int size, oma_tensor *pixels, char *err, size_t errlen);

#endif
