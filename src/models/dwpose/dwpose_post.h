/* dwpose_post.h — DWPose's post-processing, as its ONNX branch does it (IDEA-Research/DWPose,
 * branch onnx, ControlNet-v1-1-nightly/annotator/dwpose: onnxdet.py, onnxpose.py,
 * wholebody.py): YOLOX output decoding + NMS to person boxes, SimCC argmax decoding back to
 * image coordinates, and the COCO-WholeBody-133 -> OpenPose-134 reordering (neck inserted). */
#ifndef OMA_MODELS_DWPOSE_POST_H
#define OMA_MODELS_DWPOSE_POST_H

#include <stdint.h>

/* YOLOX head output pred[n_anchors, 5 + n_cls] (cx, cy, w, h, obj, cls...) for an input of
 * in_h x in_w letterboxed with ratio r, anchors ordered stride by stride (row-major grids):
 * decodes (xy = (p + grid) * s, wh = exp(p) * s), scores obj * cls, runs class-aware NMS
 * (IoU 0.45, score > 0.1, areas with +1 as onnxdet.nms) and keeps class 0 with score > 0.3.
 * Boxes (x1, y1, x2, y2 in the original image) go to boxes[4 * i], scores[i], in NMS order;
 * at most max_boxes. Returns the count, or -1 when the anchor count does not match the strides
 * or memory runs out. */
int oma_dwpose_yolox_boxes(const float *pred, int64_t n_anchors, int n_cls, int in_h, int in_w,
                           const int *strides, int n_strides, float ratio, float *boxes,
                           float *scores, int max_boxes);

/* SimCC decode of one box: simcc_x[K, wx], simcc_y[K, wy]; location = argmax / split_ratio,
 * score = min(max_x, max_y), location -1 where score <= 0 (before rescaling, as onnxpose.py);
 * then kp = loc / input_size * scale + center - scale / 2. input_size is (w, h). */
void oma_dwpose_simcc_decode(const float *simcc_x, const float *simcc_y, int k, int wx, int wy,
                             float split_ratio, const float input_size[2], const float center[2],
                             const float scale[2], float *kp, float *score);

/* 133 keypoints (x, y) + scores -> 134 in OpenPose order (wholebody.py): neck = mean of the
 * shoulders, score 1 when both shoulder scores > 0.3 else 0, inserted at 17, then body
 * reordered to OpenPose-18. */
void oma_dwpose_to_openpose(const float *kp133, const float *sc133, float *kp134, float *sc134);

#endif
