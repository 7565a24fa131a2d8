#!/usr/bin/env python3
"""make_fast_fixtures.py — diffusers references for the fast paths of issue 15, tiny SD model.

Writes tests/fixtures/sd/fast/ (outside make_sd_fixtures.py's ref/, which that script rebuilds):

- cfg1_txt2img_{ddim,euler_a,dpmpp_2m_karras}.safetensors: 4-step txt2img at guidance_scale 1.0,
  seeds 2001 / 2002 / 2003. StableDiffusionPipeline (v0.21.4) then has
  do_classifier_free_guidance = guidance_scale > 1.0 = False: the UNet runs on the latents alone
  with the prompt's embeddings (no negative pass) and noise_pred is the conditional prediction.
- cfg1_img2img_ddim.safetensors: the same for img2img (StableDiffusionImg2ImgPipeline), strength
  0.55, seed 2010.
- candidates_{dpmpp_2m_karras,euler_a}.safetensors: the original service's six img2img
  candidates (model/background/lora/app/model.py of kylew1004/Oh-My-Assistant: strengths
  0.45 + 0.10 * i for i in 0..2, two each), 10 steps, CFG 7.5, candidate k with its own generator
  seeded 3000 + k (ours: seed + k), each made by its own pipeline call as the original did.
  final_latents [6,4,8,8], image_u8 [6,64,64,3].

The model is tests/fixtures/sd/tiny-sd (diffusers from_pretrained) and the text embeddings are
ref/txt2img_ddim.safetensors' prompt_embeds ([negative, prompt]; transformers is not in Debian,
so the pipeline's CLIP is replaced by the embeddings it would give). The loop below is the
pipelines' __call__ with prompt_embeds given, spelled out (the pipeline classes import
transformers). Run (Debian's python, diffusers v0.21.4 source, the shims of this folder):

    OMA_DIFFUSERS_SRC=/tmp/sdref/src /usr/bin/python3 tools/make_fast_fixtures.py
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "sd_fixture_shims"))


def main():
    import torch
    torch.set_num_threads(1)
    _baddbmm = torch.baddbmm

    # Debian's torch 1.13 leaves baddbmm(beta=0)'s uninitialised memory in play (see
    # make_sd_fixtures.py): same maths with defined memory.
    def baddbmm_defined(inp, b1, b2, *, beta=1, alpha=1):
        if beta == 0:
            inp, beta = torch.zeros(b1.shape[0], b1.shape[1], b2.shape[2], dtype=b1.dtype), 1
        return _baddbmm(inp, b1, b2, beta=beta, alpha=alpha)

    def bmm_defined(b1, b2):
        return _baddbmm(torch.zeros(b1.shape[0], b1.shape[1], b2.shape[2], dtype=b1.dtype), b1, b2)
    torch.baddbmm = baddbmm_defined
    torch.bmm = bmm_defined
    sys.path.insert(1, os.environ["OMA_DIFFUSERS_SRC"])
    from diffusers import (AutoencoderKL, DDIMScheduler, DPMSolverMultistepScheduler,
                           EulerAncestralDiscreteScheduler, UNet2DConditionModel)
    from safetensors.torch import load_file, save_file
    from PIL import Image
    import numpy as np

    root = os.path.join(HERE, "..", "tests", "fixtures", "sd")
    out = os.path.join(root, "fast")
    os.makedirs(out, exist_ok=True)
    unet = UNet2DConditionModel.from_pretrained(os.path.join(root, "tiny-sd", "unet")).float().eval()
    vae = AutoencoderKL.from_pretrained(os.path.join(root, "tiny-sd", "vae")).float().eval()
    emb = load_file(os.path.join(root, "ref", "txt2img_ddim.safetensors"))["prompt_embeds"]
    neg, pos = emb[0:1], emb[1:2]
    img = load_file(os.path.join(root, "ref", "vae.safetensors"))["image"]
    cfg_path = os.path.join(root, "tiny-sd", "scheduler", "scheduler_config.json")
    import json
    with open(cfg_path) as f:
        sched_cfg = json.load(f)
    SF = vae.config.scaling_factor
    samplers = {
        "ddim": lambda: DDIMScheduler.from_config(sched_cfg),
        "euler_a": lambda: EulerAncestralDiscreteScheduler.from_config(sched_cfg),
        "dpmpp_2m_karras": lambda: DPMSolverMultistepScheduler.from_config(
            sched_cfg, use_karras_sigmas=True, algorithm_type="dpmsolver++", solver_order=2),
    }

    def denoise(sched, latents, timesteps, g, cfg):
        do_cfg = cfg > 1.0          # StableDiffusionPipeline.__call__
        ctx = torch.cat([neg, pos]) if do_cfg else pos
        for t in timesteps:
            with torch.no_grad():
                inp = torch.cat([latents] * 2) if do_cfg else latents
                inp = sched.scale_model_input(inp, t)
                noise = unet(inp, t, encoder_hidden_states=ctx).sample
                if do_cfg:
                    un, te = noise.chunk(2)
                    noise = un + cfg * (te - un)
                kw = {"generator": g} if "generator" in sched.step.__code__.co_varnames else {}
                if isinstance(sched, DDIMScheduler):
                    kw["eta"] = 0.0
                latents = sched.step(noise, t, latents, **kw).prev_sample
        return latents

    def decode(latents):
        with torch.no_grad():
            im = vae.decode(latents / SF).sample
        return ((im / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1) * 255).round()

    def txt2img(key, seed, cfg, steps=4):
        sched = samplers[key]()
        sched.set_timesteps(steps)
        g = torch.Generator().manual_seed(seed)
        latents = torch.randn((1, 4, 8, 8), generator=g) * sched.init_noise_sigma
        return denoise(sched, latents, sched.timesteps, g, cfg)

    def img2img(key, seed, cfg, strength, steps):
        sched = samplers[key]()
        sched.set_timesteps(steps)
        init_t = min(int(steps * strength), steps)
        t_start = max(steps - init_t, 0)
        timesteps = sched.timesteps[t_start * sched.order:]
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            init = vae.encode(img).latent_dist.sample(g) * SF
        noise = torch.randn(init.shape, generator=g)
        latents = sched.add_noise(init, noise, timesteps[:1])
        return denoise(sched, latents, timesteps, g, cfg)

    def save(name, lat):
        u8 = decode(lat)
        for k, v in {"final_latents": lat, "image_u8": u8}.items():
            assert torch.isfinite(v).all(), f"{name}: {k} not finite"
        save_file({"final_latents": lat.float().contiguous(), "image_u8": u8.float().contiguous()},
                  os.path.join(out, name + ".safetensors"))
        Image.fromarray(np.concatenate(list(u8.byte().numpy()), axis=1)).save(os.path.join(out, name + ".png"))

    # self-check: this loop and model give make_sd_fixtures.py's CFG 7.5 reference (measured:
    # 2.9e-5 apart on latents up to 21, float rounding of the two set-ups)
    want = load_file(os.path.join(root, "ref", "txt2img_ddim.safetensors"))["final_latents"]
    got = txt2img("ddim", 1004, 7.5)
    assert torch.allclose(got, want, rtol=0, atol=1e-5 * (1 + float(want.abs().max()))), float((got - want).abs().max())

    for key, seed in (("ddim", 2001), ("euler_a", 2002), ("dpmpp_2m_karras", 2003)):
        save(f"cfg1_txt2img_{key}", txt2img(key, seed, 1.0))
    save("cfg1_img2img_ddim", img2img("ddim", 2010, 1.0, 0.55, 4))
    strengths = [0.45 + 0.10 * i for i in range(3) for _ in range(2)]
    for key in ("dpmpp_2m_karras", "euler_a"):
        lat = torch.cat([img2img(key, 3000 + k, 7.5, s, 10) for k, s in enumerate(strengths)])
        save(f"candidates_{key}", lat)
    print("fast fixtures in", os.path.normpath(out))


if __name__ == "__main__":
    main()
