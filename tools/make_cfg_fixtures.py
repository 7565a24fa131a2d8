#!/usr/bin/env python3
"""make_cfg_fixtures.py — fixtures for "any size, every config" (issue 13) in tests/fixtures/sd_cfg/.

The idea: the C engine must do what diffusers v0.21.4's own pipelines do at sizes that are not
multiples of 64 and with models whose architecture numbers differ from SD 1.x, so the references
here are the outputs of diffusers' StableDiffusionPipeline / StableDiffusionImg2ImgPipeline
themselves (called with prompt_embeds, so no text encoder is needed: the embeddings are the ones
tests/fixtures/sd/ref already holds, made by the reference CLIP):
  1. tiny-sd (tests/fixtures/sd/tiny-sd) at 96x64 and 72x120 txt2img (DDIM, Euler a) and 72x120
     img2img (DDIM): latents 12x8 and 9x15 that the UNet's three downsamplers do not divide, so
     diffusers' upsamplers interpolate to the skip connection's size (forward_upsample_size).
  2. tiny-f4/: a diffusers folder whose VAE has 3 blocks (latent factor 4), scaling factor
     0.13025 and whose UNet has 2 blocks, 1 layer per block, 4 heads, sample_size 16
     (default size 64), with the tiny-sd text encoder and tokenizer; txt2img at 88x72 (DDIM).
  3. ldm-v/: an original single-file checkpoint tiny-ldm-v.safetensors with its LDM yaml beside it
     (tiny-ldm-v.yaml): parameterization "v", linear_start/linear_end 0.001/0.015, scale_factor 0.2,
     a 2-block UNet (model_channels 32, channel_mult [1, 2], attention only at resolution 2,
     num_head_channels 8, use_linear_in_transformer, transformer_depth 1, context_dim 48), a
     3-block VAE (ch 32, ch_mult [1, 1, 2]). The reference reads the yaml with diffusers' own
     conversion (create_unet_diffusers_config, create_vae_diffusers_config,
     convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint and the scheduler set-up of
     download_from_original_stable_diffusion_ckpt: DDIMScheduler with the yaml's betas,
     prediction_type "v_prediction") and runs the pipeline (DDIM, 4 steps, 64x64 -> latent 16x16).
     The original-layout file is written by the inverse of that conversion (written here for any
     block count) and checked: diffusers' conversion of the file gives back exactly the weights.
None of the reference sources is committed. transformers is not in Debian: the pipelines and the
conversion module only import its names, so a stand-in module with placeholder classes is
installed in sys.modules (nothing of it runs). omegaconf is not in Debian either: the yaml is
read with python3-yaml into a dict with attribute access, which is all the conversion uses.

Usage (Debian 12; set-up as for make_sd_fixtures.py; ~5 s; byte-for-byte reproducible):
  OMA_DIFFUSERS_SRC=/tmp/sdref/src /usr/bin/python3 tools/make_cfg_fixtures.py [--out tests/fixtures/sd_cfg]
"""
import argparse
import importlib.abc
import importlib.machinery
import json
import os
import shutil
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "sd_fixture_shims"))
SD = os.path.join(ROOT, "tests", "fixtures", "sd")

LDM_YAML = """\
# A tiny v-prediction SD model in the LDM config format (as SD 2.x's v2-inference-v.yaml),
# with numbers that differ from SD 1.x on purpose (tools/make_cfg_fixtures.py).
model:
  base_learning_rate: 1.0e-4
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    parameterization: "v"
    linear_start: 0.001
    linear_end: 0.015
    num_timesteps_cond: 1
    log_every_t: 200
    timesteps: 1000
    first_stage_key: "jpg"
    cond_stage_key: "txt"
    image_size: 16
    channels: 4
    cond_stage_trainable: false
    conditioning_key: crossattn
    monitor: val/loss_simple_ema
    scale_factor: 0.2
    use_ema: False # we set this to false because this is an inference only config

    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        use_checkpoint: True
        use_fp16: True
        image_size: 32 # unused
        in_channels: 4
        out_channels: 4
        model_channels: 32
        attention_resolutions: [ 2 ]
        num_res_blocks: 1
        channel_mult: [ 1, 2 ]
        num_head_channels: 8 # need to fix for flash-attn
        use_spatial_transformer: True
        use_linear_in_transformer: True
        transformer_depth: 1
        context_dim: 48
        legacy: False

    first_stage_config:
      target: ldm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: 4
        monitor: val/rec_loss
        ddconfig:
          #attn_type: "vanilla-xformers"
          double_z: true
          z_channels: 4
          resolution: 256
          in_channels: 3
          out_ch: 3
          ch: 32
          ch_mult:
          - 1
          - 1
          - 2
          num_res_blocks: 1
          attn_resolutions: []
          dropout: 0.0
        lossconfig:
          target: torch.nn.Identity

    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenCLIPEmbedder
"""


# ------------------------------------------------------------------ stand-ins
class _Placeholder:
    def __init__(self, *a, **k):
        raise RuntimeError("transformers stand-in: not available")


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "logging":  # transformers.utils.logging.get_logger at import time
            import logging
            m = types.ModuleType("logging")
            m.get_logger = logging.getLogger
            setattr(self, name, m)
            return m
        cls = type(name, (_Placeholder,), {})
        setattr(self, name, cls)
        return cls


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname == "transformers" or fullname.startswith("transformers."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        m = _StubModule(spec.name)
        m.__path__ = []
        return m

    def exec_module(self, module):
        pass


class Cfg(dict):
    """yaml mapping with attribute access; a missing attribute is None (as OmegaConf's DictConfig)."""
    def __getattr__(self, k):
        v = self.get(k)
        return Cfg(v) if isinstance(v, dict) and not isinstance(v, Cfg) else v


def to_cfg(o):
    if isinstance(o, dict):
        return Cfg({k: to_cfg(v) for k, v in o.items()})
    if isinstance(o, list):
        return [to_cfg(v) for v in o]
    return o


def save_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


def stable_config(cfg):
    return {k: (sorted(v) if k == "_use_default_values" else v) for k, v in sorted(cfg.items())
            if not k.startswith("_")}


def randomize_(module, gen):
    import torch
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p[0].numel() ** 0.5)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            p.copy_(p.half().float())


# ------------------------------------------------------------------ diffusers -> original names, any block count
RES = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"), ("conv2", "out_layers.3"),
       ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection")]


def unet_to_original(sd, cfg):
    nb, L = len(cfg["block_out_channels"]), cfg["layers_per_block"]
    pre = {"time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
           "conv_in.": "input_blocks.0.0.", "conv_norm_out.": "out.0.", "conv_out.": "out.2.",
           "mid_block.resnets.0.": "middle_block.0.", "mid_block.attentions.0.": "middle_block.1.",
           "mid_block.resnets.1.": "middle_block.2."}
    for i in range(nb):
        for j in range(L):
            pre[f"down_blocks.{i}.resnets.{j}."] = f"input_blocks.{(L + 1) * i + j + 1}.0."
            pre[f"down_blocks.{i}.attentions.{j}."] = f"input_blocks.{(L + 1) * i + j + 1}.1."
        pre[f"down_blocks.{i}.downsamplers.0.conv."] = f"input_blocks.{(L + 1) * (i + 1)}.0.op."
        has_attn = cfg["up_block_types"][i].startswith("CrossAttn")
        for j in range(L + 1):
            pre[f"up_blocks.{i}.resnets.{j}."] = f"output_blocks.{(L + 1) * i + j}.0."
            pre[f"up_blocks.{i}.attentions.{j}."] = f"output_blocks.{(L + 1) * i + j}.1."
        pre[f"up_blocks.{i}.upsamplers.0."] = f"output_blocks.{(L + 1) * i + L}.{2 if has_attn else 1}."
    out = {}
    for k, v in sd.items():
        hit = [p for p in pre if k.startswith(p)]
        assert len(hit) == 1, k
        rest = k[len(hit[0]):]
        if "resnets" in hit[0]:
            for a, b in RES:
                if rest.startswith(a + "."):
                    rest = b + rest[len(a):]
        out["model.diffusion_model." + pre[hit[0]] + rest] = v
    return out


def vae_to_original(sd, cfg):
    nb, L = len(cfg["block_out_channels"]), cfg["layers_per_block"]
    pre = {"conv_norm_out.": "norm_out.", "mid_block.resnets.0.": "mid.block_1.",
           "mid_block.resnets.1.": "mid.block_2.", "mid_block.attentions.0.": "mid.attn_1."}
    for i in range(nb):
        for j in range(L):
            pre[f"down_blocks.{i}.resnets.{j}."] = f"down.{i}.block.{j}."
        pre[f"down_blocks.{i}.downsamplers.0."] = f"down.{i}.downsample."
        for j in range(L + 1):
            pre[f"up_blocks.{i}.resnets.{j}."] = f"up.{nb - 1 - i}.block.{j}."
        pre[f"up_blocks.{i}.upsamplers.0."] = f"up.{nb - 1 - i}.upsample."
    attn = {"group_norm.": "norm.", "to_q.": "q.", "to_k.": "k.", "to_v.": "v.", "to_out.0.": "proj_out."}
    out = {}
    for k, v in sd.items():
        if k.startswith(("quant_conv.", "post_quant_conv.")):
            out["first_stage_model." + k] = v
            continue
        part, rest = k.split(".", 1)  # encoder / decoder
        hit = [p for p in pre if rest.startswith(p)]
        assert len(hit) <= 1, k
        if hit:
            tail = rest[len(hit[0]):]
            if "resnets" in hit[0]:
                tail = tail.replace("conv_shortcut.", "nin_shortcut.")
            if "attentions" in hit[0]:
                for a, b in attn.items():
                    if tail.startswith(a):
                        tail = b + tail[len(a):]
                if tail.endswith("weight") and v.ndim == 2:
                    v = v[:, :, None, None]
            rest = pre[hit[0]] + tail
        out[f"first_stage_model.{part}.{rest}"] = v
    return out


# ------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "sd_cfg"))
    a = ap.parse_args()
    out = os.path.normpath(a.out)
    diffusers_src = os.environ.get("OMA_DIFFUSERS_SRC")
    if not diffusers_src or not os.path.isdir(diffusers_src):
        sys.exit("make_cfg_fixtures: set OMA_DIFFUSERS_SRC (see the usage at the top of this script)")
    sys.path.insert(1, diffusers_src)
    sys.meta_path.insert(0, _StubFinder())
    import numpy as np
    import torch
    import yaml
    from PIL import Image

    torch.set_num_threads(1)
    _baddbmm = torch.baddbmm  # same defined-memory fix as make_sd_fixtures.py

    def baddbmm_defined(inp, b1, b2, *, beta=1, alpha=1):
        if beta == 0:
            inp, beta = torch.zeros(b1.shape[0], b1.shape[1], b2.shape[2], dtype=b1.dtype), 1
        return _baddbmm(inp, b1, b2, beta=beta, alpha=alpha)
    torch.baddbmm = baddbmm_defined
    torch.bmm = lambda b1, b2: _baddbmm(torch.zeros(b1.shape[0], b1.shape[1], b2.shape[2], dtype=b1.dtype), b1, b2)

    import diffusers
    from diffusers import (AutoencoderKL, DDIMScheduler, EulerAncestralDiscreteScheduler,
                           UNet2DConditionModel)
    import diffusers.pipelines.paint_by_example as pbe  # its __init__ hides it without transformers
    from diffusers.pipelines.paint_by_example.image_encoder import PaintByExampleImageEncoder
    pbe.PaintByExampleImageEncoder = PaintByExampleImageEncoder
    from diffusers.pipelines.stable_diffusion import convert_from_ckpt as cv
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import \
        StableDiffusionImg2ImgPipeline
    from safetensors.torch import load_file, save_file

    for sub in ("ref", "tiny-f4", "ldm-v"):
        if os.path.exists(os.path.join(out, sub)):
            shutil.rmtree(os.path.join(out, sub))
    ref = os.path.join(out, "ref")
    os.makedirs(ref)
    index = {"generator": "tools/make_cfg_fixtures.py", "diffusers_version": diffusers.__version__,
             "torch_version": torch.__version__, "files": {}}

    emb = load_file(os.path.join(SD, "ref", "txt2img_ddim.safetensors"))["prompt_embeds"]
    neg, pos = emb[0:1].clone(), emb[1:2].clone()
    sched_cfg = json.load(open(os.path.join(SD, "tiny-sd", "scheduler", "scheduler_config.json")))

    def pipe_for(cls, unet, vae, sched):
        return cls(vae=vae, text_encoder=None, tokenizer=None, unet=unet, scheduler=sched,
                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)

    def run(name, pipe, seed, what, meta, **kw):
        """Runs the pipeline twice with the same seed: latents (output_type='latent') and uint8 image."""
        common = dict(prompt_embeds=pos, negative_prompt_embeds=neg, num_inference_steps=4, guidance_scale=7.5)
        common.update(kw)
        if isinstance(pipe.scheduler, DDIMScheduler):
            common["eta"] = 0.0
        with torch.no_grad():
            lat = pipe(generator=torch.Generator().manual_seed(seed), output_type="latent", **common).images
            img = pipe(generator=torch.Generator().manual_seed(seed), output_type="np", **common).images
        u8 = (img * 255).round().astype(np.uint8)  # VaeImageProcessor.numpy_to_pil's rounding
        Image.fromarray(u8[0]).save(os.path.join(ref, name + ".png"))
        t = {"final_latents": lat.float().contiguous(), "image_u8": torch.from_numpy(u8.astype(np.float32))}
        for k, v in t.items():
            assert torch.isfinite(v).all(), (name, k)
        save_file(t, os.path.join(ref, name + ".safetensors"))
        meta = dict(meta, seed=seed, steps=4, cfg=7.5, scheduler_class=type(pipe.scheduler).__name__,
                    scheduler_config=stable_config(pipe.scheduler.config),
                    prompt_embeds="tests/fixtures/sd/ref/txt2img_ddim.safetensors prompt_embeds ([neg, pos])")
        index["files"]["ref/" + name + ".safetensors"] = {
            "what": what, "meta": meta, "tensors": {k: list(v.shape) for k, v in t.items()}}

    # ---- 1. tiny-sd at sizes the UNet does not divide
    unet = UNet2DConditionModel.from_pretrained(os.path.join(SD, "tiny-sd", "unet")).float().eval()
    vae = AutoencoderKL.from_pretrained(os.path.join(SD, "tiny-sd", "vae")).float().eval()
    ddim = DDIMScheduler.from_config(sched_cfg)
    eua = EulerAncestralDiscreteScheduler.from_config(sched_cfg)
    base = {"model": "tests/fixtures/sd/tiny-sd"}
    run("txt2img_96x64_ddim", pipe_for(StableDiffusionPipeline, unet, vae, ddim), 2001,
        "tiny-sd txt2img 96 wide x 64 high (latent 12x8), DDIM", dict(base, width=96, height=64),
        width=96, height=64)
    run("txt2img_72x120_euler_a", pipe_for(StableDiffusionPipeline, unet, vae, eua), 2002,
        "tiny-sd txt2img 72 wide x 120 high (latent 9x15), Euler a", dict(base, width=72, height=120),
        width=72, height=120)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 120), torch.linspace(-1, 1, 72), indexing="ij")
    im = torch.stack([xx * yy, torch.cos(4 * yy), torch.sin(5 * xx) * torch.cos(3 * yy)])
    init_u8 = ((im.permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
    Image.fromarray(init_u8).save(os.path.join(ref, "init_72x120.png"))
    run("img2img_72x120_ddim", pipe_for(StableDiffusionImg2ImgPipeline, unet, vae, ddim), 2003,
        "tiny-sd img2img of ref/init_72x120.png (72 wide x 120 high), strength 0.55, DDIM",
        dict(base, width=72, height=120, strength=0.55, init_png="ref/init_72x120.png"),
        image=Image.open(os.path.join(ref, "init_72x120.png")), strength=0.55)

    # ---- 2. tiny-f4: VAE factor 4, a 2-block UNet
    f4 = os.path.join(out, "tiny-f4")
    gen = torch.Generator().manual_seed(404)
    unet4 = UNet2DConditionModel(sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
                                 block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                 up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=4,
                                 cross_attention_dim=48, norm_num_groups=8).eval()
    vae4 = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
                         block_out_channels=(32, 32, 32), down_block_types=("DownEncoderBlock2D",) * 3,
                         up_block_types=("UpDecoderBlock2D",) * 3, norm_num_groups=8, sample_size=64,
                         scaling_factor=0.13025).eval()
    randomize_(unet4, gen)
    randomize_(vae4, gen)
    unet4.half().save_pretrained(os.path.join(f4, "unet"))  # F16 files, the same numbers
    vae4.half().save_pretrained(os.path.join(f4, "vae"))
    unet4.float()
    vae4.float()
    for sub in ("text_encoder", "tokenizer", "scheduler"):
        shutil.copytree(os.path.join(SD, "tiny-sd", sub), os.path.join(f4, sub))
    shutil.copy(os.path.join(SD, "tiny-sd", "model_index.json"), f4)
    run("f4_txt2img_88x72_ddim", pipe_for(StableDiffusionPipeline, unet4, vae4, DDIMScheduler.from_config(sched_cfg)),
        2004, "tiny-f4 txt2img 88 wide x 72 high (VAE factor 4: latent 22x18), DDIM",
        {"model": "tests/fixtures/sd_cfg/tiny-f4", "width": 88, "height": 72}, width=88, height=72)

    # ---- 3. ldm-v: single file + LDM yaml, v-prediction, read by diffusers' conversion
    ldm = os.path.join(out, "ldm-v")
    os.makedirs(ldm)
    with open(os.path.join(ldm, "tiny-ldm-v.yaml"), "w") as f:
        f.write(LDM_YAML)
    oc = to_cfg(yaml.safe_load(LDM_YAML))
    image_size = 768  # what download_from_original_stable_diffusion_ckpt picks for parameterization "v"
    ucfg = cv.create_unet_diffusers_config(oc, image_size=image_size)
    vcfg = cv.create_vae_diffusers_config(oc, image_size=image_size)
    vcfg["scaling_factor"] = oc.model.params.scale_factor
    gen = torch.Generator().manual_seed(505)
    unet_v = UNet2DConditionModel(**ucfg).eval()
    vae_v = AutoencoderKL(**vcfg).eval()
    randomize_(unet_v, gen)
    randomize_(vae_v, gen)
    single = {}
    single.update(unet_to_original(unet_v.state_dict(), ucfg))
    single.update(vae_to_original(vae_v.state_dict(), vcfg))
    te = load_file(os.path.join(SD, "single", "tiny-sd-v1.safetensors"))
    single.update({k: v for k, v in te.items() if k.startswith("cond_stage_model.")})
    single = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in single.items()}
    save_file(single, os.path.join(ldm, "tiny-ldm-v.safetensors"))
    shutil.copytree(os.path.join(SD, "tiny-sd", "tokenizer"), os.path.join(ldm, "tokenizer"))
    # diffusers' side: read the file back through its conversion, exactly as it would any checkpoint
    ck = {k: v.float() for k, v in load_file(os.path.join(ldm, "tiny-ldm-v.safetensors")).items()}
    u_sd = cv.convert_ldm_unet_checkpoint(ck, ucfg)
    v_sd = cv.convert_ldm_vae_checkpoint(ck, vcfg)
    for mine, theirs in ((unet_v.state_dict(), u_sd), (vae_v.state_dict(), v_sd)):
        assert set(mine) == set(theirs), set(mine) ^ set(theirs)
        for k in mine:
            assert torch.equal(mine[k], theirs[k].reshape(mine[k].shape)), k
    unet_r = UNet2DConditionModel(**ucfg).eval()
    unet_r.load_state_dict(u_sd)
    vae_r = AutoencoderKL(**vcfg).eval()
    vae_r.load_state_dict(v_sd)
    p = oc.model.params
    sched_v = DDIMScheduler(beta_end=p.linear_end, beta_schedule="scaled_linear", beta_start=p.linear_start,
                            num_train_timesteps=p.timesteps, steps_offset=1, clip_sample=False,
                            set_alpha_to_one=False, prediction_type="v_prediction")
    sched_v.register_to_config(clip_sample=False)
    # the converted networks alone (no sampler): UNet at t=500 on an odd-sized latent, VAE decode
    g = torch.Generator().manual_seed(506)
    x = torch.randn((1, 4, 11, 6), generator=g)
    z = torch.randn((1, 4, 5, 7), generator=g)
    with torch.no_grad():
        u = unet_r(x, 500, encoder_hidden_states=pos).sample
        d = vae_r.decode(z).sample
    t = {"sample": x, "out_t500": u, "latent": z, "decoded": d}
    save_file({k: v.contiguous() for k, v in t.items()}, os.path.join(ref, "ldm_v_nets.safetensors"))
    index["files"]["ref/ldm_v_nets.safetensors"] = {
        "what": "ldm-v's UNet (as diffusers converts it with the yaml) at t=500 on sample [1,4,11,6] with "
                "the prompt's embedding (prompt_embeds[1]); its VAE decode(latent [1,4,5,7]) (no scaling)",
        "meta": {}, "tensors": {k: list(v.shape) for k, v in t.items()}}
    run("ldm_v_txt2img_64x64_ddim", pipe_for(StableDiffusionPipeline, unet_r, vae_r, sched_v), 2005,
        "ldm-v/tiny-ldm-v.safetensors with its yaml (v-prediction), converted by diffusers; txt2img 64x64, DDIM",
        {"model": "tests/fixtures/sd_cfg/ldm-v/tiny-ldm-v.safetensors", "width": 64, "height": 64,
         "unet_config": {k: v for k, v in ucfg.items()}, "vae_config": vcfg}, width=64, height=64)
    save_json(os.path.join(ref, "index.json"), index)
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out) for f in fs)
    print(f"fixtures in {out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
