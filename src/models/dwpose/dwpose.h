/* dwpose.h — DWPose whole-body estimation from its two ONNX files, as DWPose's ONNX branch
 * (Wholebody.__call__): YOLOX person boxes on a 640 letterbox, RTMPose-l on an affine crop per
 * box (the whole image when no box is found), SimCC decode, 133 keypoints -> OpenPose-134
 * (0-17 body with the neck, 18-23 feet, 24-91 face, 92-112 left hand, 113-133 right hand).
 * The models run on the ONNX runtime (src/models/onnx) over the shared tensor backend. */
#ifndef OMA_MODELS_DWPOSE_H
#define OMA_MODELS_DWPOSE_H

#include <stddef.h>
#include <stdint.h>

#define OMA_DWPOSE_DET_FILE  "yolox_l.onnx"
#define OMA_DWPOSE_POSE_FILE "dw-ll_ucoco_384.onnx"
#define OMA_DWPOSE_MAX_PEOPLE 64

typedef struct oma_dwpose oma_dwpose;

typedef struct oma_dwpose_person {
    float box[4];                   /* x1, y1, x2, y2 (the crop's source box) */
    float kp[134 * 2];              /* x, y in image pixels, OpenPose-134 order */
    float score[134];               /* raw SimCC scores (neck: 0 or 1, as DWPose) */
    float wb[133 * 2], wb_score[133];   /* the same before the OpenPose reorder: COCO-WholeBody */
} oma_dwpose_person;

/* Loads dir/yolox_l.onnx and dir/dw-ll_ucoco_384.onnx and checks their interfaces. A missing
 * file gives "oma: dwpose: <path>: not found (DWPose needs <dir>/yolox_l.onnx and
 * <dir>/dw-ll_ucoco_384.onnx)". */
int oma_dwpose_open(const char *dir, oma_dwpose **out, char *err, size_t errlen);
void oma_dwpose_close(oma_dwpose *d);

/* Estimates everyone in an RGB image (w x h x 3 bytes). *people (malloc'd, caller frees) gets
 * *n persons in detection order (at most OMA_DWPOSE_MAX_PEOPLE). */
int oma_dwpose_run(oma_dwpose *d, const uint8_t *rgb, int w, int h, oma_dwpose_person **people,
                   int *n, char *err, size_t errlen);

/* The two halves of oma_dwpose_run, for callers that time or place boxes themselves (the
 * speed bench): the detector's person boxes (x1,y1,x2,y2 in image pixels, at most
 * OMA_DWPOSE_MAX_PEOPLE, none -> *n = 0), and the pose model on given boxes (1..MAX). */
int oma_dwpose_detect(oma_dwpose *d, const uint8_t *rgb, int w, int h, float *boxes, int *n, char *err, size_t errlen);
int oma_dwpose_pose_boxes(oma_dwpose *d, const uint8_t *rgb, int w, int h, const float *boxes, int nb,
                          oma_dwpose_person **people, char *err, size_t errlen);

struct oma_pose;
/* Into OpenPose (formats/openpose.h): body 18, face 68, hands 21 each; scores < 0.3 absent;
 * canvas w x h; at most OMA_POSE_MAX_PEOPLE people. 0, or -1 with err. */
int oma_dwpose_to_pose(const oma_dwpose_person *people, int n, int w, int h, struct oma_pose *pose,
                       char *err, size_t errlen);

#endif
