/* pose_parts.h — hands and face for whole-body pose: MediaPipe's hand landmark model
 * (handlandmark-full: 224x224 crop in [0, 1] -> 21 points + hand presence) and face mesh
 * (facemesh: 192x192 crop in [0, 1] -> 468 points + face presence), run on rotated square
 * crops that the caller places from the body landmarks (see pipelines/pose/pose_estimate.c).
 * Points come back in image pixels, through the same crop/projection as BlazePose. */
#ifndef OMA_MODELS_POSE_PARTS_H
#define OMA_MODELS_POSE_PARTS_H

#include <stddef.h>

#include "models/pose/pose_blazepose.h"

#define OMA_HAND_POINTS 21
#define OMA_HAND_SIZE 224
#define OMA_FACE_MESH_POINTS 468
#define OMA_FACE_SIZE 192
#define OMA_PALM_ANCHORS 2944
#define OMA_PALM_SIZE 256
#define OMA_PALM_KP 7

typedef struct oma_pose_parts {
    oma_graph *hand, *face;   /* either may be NULL when not asked for */
    oma_graph *palm;          /* handdetect; NULL when its file is absent (hands then come
                               * from wrist-placed crops only) */
    float palm_anchors[OMA_PALM_ANCHORS][2];
} oma_pose_parts;

/* A palm found by handdetect (MediaPipe's 256x256 palm detector): box and 7 palm keypoints
 * (0 wrist, 1 index knuckle, 2 middle knuckle, 3 ring knuckle, 4 pinky knuckle, 5-6 thumb),
 * image pixels. */
typedef struct oma_palm {
    float score;
    float cx, cy, w, h;
    float kp[OMA_PALM_KP][2];
} oma_palm;

/* Opens <dir>/handlandmark-full.json and/or <dir>/facemesh.json; with hands also
 * <dir>/handdetect.json when that file exists. */
int oma_pose_parts_open(const char *dir, int hands, int face, oma_pose_parts **out, char *err,
                        size_t errlen);
void oma_pose_parts_close(oma_pose_parts *p);

/* 21 hand points (image pixels) and the hand-presence probability for the crop roi. */
int oma_pose_hand(oma_pose_parts *p, const oma_image *rgb, const oma_bp_roi *roi,
                  float xy[OMA_HAND_POINTS][2], float *score, char *err, size_t errlen);

/* 468 face-mesh points (image pixels) and the face-presence probability for the crop roi. */
int oma_pose_face(oma_pose_parts *p, const oma_image *rgb, const oma_bp_roi *roi,
                  float xy[OMA_FACE_MESH_POINTS][2], float *score, char *err, size_t errlen);

/* The palm detector's SSD anchors (centres, normalised; strides 8, 16, 32, 32, 32 on 256). */
void oma_palm_anchors(float anchors[OMA_PALM_ANCHORS][2]);

/* Decodes raw handdetect output [2944 x 19] (score logit, box dx dy w h, 7 x keypoint dx dy,
 * in 256-input pixels) into palms in input pixels, weighted NMS (IoU 0.3), best first.
 * Returns how many (<= max), or -1 when out of memory. */
int oma_palm_decode(const float anchors[OMA_PALM_ANCHORS][2], const float *raw, float min_score,
                    oma_palm *out, int max);

/* Palms inside the axis-aligned square region (region->angle is ignored; outside the image
 * is black), in image pixels. *n = 0 when the palm model is not loaded. */
int oma_pose_palms(oma_pose_parts *p, const oma_image *rgb, const oma_bp_roi *region,
                   float min_score, oma_palm *out, int max, int *n, char *err, size_t errlen);

/* The hand landmark region for a palm (MediaPipe's palm-to-hand rule: wrist -> middle knuckle
 * points up, long box side x 2.6, shifted half a box towards the fingers). */
oma_bp_roi oma_palm_hand_roi(const oma_palm *d);

/* For each of the 68 iBUG/dlib face points, its face-mesh index. */
extern const int oma_face68_from_mesh[68];

#endif
