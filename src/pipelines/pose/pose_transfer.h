/* pose_transfer.h — draws the character in a new pose: AnimateAnyone stage 1
 * (Moore-AnimateAnyone's Pose2ImagePipeline) on the models of models/animate/aa_model.h.
 *
 * character (any size; grey, RGB or RGBA: transparency composited over white, where Moore's
 * convert("RGB") would drop it and show what the transparent pixels hold, often black) -> CLIP
 * image embedding (resized to 224 x 224, Pillow bicubic); the character resized to the output size
 * (Pillow LANCZOS, as diffusers' VaeImageProcessor) -> reference latents -> ReferenceNet bank;
 * the pose picture (a skeleton drawn DWPose-style at the output size, or a skeleton PNG resized
 * the same way) -> PoseGuider features; noise torch.randn([1, 4, H/8, W/8]) from
 * Generator().manual_seed(seed); `steps` DDIM steps with Moore's inference config
 * (configs/inference/inference_v2.yaml: linear betas 0.00085..0.012, v_prediction, zero-SNR
 * rescaled betas, trailing spacing, steps_offset 1, no clipping, eta 0), guidance `cfg`; the VAE
 * decode, and 8-bit pixels by truncation (x * 255 floored, as the original's uint8 cast).
 */
#ifndef OMA_PIPELINES_POSE_TRANSFER_H
#define OMA_PIPELINES_POSE_TRANSFER_H

#include <stdint.h>

#include "formats/image.h"
#include "formats/openpose.h"
#include "models/animate/aa_model.h"

typedef struct oma_transfer_params {
    int width, height;          /* multiples of 8, 64..2048 (default 512 x 768); a latent side
                                   that is not a multiple of 8 takes the UNets' upsample-to-skip-size
                                   path, as diffusers' forward_upsample_size */
    int steps;                  /* 1..1000 (default 20) */
    float cfg;                  /* guidance (default 3.5; <= 1: no unconditional pass) */
    uint64_t seed;
    /* called after each step with the latents [1, 4, h, w] (a preview can decode them);
     * non-zero return cancels. May be NULL. */
    int (*on_step)(void *ctx, int step, int steps, const oma_tensor *latents);
    void *ctx;
} oma_transfer_params;

oma_transfer_params oma_transfer_defaults(void);

/* The DDIM schedule of Moore's inference_v2.yaml into cfg. */
void oma_transfer_scheduler_config(oma_scheduler_config *cfg);

/* The pose picture for a target: an OpenPose pose drawn at w x h on black (body, hands, face). */
int oma_transfer_pose_image(const oma_pose *pose, int w, int h, oma_image *out, char *err, size_t errlen);

/* The whole pipeline into out (RGB, width x height). 0, -1 with err, or 1 when on_step
 * cancelled. */
int oma_pose_transfer(const oma_aa_model *m, const oma_image *character, const oma_image *pose_picture,
                      const oma_transfer_params *p, oma_image *out, char *err, size_t errlen);

#endif
