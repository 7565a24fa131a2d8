#!/usr/bin/env python3
"""make_sampler_fixtures.py — every sampler as diffusers runs it, on the tiny SD model (tests/fixtures/sd/samplers/).

The idea: the C samplers are checked run for run against diffusers' own scheduler classes. Each case is a
4-step (LCM/TCD also 8) txt2img of the tiny SD fixture (tests/fixtures/sd/tiny-sd, weights as stored),
64x64, CFG 7.5, with the prompt embeddings of tests/fixtures/sd/ref/txt2img_ddim.safetensors, in the loop
StableDiffusionPipeline runs: latents = randn(generator) * init_noise_sigma; per timestep
scale_model_input -> UNet(t) -> CFG -> scheduler.step(..., generator) (DDIM eta 0, TCD eta 0.3).
Schedulers come from scheduler configs written next to the results, read by the C test with the same
JSON reader the engine uses:
  * sd15.json      — SD 1.5's own scheduler_config.json as it ships (diffusers 0.6: no timestep_spacing,
                     no prediction_type), so each class applies its own defaults;
  * vtz.json       — Moore-AnimateAnyone's inference scheduler: linear betas, v_prediction, "trailing",
                     rescale_betas_zero_snr;
  * sample_lin.json — prediction_type "sample", "linspace";
  * v_lead.json    — v_prediction, "leading" stated.
Classes: diffusers v0.21.4 (OMA_DIFFUSERS_SRC) for all but LCMScheduler and TCDScheduler, which 0.21.4 lacks:
those two files are loaded from diffusers v0.27.2 (OMA_DIFFUSERS027_SRC) into 0.21.4's package (their
imports exist there). LMSDiscreteScheduler needs scipy (Debian python3-scipy).

i2i_* cases are img2img at strength 0.55 as StableDiffusionImg2ImgPipeline runs it (init image = the
posterior sample of ref/init.png, first draw, times the scaling factor; noise = second draw; add_noise at
timesteps[t_start * order]; the remaining timesteps).
Each case gives <case>.safetensors: final_latents [1,4,8,8], noise (the first randn; img2img: the second),
start_latents (before the first step), stepN.model_output (the guided UNet output step N got), stepN.latents
(after it), and timesteps (as the UNet got them); index.json lists sampler, config, seed, steps, timesteps, sigmas.

Usage (Debian's python, torch 1.13; byte-for-byte reproducible):
  OMA_DIFFUSERS_SRC=/tmp/sdref/src OMA_DIFFUSERS027_SRC=/tmp/sdref/d027/src \
      /usr/bin/python3 tools/make_sampler_fixtures.py [--out tests/fixtures/sd/samplers]
"""
import argparse
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "sd_fixture_shims"))
SD = os.path.join(ROOT, "tests", "fixtures", "sd")

BASE = {"beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000}
CONFIGS = {
    # runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json, field for field
    "sd15": dict(BASE, _class_name="PNDMScheduler", _diffusers_version="0.6.0", clip_sample=False,
                 set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1, trained_betas=None),
    # Moore-AnimateAnyone: configs/inference noise_scheduler_kwargs + the overrides its pose2img script sets
    "vtz": dict(BASE, _class_name="DDIMScheduler", beta_schedule="linear", clip_sample=False, steps_offset=1,
                prediction_type="v_prediction", rescale_betas_zero_snr=True, timestep_spacing="trailing"),
    "sample_lin": dict(BASE, _class_name="DDIMScheduler", clip_sample=False, set_alpha_to_one=False,
                       steps_offset=1, prediction_type="sample", timestep_spacing="linspace"),
    "v_lead": dict(BASE, _class_name="DDIMScheduler", clip_sample=False, set_alpha_to_one=False, steps_offset=1,
                   prediction_type="v_prediction", timestep_spacing="leading"),
}

# case -> (A1111 name, class name, extra config, config file, steps)
CASES = [
    ("ddim_sd15", "DDIM", "DDIMScheduler", {}, "sd15", 4),
    ("ddim_vtz", "DDIM", "DDIMScheduler", {}, "vtz", 4),
    ("ddim_vtz_7", "DDIM", "DDIMScheduler", {}, "vtz", 7),
    ("ddim_sample_lin", "DDIM", "DDIMScheduler", {}, "sample_lin", 4),
    ("ddim_v_lead", "DDIM", "DDIMScheduler", {}, "v_lead", 4),
    ("euler_a_sd15", "Euler a", "EulerAncestralDiscreteScheduler", {}, "sd15", 4),
    ("euler_a_v_lead", "Euler a", "EulerAncestralDiscreteScheduler", {}, "v_lead", 4),
    ("euler_sd15", "Euler", "EulerDiscreteScheduler", {}, "sd15", 4),
    ("euler_vtz", "Euler", "EulerDiscreteScheduler", {}, "vtz", 4),
    ("lms_sd15", "LMS", "LMSDiscreteScheduler", {}, "sd15", 6),
    ("heun_sd15", "Heun", "HeunDiscreteScheduler", {}, "sd15", 4),
    ("dpm2_sd15", "DPM2", "KDPM2DiscreteScheduler", {}, "sd15", 4),
    ("dpmpp_2m_sd15", "DPM++ 2M", "DPMSolverMultistepScheduler", {}, "sd15", 4),
    ("dpmpp_2m_karras_sd15", "DPM++ 2M Karras", "DPMSolverMultistepScheduler", {"use_karras_sigmas": True}, "sd15", 4),
    ("dpmpp_2m_sde_karras_sd15", "DPM++ 2M SDE Karras", "DPMSolverMultistepScheduler",
     {"use_karras_sigmas": True, "algorithm_type": "sde-dpmsolver++"}, "sd15", 4),
    ("dpmpp_2m_v_lead", "DPM++ 2M", "DPMSolverMultistepScheduler", {}, "v_lead", 4),
    ("unipc_sd15", "UniPC", "UniPCMultistepScheduler", {}, "sd15", 5),
    ("unipc_v_lead", "UniPC", "UniPCMultistepScheduler", {}, "v_lead", 4),
    ("plms_sd15", "PLMS", "PNDMScheduler", {"skip_prk_steps": True}, "sd15", 5),
    ("lcm_sd15", "LCM", "LCMScheduler", {}, "sd15", 4),
    ("lcm_sd15_8", "LCM", "LCMScheduler", {}, "sd15", 8),
    ("tcd_sd15", "TCD", "TCDScheduler", {}, "sd15", 4),
    ("tcd_sd15_8", "TCD", "TCDScheduler", {}, "sd15", 8),
]
# img2img (strength 0.55, init image = ref/vae.safetensors "image" = ref/init.png), seeds 3000 + i
I2I = [
    ("i2i_euler_sd15", "Euler", "EulerDiscreteScheduler", {}, "sd15", 4),
    ("i2i_heun_sd15", "Heun", "HeunDiscreteScheduler", {}, "sd15", 4),
    ("i2i_lms_sd15", "LMS", "LMSDiscreteScheduler", {}, "sd15", 6),
    ("i2i_unipc_sd15", "UniPC", "UniPCMultistepScheduler", {}, "sd15", 5),
    ("i2i_plms_sd15", "PLMS", "PNDMScheduler", {"skip_prk_steps": True}, "sd15", 5),
    ("i2i_lcm_sd15", "LCM", "LCMScheduler", {}, "sd15", 4),
]
STRENGTH = 0.55


def load_027(name, path):
    spec = importlib.util.spec_from_file_location("diffusers.schedulers." + name, path,
                                                  submodule_search_locations=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "diffusers.schedulers"
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(SD, "samplers"))
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
    from diffusers import UNet2DConditionModel
    from safetensors.torch import load_file, save_file
    assert diffusers.__version__ == "0.21.4", diffusers.__version__
    d027 = os.path.join(os.environ["OMA_DIFFUSERS027_SRC"], "diffusers", "schedulers")
    with open(os.path.join(os.environ["OMA_DIFFUSERS027_SRC"], "diffusers", "__init__.py")) as f:
        assert '__version__ = "0.27.2"' in f.read(), "OMA_DIFFUSERS027_SRC must be diffusers v0.27.2"
    classes = {n: getattr(diffusers, n) for n in (
        "DDIMScheduler", "EulerAncestralDiscreteScheduler", "EulerDiscreteScheduler", "LMSDiscreteScheduler",
        "HeunDiscreteScheduler", "KDPM2DiscreteScheduler", "DPMSolverMultistepScheduler",
        "UniPCMultistepScheduler", "PNDMScheduler")}
    classes["LCMScheduler"] = load_027("scheduling_lcm", os.path.join(d027, "scheduling_lcm.py")).LCMScheduler
    classes["TCDScheduler"] = load_027("scheduling_tcd", os.path.join(d027, "scheduling_tcd.py")).TCDScheduler

    from diffusers import AutoencoderKL
    unet = UNet2DConditionModel.from_pretrained(os.path.join(SD, "tiny-sd", "unet")).float().eval()
    vae = AutoencoderKL.from_pretrained(os.path.join(SD, "tiny-sd", "vae")).float().eval()
    image = load_file(os.path.join(SD, "ref", "vae.safetensors"))["image"]
    emb = load_file(os.path.join(SD, "ref", "txt2img_ddim.safetensors"))["prompt_embeds"]
    os.makedirs(args.out, exist_ok=True)
    for name, cfg in CONFIGS.items():
        with open(os.path.join(args.out, name + ".json"), "w") as f:
            json.dump(cfg, f, indent=1, sort_keys=True)
            f.write("\n")
    index = {"generator": "tools/make_sampler_fixtures.py", "diffusers_version": diffusers.__version__,
             "lcm_tcd_from": "diffusers v0.27.2", "torch_version": torch.__version__, "cfg": 7.5,
             "width": 64, "height": 64, "prompt_embeds": "ref/txt2img_ddim.safetensors", "cases": {}}
    cfg_scale = 7.5
    runs = [(n, c, 0.0) for n, c in enumerate(CASES)] + [(n, c, STRENGTH) for n, c in enumerate(I2I)]
    for n, (case, a1111, cls, extra, cfgname, steps), strength in runs:
        sched = classes[cls].from_config(dict(CONFIGS[cfgname], **extra))
        sched.set_timesteps(steps)
        rec = {}
        timesteps = sched.timesteps
        if strength == 0:
            seed = 2000 + n
            g = torch.Generator().manual_seed(seed)
            lat = torch.randn((1, 4, 8, 8), generator=g)
            rec["noise"] = lat
            lat = lat * sched.init_noise_sigma
        else:  # StableDiffusionImg2ImgPipeline: posterior sample (first draw) * SF, noise (second draw)
            seed = 3000 + n
            g = torch.Generator().manual_seed(seed)
            init_t = min(int(steps * strength), steps)
            t_start = max(steps - init_t, 0)
            timesteps = sched.timesteps[t_start * sched.order:]
            with torch.no_grad():
                init = vae.encode(image).latent_dist.sample(g) * vae.config.scaling_factor
            noise = torch.randn(init.shape, generator=g)
            rec["noise"] = noise
            lat = sched.add_noise(init, noise, timesteps[:1])
        rec["start_latents"] = lat
        ts = []
        for i, t in enumerate(timesteps):
            with torch.no_grad():
                inp = sched.scale_model_input(torch.cat([lat] * 2), t)
                out = unet(inp, t, encoder_hidden_states=emb).sample
            un, te = out.chunk(2)
            guided = un + cfg_scale * (te - un)
            rec[f"step{i}.model_output"] = guided
            kw = {"generator": g} if "generator" in sched.step.__code__.co_varnames else {}
            if cls == "DDIMScheduler":
                kw["eta"] = 0.0
            if cls == "TCDScheduler":
                kw["eta"] = 0.3
            lat = sched.step(guided, t, lat, **kw).prev_sample
            rec[f"step{i}.latents"] = lat
            ts.append(float(t))
        rec["final_latents"] = lat
        rec["timesteps"] = torch.tensor(ts, dtype=torch.float32)
        for k, v in rec.items():
            if not torch.isfinite(v).all():
                sys.exit(f"make_sampler_fixtures: {case}: {k} is not finite")
        save_file({k: v.detach().float().contiguous() for k, v in rec.items()},
                  os.path.join(args.out, case + ".safetensors"))
        index["cases"][case] = {
            "sampler": a1111, "class": cls, "extra_config": extra, "config": cfgname + ".json", "seed": seed,
            "steps": steps, "strength": strength, "timesteps": ts, "init_noise_sigma": float(sched.init_noise_sigma),
            "sigmas": [float(s) for s in getattr(sched, "sigmas", [])][:64]}
        print(f"{case:28s} {cls:32s} {len(ts)} evals  max|lat| {float(lat.abs().max()):.3f}")
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
