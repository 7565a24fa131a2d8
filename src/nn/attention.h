/* attention.h — multi-head attention and the transformer blocks of SD's UNet and VAE.
 *
 * Names and structure follow diffusers so checkpoints load by name:
 *   oma_attention       Attention: to_q/to_k/to_v (no bias in the UNet, bias in the VAE),
 *                       to_out.0 (bias); self-attention when context is NULL.
 *   oma_feedforward     FeedForward with GEGLU: net.0.proj [2*inner, dim], net.2 [dim, inner].
 *   oma_transformer     BasicTransformerBlock: x += attn1(norm1 x); x += attn2(norm2 x, ctx);
 *                       x += ff(norm3 x)  (layer norms, eps 1e-5).
 *   oma_transformer2d   Transformer2DModel: group norm (eps 1e-6), proj_in (1x1 conv, or
 *                       linear with use_linear_projection), blocks over H*W tokens, proj_out,
 *                       plus the input (residual).
 *   oma_vae_attention   the VAE mid-block attention: group norm, one head over H*W tokens,
 *                       residual.
 */
#ifndef OMA_NN_ATTENTION_H
#define OMA_NN_ATTENTION_H

#include "nn/layers.h"

typedef struct oma_attention {
    int64_t dim, context_dim, heads;
    oma_linear to_q, to_k, to_v, to_out;
} oma_attention;

/* qkv_bias: 0 for the UNet, 1 for the VAE. */
int oma_attention_load(oma_attention *a, const oma_weights *w, const char *prefix, int64_t dim,
                       int64_t context_dim, int64_t heads, int qkv_bias, char *err, size_t errlen);
void oma_attention_free(oma_attention *a);
/* x [B, N, dim], context [B, M, context_dim] or NULL; y [B, N, dim] in the arena. */
int oma_attention_forward(const oma_attention *a, const oma_tensor *x, const oma_tensor *context,
                          oma_arena *ar, oma_tensor *y);

typedef struct oma_feedforward {
    oma_linear proj, out;
} oma_feedforward;

int oma_feedforward_load(oma_feedforward *f, const oma_weights *w, const char *prefix, int64_t dim,
                         int64_t inner, char *err, size_t errlen);
void oma_feedforward_free(oma_feedforward *f);
int oma_feedforward_forward(const oma_feedforward *f, const oma_tensor *x, oma_arena *ar,
                            oma_tensor *y);

typedef struct oma_transformer {
    oma_norm norm1, norm2, norm3;
    oma_attention attn1, attn2;
    oma_feedforward ff;
} oma_transformer;

int oma_transformer_load(oma_transformer *t, const oma_weights *w, const char *prefix, int64_t dim,
                         int64_t context_dim, int64_t heads, char *err, size_t errlen);
void oma_transformer_free(oma_transformer *t);
/* In place on x [B, N, dim]. */
int oma_transformer_forward(const oma_transformer *t, oma_tensor *x, const oma_tensor *context,
                            oma_arena *ar);

/* Reference attention (AnimateAnyone's ReferenceAttentionControl, Moore's
 * mutual_self_attention.py). WRITE: every transformer block, in execution order, keeps a copy
 * of its norm1 output for batch row write_row. READ: block k's self-attention (attn1) uses
 * keys/values cat(own tokens, feats[k]) for batch rows >= first_bank_row, and plain
 * self-attention for rows below it (the unconditional half under CFG). Pairing by execution
 * order is Moore's pairing when both UNets have the same layout (its stable sort by width over
 * the same module order maps each block to its twin). */
enum { OMA_REF_OFF = 0, OMA_REF_WRITE = 1, OMA_REF_READ = 2 };

typedef struct oma_ref_bank {
    int mode;
    int n;                      /* WRITE: blocks kept; READ: the next block to read */
    int count;                  /* READ: blocks available */
    int cap;
    oma_tensor *feats;          /* owned: [N_ref, C] per block */
    int64_t write_row, first_bank_row;
} oma_ref_bank;

void oma_ref_bank_free(oma_ref_bank *b);

/* oma_transformer_forward with reference attention (bank NULL or OFF: the plain block). */
int oma_transformer_forward_ref(const oma_transformer *t, oma_tensor *x, const oma_tensor *context,
                                oma_ref_bank *bank, oma_arena *ar);

#define OMA_MAX_TRANSFORMER_LAYERS 4

typedef struct oma_transformer2d {
    int64_t channels;
    int linear_proj;
    oma_norm norm;
    oma_conv2d proj_in_conv, proj_out_conv;
    oma_linear proj_in_lin, proj_out_lin;
    int n_blocks;
    oma_transformer blocks[OMA_MAX_TRANSFORMER_LAYERS];
} oma_transformer2d;

int oma_transformer2d_load(oma_transformer2d *t, const oma_weights *w, const char *prefix,
                           int64_t channels, int64_t heads, int64_t context_dim, int n_layers,
                           int linear_proj, int64_t groups, char *err, size_t errlen);
void oma_transformer2d_free(oma_transformer2d *t);
/* x [B, C, H, W] -> y [B, C, H, W] in the arena. */
int oma_transformer2d_forward(const oma_transformer2d *t, const oma_tensor *x,
                              const oma_tensor *context, oma_arena *ar, oma_tensor *y);
int oma_transformer2d_forward_ref(const oma_transformer2d *t, const oma_tensor *x,
                                  const oma_tensor *context, oma_ref_bank *bank, oma_arena *ar,
                                  oma_tensor *y);

typedef struct oma_vae_attention {
    oma_norm norm;
    oma_attention attn;
} oma_vae_attention;

int oma_vae_attention_load(oma_vae_attention *a, const oma_weights *w, const char *prefix,
                           int64_t channels, int64_t groups, char *err, size_t errlen);
void oma_vae_attention_free(oma_vae_attention *a);
int oma_vae_attention_forward(const oma_vae_attention *a, const oma_tensor *x, oma_arena *ar,
                              oma_tensor *y);

#endif
