#!/usr/bin/env python3
"""bench_torch_train_blocks.py — the PyTorch side of bench/bench_train.c: SD 1.5 UNet pieces at
training shapes (batch 1, 64x64 latents, context 77x768), random weights, in diffusers v0.21.4 on Debian's
python3-torch, with rank-16 LoRA (forward hooks: y += up(down(x))) on the attention q/k/v/out and
ff.net.0.proj linears, base weights frozen, as the style recipe trains.

  OMA_DIFFUSERS_SRC=/path/to/diffusers/src /usr/bin/python3 tools/bench_torch_train_blocks.py [latent=64] [reps=2]

For each piece, best of `reps`: a forward without autograd, and a training pass (forward with
autograd, then backward of sum(dy * y) into the input and the adapters), wall and CPU seconds.
Our engine's training pass is its forward plus its backward (which recomputes the forward: per
block checkpointing), so compare bench_train's forward + backward with the "train" figure here.
Threads: OMA_THREADS (default all CPUs). bench/run.sh runs it with the set-up that made torch
fastest here (huge pages, OpenMP OpenBLAS, its own core type). A yardstick only.
"""
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "sd_fixture_shims"))
src = os.environ.get("OMA_DIFFUSERS_SRC")
if not src or not os.path.isdir(os.path.join(src, "diffusers")):
    sys.exit("bench_torch_train_blocks: set OMA_DIFFUSERS_SRC to the folder holding the diffusers package")
sys.path.insert(1, src)

import torch  # noqa: E402
from diffusers.models.resnet import ResnetBlock2D  # noqa: E402
from diffusers.models.transformer_2d import Transformer2DModel  # noqa: E402

torch.set_num_threads(int(os.environ.get("OMA_THREADS") or os.cpu_count()))
latent = int(sys.argv[1]) if len(sys.argv) > 1 else 64
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.manual_seed(0)


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def best(fn):
    bw, bc = 1e30, 1e30
    for _ in range(reps):
        c0, t0 = cpu_s(), time.perf_counter()
        fn()
        bw, bc = min(bw, time.perf_counter() - t0), min(bc, cpu_s() - c0)
    return bw, bc


def freeze(m):
    for p in m.parameters():
        p.requires_grad_(False)


def lora(m, names, rank=16):
    params = []
    for n in names:
        lin = m.get_submodule(n)
        down = (torch.randn(rank, lin.in_features) / rank).requires_grad_(True)
        up = (torch.randn(lin.out_features, rank) * 0.01).requires_grad_(True)
        lin.register_forward_hook(lambda mod, i, o, d=down, u=up: o + (i[0] @ d.t()) @ u.t())
        params += [down, up]
    return params


def piece(name, module, inputs, call):
    x = inputs[0]

    def fwd():
        with torch.no_grad():
            call(*inputs)

    def train():
        xi = x.detach().requires_grad_(True)
        y = call(xi, *inputs[1:])
        (y * dy[name]).sum().backward()

    with torch.no_grad():
        dy[name] = torch.randn_like(call(*inputs))
    fw, fc = best(fwd)
    tw, tc = best(train)
    print(f"torch {name:<34} forward {fw:7.3f} s  train (fwd+bwd) {tw:7.3f} s | "
          f"CPU {fc:7.3f} / {tc:7.3f} s", flush=True)


dy = {}
C, L = 320, latent
t2 = Transformer2DModel(num_attention_heads=8, attention_head_dim=40, in_channels=C, num_layers=1,
                        cross_attention_dim=768, norm_num_groups=32)
freeze(t2)
p = "transformer_blocks.0."
lora(t2, [p + a + "." + n for a in ("attn1", "attn2") for n in ("to_q", "to_k", "to_v", "to_out.0")]
     + [p + "ff.net.0.proj"])
rn = ResnetBlock2D(in_channels=C, out_channels=C, temb_channels=1280, groups=32, eps=1e-5)
freeze(rn)
x = torch.randn(1, C, L, L)
ctx = torch.randn(1, 77, 768)
temb = torch.randn(1, 1280)
print(f"== PyTorch {torch.__version__}, training pieces, latent {L}x{L}, batch 1, "
      f"{torch.get_num_threads()} threads")
piece("ResnetBlock2D 320", rn, (x, temb), lambda a, b: rn(a, b))
piece("Transformer2DModel 320, LoRA r16", t2, (x, ctx),
      lambda a, b: t2(a, encoder_hidden_states=b, return_dict=False)[0])
print(f"torch_train_peak_rss_gb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1048576:.2f}")
