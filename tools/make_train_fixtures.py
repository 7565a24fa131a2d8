#!/usr/bin/python3
"""make_train_fixtures.py — reference values for the training engine's optimizer (src/train).

Writes tests/fixtures/train/optim.safetensors: torch.optim.AdamW with two parameter groups
(own lr and weight decay), torch.nn.utils.clip_grad_norm_ (max 1.0) before each update, and
diffusers' get_scheduler schedules (v0.21.4, read from OMA_DIFFUSERS_SRC) stepping the lr, over
a few steps with random gradients (some large enough to be clipped). Debian's torch 1.13:
    OMA_DIFFUSERS_SRC=/tmp/sdref/src /usr/bin/python3 tools/make_train_fixtures.py
Byte-for-byte reproducible (fixed seeds, CPU).
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "sd_fixture_shims"))
sys.path.insert(1, os.environ.get("OMA_DIFFUSERS_SRC", "/tmp/sdref/src"))
from safetensors.torch import save_file  # noqa: E402  (the shim)
from diffusers.optimization import get_scheduler  # noqa: E402

OUT = os.path.join(HERE, "..", "tests", "fixtures", "train")
STEPS = 6


def optim_fixture():
    g = torch.Generator().manual_seed(7)
    shapes = [(5, 7), (13,), (3, 4)]
    params = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
    out = {}
    for i, p in enumerate(params):
        out[f"p{i}.init"] = p.detach().clone()
    opt = torch.optim.AdamW([
        {"params": params[:2], "lr": 3e-2, "weight_decay": 1e-2},
        {"params": params[2:], "lr": 1e-3, "weight_decay": 0.0},
    ], betas=(0.9, 0.999), eps=1e-8)
    sched = get_scheduler("linear", optimizer=opt, num_warmup_steps=2, num_training_steps=STEPS)
    norms = []
    for s in range(STEPS):
        scale = 4.0 if s % 2 == 0 else 0.05    # clipped on even steps, not on odd ones
        for i, p in enumerate(params):
            p.grad = torch.randn(p.shape, generator=g) * scale
            out[f"p{i}.grad{s}"] = p.grad.detach().clone()
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, 1.0)))
        opt.step()
        sched.step()
        for i, p in enumerate(params):
            out[f"p{i}.step{s}"] = p.detach().clone()
    for i, p in enumerate(params):
        st = opt.state[p]
        out[f"p{i}.exp_avg"] = st["exp_avg"].clone()
        out[f"p{i}.exp_avg_sq"] = st["exp_avg_sq"].clone()
    out["clip_norms"] = torch.tensor(norms, dtype=torch.float32)
    # schedules: factor per step 0..11 of 10 total with 3 warm-up steps
    for name in ["constant", "constant_with_warmup", "linear", "cosine"]:
        o = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sc = get_scheduler(name, optimizer=o, num_warmup_steps=3, num_training_steps=10)
        vals = []
        for _ in range(12):
            vals.append(o.param_groups[0]["lr"])
            o.step()
            sc.step()
        out[f"sched.{name}"] = torch.tensor(vals, dtype=torch.float64).float()
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    save_file(optim_fixture(), os.path.join(OUT, "optim.safetensors"),
              metadata={"generator": "tools/make_train_fixtures.py", "torch": torch.__version__})


if __name__ == "__main__":
    main()
