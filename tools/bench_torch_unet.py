#!/usr/bin/env python3
"""bench_torch_unet.py — the PyTorch side of bench/run.sh: SD 1.5-sized UNet and VAE decoder
forward passes with random weights in diffusers on Debian's python3-torch, timed like bench_sd.

  OMA_DIFFUSERS_SRC=/path/to/diffusers/src /usr/bin/python3 tools/bench_torch_unet.py unet [latent=64] [batch=2]
  OMA_DIFFUSERS_SRC=... /usr/bin/python3 tools/bench_torch_unet.py vae [latent=64]

diffusers (v0.21.4, the release that runs on torch 1.13) is not a Debian package: point
OMA_DIFFUSERS_SRC at a checkout's src/ folder (tools/make_sd_fixtures.py uses the same one);
tools/sd_fixture_shims stands in for huggingface_hub/safetensors. Threads: OMA_THREADS (default
all CPUs), as for our engine. Prints one line: seconds for the first and the second pass (the
steady state: what each later sampling step or image costs) and peak RSS.
Nothing here runs in the product; it is a yardstick only.
"""
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "sd_fixture_shims"))
src = os.environ.get("OMA_DIFFUSERS_SRC")
if not src or not os.path.isdir(os.path.join(src, "diffusers")):
    sys.exit("bench_torch_unet: set OMA_DIFFUSERS_SRC to the folder holding the diffusers package")
sys.path.insert(1, src)

import torch  # noqa: E402

threads = int(os.environ.get("OMA_THREADS") or os.cpu_count())
torch.set_num_threads(threads)
what = sys.argv[1] if len(sys.argv) > 1 else "unet"
latent = int(sys.argv[2]) if len(sys.argv) > 2 else 64
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 2


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024.0 * 1024.0)


with torch.no_grad():
    if what == "unet":
        from diffusers import UNet2DConditionModel
        unet = UNet2DConditionModel(
            sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
            block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3).eval()
        x = torch.randn(batch, 4, latent, latent)
        ctx = torch.randn(batch, 77, 768)
        # two passes, as bench_sd does: the second is what every later sampling step costs
        for rep in range(2):
            t0, c0 = time.time(), cpu_s()
            out = unet(x, 500, encoder_hidden_states=ctx).sample
            dt, dc = time.time() - t0, cpu_s() - c0
            if rep == 0:
                first = dt
        print(f"torch_unet_sd15 latent={latent} batch={batch} threads={threads} torch={torch.__version__}: "
              f"first forward {first:.2f} s, forward {dt:.2f} s (cpu {dc:.1f} s), finite={'yes' if torch.isfinite(out).all() else 'NO'}, peak RSS {peak_gb():.2f} GB")
    elif what == "vae":
        from diffusers import AutoencoderKL
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4).eval()
        z = torch.randn(1, 4, latent, latent)
        for rep in range(2):    # as bench_sd: first decode, then the steady state
            t0, c0 = time.time(), cpu_s()
            img = vae.decode(z).sample
            dt, dc = time.time() - t0, cpu_s() - c0
            if rep == 0:
                first = dt
        print(f"torch_vae_decode_sd15 {latent * 8}x{latent * 8} threads={threads}: first decode {first:.2f} s, "
              f"decode {dt:.2f} s (cpu {dc:.1f} s), "
              f"finite={'yes' if torch.isfinite(img).all() else 'NO'}, peak RSS {peak_gb():.2f} GB")
    else:
        sys.exit("usage: bench_torch_unet.py unet|vae [latent] [batch]")
