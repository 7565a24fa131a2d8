/* pose_dwpose.h — whole-body pose estimation with DWPose (models/dwpose), the original
 * service's estimator, when the user has its two ONNX files under $OMA_MODELS/dwpose: the same
 * oma_pose_result as the TFJS estimator (OpenPose body/face/hands with points below 0.3
 * absent, and the 133 COCO-WholeBody points with DWPose's raw scores), so the CLI, the job kind
 * and the editor treat both alike. The loaded models are shared by the process (one per
 * folder, runs serialised: a session's buffers are not shared between threads). */
#ifndef OMA_PIPELINES_POSE_DWPOSE_H
#define OMA_PIPELINES_POSE_DWPOSE_H

#include <stddef.h>

#include "formats/image.h"
#include "pipelines/pose/pose_estimate.h"

/* The DWPose folder: models_dir (or $OMA_MODELS when NULL/empty, else "models") + "/dwpose"
 * into buf. 1 when both yolox_l.onnx and dw-ll_ucoco_384.onnx are regular files there, else 0. */
int oma_pose_dwpose_available(const char *models_dir, char *buf, size_t len);

/* Estimates everyone in img (1, 3 or 4 channels; transparency put on white) with the DWPose
 * models of models_dir (as above). People DWPose returns without a single point at 0.3 or more
 * (its whole-image fallback when the detector finds nobody) are dropped, so an empty picture
 * gives 0 people. hands_found / faces_found count hands / faces with at least half their
 * points at 0.3 or more. 0, or -1 with err ("oma: dwpose: ..." when the files are missing). */
int oma_pose_estimate_dwpose(const char *models_dir, const oma_image *img, oma_pose_result *out,
                             char *err, size_t errlen);

#endif
