/* blocks.h — the convolutional blocks of SD's UNet and VAE, named as diffusers names them.
 *
 *   oma_resnet      ResnetBlock2D: h = conv1(silu(norm1 x)) [+ time_emb_proj(silu temb)];
 *                   h = conv2(silu(norm2 h)); out = shortcut(x) + h, shortcut a 1x1
 *                   conv_shortcut when channels change.
 *   oma_downsample  Downsample2D: 3x3 conv, stride 2; padding 1 (UNet) or, with pad 0, the
 *                   input padded by one on the right and bottom first (VAE encoder).
 *   oma_upsample    Upsample2D: nearest 2x, then 3x3 conv.
 *   oma_timestep_*  sinusoidal timestep features and TimestepEmbedding (linear_1, SiLU,
 *                   linear_2).
 */
#ifndef OMA_NN_BLOCKS_H
#define OMA_NN_BLOCKS_H

#include "nn/layers.h"

typedef struct oma_resnet {
    int64_t in, out, temb;
    oma_norm norm1, norm2;
    oma_conv2d conv1, conv2, shortcut;
    oma_linear time_emb_proj;
    int has_shortcut;
} oma_resnet;

/* temb_channels 0 = no time embedding (VAE). */
int oma_resnet_load(oma_resnet *r, const oma_weights *w, const char *prefix, int64_t in,
                    int64_t out, int64_t temb_channels, int64_t groups, float eps, char *err,
                    size_t errlen);
void oma_resnet_free(oma_resnet *r);
/* x [B, in, H, W], temb [B, temb] or NULL -> y [B, out, H, W] in the arena. */
int oma_resnet_forward(const oma_resnet *r, const oma_tensor *x, const oma_tensor *temb,
                       oma_arena *ar, oma_tensor *y);

typedef struct oma_downsample {
    oma_conv2d conv;
    int pad_right_bottom;       /* VAE style: pad (0,1,0,1) then conv with padding 0 */
} oma_downsample;

int oma_downsample_load(oma_downsample *d, const oma_weights *w, const char *prefix,
                        int64_t channels, int padding, char *err, size_t errlen);
void oma_downsample_free(oma_downsample *d);
int oma_downsample_forward(const oma_downsample *d, const oma_tensor *x, oma_arena *ar,
                           oma_tensor *y);

typedef struct oma_upsample {
    oma_conv2d conv;
} oma_upsample;

int oma_upsample_load(oma_upsample *u, const oma_weights *w, const char *prefix, int64_t channels,
                      char *err, size_t errlen);
void oma_upsample_free(oma_upsample *u);
int oma_upsample_forward(const oma_upsample *u, const oma_tensor *x, oma_arena *ar, oma_tensor *y);

/* out[B, dim]: diffusers get_timestep_embedding(t, dim, flip_sin_to_cos, freq_shift). */
int oma_timestep_features(const float *t, int64_t batch, int64_t dim, int flip_sin_to_cos,
                          float freq_shift, oma_tensor *out);

typedef struct oma_timestep_embedding {
    oma_linear linear_1, linear_2;
} oma_timestep_embedding;

int oma_timestep_embedding_load(oma_timestep_embedding *e, const oma_weights *w,
                                const char *prefix, int64_t in, int64_t dim, char *err,
                                size_t errlen);
void oma_timestep_embedding_free(oma_timestep_embedding *e);
int oma_timestep_embedding_forward(const oma_timestep_embedding *e, const oma_tensor *x,
                                   oma_arena *ar, oma_tensor *y);

#endif
