/* sd_lora.h — LoRAs and textual-inversion embeddings applied to a loaded SD 1.x model.
 *
 * LoRA files are read as users have them (the format is told by the keys, never by the name):
 *   kohya / A1111   lora_unet_<path with _>.lora_down.weight / .lora_up.weight / .alpha, lora_te_…
 *                   (conv "LoCon" on resnet/sampler convs and 1x1 proj_in/out too); scale alpha/rank;
 *                   lora_te1_ as diffusers' kohya export names SD 1.x's encoder (lora_te2_: SDXL);
 *                   CompVis/LDM paths too (lora_unet_input_blocks_1_1_…, lora_te_transformer_…)
 *   LyCORIS         the same kohya names with LoHa hada_w1_a/_b, hada_w2_a/_b (+ hada_t1/_t2)
 *                   or LoKr lokr_w1[_a/_b], lokr_w2[_a/_b] (+ lokr_t2), alpha (sd_lora_lyco.c)
 *   diffusers       [unet.]<module>.processor.to_q_lora.down.weight (attention processors),
 *                   text_encoder.<module>.lora_linear_layer.down.weight, <module>.lora.down.weight
 *   diffusers PEFT  unet.<module>.lora_A.weight / lora_B.weight
 *   PEFT native     base_model.model.<module>.lora_A.weight, scale lora_alpha / r from the
 *                   adapter_config.json beside the file (sqrt(r) with use_rslora)
 *   lora_pti        unet:{i}:up / unet:{i}:down, text_encoder:{i}:…, positional (the order
 *                   diffusers >= 0.15 registers the attention layers, or <= 0.14's, told by shape)
 * and embeddings inside them: "<s1>" entries, A1111's bundle_emb.NAME.string_to_param.*.
 * Embedding files: A1111 .pt (string_to_param, read by the safe pickle reader), .safetensors
 * (emb_params [n, hidden]), diffusers learned_embeds.safetensors / .bin ({"<tok>": [hidden]}).
 * The prompt word is the token ("<s1>") or else the file's name; an n-vector embedding becomes
 * n new tokens after the vocabulary, their vectors appended to the token-embedding table.
 *
 * Applying merges W += weight * scale * up @ down into each layer (text-encoder layers with
 * text_weight, UNet layers with unet_weight) and gives the layer a new stamp. Everything is read
 * and checked (keys, shapes against the model, finite values, SDXL files refused) BEFORE any
 * weight changes: a bad file leaves the model untouched. A copy of every touched weight (and the
 * original embedding table and tokenizer) is kept, so restoring is exact, not a subtraction.
 */
#ifndef OMA_MODELS_SD_LORA_H
#define OMA_MODELS_SD_LORA_H

#include <stddef.h>

#include "models/sd/sd_model.h"

#define OMA_LORA_MAX_FILE_BYTES ((size_t)2 << 30)
#define OMA_LORA_MAX_FILES 64

typedef struct oma_sd_lora {
    const char *path;
    float unet_weight, text_weight;
} oma_sd_lora;

typedef struct oma_sd_patch oma_sd_patch;

/* Applies every LoRA and embedding file, all or nothing. *out (may be NULL when nothing was
 * given) undoes it. 0, or -1 with err "lora PATH: ..." / "embedding PATH: ..." naming the key. */
int oma_sd_patch_apply(oma_sd_model *m, const oma_sd_lora *loras, size_t n_loras,
                       const char *const *embeddings, size_t n_embeddings, oma_sd_patch **out,
                       char *err, size_t errlen);
/* Puts back the exact weights, embedding table and tokenizer; frees p. NULL is fine. */
void oma_sd_patch_restore(oma_sd_model *m, oma_sd_patch *p);
/* Layers the patch changed and tokens it added (for messages and tests). */
size_t oma_sd_patch_layers(const oma_sd_patch *p);
size_t oma_sd_patch_tokens(const oma_sd_patch *p);

#endif
