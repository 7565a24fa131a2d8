#!/usr/bin/env python3
"""bench_torch_lora.py — the diffusers side of bench/bench_lora.c: a kohya LoRA onto an SD 1.5 UNet.

Random SD 1.5-config UNet2DConditionModel (diffusers v0.21.4 from OMA_DIFFUSERS_SRC, Debian's torch),
then the file given: LoraLoaderMixin.lora_state_dict (kohya -> diffusers) + load_lora_into_unet +
unet.fuse_lora(lora_scale=0.8) timed as "apply" (read, convert, LoRA layers, merge), and
unet.unfuse_lora() as "restore" (diffusers subtracts the product again; it keeps no copy).
Prints one line: torch_lora_apply_sd15 apply S restore S.
Usage: OMA_DIFFUSERS_SRC=/tmp/sdref/src /usr/bin/python3 tools/bench_torch_lora.py FILE.safetensors
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "sd_fixture_shims"))


def main():
    import torch
    sys.path.insert(1, os.environ["OMA_DIFFUSERS_SRC"])
    from diffusers import UNet2DConditionModel
    from diffusers.loaders import LoraLoaderMixin
    from safetensors.torch import load_file
    torch.set_num_threads(int(os.environ.get("OMA_THREADS", os.cpu_count())))  # as many threads as ours
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=768, attention_head_dim=8).eval()
    t0 = time.perf_counter()
    sd = load_file(sys.argv[1])
    state, alphas = LoraLoaderMixin.lora_state_dict(sd)
    LoraLoaderMixin.load_lora_into_unet(state, alphas, unet)
    unet.fuse_lora(lora_scale=0.8)
    ta = time.perf_counter() - t0
    t0 = time.perf_counter()
    unet.unfuse_lora()
    tr = time.perf_counter() - t0
    print(f"torch_lora_apply_sd15 apply {ta:.3f} restore {tr:.3f} threads={torch.get_num_threads()}")


if __name__ == "__main__":
    main()
