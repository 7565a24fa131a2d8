#!/usr/bin/python3
"""make_dwpose_bench_models.py — DWPose's two networks at full size, random weights, for the
speed bench only (bench/bench_dwpose_people.c; the real weights cannot be downloaded here).

Writes OUTDIR/yolox_l.onnx and OUTDIR/dw-ll_ucoco_384.onnx (~210 MB + ~110 MB; not committed):
  - YOLOX-l (Megvii YOLOX, depth 1.0 / width 1.0): Focus stem 64, CSPDarknet stages 128/256/
    512/1024 with 3/9/9/3 bottlenecks, SPP 5/9/13, PAFPN (4 CSP layers of 3), decoupled heads
    of width 256 (2 3x3 convs per branch) over strides 8/16/32, 80 classes: 1x3x640x640 ->
    [1, 8400, 85], as the yolox_l.onnx DWPose ships.
  - RTMPose-l wholebody 384x288 (mmpose rtmpose-l_8xb32-270e_coco-ubody-wholebody-384x288):
    CSPNeXt P5 (widen 1.0, deepen 1.0: stem 32/32/64, stages 128/256/512/1024 with 3/6/6/3
    CSPNeXt blocks, channel attention, SPPF in the last stage), RTMCC head (7x7 conv to 133,
    ScaleNorm + Linear 108->256, one GAU with expansion 2 and s=128, SimCC x 576 / y 768).
BatchNorm is left out (it folds into the convs at export): the op set and the multiply-adds
are those of the real graphs, which is all a timing needs. torch 1.13 (Debian), opset 13.
  /usr/bin/python3 tools/make_dwpose_bench_models.py OUTDIR
"""
import os
import sys

import torch
from torch import nn

F = nn.functional


def conv(ci, co, k=1, s=1, g=1, act=True):
    layers = [nn.Conv2d(ci, co, k, s, k // 2, groups=g)]
    if act:
        layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    def __init__(self, c, shortcut=True):
        super().__init__()
        self.c1, self.c2, self.add = conv(c, c, 1), conv(c, c, 3), shortcut

    def forward(self, x):
        y = self.c2(self.c1(x))
        return x + y if self.add else y


class CSP(nn.Module):
    """YOLOX's CSPLayer (expansion 0.5)."""
    def __init__(self, ci, co, n, shortcut=True):
        super().__init__()
        h = co // 2
        self.c1, self.c2, self.c3 = conv(ci, h), conv(ci, h), conv(2 * h, co)
        self.m = nn.Sequential(*[Bottleneck(h, shortcut) for _ in range(n)])

    def forward(self, x):
        return self.c3(torch.cat([self.m(self.c1(x)), self.c2(x)], 1))


class SPP(nn.Module):
    def __init__(self, ci, co):
        super().__init__()
        h = ci // 2
        self.c1, self.c2 = conv(ci, h), conv(4 * h, co)

    def forward(self, x):
        x = self.c1(x)
        return self.c2(torch.cat([x] + [F.max_pool2d(x, k, 1, k // 2) for k in (5, 9, 13)], 1))


class YOLOXL(nn.Module):
    def __init__(self, ncls=80):
        super().__init__()
        self.stem = conv(12, 64, 3)
        self.dark2 = nn.Sequential(conv(64, 128, 3, 2), CSP(128, 128, 3))
        self.dark3 = nn.Sequential(conv(128, 256, 3, 2), CSP(256, 256, 9))
        self.dark4 = nn.Sequential(conv(256, 512, 3, 2), CSP(512, 512, 9))
        self.dark5 = nn.Sequential(conv(512, 1024, 3, 2), SPP(1024, 1024), CSP(1024, 1024, 3, False))
        self.lat0, self.p4 = conv(1024, 512), CSP(1024, 512, 3, False)
        self.red1, self.p3 = conv(512, 256), CSP(512, 256, 3, False)
        self.bu2, self.n3 = conv(256, 256, 3, 2), CSP(512, 512, 3, False)
        self.bu1, self.n4 = conv(512, 512, 3, 2), CSP(1024, 1024, 3, False)
        self.stems = nn.ModuleList([conv(c, 256) for c in (256, 512, 1024)])
        self.cls = nn.ModuleList([nn.Sequential(conv(256, 256, 3), conv(256, 256, 3)) for _ in range(3)])
        self.reg = nn.ModuleList([nn.Sequential(conv(256, 256, 3), conv(256, 256, 3)) for _ in range(3)])
        self.cls_p = nn.ModuleList([nn.Conv2d(256, ncls, 1) for _ in range(3)])
        self.reg_p = nn.ModuleList([nn.Conv2d(256, 4, 1) for _ in range(3)])
        self.obj_p = nn.ModuleList([nn.Conv2d(256, 1, 1) for _ in range(3)])

    def forward(self, x):
        x = torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1)
        c3 = self.dark3(self.dark2(self.stem(x)))
        c4 = self.dark4(c3)
        c5 = self.dark5(c4)
        f0 = self.lat0(c5)
        f1 = self.p4(torch.cat([F.interpolate(f0, scale_factor=2.0, mode="nearest"), c4], 1))
        f2 = self.red1(f1)
        p3 = self.p3(torch.cat([F.interpolate(f2, scale_factor=2.0, mode="nearest"), c3], 1))
        p4 = self.n3(torch.cat([self.bu2(p3), f2], 1))
        p5 = self.n4(torch.cat([self.bu1(p4), f0], 1))
        outs = []
        for i, f in enumerate((p3, p4, p5)):
            t = self.stems[i](f)
            r = self.reg[i](t)
            outs.append(torch.cat([self.reg_p[i](r), torch.sigmoid(self.obj_p[i](r)),
                                   torch.sigmoid(self.cls_p[i](self.cls[i](t)))], 1).flatten(2))
        return torch.cat(outs, 2).permute(0, 2, 1)


class ChannelAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return x * F.hardsigmoid(self.fc(F.adaptive_avg_pool2d(x, 1)))


class CSPNeXtBlock(nn.Module):
    def __init__(self, c, add):
        super().__init__()
        self.c1 = conv(c, c, 3)
        self.dw, self.pw = conv(c, c, 5, g=c), conv(c, c, 1)
        self.add = add

    def forward(self, x):
        y = self.pw(self.dw(self.c1(x)))
        return x + y if self.add else y


class CSPNeXtLayer(nn.Module):
    def __init__(self, ci, co, n, add):
        super().__init__()
        h = co // 2
        self.main, self.short, self.final = conv(ci, h), conv(ci, h), conv(2 * h, co)
        self.blocks = nn.Sequential(*[CSPNeXtBlock(h, add) for _ in range(n)])
        self.att = ChannelAttention(2 * h)

    def forward(self, x):
        return self.final(self.att(torch.cat([self.blocks(self.main(x)), self.short(x)], 1)))


class SPPF(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1, self.c2 = conv(c, c // 2), conv(2 * c, c)

    def forward(self, x):
        x = self.c1(x)
        return self.c2(torch.cat([x] + [F.max_pool2d(x, k, 1, k // 2) for k in (5, 9, 13)], 1))


class ScaleNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.scale = dim ** -0.5
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x / (torch.norm(x, dim=-1, keepdim=True) * self.scale).clamp(min=1e-5) * self.g


class RTMPoseL(nn.Module):
    def __init__(self, k=133, h=384, w=288):
        super().__init__()
        self.stem = nn.Sequential(conv(3, 32, 3, 2), conv(32, 32, 3), conv(32, 64, 3))
        stages = []
        for ci, co, n, add, sppf in ((64, 128, 3, True, False), (128, 256, 6, True, False),
                                     (256, 512, 6, True, False), (512, 1024, 3, False, True)):
            parts = [conv(ci, co, 3, 2)] + ([SPPF(co)] if sppf else []) + [CSPNeXtLayer(co, co, n, add)]
            stages.append(nn.Sequential(*parts))
        self.stages = nn.Sequential(*stages)
        self.final = nn.Conv2d(1024, k, 7, 1, 3)
        feat = (h // 32) * (w // 32)
        self.norm, self.mlp = ScaleNorm(feat), nn.Linear(feat, 256, bias=False)
        self.e, self.s = 512, 128
        self.gau_norm = ScaleNorm(256)
        self.uv = nn.Linear(256, 2 * self.e + self.s, bias=False)
        self.gamma, self.beta = nn.Parameter(torch.rand(2, self.s)), nn.Parameter(torch.zeros(2, self.s))
        self.o = nn.Linear(self.e, 256, bias=False)
        self.res_scale = nn.Parameter(torch.ones(256))
        self.cls_x, self.cls_y = nn.Linear(256, w * 2, bias=False), nn.Linear(256, h * 2, bias=False)

    def forward(self, x):
        f = torch.flatten(self.final(self.stages(self.stem(x))), 2)
        f = self.mlp(self.norm(f))
        uv = F.silu(self.uv(self.gau_norm(f)))
        u, v, base = torch.split(uv, [self.e, self.e, self.s], dim=2)
        base = base.unsqueeze(2) * self.gamma[None, None, :] + self.beta
        q, k = torch.unbind(base, dim=2)
        kernel = torch.square(F.relu(torch.bmm(q, k.permute(0, 2, 1)) / (self.s ** 0.5)))
        f = f * self.res_scale + self.o(u * torch.bmm(kernel, v))
        return self.cls_x(f), self.cls_y(f)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "dwpose-bench"
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    with torch.no_grad():
        det = YOLOXL().eval()
        torch.onnx.export(det, (torch.zeros(1, 3, 640, 640),), os.path.join(out, "yolox_l.onnx"), opset_version=13,
                          input_names=["input"], output_names=["output"])
        pose = RTMPoseL().eval()
        torch.onnx.export(pose, (torch.zeros(1, 3, 384, 288),), os.path.join(out, "dw-ll_ucoco_384.onnx"), opset_version=13,
                          input_names=["input"], output_names=["simcc_x", "simcc_y"])
    for m, name in ((det, "yolox_l"), (pose, "dw-ll_ucoco_384")):
        print(f"{name}: {sum(p.numel() for p in m.parameters()) / 1e6:.1f} M parameters")
    print("wrote", out)


if __name__ == "__main__":
    main()
