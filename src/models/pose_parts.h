/* pose_parts.h — hands and face for whole-body pose: MediaPipe's hand landmark model
 * (handlandmark-full: 224x224 crop in [0, 1] -> 21 points + hand presence) and face mesh
 * (facemesh: 192x192 crop in [0, 1] -> 468 points + face presence), run on rotated square
 * crops that the caller places from the body landmarks (see pipelines/pose_estimate.c).
 * Points come back in image pixels, through the same crop/projection as BlazePose. */
#ifndef OMA_MODELS_POSE_PARTS_H
#define OMA_MODELS_POSE_PARTS_H

#include <stddef.h>

#include "models/pose_blazepose.h"

#define OMA_HAND_POINTS 21
#define OMA_HAND_SIZE 224
#define OMA_FACE_MESH_POINTS 468
#define OMA_FACE_SIZE 192

typedef struct oma_pose_parts {
    oma_graph *hand, *face;   /* either may be NULL when not asked for */
} oma_pose_parts;

/* Opens <dir>/handlandmark-full.json and/or <dir>/facemesh.json. */
int oma_pose_parts_open(const char *dir, int hands, int face, oma_pose_parts **out, char *err,
                        size_t errlen);
void oma_pose_parts_close(oma_pose_parts *p);

/* 21 hand points (image pixels) and the hand-presence probability for the crop roi. */
int oma_pose_hand(oma_pose_parts *p, const oma_image *rgb, const oma_bp_roi *roi,
                  float xy[OMA_HAND_POINTS][2], float *score, char *err, size_t errlen);

/* 468 face-mesh points (image pixels) and the face-presence probability for the crop roi. */
int oma_pose_face(oma_pose_parts *p, const oma_image *rgb, const oma_bp_roi *roi,
                  float xy[OMA_FACE_MESH_POINTS][2], float *score, char *err, size_t errlen);

/* For each of the 68 iBUG/dlib face points, its face-mesh index. */
extern const int oma_face68_from_mesh[68];

#endif
