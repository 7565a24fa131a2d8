/* pose_models.h — who can find people for the pose.estimate kind (params.model), and whether
 * each can run here: "movenet-multipose" (default) and "blazepose" need the TFJS models
 * (oma_pose_models_dir), "dwpose" needs both ONNX files under OMA_MODELS/dwpose. The server
 * lists them in /api/capabilities so the UI offers only what runs. (pose_kind_estimate.c) */
#ifndef OMA_PIPELINES_POSE_MODELS_H
#define OMA_PIPELINES_POSE_MODELS_H

int oma_pose_model_count(void);
const char *oma_pose_model_name(int i);               /* NULL out of range */
int oma_pose_model_available(const char *models_dir, int i);   /* 1 or 0 */

#endif
