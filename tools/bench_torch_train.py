#!/usr/bin/env python3
"""bench_torch_train.py — the PyTorch side of bench/bench_train_step.c: one style-training step at
SD 1.5 shapes with random weights in diffusers v0.21.4 on Debian's python3-torch.

  OMA_DIFFUSERS_SRC=/path/to/diffusers/src /usr/bin/python3 tools/bench_torch_train.py [latent=64]

The UNet's base weights are frozen; rank-16 LoRA layers (y = Wx + b + up(down(x)), written here
as in tools/train_reference.py, no PEFT) sit on every attention to_q/k/v/to_out.0 and
ff.net.0.proj; batch 1, context 1x77x768, loss MSE(pred, noise), backward into the adapters and
the context (the text encoder's input in the recipe). Autograd keeps what it needs (diffusers'
default: no gradient checkpointing). Two steps; prints the steady one and peak RSS, like
bench_train_step. Threads: OMA_THREADS. A yardstick only.
"""
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "sd_fixture_shims"))
src = os.environ.get("OMA_DIFFUSERS_SRC")
if not src or not os.path.isdir(os.path.join(src, "diffusers")):
    sys.exit("bench_torch_train: set OMA_DIFFUSERS_SRC to the folder holding the diffusers package")
sys.path.insert(1, src)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

threads = int(os.environ.get("OMA_THREADS") or os.cpu_count())
torch.set_num_threads(threads)
latent = int(sys.argv[1]) if len(sys.argv) > 1 else 64
RANK = 16


class LoRALinear(torch.nn.Module):
    def __init__(self, base):
        super().__init__()
        self.base = base
        self.down = torch.nn.Parameter(torch.randn(RANK, base.in_features) / RANK)
        self.up = torch.nn.Parameter(torch.randn(base.out_features, RANK) * 1e-3)

    def forward(self, x, *args, **kwargs):
        return self.base(x) + F.linear(F.linear(x, self.down), self.up)


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024.0 * 1024.0)


from diffusers import UNet2DConditionModel  # noqa: E402

torch.manual_seed(0)
unet = UNet2DConditionModel(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
unet.requires_grad_(False)
n = 0
for name, mod in list(unet.named_modules()):
    if type(mod).__name__ == "BasicTransformerBlock":
        for a in (mod.attn1, mod.attn2):
            for k in ("to_q", "to_k", "to_v"):
                setattr(a, k, LoRALinear(getattr(a, k)))
            a.to_out[0] = LoRALinear(a.to_out[0])
        mod.ff.net[0].proj = LoRALinear(mod.ff.net[0].proj)
        n += 9
unet.train()
params = [p for p in unet.parameters() if p.requires_grad]
x = torch.randn(1, 4, latent, latent)
noise = torch.randn(1, 4, latent, latent)
ctx = torch.randn(1, 77, 768, requires_grad=True)
for rep in range(2):
    for p in params:
        p.grad = None
    ctx.grad = None
    t0, c0 = time.time(), cpu_s()
    pred = unet(x, 500, encoder_hidden_states=ctx).sample
    loss = F.mse_loss(pred, noise) * 0.25
    loss.backward()
    dt, dc = time.time() - t0, cpu_s() - c0
    if rep == 0:
        first = dt
ok = all(torch.isfinite(p.grad).all() for p in params) and torch.isfinite(ctx.grad).all()
print(f"torch_train_step_sd15 latent={latent} ({latent * 8}x{latent * 8}) rank={RANK} adapters={n} "
      f"threads={threads} torch={torch.__version__}: first step {first:.2f} s, step {dt:.2f} s "
      f"(cpu {dc:.1f} s), grads finite={'yes' if ok else 'NO'}, peak RSS {peak_gb():.2f} GB; "
      f"default recipe (1000 micro-steps) ~{1000 * dt / 3600:.1f} h")
