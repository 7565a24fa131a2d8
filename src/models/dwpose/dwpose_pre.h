/* dwpose_pre.h — DWPose's input preparation as its ONNX branch does it with OpenCV: the
 * detector's top-left letterbox (cv2.resize INTER_LINEAR to r = min(size/h, size/w), pad 114)
 * and RTMPose's affine crop of a box (centre, scale * 1.25 widened to the input aspect,
 * cv2.warpAffine INTER_LINEAR, border 0) normalised by ImageNet mean/std. The resampling
 * follows OpenCV 4.6's fixed-point arithmetic for 8-bit images (11-bit resize coefficients,
 * 1/32-pixel warp positions with 15-bit bilinear weights). */
#ifndef OMA_MODELS_DWPOSE_PRE_H
#define OMA_MODELS_DWPOSE_PRE_H

#include <stdint.h>

/* rgb: w x h x 3 bytes. chw: 3 x size x size floats (0..255, pad 114). *ratio = r.
 * Returns 0, -1 on bad sizes or no memory. */
int oma_dwpose_letterbox(const uint8_t *rgb, int w, int h, int size, float *chw, float *ratio);

/* box: x1, y1, x2, y2. chw: 3 x out_h x out_w floats, (v - mean) / std per channel.
 * center/scale: what the SimCC decode needs to map back (scale after the aspect fix). */
int oma_dwpose_crop(const uint8_t *rgb, int w, int h, const float box[4], int out_w, int out_h,
                    float *chw, float center[2], float scale[2]);

#endif
