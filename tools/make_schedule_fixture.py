#!/usr/bin/python3
"""make_schedule_fixture.py — diffusers' DDPMScheduler alphas_cumprod, every value, as float32 bits.

The training loss draws noisy latents with DDPMScheduler.add_noise, so src/train's schedule must
be the one DDPMScheduler builds: torch.linspace(float32) (** 2 for scaled_linear), 1 - betas,
torch.cumprod (CPU: double accumulator, each output rounded to float32). This writes
tests/fixtures/train/alphas_cumprod.txt, one line per config:
    <beta_schedule> <beta_start> <beta_end> <T> <bits of alphas_cumprod[0]> ... [T-1]
for SD 1.x's scaled_linear 0.00085..0.012 / 1000 and a few others (DDPM's linear default, an odd
T that exercises linspace's scalar tail). diffusers v0.21.4 from OMA_DIFFUSERS_SRC, Debian's torch:

    OMA_DIFFUSERS_SRC=/tmp/sdref/src /usr/bin/python3 tools/make_schedule_fixture.py
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(HERE, "sd_fixture_shims"))
sys.path.insert(1, os.environ.get("OMA_DIFFUSERS_SRC", "/tmp/sdref/src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from diffusers import DDPMScheduler  # noqa: E402

CASES = [("scaled_linear", 0.00085, 0.012, 1000), ("linear", 0.0001, 0.02, 1000),
         ("linear", 0.00085, 0.012, 1000), ("scaled_linear", 0.0001, 0.03, 1037)]


def main():
    torch.set_num_threads(1)
    import diffusers
    lines = ["# tools/make_schedule_fixture.py: diffusers %s DDPMScheduler.alphas_cumprod, torch %s"
             % (diffusers.__version__, torch.__version__)]
    for sched, b0, b1, T in CASES:
        s = DDPMScheduler(num_train_timesteps=T, beta_start=b0, beta_end=b1, beta_schedule=sched)
        ac = s.alphas_cumprod
        assert ac.dtype == torch.float32 and ac.shape == (T,)
        bits = ac.numpy().view(np.uint32)
        lines.append("%s %r %r %d %s" % (sched, b0, b1, T, " ".join(str(int(v)) for v in bits)))
    out = os.path.join(ROOT, "tests", "fixtures", "train", "alphas_cumprod.txt")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
