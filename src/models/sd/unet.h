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
    int no_out;     /* loaded without conv_norm_out/conv_out (AnimateAnyone's ReferenceNet) */
} oma_unet;

/* prefix "unet". 0, or -1 with err naming the missing/misshapen tensor or the bad config. */
int oma_unet_load(oma_unet *u, const oma_weights *w, const char *prefix, const oma_unet_config *cfg,
                  char *err, size_t errlen);
/* The same without conv_norm_out and conv_out (Moore's reference_unet.pth has neither: its
 * ReferenceNet is only run for the reference attention features). */
int oma_unet_load_body(oma_unet *u, const oma_weights *w, const char *prefix,
                       const oma_unet_config *cfg, char *err, size_t errlen);
void oma_unet_free(oma_unet *u);
/* Drops what the backend prepared from the UNet's convolution weights (the CPU's kept Winograd
 * forms, ~0.8 GB for SD 1.5 at 512x512); the next forward prepares them again. */
void oma_unet_forget_prepared(const oma_unet *u);
/* timesteps: batch floats. out allocated in the arena. */
int oma_unet_forward(const oma_unet *u, const oma_tensor *latents, const float *timesteps,
                     const oma_tensor *context, oma_arena *ar, oma_tensor *out, char *err,
                     size_t errlen);

/* forward with AnimateAnyone's additions: add [B, ch0, h, w] (the pose features, NULL: none)
 * after conv_in, reference attention through bank (NULL: none). out may be NULL for a UNet
 * loaded with oma_unet_load_body (nothing after the last up block is computed). */
int oma_unet_forward_ex(const oma_unet *u, const oma_tensor *latents, const float *timesteps,
                        const oma_tensor *context, const oma_tensor *add_after_conv_in,
                        oma_ref_bank *bank, oma_arena *ar, oma_tensor *out, char *err,
                        size_t errlen);

/* Draft mode (opt-in, approximate): DeepCache (Ma et al. 2023, "DeepCache: Accelerating
 * Diffusion Models for Free"), as its DeepCacheSDHelper does it. The skip branch `branch`
 * (its cache_branch_id: block = branch / (layers_per_block + 1), layer = branch % ...) splits the
 * UNet: a full step (reuse 0) runs everything and keeps the input of up block nb-1-block's layer
 * layers_per_block-layer (the deep features coming up from the mid block, before the skip
 * concat); a reuse step (reuse 1) runs only the shallow path: conv_in, the down layers before
 * the branch, then the up path from that layer on, fed by the kept features and the fresh skips,
 * then norm/conv_out. Branch 0 (SD 1.5): conv_in and the last up block's last layer only. The
 * result differs from the full UNet by design (see README "Draft mode"). */
typedef struct oma_unet_draft {
    int branch;
    float *feat;                /* kept features (malloc'ed), shape[4] */
    size_t cap;
    int64_t shape[4];
    int valid;
} oma_unet_draft;

/* 0 when branch is within the config's skip branches, else -1 with err. */
int oma_unet_draft_check(const oma_unet_config *c, int branch, char *err, size_t errlen);
int oma_unet_forward_draft(const oma_unet *u, const oma_tensor *latents, const float *timesteps,
                           const oma_tensor *context, oma_unet_draft *draft, int reuse, oma_arena *ar,
                           oma_tensor *out, char *err, size_t errlen);
void oma_unet_draft_free(oma_unet_draft *d);

#endif
