/* aa_files.h — where AnimateAnyone's weights live, and reading them by name.
 *
 * The folder (OMA_MODELS/animate-anyone, or any folder given) holds what Moore-AnimateAnyone's
 * pretrained_weights/ holds, each file either as downloaded (torch.save .pth/.bin, read by the
 * safe pickle reader: tensor-rebuilding globals only) or converted to .safetensors:
 *   denoising_unet.{safetensors,pth}      the denoising UNet (stage 1)
 *   reference_unet.{safetensors,pth}      the ReferenceNet (no conv_norm_out / conv_out)
 *   pose_guider.{safetensors,pth}         the PoseGuider
 *   image_encoder/{config.json, model.safetensors | pytorch_model.bin}
 *                                         CLIP ViT-L/14 vision + projection
 *                                         (lambdalabs/sd-image-variations-diffusers)
 *   sd-vae-ft-mse/{config.json, diffusion_pytorch_model.{safetensors,bin}}
 *   stable-diffusion-v1-5/unet/config.json  optional: the base UNet config both UNets are built
 *                                         from (SD 1.5's when absent)
 * A .safetensors beside a .pth wins. motion_module.pth (video only) is not used.
 */
#ifndef OMA_MODELS_ANIMATE_AA_FILES_H
#define OMA_MODELS_ANIMATE_AA_FILES_H

#include <stddef.h>

#include "formats/tensor_file.h"
#include "nn/weights.h"

enum { AA_DENOISE, AA_REFERENCE, AA_POSE, AA_CLIP, AA_VAE, AA_N_PARTS };

typedef struct oma_aa_part_info {
    const char *what;           /* "denoising UNet" */
    const char *expect;         /* "denoising_unet.pth or denoising_unet.safetensors" */
    char path[1024];            /* the file found, or "" */
    char config[1024];          /* its config.json when it needs one, or "" */
    int needs_config;
} oma_aa_part_info;

typedef struct oma_aa_files {
    char dir[1024];
    oma_aa_part_info part[AA_N_PARTS];
    char unet_config[1024];     /* stable-diffusion-v1-5/unet/config.json or "" (SD 1.5 defaults) */
} oma_aa_files;

/* Looks the folder over (no file is read). Returns the number of parts missing (0: complete). */
int oma_aa_files_find(const char *dir, oma_aa_files *f);
/* Writes one line per part: "present  PATH" or "missing  EXPECTED-PATH (what)". */
void oma_aa_files_report(const oma_aa_files *f, char *buf, size_t len);
/* OMA_MODELS/animate-anyone into buf (NULL when models_dir is NULL). */
const char *oma_aa_default_dir(const char *models_dir, char *buf, size_t len);

/* Weights by name over one loaded file: names "<prefix>.<key>" read key. Aliases the old
 * diffusers VAE attention names (query/key/value/proj_attn) for to_q/to_k/to_v/to_out.0. */
typedef struct oma_aa_source {
    const char *prefix;
    oma_tensor_file *file;
} oma_aa_source;
void oma_aa_weights(oma_aa_source *src, oma_weights *w);
/* Loads one part's tensors (max 16 GiB). 0, or -1 with err "PATH: why". */
int oma_aa_load_part(const oma_aa_files *f, int part, oma_tensor_file **out, char *err, size_t errlen);

#endif
