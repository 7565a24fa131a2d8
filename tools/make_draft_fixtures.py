#!/usr/bin/env python3
"""make_draft_fixtures.py — draft mode (DeepCache) reference runs on the tiny SD fixture model.

The idea: `oma generate --draft` claims to do what DeepCache does, so DeepCache's own code is run
on the same model, seed and embeddings, and the C pipeline must land on its latents. DeepCache's
pip-facing helper (DeepCacheSDHelper, DeepCache/extension/deepcache.py of github
horseee/DeepCache at commit 1691a3ab22308fe06685e4ff151a9ab175be2dc4) wraps the forward of every
block of a diffusers UNet: on a full step (uniform: (step - first step) % cache_interval == 0) it
runs and remembers each block's output; on the other steps the blocks deeper than
cache_branch_id return what they remembered. It only needs pipe.unet and pipe.scheduler, so it
runs here on diffusers v0.21.4's UNet2DConditionModel (Debian's torch 1.13) inside
StableDiffusionPipeline's loop (CFG batch [neg, pos], 7.5), written out as in
make_sampler_fixtures.py.

Writes tests/fixtures/sd/draft/<case>.safetensors: final_latents (DeepCache), full_latents (the
same run without it), timesteps; and index.json with each case's sampler, steps, seed, interval,
branch, strength (img2img of ref/init.png as StableDiffusionImg2ImgPipeline).

Usage (Debian 12; sources outside the repository, nothing fetched is committed):
  git --git-dir=<DeepCache mirror> archive 1691a3ab DeepCache/extension | tar -x -C /tmp/deepcache
  OMA_DIFFUSERS_SRC=/tmp/sdref/src OMA_DEEPCACHE_SRC=/tmp/deepcache \
      /usr/bin/python3 tools/make_draft_fixtures.py            # -> tests/fixtures/sd/draft (~2 s)
"""
import argparse
import importlib.util
import json
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "sd_fixture_shims"))
SD = os.path.join(HERE, "..", "tests", "fixtures", "sd")
DEEPCACHE_COMMIT = "1691a3ab22308fe06685e4ff151a9ab175be2dc4"

# case, diffusers class, A1111 name, steps, seed, cache_interval, cache_branch_id, img2img strength
CASES = [
    ("ddim_n3_b0", "DDIMScheduler", "DDIM", 10, 4000, 3, 0, 0.0),
    ("ddim_n3_b1", "DDIMScheduler", "DDIM", 10, 4001, 3, 1, 0.0),
    ("ddim_n2_b4", "DDIMScheduler", "DDIM", 9, 4002, 2, 4, 0.0),
    ("ddim_n5_b0", "DDIMScheduler", "DDIM", 12, 4003, 5, 0, 0.0),
    ("dpmpp2m_karras_n3_b0", "DPMSolverMultistepScheduler", "DPM++ 2M Karras", 10, 4004, 3, 0, 0.0),
    ("euler_a_n3_b0", "EulerAncestralDiscreteScheduler", "Euler a", 10, 4005, 3, 0, 0.0),
    ("i2i_ddim_n3_b0", "DDIMScheduler", "DDIM", 10, 4006, 3, 0, 0.55),
]
EXTRA = {"DPMSolverMultistepScheduler": {"use_karras_sigmas": True, "algorithm_type": "dpmsolver++",
                                         "solver_order": 2}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(SD, "draft"))
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    _baddbmm = torch.baddbmm  # same defined-memory fix as make_sd_fixtures.py

    def baddbmm_defined(inp, b1, b2, *, beta=1, alpha=1):
        if beta == 0:
            inp, beta = torch.zeros(b1.shape[0], b1.shape[1], b2.shape[2], dtype=b1.dtype), 1
        return _baddbmm(inp, b1, b2, beta=beta, alpha=alpha)
    torch.baddbmm = baddbmm_defined
    torch.bmm = lambda b1, b2: _baddbmm(torch.zeros(b1.shape[0], b1.shape[1], b2.shape[2], dtype=b1.dtype), b1, b2)
    sys.path.insert(1, os.environ["OMA_DIFFUSERS_SRC"])
    import diffusers
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import load_file, save_file
    assert diffusers.__version__ == "0.21.4", diffusers.__version__
    spec = importlib.util.spec_from_file_location(
        "deepcache_ext", os.path.join(os.environ["OMA_DEEPCACHE_SRC"], "DeepCache", "extension", "deepcache.py"))
    dc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dc)

    unet = UNet2DConditionModel.from_pretrained(os.path.join(SD, "tiny-sd", "unet")).float().eval()
    vae = AutoencoderKL.from_pretrained(os.path.join(SD, "tiny-sd", "vae")).float().eval()
    image = load_file(os.path.join(SD, "ref", "vae.safetensors"))["image"]
    emb = load_file(os.path.join(SD, "ref", "txt2img_ddim.safetensors"))["prompt_embeds"]
    with open(os.path.join(SD, "tiny-sd", "scheduler", "scheduler_config.json")) as f:
        sched_cfg = json.load(f)
    os.makedirs(args.out, exist_ok=True)
    index = {"generator": "tools/make_draft_fixtures.py", "diffusers_version": diffusers.__version__,
             "torch_version": torch.__version__, "deepcache": "github horseee/DeepCache " + DEEPCACHE_COMMIT +
             " DeepCache/extension/deepcache.py (DeepCacheSDHelper, skip_mode uniform)",
             "cfg": 7.5, "width": 64, "height": 64, "prompt_embeds": "ref/txt2img_ddim.safetensors", "cases": {}}
    cfg_scale = 7.5

    def run(cls, steps, seed, strength, helper_params):
        sched = getattr(diffusers, cls).from_config(dict(sched_cfg, **EXTRA.get(cls, {})))
        sched.set_timesteps(steps)
        timesteps = sched.timesteps
        g = torch.Generator().manual_seed(seed)
        if strength == 0:
            lat = torch.randn((1, 4, 8, 8), generator=g) * sched.init_noise_sigma
        else:
            init_t = min(int(steps * strength), steps)
            timesteps = sched.timesteps[max(steps - init_t, 0) * sched.order:]
            with torch.no_grad():
                init = vae.encode(image).latent_dist.sample(g) * vae.config.scaling_factor
            lat = sched.add_noise(init, torch.randn(init.shape, generator=g), timesteps[:1])
        helper = None
        if helper_params:
            helper = dc.DeepCacheSDHelper(pipe=types.SimpleNamespace(unet=unet, scheduler=sched))
            helper.set_params(cache_interval=helper_params[0], cache_branch_id=helper_params[1])
            helper.enable()
        ts = []
        try:
            for t in timesteps:
                with torch.no_grad():
                    inp = sched.scale_model_input(torch.cat([lat] * 2), t)
                    out = unet(inp, t, encoder_hidden_states=emb).sample
                un, te = out.chunk(2)
                kw = {"generator": g} if "generator" in sched.step.__code__.co_varnames else {}
                if cls == "DDIMScheduler":
                    kw["eta"] = 0.0
                lat = sched.step(un + cfg_scale * (te - un), t, lat, **kw).prev_sample
                ts.append(float(t))
        finally:
            if helper:
                helper.disable()
        return lat, ts

    for case, cls, a1111, steps, seed, interval, branch, strength in CASES:
        draft, ts = run(cls, steps, seed, strength, (interval, branch))
        full, _ = run(cls, steps, seed, strength, None)
        rec = {"final_latents": draft, "full_latents": full, "timesteps": torch.tensor(ts, dtype=torch.float32)}
        for k, v in rec.items():
            if not torch.isfinite(v).all():
                sys.exit(f"make_draft_fixtures: {case}: {k} is not finite")
        save_file({k: v.detach().float().contiguous() for k, v in rec.items()},
                  os.path.join(args.out, case + ".safetensors"))
        index["cases"][case] = {"class": cls, "sampler": a1111, "steps": steps, "seed": seed,
                                "cache_interval": interval, "cache_branch_id": branch, "strength": strength,
                                "timesteps": ts}
        d = float((draft - full).abs().max())
        print(f"{case:24s} {len(ts)} steps  max|draft - full| {d:.4f}  max|full| {float(full.abs().max()):.3f}")
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
