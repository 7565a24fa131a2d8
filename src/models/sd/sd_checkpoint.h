/* sd_checkpoint.h — one view of a Stable Diffusion 1.x model, whichever layout it was saved in.
 *
 * Artists have two layouts: the diffusers folder (unet/, vae/, text_encoder/ each with a
 * config.json and diffusion_pytorch_model.safetensors or model.safetensors; tokenizer/ with
 * vocab.json + merges.txt; scheduler/scheduler_config.json) and the original single-file
 * checkpoint (model.diffusion_model.*, first_stage_model.*, cond_stage_model.transformer.*).
 * The models code sees ONE naming, the diffusers one with the component as prefix:
 *   "unet.down_blocks.0.resnets.0.conv1.weight", "vae.decoder.conv_in.weight",
 *   "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.weight".
 * For a single file every original name is mapped to its diffusers name once at open (the
 * mapping diffusers' conversion script performs, written here from the layouts' structure);
 * the VAE attention 1x1 convs are presented with the diffusers linear shape [C, C]. Old diffusers
 * VAE attention names (query/key/value/proj_attn) are accepted as aliases of to_q/to_k/to_v/to_out.0.
 *
 * Configs come from the folder's JSON files. A single file takes its original LDM yaml when one
 * is given (config_dir naming a .yaml file) or lies beside it (NAME.yaml next to
 * NAME.safetensors, as A1111 keeps them): parameterization, betas, scale factor, UNet and VAE
 * numbers as diffusers' conversion reads them (sd_ldm_config.c), cross-checked against the
 * tensor shapes. Without one it gets the SD 1.x defaults (the v1-inference.yaml values) with the
 * widths, block counts, layers per block, cross-attention width, vocab and text depth read from
 * the tensor shapes (heads and norm groups cannot be read from shapes: they stay SD 1.x's 8 and
 * 32 / 12 unless a config is given).
 * The tokenizer of a single file comes from tokenizer_dir when given (CLI: --tokenizer DIR),
 * else from a "tokenizer/" folder beside the file; oma_sd_tokenizer_dir() is NULL if neither.
 */
#ifndef OMA_MODELS_SD_CHECKPOINT_H
#define OMA_MODELS_SD_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "formats/safetensors.h"

#define OMA_SD_MAX_BLOCKS 8

typedef struct oma_unet_config {
    int in_channels, out_channels, sample_size;
    int n_blocks;                                   /* len(block_out_channels) */
    int block_out_channels[OMA_SD_MAX_BLOCKS];
    char down_block_types[OMA_SD_MAX_BLOCKS][40];   /* "CrossAttnDownBlock2D" / "DownBlock2D" */
    char up_block_types[OMA_SD_MAX_BLOCKS][40];     /* "UpBlock2D" / "CrossAttnUpBlock2D" */
    int layers_per_block;
    int attention_head_dim[OMA_SD_MAX_BLOCKS];      /* per block (an int in JSON is repeated) */
    int cross_attention_dim;
    int norm_num_groups;
    float norm_eps;
    int transformer_layers_per_block;
    int use_linear_projection;                      /* 0 for SD 1.x (1x1 conv proj_in/out) */
    int flip_sin_to_cos;                            /* 1 */
    int freq_shift;                                 /* 0 */
    int downsample_padding;                         /* 1 */
    char act_fn[16];                                /* "silu" */
} oma_unet_config;

typedef struct oma_vae_config {
    int in_channels, out_channels, latent_channels, sample_size;
    int n_blocks;
    int block_out_channels[OMA_SD_MAX_BLOCKS];
    int layers_per_block;
    int norm_num_groups;
    float scaling_factor;                           /* 0.18215 for SD 1.x */
    char act_fn[16];
} oma_vae_config;

typedef struct oma_text_config {
    int vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads;
    int max_position_embeddings;
    float layer_norm_eps;
    char hidden_act[16];                            /* "quick_gelu" for SD 1.x */
    int bos_token_id, eos_token_id, pad_token_id;   /* as in config.json (may be stale: trust the tokenizer) */
} oma_text_config;

typedef struct oma_scheduler_config {
    int num_train_timesteps;                        /* 1000 */
    float beta_start, beta_end;                     /* 0.00085, 0.012 */
    char beta_schedule[24];                         /* "scaled_linear" */
    char prediction_type[16];                       /* "epsilon" (or "v_prediction") */
    int steps_offset;                               /* 1 */
    int set_alpha_to_one;                           /* 0 */
    int clip_sample;                                /* 0 */
    char timestep_spacing[16];                      /* "leading" */
    /* 1 when the config file states the field; 0 = absent, and each sampler takes its own
     * diffusers class default (Euler: "linspace", DDIM/DPM: "leading"; prediction "epsilon"). */
    int timestep_spacing_set;
    int prediction_type_set;
    int rescale_betas_zero_snr;                     /* 0 (Moore's AnimateAnyone: 1) */
    /* 1 when stated; absent = the class default (DDIM: both true; PNDM: no alpha-to-one) */
    int set_alpha_to_one_set, clip_sample_set;
} oma_scheduler_config;

typedef struct oma_sd_config {
    oma_unet_config unet;
    oma_vae_config vae;
    oma_text_config text;
    oma_scheduler_config scheduler;
} oma_sd_config;

typedef enum { OMA_SD_DIFFUSERS = 1, OMA_SD_SINGLE_FILE = 2 } oma_sd_layout;

typedef struct oma_sd_checkpoint oma_sd_checkpoint;

/* The SD 1.x defaults (v1-inference.yaml / runwayml configs). */
void oma_sd_config_defaults(oma_sd_config *cfg);

/* path: a diffusers folder or a .safetensors single file. tokenizer_dir may be NULL.
 * 0 on success, -1 with err ("sd: unet/config.json: ..."). */
int oma_sd_open(const char *path, const char *tokenizer_dir, oma_sd_checkpoint **out, char *err,
                size_t errlen);

typedef struct oma_sd_open_opts {
    const char *tokenizer_dir;  /* NULL: <folder>/tokenizer, or tokenizer/ beside a single file */
    const char *config_dir;     /* single file only, may be NULL: an original LDM .yaml file, or a
                                   diffusers folder whose unet/vae/text_encoder/scheduler JSON
                                   configs replace the SD 1.x defaults (as diffusers'
                                   from_single_file(config=...)); a folder's tokenizer/ is used
                                   when tokenizer_dir is NULL and none is beside. NULL: NAME.yaml
                                   beside the file when there is one */
} oma_sd_open_opts;
int oma_sd_open_ex(const char *path, const oma_sd_open_opts *opts, oma_sd_checkpoint **out,
                   char *err, size_t errlen);
void oma_sd_close(oma_sd_checkpoint *ck);

oma_sd_layout oma_sd_layout_of(const oma_sd_checkpoint *ck);
const oma_sd_config *oma_sd_config_of(const oma_sd_checkpoint *ck);
/* Single file: the yaml or config folder its configs came from (NULL: defaults + shapes). */
const char *oma_sd_config_path(const oma_sd_checkpoint *ck);
/* NAME.yaml for NAME.safetensors into out; 0 when that file exists, -1 otherwise. */
int oma_sd_config_beside(const char *path, char *out, size_t outlen);
/* Folder holding vocab.json + merges.txt, or NULL. */
const char *oma_sd_tokenizer_dir(const oma_sd_checkpoint *ck);

/* All tensors under their diffusers names, sorted by name. */
size_t oma_sd_count(const oma_sd_checkpoint *ck);
const oma_st_tensor *oma_sd_at(const oma_sd_checkpoint *ck, size_t i);
/* By diffusers name ("unet.conv_in.weight"); NULL when absent. The returned tensor's name is
 * the diffusers name; its data points into the mapped file. */
const oma_st_tensor *oma_sd_find(const oma_sd_checkpoint *ck, const char *name);
/* The name in the file the tensor came from (an original-layout name for a single file). */
const char *oma_sd_source_name(const oma_sd_checkpoint *ck, const char *name);
/* Finds and checks the shape: -1 with "sd: tensor 'unet.x': missing" / "...: shape [..] expected [..]". */
int oma_sd_get(const oma_sd_checkpoint *ck, const char *name, int ndim, const int64_t *shape,
               const oma_st_tensor **out, char *err, size_t errlen);
/* oma_sd_get + conversion to float into dst (n floats). */
int oma_sd_read_f32(const oma_sd_checkpoint *ck, const char *name, int ndim,
                    const int64_t *shape, float *dst, size_t n, char *err, size_t errlen);

/* The mapping on its own (for tests and tools): an original single-file name to its diffusers
 * name (with component prefix) into out; 0 on success, -1 when the name is not part of the
 * SD 1.x layout (EMA copies, model_ema.*, etc. are not mapped). */
int oma_sd_map_original_name(const char *orig, char *out, size_t outlen);

#endif
