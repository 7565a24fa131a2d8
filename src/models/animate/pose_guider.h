/* pose_guider.h — AnimateAnyone's PoseGuider (Moore's src/models/pose_guider.py).
 *
 * The pose picture ([B, 3, H, W] in [0, 1]) becomes features at 1/8 size that are added to
 * the denoising UNet's conv_in output: conv_in (3 -> w0, 3x3) + SiLU, then for each width step
 * a 3x3 conv keeping the width and a 3x3 stride-2 conv to the next, each + SiLU, then conv_out
 * (3x3, zero-initialised in training) to the UNet's first width. Moore uses widths
 * (16, 32, 96, 256) and 320 out; the widths here come from the file's shapes.
 */
#ifndef OMA_MODELS_ANIMATE_POSE_GUIDER_H
#define OMA_MODELS_ANIMATE_POSE_GUIDER_H

#include "nn/layers.h"

#define OMA_PG_MAX_WIDTHS 8

typedef struct oma_pose_guider {
    int n_widths;
    int64_t widths[OMA_PG_MAX_WIDTHS], out;
    oma_conv2d conv_in, conv_out;
    oma_conv2d blocks[2 * (OMA_PG_MAX_WIDTHS - 1)];
} oma_pose_guider;

/* Names "<prefix>.conv_in.weight", "<prefix>.blocks.N.weight", "<prefix>.conv_out.weight". */
int oma_pose_guider_load(oma_pose_guider *g, const oma_weights *w, const char *prefix, int n_widths,
                         const int64_t *widths, int64_t out_channels, char *err, size_t errlen);
void oma_pose_guider_free(oma_pose_guider *g);
/* pose [B, 3, H, W] -> features [B, out, H / 2^(n-1), W / 2^(n-1)] (conv rounding) in the arena. */
int oma_pose_guider_forward(const oma_pose_guider *g, const oma_tensor *pose, oma_arena *ar, oma_tensor *out);

#endif
