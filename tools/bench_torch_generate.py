#!/usr/bin/env python3
"""bench_torch_generate.py — the PyTorch side of bench_generate (issue 15): a whole txt2img or
img2img run in diffusers v0.21.4 on Debian's torch 1.13, SD 1.5 shapes, random weights.

  OMA_DIFFUSERS_SRC=... /usr/bin/python3 tools/bench_torch_generate.py txt2img SAMPLER STEPS CFG [latent=64]
  OMA_DIFFUSERS_SRC=... /usr/bin/python3 tools/bench_torch_generate.py candidates SAMPLER STEPS [latent=64]

The loop is StableDiffusionPipeline.__call__'s / StableDiffusionImg2ImgPipeline's with the
pipeline's own rule for guidance (do_classifier_free_guidance = guidance_scale > 1: no negative
pass at cfg <= 1) and diffusers' schedulers: "DPM++ 2M Karras" = DPMSolverMultistepScheduler
(dpmsolver++, order 2, Karras sigmas), "DDIM", "Euler a", and "LCM" = LCMScheduler, read from
the diffusers v0.27.2 source (OMA_DIFFUSERS027_SRC, default /tmp/sdref/d027/src; 0.21.4 has no
LCM) as a module of the 0.21.4 package (what it imports exists there). "candidates" is what
the original service did: six pipeline calls, one after the other, at strengths 0.45, 0.45,
0.55, 0.55, 0.65, 0.65 with CFG 7.5.
The text encoder: transformers is not in Debian, so CLIP ViT-L/14's text transformer is built
from torch.nn at its shapes (12 pre-LN layers, width 768, 12 heads, MLP 3072, causal mask, 77
tokens): the same work, not the same model. Prints one line like bench_generate's: total and
per-phase wall seconds and peak RSS. A yardstick only; nothing here runs in the product.
OMA_TORCH_DEVICE=cuda and OMA_TORCH_DTYPE=float16 run it on a GPU in half precision (as
diffusers users do; bench/cuda/run_on_device.sh), adding the peak GPU memory torch allocated.
"""
import importlib.util
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "sd_fixture_shims"))
src = os.environ.get("OMA_DIFFUSERS_SRC")
if not src or not os.path.isdir(os.path.join(src, "diffusers")):
    sys.exit("bench_torch_generate: set OMA_DIFFUSERS_SRC to the folder holding the diffusers package")
sys.path.insert(1, src)

import torch  # noqa: E402

threads = int(os.environ.get("OMA_THREADS") or os.cpu_count())
torch.set_num_threads(threads)


DEV = torch.device(os.environ.get("OMA_TORCH_DEVICE", "cpu"))
DT = getattr(torch, os.environ.get("OMA_TORCH_DTYPE", "float32"))


def sync():
    if DEV.type == "cuda":
        torch.cuda.synchronize()


def peak_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024.0 * 1024.0)


SCHED_CFG = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                 steps_offset=1, set_alpha_to_one=False, clip_sample=False, prediction_type="epsilon",
                 timestep_spacing="leading")


def scheduler(name):
    import diffusers
    if name == "DPM++ 2M Karras":
        cfg = {k: v for k, v in SCHED_CFG.items() if k not in ("set_alpha_to_one", "clip_sample")}
        return diffusers.DPMSolverMultistepScheduler(**cfg, use_karras_sigmas=True,
                                                     algorithm_type="dpmsolver++", solver_order=2)
    if name == "DDIM":
        return diffusers.DDIMScheduler(**SCHED_CFG)
    if name == "Euler a":
        cfg = {k: v for k, v in SCHED_CFG.items() if k not in ("set_alpha_to_one", "clip_sample")}
        return diffusers.EulerAncestralDiscreteScheduler(**cfg)
    if name == "LCM":
        import diffusers.schedulers  # noqa: F401
        path = os.path.join(os.environ.get("OMA_DIFFUSERS027_SRC", "/tmp/sdref/d027/src"),
                            "diffusers", "schedulers", "scheduling_lcm.py")
        spec = importlib.util.spec_from_file_location("diffusers.schedulers.scheduling_lcm", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        return mod.LCMScheduler(**{k: v for k, v in SCHED_CFG.items() if k != "clip_sample"})
    sys.exit(f"bench_torch_generate: unknown sampler {name!r}")


class TextEncoder(torch.nn.Module):
    """CLIP ViT-L/14's text transformer's shapes and work (pre-LN, causal)."""

    def __init__(self):
        super().__init__()
        self.tok = torch.nn.Embedding(49408, 768)
        self.pos = torch.nn.Parameter(torch.randn(77, 768) * 0.01)
        layer = torch.nn.TransformerEncoderLayer(768, 12, 3072, dropout=0.0, activation="gelu", batch_first=True,
                                                 norm_first=True)
        self.enc = torch.nn.TransformerEncoder(layer, 12, enable_nested_tensor=False)
        self.ln = torch.nn.LayerNorm(768)
        self.register_buffer("mask", torch.triu(torch.full((77, 77), float("-inf")), 1))

    def forward(self, ids):
        return self.ln(self.enc(self.tok(ids) + self.pos, mask=self.mask))


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    cand = what == "candidates"
    if what not in ("txt2img", "candidates") or len(sys.argv) < (4 if cand else 5):
        sys.exit(__doc__)
    sampler, steps = sys.argv[2], int(sys.argv[3])
    cfg = 7.5 if cand else float(sys.argv[4])
    argl = 4 if cand else 5
    latent = int(sys.argv[argl]) if len(sys.argv) > argl else 64
    from diffusers import AutoencoderKL, UNet2DConditionModel
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3).eval()
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
                        block_out_channels=(128, 256, 512, 512),
                        down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4).eval()
    text = TextEncoder().eval()
    unet, vae, text = unet.to(DEV, DT), vae.to(DEV, DT), text.to(DEV, DT)
    SF = 0.18215
    side = latent * 8
    ids = (torch.arange(77).unsqueeze(0) * 7 % 49408).to(DEV)
    t = {"text": 0.0, "encode": 0.0, "unet": 0.0, "decode": 0.0, "passes": 0, "items": 0}

    def clock():
        sync()
        return time.time()

    def one(strength=None, seed=0):
        g = torch.Generator().manual_seed(seed)
        do_cfg = cfg > 1.0
        t0 = clock()
        pos = text(ids)
        ctx = torch.cat([text(ids), pos]) if do_cfg else pos
        t["text"] += clock() - t0
        sched = scheduler(sampler)
        sched.set_timesteps(steps)
        timesteps = sched.timesteps
        if strength is None:
            lat = (torch.randn((1, 4, latent, latent), generator=g) * sched.init_noise_sigma).to(DEV, DT)
        else:
            t0 = clock()
            yy, xx = torch.meshgrid(torch.linspace(-1, 1, side), torch.linspace(-1, 1, side), indexing="ij")
            img = torch.stack([xx, yy, torch.sin(3 * xx) * torch.cos(2 * yy)]).unsqueeze(0).to(DEV, DT)
            gd = torch.Generator(device=DEV).manual_seed(seed) if DEV.type != "cpu" else g
            init = vae.encode(img).latent_dist.sample(gd) * SF
            t["encode"] += clock() - t0
            init_t = min(int(steps * strength), steps)
            timesteps = timesteps[max(steps - init_t, 0) * sched.order:]
            lat = sched.add_noise(init, torch.randn(init.shape, generator=g).to(DEV, DT), timesteps[:1])
        gd_step = torch.Generator(device=DEV).manual_seed(seed) if DEV.type != "cpu" else g
        t0 = clock()
        for ts in timesteps:
            inp = sched.scale_model_input(torch.cat([lat] * 2) if do_cfg else lat, ts)
            eps = unet(inp, ts, encoder_hidden_states=ctx).sample
            if do_cfg:
                un, te = eps.chunk(2)
                eps = un + cfg * (te - un)
            kw = {"generator": gd_step} if "generator" in sched.step.__code__.co_varnames else {}
            lat = sched.step(eps, ts, lat, **kw).prev_sample
            t["passes"] += 1
            t["items"] += inp.shape[0]
        t["unet"] += clock() - t0
        t0 = clock()
        vae.decode(lat / SF)
        t["decode"] += clock() - t0

    t_all = clock()
    with torch.no_grad():
        if cand:
            for k, s in enumerate([0.45 + 0.10 * i for i in range(3) for _ in range(2)]):
                one(s, seed=k)
        else:
            one()
    total = clock() - t_all
    print(f'torch_generate_sd15 {what} {side}x{side} sampler="{sampler}" steps={steps} cfg={cfg:g} '
          f'batch={6 if cand else 1} threads={threads}: total {total:.2f} s | text {t["text"]:.2f} s, '
          f'vae encode {t["encode"]:.2f} s, unet {t["passes"]} passes ({t["items"]} images) {t["unet"]:.2f} s = '
          f'{t["unet"] / max(t["passes"], 1):.2f} s/pass, vae decode {t["decode"]:.2f} s | peak RSS {peak_gb():.2f} GB'
          + (f' | device {DEV} {DT}, peak GPU memory {torch.cuda.max_memory_allocated() / 1e9:.2f} GB'
             if DEV.type == "cuda" else ''), flush=True)


if __name__ == "__main__":
    main()
