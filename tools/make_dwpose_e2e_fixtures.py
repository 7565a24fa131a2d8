#!/usr/bin/python3
"""make_dwpose_e2e_fixtures.py — an end-to-end DWPose reference on tiny models.

Writes tests/fixtures/onnx/dwpose/{yolox_l.onnx, dw-ll_ucoco_384.onnx} (the file names
OMA_MODELS/dwpose uses): random-weight models with YOLOX's and RTMPose's structure
(make_onnx_fixtures.py) at the real interfaces — detector 1x3x640x640 -> [1, 8400, 6] over
strides 8/16/32 (one class, person), pose 1x3x64x48 -> simcc_x [1,133,96], simcc_y [1,133,128].
Then runs DWPose's own Wholebody.__call__ (onnxdet/onnxpose/wholebody, with cv2 4.6) on a
synthetic 1280x960 image, its ONNX sessions served by onnxruntime-node (tools/onnx_ort_ref.mjs,
one node process per session.run). The detector's objectness bias is raised step by step
until DWPose keeps between 1 and 60 people (under our cap of 64), so the test covers many crops.
The image (1280x960 RGB) comes from an integer formula the C test repeats. Output:
dwpose_e2e.ref.bin (int32 N, then float32 N x 134 x 2 keypoints, N x 134 scores).
  DWPOSE_DIR=/tmp/dwref/ControlNet-v1-1-nightly/annotator/dwpose /usr/bin/python3 tools/make_dwpose_e2e_fixtures.py
"""
import importlib
import os
import subprocess
import sys
import tempfile
import types

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_onnx_fixtures import TinyRTMPose, silu_conv  # noqa: E402

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
src = os.environ.get("DWPOSE_DIR", "/tmp/dwref/ControlNet-v1-1-nightly/annotator/dwpose")
sys.modules["onnxruntime"] = types.ModuleType("onnxruntime")
sys.modules["onnxruntime"].InferenceSession = object
pkg = types.ModuleType("dwp")
pkg.__path__ = [src]
sys.modules["dwp"] = pkg
wholebody = importlib.import_module("dwp.wholebody")
out = os.path.join(root, "tests", "fixtures", "onnx")
mdir = os.path.join(out, "dwpose")
os.makedirs(mdir, exist_ok=True)


class TinyYOLOX3(torch.nn.Module):
    """YOLOX in miniature at the real interface: Focus, SiLU convs to strides 8/16/32, SPP,
    top-down nearest upsampling with concat, one decoupled head per stride."""
    def __init__(self):
        super().__init__()
        self.focus = silu_conv(12, 8, 3)
        self.d = torch.nn.ModuleList([silu_conv(8, 8, 3, 2), silu_conv(8, 8, 3, 2), silu_conv(8, 8, 3, 2), silu_conv(8, 8, 3, 2)])
        self.spp_in = silu_conv(8, 4, 1)
        self.spp_out = silu_conv(16, 8, 1)
        self.lat = torch.nn.ModuleList([silu_conv(16, 8, 1), silu_conv(16, 8, 1)])
        self.heads = torch.nn.ModuleList([torch.nn.ModuleDict({
            "stem": silu_conv(8, 8, 1), "reg": torch.nn.Conv2d(8, 4, 1),
            "obj": torch.nn.Conv2d(8, 1, 1), "cls": torch.nn.Conv2d(8, 1, 1)}) for _ in range(3)])

    def forward(self, x):
        x = torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1) / 255.0
        y = self.focus(x)
        c = []
        for d in self.d:
            y = d(y)
            c.append(y)
        s = self.spp_in(c[3])
        p5 = self.spp_out(torch.cat([s] + [torch.nn.functional.max_pool2d(s, k, 1, k // 2) for k in (5, 9, 13)], 1))
        p4 = self.lat[0](torch.cat([torch.nn.functional.interpolate(p5, scale_factor=2.0, mode="nearest"), c[2]], 1))
        p3 = self.lat[1](torch.cat([torch.nn.functional.interpolate(p4, scale_factor=2.0, mode="nearest"), c[1]], 1))
        outs = []
        for feat, h in zip((p3, p4, p5), self.heads):
            t = h["stem"](feat)
            outs.append(torch.cat([h["reg"](t), torch.sigmoid(h["obj"](t)), torch.sigmoid(h["cls"](t))], 1).flatten(2))
        return torch.cat(outs, 2).permute(0, 2, 1)


class NodeSession:
    """Stands in for onnxruntime.InferenceSession: each run is one onnxruntime-node process."""
    def __init__(self, path, shape, outputs):
        self.path, self.shape, self.outs = path, shape, outputs

    def get_inputs(self):
        return [types.SimpleNamespace(name="input", shape=self.shape)]

    def get_outputs(self):
        return [types.SimpleNamespace(name=n) for n in self.outs]

    def run(self, names, feeds):
        x = np.asarray(list(feeds.values())[0], np.float32)
        x = x.reshape(self.shape)
        with tempfile.TemporaryDirectory() as d:
            x.astype("<f4").tofile(os.path.join(d, "in.bin"))
            subprocess.run(["node", os.path.join(root, "tools", "onnx_ort_ref.mjs"), self.path, os.path.join(d, "in.bin"),
                            ",".join(map(str, self.shape)), os.path.join(d, "o")], check=True, cwd=os.path.join(root, "tests"),
                           stdout=subprocess.DEVNULL)
            data = np.fromfile(os.path.join(d, "o.ref.bin"), "<f4")
            res, at = [], 0
            for line in open(os.path.join(d, "o.ref.txt")):
                f = line.split()
                dims = [int(v) for v in f[3:3 + int(f[2])]]
                n = int(np.prod(dims))
                res.append(data[at:at + n].reshape(dims))
                at += n
            return res


torch.manual_seed(5)
det = TinyYOLOX3().eval()
pose = TinyRTMPose(k=133).eval()
with torch.no_grad():
    torch.onnx.export(pose, (torch.randn(1, 3, 64, 48),), os.path.join(mdir, "dw-ll_ucoco_384.onnx"), opset_version=13,
                      input_names=["input"], output_names=["simcc_x", "simcc_y"])
# a 1280x960 image from an integer formula (the C test builds the same one): the letterbox is
# then an exact 2x shrink, where OpenCV's result and ours agree bit for bit
h, w = 960, 1280
yy, xx = np.mgrid[0:h, 0:w]
img = np.stack([xx * 255 // w, yy * 255 // h, (xx ^ yy) & 255], -1)
img[240:800, 400:640] = [230, 40, 40]
img = np.clip(img, 0, 255).astype(np.uint8)
wb = object.__new__(wholebody.Wholebody)
wb.session_pose = NodeSession(os.path.join(mdir, "dw-ll_ucoco_384.onnx"), [1, 3, 64, 48], ["simcc_x", "simcc_y"])
onnxdet = importlib.import_module("dwp.onnxdet")
for bias in [-8.0 + 0.5 * i for i in range(0, 33)]:
    with torch.no_grad():
        for hd in det.heads:
            hd["obj"].bias.fill_(bias)
            hd["reg"].bias.copy_(torch.tensor([0.0, 0.0, 2.5, 3.0]))   # boxes ~12x20 strides: they overlap
            if bias == -8.0:
                hd["obj"].weight.mul_(40.0)                              # objectness follows the image
        torch.onnx.export(det, (torch.zeros(1, 3, 640, 640),), os.path.join(mdir, "yolox_l.onnx"), opset_version=13,
                          input_names=["input"], output_names=["output"])
    wb.session_det = NodeSession(os.path.join(mdir, "yolox_l.onnx"), [1, 3, 640, 640], ["output"])
    boxes = onnxdet.inference_detector(wb.session_det, img)
    print("objectness bias", bias, "->", len(boxes), "people")
    if 1 <= len(boxes) <= 60:
        break
else:
    sys.exit("no objectness bias gives 1..60 people")
kp, sc = wb(img)
with open(os.path.join(out, "dwpose_e2e.ref.bin"), "wb") as f:
    f.write(np.int32(kp.shape[0]).tobytes())
    f.write(kp.astype("<f4").tobytes())
    f.write(sc.astype("<f4").tobytes())
print("people", kp.shape, "wrote", out)
