/* aa_model.h — AnimateAnyone stage 1 (Moore-AnimateAnyone's Pose2ImagePipeline) as model calls.
 *
 * Pieces, in the pipeline's order:
 *   clip_embed     the character through CLIP preprocessing and the image encoder -> [1, P]
 *                  (the UNets' cross-attention context is [B, 1, P]; the unconditional one is 0)
 *   ref_latents    the character (at the output size) -> VAE latent mean * 0.18215 (Moore
 *                  hard-codes the factor)
 *   pose_features  the pose picture in [0, 1] -> PoseGuider features [1, ch0, h, w]
 *   reference      the ReferenceNet once at t = 0 on the reference latents with the CLIP context,
 *                  keeping each transformer block's norm1 output, rounded to fp16 as Moore's
 *                  update() does
 *   denoise        one model call: under CFG (scale > 1) the batch [uncond, cond] with contexts
 *                  [0, clip], pose features on both, the cond row's self-attention reading the
 *                  bank and the uncond row's not (Moore's uc_mask); v = v_u + g (v_c - v_u)
 *   decode         latents / 0.18215 through the VAE decoder, (x / 2 + 0.5) clamped to [0, 1]
 * The scheduler (DDIM, v-prediction, zero-SNR, trailing) is the caller's.
 */
#ifndef OMA_MODELS_ANIMATE_AA_MODEL_H
#define OMA_MODELS_ANIMATE_AA_MODEL_H

#include "formats/image.h"
#include "models/animate/aa_files.h"
#include "models/animate/clip_vision.h"
#include "models/animate/pose_guider.h"
#include "models/sd/unet.h"
#include "models/sd/vae.h"

#define OMA_AA_LATENT_SCALE 0.18215f

typedef struct oma_aa_model {
    oma_aa_files files;
    oma_unet_config unet_cfg;
    oma_vae_config vae_cfg;
    oma_unet den, ref;
    oma_pose_guider pose;
    oma_clip_vision clip;
    oma_vae vae;
    int loaded;
} oma_aa_model;

/* Loads every part from dir (see aa_files.h). 0, or -1 with err naming the file and tensor. */
int oma_aa_model_load(oma_aa_model *m, const char *dir, char *err, size_t errlen);
void oma_aa_model_free(oma_aa_model *m);

int oma_aa_clip_embed(const oma_aa_model *m, const oma_image *character, oma_arena *ar, oma_tensor *embeds,
                      char *err, size_t errlen);
/* character: RGB at the output size already. latents [1, 4, h/8, w/8] in the arena. */
int oma_aa_ref_latents(const oma_aa_model *m, const oma_image *character, oma_arena *ar, oma_tensor *latents,
                       char *err, size_t errlen);
/* pose: RGB at the output size. */
int oma_aa_pose_features(const oma_aa_model *m, const oma_image *pose, oma_arena *ar, oma_tensor *feats,
                         char *err, size_t errlen);
/* Fills bank (WRITE, then ready to READ). embeds [1, P]. */
int oma_aa_reference(const oma_aa_model *m, const oma_tensor *ref_latents, const oma_tensor *embeds,
                     oma_ref_bank *bank, oma_arena *ar, char *err, size_t errlen);
/* x [1, 4, h, w] at timestep t -> v [1, 4, h, w] in the arena (guidance applied). */
int oma_aa_denoise(const oma_aa_model *m, const oma_tensor *x, float t, const oma_tensor *embeds,
                   const oma_tensor *pose_feats, oma_ref_bank *bank, float guidance, oma_arena *ar, oma_tensor *v,
                   char *err, size_t errlen);
/* latents [1, 4, h, w] -> image [1, 3, 8h, 8w] in [0, 1]. */
int oma_aa_decode(const oma_aa_model *m, const oma_tensor *latents, oma_arena *ar, oma_tensor *image, char *err,
                  size_t errlen);

#endif
