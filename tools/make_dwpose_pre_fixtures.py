#!/usr/bin/python3
"""make_dwpose_pre_fixtures.py — DWPose's own preprocessing (onnxdet.preprocess: letterbox with
cv2.resize INTER_LINEAR; onnxpose.preprocess: bbox_xyxy2cs + top_down_affine with
cv2.warpAffine, mean/std) run with Debian's OpenCV (python3-opencv 4.6, apt) on a synthetic
image, for tests/unit/models/test_dwpose_pre.c. Writes tests/fixtures/onnx/dwpose_pre.*.bin:
  img.bin   uint8 300x200x3 (w=200, h=300) image (smooth gradients + noise + a bright block)
  det.bin   float32 3x64x64 letterbox (size 64) and det2.bin for an exact 2x shrink (400x400->... )
  crop.bin  float32 2 boxes x 3x48x36 crops + center(2) + scale(2) per box
  DWPOSE_DIR=/tmp/dwref/ControlNet-v1-1-nightly/annotator/dwpose /usr/bin/python3 tools/make_dwpose_pre_fixtures.py
"""
import importlib
import os
import sys
import types

import numpy as np

src = os.environ.get("DWPOSE_DIR", "/tmp/dwref/ControlNet-v1-1-nightly/annotator/dwpose")
sys.modules["onnxruntime"] = types.ModuleType("onnxruntime")
sys.modules["onnxruntime"].InferenceSession = object
pkg = types.ModuleType("dwp")
pkg.__path__ = [src]
sys.modules["dwp"] = pkg
onnxdet = importlib.import_module("dwp.onnxdet")
onnxpose = importlib.import_module("dwp.onnxpose")
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "onnx")
rng = np.random.default_rng(3)
h, w = 300, 200
yy, xx = np.mgrid[0:h, 0:w]
img = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) % 256], -1) + rng.normal(0, 20, (h, w, 3))
img[100:140, 50:90] = 250
img = np.clip(img, 0, 255).astype(np.uint8)
img.tofile(os.path.join(out, "dwpose_pre.img.bin"))
det, r = onnxdet.preprocess(img, (64, 64))
det.astype("<f4").tofile(os.path.join(out, "dwpose_pre.det.bin"))
det2, r2 = onnxdet.preprocess(img[:256, :128], (128, 128))   # 256x128 -> 128x64: exact 2x
det2.astype("<f4").tofile(os.path.join(out, "dwpose_pre.det2.bin"))
boxes = [[30.5, 60.25, 150.0, 260.75], [-20.0, 250.0, 120.0, 340.0]]   # the second leaves the image
crops, centers, scales = onnxpose.preprocess(img, boxes, (36, 48))
parts = []
for c, ce, sc in zip(crops, centers, scales):
    parts += [np.asarray(c, np.float32).transpose(2, 0, 1).ravel(), np.asarray(ce, np.float32), np.asarray(sc, np.float32).ravel()]
np.concatenate(parts).astype("<f4").tofile(os.path.join(out, "dwpose_pre.crop.bin"))
print("ratio", r, r2, "wrote", out)
