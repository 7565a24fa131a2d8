/* sd_model.h — a loaded Stable Diffusion 1.x model: tokenizer, text encoder, UNet and VAE.
 *
 * Opens a checkpoint in either layout through sd_checkpoint (the diffusers names and configs),
 * builds the three networks from the configs and reads every weight by name, converting
 * F16/BF16 to float32 on load (results then match a float32 reference run of the same
 * numbers). Any missing or misshapen tensor stops the load with an error naming it.
 * The checkpoint's mapping is closed once the weights are copied.
 */
#ifndef OMA_MODELS_SD_MODEL_H
#define OMA_MODELS_SD_MODEL_H

#include "models/sd/clip_text.h"
#include "models/sd/clip_tokenizer.h"
#include "models/sd/sd_checkpoint.h"
#include "models/sd/unet.h"
#include "models/sd/vae.h"
#include "nn/weights.h"

typedef struct oma_sd_model {
    oma_sd_config cfg;
    oma_clip_tokenizer *tok;
    oma_clip_text text;
    oma_unet unet;
    oma_vae vae;
    int has_encoder;
    char config_path[1024];     /* single file: the LDM yaml / config folder used ("" = none) */
} oma_sd_model;

/* The oma_weights view of an open checkpoint (names as oma_sd_find takes them); keep_half
 * as in oma_weights. */
oma_weights oma_sd_weights(oma_sd_checkpoint *ck, int keep_half);

#define OMA_SD_LOAD_ENCODER 1   /* also load the VAE encoder (img2img) */
#define OMA_SD_LOAD_HALF 2      /* keep fp16/bf16 linear and conv weights 16-bit (half memory) */

/* path: diffusers folder or single .safetensors; opts may be NULL (see oma_sd_open_ex: a
 * tokenizer folder, a config folder for a single file). flags: OMA_SD_LOAD_*. 0, or -1 with
 * err. */
int oma_sd_model_load(const char *path, const oma_sd_open_opts *opts, int flags, oma_sd_model *m,
                      char *err, size_t errlen);
/* Bytes the UNet's weights take (reports the effect of OMA_SD_LOAD_HALF). */
size_t oma_sd_model_unet_bytes(const oma_sd_model *m);
void oma_sd_model_free(oma_sd_model *m);

/* The CLIP parameters for a text config. */
oma_clip_text_params oma_sd_clip_params(const oma_text_config *t);

#endif
