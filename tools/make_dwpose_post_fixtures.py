#!/usr/bin/python3
"""make_dwpose_post_fixtures.py — reference outputs of DWPose's own post-processing code for
tests/unit/models/test_dwpose_post.c (tests/fixtures/onnx/dwpose_post_*.bin).

Runs the functions of IDEA-Research/DWPose (branch onnx, commit of `git rev-parse onnx` noted in
tools/README.md), ControlNet-v1-1-nightly/annotator/dwpose/, on random network outputs:
  onnxdet.demo_postprocess + the box/NMS part of inference_detector (640x640, strides 8/16/32,
  one class; the session is stubbed to return our array), onnxpose.postprocess (SimCC decode +
  rescale) and Wholebody.__call__ (133 -> 134 OpenPose order; detector/pose stubbed).
cv2 and onnxruntime are not used by these parts: empty stand-in modules satisfy the imports.
  DWPOSE_DIR=/tmp/dwref/ControlNet-v1-1-nightly/annotator/dwpose /usr/bin/python3 tools/make_dwpose_post_fixtures.py
"""
import importlib
import os
import sys
import types

import numpy as np

src = os.environ.get("DWPOSE_DIR", "/tmp/dwref/ControlNet-v1-1-nightly/annotator/dwpose")
for name in ("cv2", "onnxruntime"):
    sys.modules[name] = types.ModuleType(name)
sys.modules["onnxruntime"].InferenceSession = object
pkg = types.ModuleType("dwp")
pkg.__path__ = [src]
sys.modules["dwp"] = pkg
onnxdet = importlib.import_module("dwp.onnxdet")
onnxpose = importlib.import_module("dwp.onnxpose")
wholebody = importlib.import_module("dwp.wholebody")

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "onnx")
rng = np.random.default_rng(7)

# --- detector: raw head output [1, 8400, 6] (one class) -> boxes, via inference_detector ---
n = 8400
pred = np.empty((1, n, 6), np.float32)
pred[..., :2] = rng.uniform(0, 1, (1, n, 2))
pred[..., 2:4] = rng.uniform(np.log(1.0), np.log(12.0), (1, n, 2))
pred[..., 4] = rng.uniform(0, 1, (1, n)) ** 3
pred[..., 5] = rng.uniform(0, 1, (1, n)) ** 3
ratio_img = np.zeros((500, 800, 3), np.uint8)          # r = min(640/500, 640/800) = 0.8


class FakeSession:
    def get_inputs(self):
        return [types.SimpleNamespace(name="x")]

    def run(self, _, feeds):
        return [pred.copy()]


onnxdet.preprocess = lambda img, size: (np.zeros((3, 1, 1), np.float32), min(size[0] / img.shape[0], size[1] / img.shape[1]))
boxes = onnxdet.inference_detector(FakeSession(), ratio_img).astype(np.float32)
pred.tofile(os.path.join(out, "dwpose_post_det.in.bin"))
boxes.tofile(os.path.join(out, "dwpose_post_det.ref.bin"))
print("detector:", len(boxes), "boxes")

# --- SimCC decode + rescale for 2 boxes (K=133, 72 x-bins, 96 y-bins, split ratio 2) ---
K, wx, wy = 133, 72, 96
sx = rng.normal(0, 1, (2, K, wx)).astype(np.float32)
sy = rng.normal(0, 1, (2, K, wy)).astype(np.float32)
sx[:, :7] -= 6.0                                          # some keypoints with score <= 0
center = rng.uniform(50, 400, (2, 2)).astype(np.float32)
scale = rng.uniform(40, 300, (2, 2)).astype(np.float32)
kps, scs = onnxpose.postprocess([(sx[i:i + 1], sy[i:i + 1]) for i in range(2)], (36, 48), center, scale)
np.concatenate([sx.ravel(), sy.ravel(), center.ravel(), scale.ravel()]).astype("<f4").tofile(os.path.join(out, "dwpose_post_simcc.in.bin"))
np.concatenate([kps.astype(np.float32).ravel(), scs.astype(np.float32).ravel()]).astype("<f4").tofile(os.path.join(out, "dwpose_post_simcc.ref.bin"))

# --- 133 -> 134 OpenPose order, via Wholebody.__call__ ---
kp = rng.uniform(0, 500, (2, 133, 2)).astype(np.float32)
sc = rng.uniform(0, 1, (2, 133)).astype(np.float32)
sc[1, 5] = 0.2                                            # second person: neck score 0
wholebody.inference_detector = lambda s, img: None
wholebody.inference_pose = lambda s, boxes, img: (kp, sc)
wb = object.__new__(wholebody.Wholebody)
wb.session_det = wb.session_pose = None
k134, s134 = wb(None)
np.concatenate([kp.ravel(), sc.ravel()]).astype("<f4").tofile(os.path.join(out, "dwpose_post_op.in.bin"))
np.concatenate([k134.astype(np.float32).ravel(), s134.astype(np.float32).ravel()]).astype("<f4").tofile(os.path.join(out, "dwpose_post_op.ref.bin"))
print("wrote", out)
