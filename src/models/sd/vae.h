/* vae.h — AutoencoderKL of SD 1.x: image <-> latents (diffusers naming, config-driven).
 *
 * Encoder: conv_in, down blocks (layers_per_block resnets, a right/bottom-padded stride-2
 * downsampler except on the last), mid block (resnet, single-head attention, resnet), group
 * norm + SiLU, conv_out to 2 * latent channels (mean, log-variance), quant_conv. Decoder:
 * post_quant_conv, conv_in, mid block, up blocks in reverse channel order (layers_per_block + 1
 * resnets, nearest 2x upsampler except on the last), group norm + SiLU, conv_out. Norm eps 1e-6.
 * Latents are scaled by scaling_factor (0.18215) on the way in and out, as the pipelines do.
 */
#ifndef OMA_MODELS_VAE_H
#define OMA_MODELS_VAE_H

#include "models/sd/sd_checkpoint.h"
#include "nn/attention.h"
#include "nn/blocks.h"

#define OMA_VAE_MAX_LAYERS 4

typedef struct oma_vae_block {
    int n_res;
    oma_resnet res[OMA_VAE_MAX_LAYERS];
    int has_sampler;
    oma_downsample down;
    oma_upsample up;
} oma_vae_block;

typedef struct oma_vae_mid {
    oma_resnet res0, res1;
    oma_vae_attention attn;
} oma_vae_mid;

typedef struct oma_vae {
    oma_vae_config cfg;
    /* encoder */
    oma_conv2d enc_in, enc_out, quant;
    oma_vae_block enc[OMA_SD_MAX_BLOCKS];
    oma_vae_mid enc_mid;
    oma_norm enc_norm;
    /* decoder */
    oma_conv2d post_quant, dec_in, dec_out;
    oma_vae_block dec[OMA_SD_MAX_BLOCKS];
    oma_vae_mid dec_mid;
    oma_norm dec_norm;
    int has_encoder, loaded;
} oma_vae;

/* prefix "vae". with_encoder 0 skips the encoder (txt2img needs only the decoder). */
int oma_vae_load(oma_vae *v, const oma_weights *w, const char *prefix, const oma_vae_config *cfg,
                 int with_encoder, char *err, size_t errlen);
void oma_vae_free(oma_vae *v);
/* image [B, 3, H, W] in [-1, 1] -> moments [B, 2*latent, H/f, W/f] (mean then log-variance),
 * unscaled (apply the scaling factor after sampling). */
int oma_vae_encode(const oma_vae *v, const oma_tensor *image, oma_arena *ar, oma_tensor *moments,
                   char *err, size_t errlen);
/* latents [B, latent, h, w] (already divided by the scaling factor) -> image [B, 3, h*f, w*f]. */
int oma_vae_decode(const oma_vae *v, const oma_tensor *latents, oma_arena *ar, oma_tensor *image,
                   char *err, size_t errlen);

#endif
