#!/usr/bin/python3
"""make_onnx_fixtures.py — tiny ONNX models for the ONNX reader/runtime tests (tests/fixtures/onnx).

The models have random weights and the op set of DWPose's two graphs, exported by Debian's
torch 1.13 (torch.onnx.export; no python `onnx` package needed):
  tiny_ops.onnx  — an RTMPose/YOLOX-like mix (Conv + SiLU as Sigmoid*Mul, MaxPool, Concat,
                   Resize nearest, Split, Slice, Reshape, Transpose, MatMul, Gemm, a
                   LayerNorm written out as ReduceMean/Sub/Pow/Add/Sqrt/Div, Softmax, Gather).
  tiny_rtmpose.onnx, tiny_yolox.onnx (+ .in.bin) — RTMPose-l / YOLOX-l in miniature (see the
                   classes), the models the runtime test and the DWPose pipeline test run.
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


def silu_conv(ci, co, k, s=1, g=1):
    return torch.nn.Sequential(torch.nn.Conv2d(ci, co, k, s, k // 2, groups=g), torch.nn.SiLU())


class ChannelAttention(torch.nn.Module):
    """CSPNeXt's channel attention (mmdet): global average pool, 1x1 conv, hard sigmoid."""
    def __init__(self, c):
        super().__init__()
        self.fc = torch.nn.Conv2d(c, c, 1)

    def forward(self, x):
        return x * torch.nn.functional.hardsigmoid(self.fc(torch.nn.functional.adaptive_avg_pool2d(x, 1)))


class ScaleNorm(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.scale = dim ** -0.5
        self.g = torch.nn.Parameter(torch.ones(1) + 0.1 * torch.randn(1))

    def forward(self, x):
        norm = torch.norm(x, dim=-1, keepdim=True) * self.scale
        return x / norm.clamp(min=1e-5) * self.g


class TinyRTMPose(torch.nn.Module):
    """RTMPose's structure in miniature: a CSPNeXt-like backbone (SiLU convs, depthwise 5x5,
    channel attention, SPPF max pools) and the RTMCC SimCC head (7x7 conv, flatten, ScaleNorm,
    a gated attention unit with ReLU^2 kernel, then the x and y classifiers). Input 1x3x64x48,
    K=5 keypoints, simcc bins 2x the input size."""
    def __init__(self, k=5, hidden=16, s=8):
        super().__init__()
        self.stem = silu_conv(3, 8, 3, 2)
        self.down = silu_conv(8, 16, 3, 2)
        self.dw = silu_conv(16, 16, 5, 1, 16)
        self.pw = silu_conv(16, 16, 1)
        self.att = ChannelAttention(16)
        self.spp = silu_conv(32, 16, 1)
        self.final = torch.nn.Conv2d(16, k, 7, 1, 3)
        self.mlp = torch.nn.Linear(16 * 12, hidden, bias=False)
        self.norm = ScaleNorm(16 * 12)
        self.gau_norm = ScaleNorm(hidden)
        self.uv = torch.nn.Linear(hidden, 2 * hidden + s, bias=False)
        self.gamma = torch.nn.Parameter(torch.randn(2, s))
        self.beta = torch.nn.Parameter(torch.randn(2, s) * 0.1)
        self.o = torch.nn.Linear(hidden, hidden, bias=False)
        self.res_scale = torch.nn.Parameter(torch.ones(hidden) + 0.1 * torch.randn(hidden))
        self.s = s
        self.hidden = hidden
        self.cls_x = torch.nn.Linear(hidden, 96, bias=False)
        self.cls_y = torch.nn.Linear(hidden, 128, bias=False)

    def forward(self, x):
        y = self.down(self.stem(x))
        y = y + self.att(self.pw(self.dw(y)))
        p1 = torch.nn.functional.max_pool2d(y, 5, 1, 2)
        y = self.spp(torch.cat([y, p1], 1))
        f = self.final(y)                                   # [1, K, 16, 12]
        f = torch.flatten(f, 2)                             # [1, K, 192]
        f = self.mlp(self.norm(f))                          # [1, K, hidden]
        h = self.gau_norm(f)
        uv = torch.nn.functional.silu(self.uv(h))
        u, v, base = torch.split(uv, [self.hidden, self.hidden, self.s], dim=2)
        base = base.unsqueeze(2) * self.gamma[None, None, :] + self.beta
        q, k = torch.unbind(base, dim=2)
        qk = torch.bmm(q, k.permute(0, 2, 1))
        kernel = torch.square(torch.nn.functional.relu(qk / (self.s ** 0.5)))
        g = self.o(u * torch.bmm(kernel, v))
        f = f * self.res_scale + g
        return self.cls_x(f), self.cls_y(f)


class TinyYOLOX(torch.nn.Module):
    """YOLOX's structure in miniature: Focus (strided slices + concat), SiLU convs, an SPP with
    5/9/13 max pools, a PAFPN-style nearest upsample + concat, and decoupled heads whose
    outputs (reg 4, obj 1 sigmoid, cls 2 sigmoid) are flattened, concatenated over two strides
    and transposed to [1, anchors, 4+1+classes] as in the exported yolox_l.onnx. Input 1x3x64x64."""
    def __init__(self, ncls=2):
        super().__init__()
        self.focus = silu_conv(12, 8, 3)
        self.d1 = silu_conv(8, 16, 3, 2)                    # stride 4
        self.d2 = silu_conv(16, 16, 3, 2)                   # stride 8
        self.d3 = silu_conv(16, 16, 3, 2)                   # stride 16
        self.spp_in = silu_conv(16, 8, 1)
        self.spp_out = silu_conv(32, 16, 1)
        self.lat = silu_conv(32, 16, 1)
        self.heads = torch.nn.ModuleList([torch.nn.ModuleDict({
            "stem": silu_conv(16, 8, 1), "reg": torch.nn.Conv2d(8, 4, 1),
            "obj": torch.nn.Conv2d(8, 1, 1), "cls": torch.nn.Conv2d(8, ncls, 1)}) for _ in range(2)])

    def forward(self, x):
        x = torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1)
        c2 = self.d1(self.focus(x))
        c3 = self.d2(c2)
        c4 = self.d3(c3)
        s = self.spp_in(c4)
        s = self.spp_out(torch.cat([s] + [torch.nn.functional.max_pool2d(s, k, 1, k // 2) for k in (5, 9, 13)], 1))
        up = torch.nn.functional.interpolate(s, scale_factor=2.0, mode="nearest")
        p3 = self.lat(torch.cat([up, c3], 1))
        outs = []
        for feat, h in zip((p3, s), self.heads):
            t = h["stem"](feat)
            outs.append(torch.cat([h["reg"](t), torch.sigmoid(h["obj"](t)), torch.sigmoid(h["cls"](t))], 1).flatten(2))
        return torch.cat(outs, 2).permute(0, 2, 1)


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
    for name, cls, shape in (("tiny_rtmpose", TinyRTMPose, (1, 3, 64, 48)), ("tiny_yolox", TinyYOLOX, (1, 3, 64, 64))):
        torch.manual_seed(1)
        m = cls().eval()
        x = torch.randn(*shape) * (60.0 if name == "tiny_yolox" else 1.0) + (110.0 if name == "tiny_yolox" else 0.0)
        with torch.no_grad():
            torch.onnx.export(m, (x,), os.path.join(out, name + ".onnx"), opset_version=OPSET,
                              input_names=["input"])
        x.numpy().astype("<f4").tofile(os.path.join(out, name + ".in.bin"))
        pretty = torch.onnx.export_to_pretty_string(m, (x,), opset_version=OPSET)
        print(name, sorted(set(re.findall(r'Node \{type: "([A-Za-z0-9_]+)"', pretty))))
    print("wrote", out)


if __name__ == "__main__":
    main()
