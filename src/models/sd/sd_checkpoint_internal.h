/* sd_checkpoint_internal.h — what the sd_checkpoint*.c files share and nobody else needs:
 * config parsing (diffusers JSON files), config inference from a single file's tensor shapes,
 * and the original-layout -> diffusers name mapping with the block structure it depends on.
 */
#ifndef OMA_MODELS_SD_CHECKPOINT_INTERNAL_H
#define OMA_MODELS_SD_CHECKPOINT_INTERNAL_H

#include <stddef.h>

#include "models/sd/sd_checkpoint.h"

/* The block structure the original numbering depends on. */
typedef struct sd_orig_layout {
    int unet_layers;  /* layers_per_block: input_blocks come in groups of layers + 1 */
    int vae_blocks;   /* decoder.up.{i} is up_blocks.{vae_blocks - 1 - i} */
} sd_orig_layout;

/* Maps one original name with the given structure; 0 mapped, 1 not part of SD (ignored),
 * -1 with err for a name that belongs to the model but cannot be mapped (or SD 2.x). *reshape
 * is set to 1 when a [C,C,1,1] conv weight must be presented as [C,C]. */
int sd_map_original(const sd_orig_layout *lay, const char *orig, char *out, size_t outlen,
                    int *reshape, char *err, size_t errlen);

/* Reads one diffusers JSON config into the matching part of cfg (which holds defaults). */
int sd_parse_unet_config(const char *path, oma_unet_config *c, char *err, size_t errlen);
int sd_parse_vae_config(const char *path, oma_vae_config *c, char *err, size_t errlen);
int sd_parse_text_config(const char *path, oma_text_config *c, char *err, size_t errlen);
int sd_parse_scheduler_config(const char *path, oma_scheduler_config *c, char *err, size_t errlen);

/* Reads an original LDM yaml (sd_ldm_config.c) over cfg (which holds what the tensors show):
 * UNet, VAE, scheduler and the default size, as diffusers' conversion reads it. 0, or -1 with err. */
int sd_parse_ldm_yaml(const char *path, oma_sd_config *cfg, char *err, size_t errlen);
/* -1 with err naming the first architecture number the yaml states differently from the tensors. */
int sd_check_yaml_against_shapes(const char *path, const oma_sd_config *yaml, const oma_sd_config *shapes,
                                 char *err, size_t errlen);

/* Fills widths, block counts and layer counts from the (diffusers-named) tensors of ck. */
int sd_infer_config(const oma_sd_checkpoint *ck, oma_sd_config *cfg, char *err, size_t errlen);
/* Cross-checks the config against a few tensor shapes; error names the tensor. */
int sd_validate_config(const oma_sd_checkpoint *ck, const oma_sd_config *cfg, char *err,
                       size_t errlen);

#endif
