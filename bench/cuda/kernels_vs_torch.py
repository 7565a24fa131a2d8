#!/usr/bin/env python3
"""kernels_vs_torch.py — the CUDA backend's kernels against PyTorch on the same device.

Bench/conformance harness only (never used at run time). It loads the kernels as a shared
library built from src/tensor/cuda/*.cu (run_on_device.sh builds it with nvcc), hands them torch's
device buffers through ctypes, and compares every op with the reference implementation, PyTorch
(F.linear/matmul, F.conv2d, F.group_norm, F.layer_norm, softmax, F.silu, GEGLU as diffusers
writes it, F.interpolate nearest, F.scaled_dot_product_attention), at SD 1.5's shapes:
  conformance: fp32 (TF32 off on both sides) within 2e-4 of 1+max|ref|, fp16 within 2e-2;
  bench: CUDA-event time per op, ours vs torch fp16 (cuDNN/cuBLAS/flash SDPA) in the same run;
  our side pays a host synchronisation per call (torch's stream, then ours) and the softmax row
  includes a clone on both sides, so small ops' ratios are pessimistic for us.
Writes one JSON (--out). Needs: python3 with torch + a CUDA device (the lent machine has both).
"""
import argparse
import ctypes as C
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

P, I64, F32, INT = C.c_void_p, C.c_int64, C.c_float, C.c_int
DT = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}


def load(path):
    lib = C.CDLL(path)
    sig = {
        "oma_cuda_init": ([INT], INT), "oma_cuda_sync": ([], INT),
        "oma_cuda_last_error": ([], C.c_char_p), "oma_cuda_device_name": ([], C.c_char_p),
        "oma_cuda_gemm": ([INT, INT, INT, I64, I64, I64, F32, P, I64, P, I64, F32, P, I64], INT),
        "oma_cuda_conv2d": ([INT, P, I64, I64, I64, I64, P, P, I64, I64, I64, INT, INT, P, I64, I64], INT),
        "oma_cuda_group_norm": ([INT, P, I64, I64, I64, I64, P, P, F32, INT, P], INT),
        "oma_cuda_layer_norm": ([INT, P, I64, I64, P, P, F32, P], INT),
        "oma_cuda_softmax": ([INT, P, I64, I64], INT),
        "oma_cuda_silu": ([INT, P, P, I64], INT),
        "oma_cuda_geglu": ([INT, P, I64, I64, P], INT),
        "oma_cuda_upsample_nearest2x": ([INT, P, I64, I64, I64, P], INT),
        "oma_cuda_attention": ([INT, P, P, P, P, I64, I64, I64, I64, I64, I64, I64, I64, I64, F32, INT], INT),
    }
    for name, (args, res) in sig.items():
        f = getattr(lib, name)
        f.argtypes, f.restype = args, res
    return lib


def ptr(t):
    return C.c_void_p(t.data_ptr())


class Ours:
    """Runs one of our kernels with torch's buffers; checks the return and syncs."""

    def __init__(self, lib):
        self.lib = lib

    def __call__(self, name, *args):
        torch.cuda.synchronize()        # torch's stream -> ours: inputs are ready
        rc = getattr(self.lib, name)(*args)
        if rc != 0:
            raise RuntimeError(f"{name}: {self.lib.oma_cuda_last_error().decode()}")
        if self.lib.oma_cuda_sync() != 0:
            raise RuntimeError(f"{name}: {self.lib.oma_cuda_last_error().decode()}")


def ops(ours, dt, s):
    """name -> (ours(), torch()) closures over inputs of scale s (s=1: SD 1.5 shapes, 0: small)."""
    dev, d = "cuda", DT[dt]
    g = torch.Generator(device=dev).manual_seed(0)
    r = lambda *sh: torch.randn(*sh, generator=g, device=dev, dtype=torch.float32).to(dt)
    res = {}
    # GEMM: attention projections at 64^2 latent batch 2 (8192 tokens x 320 -> 320)
    m, k, n = (8192, 320, 1280) if s else (77, 96, 130)
    a, w = r(m, k), r(n, k)          # y = a w^T (a Linear)
    y = torch.empty(m, n, device=dev, dtype=dt)
    res["gemm"] = (lambda: ours("oma_cuda_gemm", d, 0, 1, m, n, k, 1.0, ptr(a), k, ptr(w), k, 0.0, ptr(y), n) or y,
                   lambda: F.linear(a, w))
    # conv 3x3: the UNet's first block at 64^2, batch 2
    nb, c, h, oc = (2, 320, 64, 320) if s else (2, 64, 17, 20)   # c: a multiple of 32 groups
    x, cw, cb = r(nb, c, h, h), r(oc, c, 3, 3) * (1.0 / math.sqrt(c * 9)), r(oc)
    cy = torch.empty(nb, oc, h, h, device=dev, dtype=dt)
    res["conv3x3"] = (lambda: ours("oma_cuda_conv2d", d, ptr(x), nb, c, h, h, ptr(cw), ptr(cb), oc, 3, 3, 1, 1, ptr(cy), h, h) or cy,
                      lambda: F.conv2d(x, cw, cb, padding=1))
    # group norm 32 groups + SiLU (weights fp32 on our side, as the backend keeps them)
    gx = r(nb, c, h, h)
    ga, be = torch.randn(c, device=dev), torch.randn(c, device=dev)
    gy = torch.empty_like(gx)
    res["group_norm_silu"] = (
        lambda: ours("oma_cuda_group_norm", d, ptr(gx), nb, c, h * h, 32, ptr(ga), ptr(be), 1e-5, 1, ptr(gy)) or gy,
        lambda: F.silu(F.group_norm(gx.float(), 32, ga, be, 1e-5)).to(dt))
    # layer norm over 320
    lx = r(nb * h * h, c)
    ly = torch.empty_like(lx)
    res["layer_norm"] = (lambda: ours("oma_cuda_layer_norm", d, ptr(lx), nb * h * h, c, ptr(ga), ptr(be), 1e-5, ptr(ly)) or ly,
                         lambda: F.layer_norm(lx.float(), (c,), ga, be, 1e-5).to(dt))
    # softmax rows of 77 (cross-attention scores' shape)
    sx = r(nb * 8 * h * h, 77)
    res["softmax"] = (lambda: (lambda t: ours("oma_cuda_softmax", d, ptr(t), t.shape[0], 77) or t)(sx.clone()),
                      lambda: torch.softmax(sx.float(), -1).to(dt))
    res["silu"] = (lambda: ours("oma_cuda_silu", d, ptr(gx), ptr(gy), gx.numel()) or gy, lambda: F.silu(gx))
    gg = r(nb * h * h, 2 * 1280 if s else 64)
    dim = gg.shape[1] // 2
    go = torch.empty(gg.shape[0], dim, device=dev, dtype=dt)
    res["geglu"] = (lambda: ours("oma_cuda_geglu", d, ptr(gg), gg.shape[0], dim, ptr(go)) or go,
                    lambda: (lambda a, b: a * F.gelu(b))(*gg.chunk(2, dim=-1)))
    ux = r(nb, c, h // 2, h // 2)
    uy = torch.empty(nb, c, h // 2 * 2, h // 2 * 2, device=dev, dtype=dt)
    res["upsample2x"] = (lambda: ours("oma_cuda_upsample_nearest2x", d, ptr(ux), nb * c, h // 2, h // 2, ptr(uy)) or uy,
                         lambda: F.interpolate(ux, scale_factor=2.0, mode="nearest"))
    # attention: SD 1.5 self-attention levels (64^2: d40 x 8 heads .. 8^2: d160) and cross (77)
    for hd, tok, nk in ((40, 4096, 4096), (80, 1024, 1024), (160, 256, 256), (40, 4096, 77), (64, 77, 77)):
        if not s:
            tok, nk = min(tok, 67), min(nk, 77)
        heads = 8
        q, kk, v = r(nb, tok, heads * hd), r(nb, nk, heads * hd), r(nb, nk, heads * hd)
        o = torch.empty_like(q)
        causal = int(tok == 77 and nk == 77)
        sc = 1.0 / math.sqrt(hd)
        name = f"attention_d{hd}_{tok}x{nk}{'_causal' if causal else ''}"

        def mine(q=q, kk=kk, v=v, o=o, hd=hd, tok=tok, nk=nk, heads=heads, sc=sc, causal=causal):
            ours("oma_cuda_attention", d, ptr(q), ptr(kk), ptr(v), ptr(o), nb, heads, tok, nk, hd,
                 heads * hd, heads * hd, heads * hd, heads * hd, sc, causal)
            return o

        def ref(q=q, kk=kk, v=v, hd=hd, tok=tok, nk=nk, heads=heads, causal=causal):
            sp = lambda t, n: t.view(nb, n, heads, hd).transpose(1, 2)
            out = F.scaled_dot_product_attention(sp(q, tok), sp(kk, nk), sp(v, nk), is_causal=bool(causal))
            return out.transpose(1, 2).reshape(nb, tok, heads * hd)
        res[name] = (mine, ref)
    return res


def timeit(f, reps):
    for _ in range(2):
        f()
    torch.cuda.synchronize()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    t0 = time.perf_counter()
    e0.record()
    for _ in range(reps):
        f()
    e1.record()
    torch.cuda.synchronize()
    return e0.elapsed_time(e1) / reps, (time.perf_counter() - t0) * 1e3 / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("SKIP: torch sees no CUDA device")
        return 77
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    lib = load(args.lib)
    if lib.oma_cuda_init(0) != 0:
        print("FAIL: oma_cuda_init:", lib.oma_cuda_last_error().decode())
        return 1
    ours = Ours(lib)
    report = {"device": lib.oma_cuda_device_name().decode(), "torch": torch.__version__,
              "conformance": [], "bench_fp16": []}
    bad = 0
    for dt, tol in ((torch.float32, 2e-4), (torch.float16, 2e-2)):
        for scale in (0, 1):
            for name, (mine, ref) in ops(ours, dt, scale).items():
                try:
                    got = mine().float()
                    want = ref().float()
                    rel = ((got - want).abs().max() / (1 + want.abs().max())).item()
                    ok = math.isfinite(rel) and rel <= tol
                except Exception as e:       # a failing kernel is a result, not a crash
                    rel, ok = str(e), False
                bad += not ok
                row = {"op": name, "dtype": str(dt)[6:], "shapes": "sd15" if scale else "small",
                       "worst_rel": rel, "tol": tol, "ok": ok}
                report["conformance"].append(row)
                print(("ok  " if ok else "BAD ") + json.dumps(row), flush=True)
    for name, (mine, ref) in ops(ours, torch.float16, 1).items():
        try:
            ours_ms, _ = timeit(mine, args.reps)
            ref_ms, _ = timeit(ref, args.reps)
            row = {"op": name, "ours_ms": ours_ms, "torch_ms": ref_ms, "speedup": ref_ms / ours_ms}
        except Exception as e:
            row = {"op": name, "error": str(e)}
        report["bench_fp16"].append(row)
        print("bench", json.dumps(row), flush=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(f"{bad} op(s) outside tolerance")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
