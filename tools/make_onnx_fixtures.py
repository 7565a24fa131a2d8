#!/usr/bin/python3
"""make_onnx_fixtures.py — tiny ONNX models for the ONNX reader/runtime tests (tests/fixtures/onnx).

The models have random weights and the op set of DWPose's two graphs, exported by Debian's
torch 1.13 (torch.onnx.export; no python `onnx` package needed):
  tiny_ops.onnx  — an RTMPose/YOLOX-like mix (Conv + SiLU as Sigmoid*Mul, MaxPool, Concat,
                   Resize nearest, Split, Slice, Reshape, Transpose, MatMul, Gemm, a
                   LayerNorm written out as ReduceMean/Sub/Pow/Add/Sqrt/Div, Softmax, Gather).
  tiny_ops.in.bin — the input (float32 1x3x16x16) for the runtime test.
  tiny_ops.txt   — what torch's own serializer (export_to_pretty_string) says the graph holds:
                   "opset N", one "op <type>" line per node in file order, and per parameter
                   that is an initializer "init <name> <ndim> <dims...> <sum>". The C test
                   checks the reader against it.
Run: /usr/bin/python3 tools/make_onnx_fixtures.py [outdir]   (default tests/fixtures/onnx)
Reproducible: torch.manual_seed(0), torch 1.13.x, opset 13.
"""
import os
import re
import sys

import torch

OPSET = 13


class TinyOps(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dw = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = torch.nn.Conv2d(16, 8, 1)
        self.fc = torch.nn.Linear(8, 6)
        self.gamma = torch.nn.Parameter(torch.randn(6))
        self.beta = torch.nn.Parameter(torch.randn(6))
        self.proj = torch.nn.Parameter(torch.randn(6, 10))

    def forward(self, x):
        y = self.stem(x)
        y = y * torch.sigmoid(y)                                   # SiLU
        p = torch.nn.functional.max_pool2d(y, 5, 1, 2)             # SPPF-style pool
        y = torch.cat([self.dw(y), p], 1)                          # Concat
        y = self.pw(y)
        a, b = torch.split(y, 4, 1)                                # Split
        y = torch.cat([a, torch.nn.functional.interpolate(b[:, :, ::2, ::2], scale_factor=2.0, mode="nearest")], 1)
        n, c, h, w = y.shape
        t = y.reshape(n, c, h * w).transpose(1, 2)                 # Reshape, Transpose
        t = self.fc(t)                                             # MatMul + Add
        mu = t.mean(-1, keepdim=True)
        var = (t - mu).pow(2).mean(-1, keepdim=True)
        t = (t - mu) / torch.sqrt(var + 1e-5) * self.gamma + self.beta   # LayerNorm, spelled out
        s = torch.softmax(t @ self.proj, -1)                       # MatMul, Softmax
        return s[:, 0], s[:, 1:, :5]                               # Gather, Slice


def describe(model, args, path_txt):
    pretty = torch.onnx.export_to_pretty_string(model, args, opset_version=OPSET)
    ops = re.findall(r'Node \{type: "([A-Za-z0-9_]+)"', pretty)
    node_inputs = set()
    for m in re.finditer(r"inputs: \[([^\]]*)\]", pretty):
        node_inputs.update(s.strip() for s in m.group(1).split(","))
    lines = [f"opset {OPSET}"] + [f"op {o}" for o in ops]
    for name, p in model.state_dict().items():
        if name in node_inputs:
            dims = " ".join(str(d) for d in p.shape)
            lines.append(f"init {name} {p.dim()} {dims} {float(p.double().sum()):.9g}")
    with open(path_txt, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "onnx")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    m = TinyOps().eval()
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        torch.onnx.export(m, (x,), os.path.join(out, "tiny_ops.onnx"), opset_version=OPSET,
                          input_names=["input"], output_names=["first", "rest"])
        describe(m, (x,), os.path.join(out, "tiny_ops.txt"))
    # the input the runtime test feeds (float32, raw little-endian, shape 1x3x16x16); the
    # reference outputs come from onnxruntime-node (tools/onnx_ort_ref.mjs), not from torch
    x.numpy().astype("<f4").tofile(os.path.join(out, "tiny_ops.in.bin"))
    print("wrote", out)


if __name__ == "__main__":
    main()
