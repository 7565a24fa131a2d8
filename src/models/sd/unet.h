/* unet.h — UNet2DConditionModel for SD 1.x configs (diffusers naming, config-driven).
 *
 * Built from the config (block_out_channels, layers_per_block, per-block head counts — SD 1.x
 * calls the head count "attention_head_dim" —, cross_attention_dim, down/up block types): time
 * embedding (sinusoidal features of block_out[0] channels -> linear_1 -> SiLU -> linear_2),
 * conv_in, down blocks (resnets, cross-attention transformers for CrossAttn blocks, a stride-2
 * downsampler except on the last), the mid block (resnet, transformer, resnet), up blocks
 * (layers_per_block + 1 resnets fed by the skip connections in reverse, transformers, nearest
 * upsampler except on the last), then group norm, SiLU and conv_out.
 * forward: latents [B, in, h, w], timestep per batch item, context [B, 77, cross_dim]
 * -> noise prediction [B, out, h, w]. Any h, w: a stride-2 downsampler makes ceil(n/2), and when
 * a side is not a multiple of 2^(n_blocks-1) the upsamplers interpolate (nearest) to the size of
 * the skip connection they meet, as diffusers' forward_upsample_size does.
 */
#ifndef OMA_MODELS_UNET_H
#define OMA_MODELS_UNET_H

#include "models/sd/sd_checkpoint.h"
#include "nn/attention.h"
#include "nn/blocks.h"

#define OMA_UNET_MAX_LAYERS 4       /* resnets per block (layers_per_block + 1 in up blocks) */

typedef struct oma_unet_block {
    int n_res;
    int has_attn;
    oma_resnet res[OMA_UNET_MAX_LAYERS];
    oma_transformer2d attn[OMA_UNET_MAX_LAYERS];
    int has_sampler;
    oma_downsample down;
    oma_upsample up;
} oma_unet_block;

typedef struct oma_unet {
    oma_unet_config cfg;
    oma_timestep_embedding time_emb;
    oma_conv2d conv_in, conv_out;
    oma_norm norm_out;
    oma_unet_block down[OMA_SD_MAX_BLOCKS], up[OMA_SD_MAX_BLOCKS];
    oma_resnet mid_res0, mid_res1;
    oma_transformer2d mid_attn;
    int loaded;     /* load reached the end (free everything otherwise too: zeroed parts are fine) */
} oma_unet;

/* prefix "unet". 0, or -1 with err naming the missing/misshapen tensor or the bad config. */
int oma_unet_load(oma_unet *u, const oma_weights *w, const char *prefix, const oma_unet_config *cfg,
                  char *err, size_t errlen);
void oma_unet_free(oma_unet *u);
/* timesteps: batch floats. out allocated in the arena. */
int oma_unet_forward(const oma_unet *u, const oma_tensor *latents, const float *timesteps,
                     const oma_tensor *context, oma_arena *ar, oma_tensor *out, char *err,
                     size_t errlen);

#endif
