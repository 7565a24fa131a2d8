#!/usr/bin/env python3
"""make_animate_fixtures.py — AnimateAnyone (stage 1, pose-to-image) conformance fixtures.

The idea: the real weights cannot be fetched here, so the C port is checked number for number
against Moore-AnimateAnyone's OWN code (its Pose2ImagePipeline, ReferenceAttentionControl,
UNet2DConditionModel / UNet3DConditionModel and PoseGuider) run on a TINY random model saved in
the formats users download: torch.save state dicts (.pth, .bin) and safetensors conversions.

Reference sources (none committed; versions are those Moore's requirements.txt pins):
  * Moore-AnimateAnyone @a914ef38 (github MooreThreads/Moore-AnimateAnyone): $OMA_MOORE_SRC
    (the repository root, holding src/ and configs/);
  * $OMA_AA_DEPS: a folder holding the packages diffusers (v0.24.0, `git archive v0.24.0
    src/diffusers`), transformers (4.30.2, the copy OmkarShinde1996/transformers_v4.30.2
    @43e52fba, `src/transformers`), huggingface_hub (v0.19.4, `src/huggingface_hub`) and
    einops (v0.4.1, `einops`).
Debian has none of those packages: this script writes fake dist-info records (diffusers and
transformers check versions with importlib.metadata) and a safetensors stand-in (the one in
tools/sd_fixture_shims plus the storage_ptr/storage_size transformers 4.30 imports) into a
temporary folder put first on sys.path. torch 1.13's baddbmm spreads NaN from the empty buffer
diffusers 0.24 passes with beta=0 (get_attention_scores), so that one function is patched to
pass zeros (beta=1, +0: the same values).

Tiny model (SD 1.5 layout, widths made small): UNet block_out_channels [16,16,32,32], 1 layer
per block, 4 heads, cross_attention_dim 16, 8 norm groups (so the width-sorted block pairing of
ReferenceAttentionControl is exercised with two widths); PoseGuider(16, (8,16,16,32)); CLIP
vision hidden 32, 2 layers, 4 heads, patch 14 at 224 (forced by the pipeline), projection 16;
AutoencoderKL 4 levels of 16 channels, 1 layer, 8 groups. Every weight is random, norm affines
included, and rounded to float16-representable values so the F16 safetensors conversions hold
exactly the .pth's numbers. Motion modules are off (stage 1; with Moore's zero proj_out they
change nothing).

Run: 3 DDIM steps (v_prediction, zero-SNR rescaled betas, trailing spacing, steps_offset 1:
configs/inference/inference_v2.yaml), guidance 3.5, seed 42, at 64x128 (WxH) -> ref.safetensors;
then the same inputs at 72x120 (multiples of 8, not of 64: the pipeline resizes them, the latents
are 9x15) -> ref_72x120.safetensors (the same names, without ref_u8/pose_u8). Adding that run
changed no byte of the other files (compared with cmp after regenerating into a scratch folder).

Usage:
  OMA_MOORE_SRC=/tmp/aa_ref OMA_AA_DEPS=/tmp/aa_ref/deps /usr/bin/python3 \\
      tools/make_animate_fixtures.py [--out tests/fixtures/animate]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def setup_env():
    site = tempfile.mkdtemp(prefix="oma-aa-site-")
    for name, ver in (("transformers", "4.30.2"), ("diffusers", "0.24.0"),
                      ("huggingface_hub", "0.19.4"), ("einops", "0.4.1")):
        d = os.path.join(site, f"{name}-{ver}.dist-info")
        os.makedirs(d)
        with open(os.path.join(d, "METADATA"), "w") as f:
            f.write(f"Metadata-Version: 2.1\nName: {name}\nVersion: {ver}\n")
    shutil.copytree(os.path.join(HERE, "sd_fixture_shims", "safetensors"), os.path.join(site, "safetensors"))
    with open(os.path.join(site, "safetensors", "torch.py"), "a") as f:
        f.write("\n\ndef storage_ptr(t):\n    return t.storage().data_ptr()\n\n\n"
                "def storage_size(t):\n    return t.storage().size() * t.element_size()\n")
    os.environ["HF_HOME"] = os.path.join(site, "hf")
    os.environ["HF_HUB_OFFLINE"] = "1"
    sys.path[:0] = [site, os.environ["OMA_AA_DEPS"], os.environ["OMA_MOORE_SRC"]]
    return site


UNET_CFG = {
    "_class_name": "UNet2DConditionModel", "act_fn": "silu", "attention_head_dim": 4,
    "block_out_channels": [16, 16, 32, 32], "center_input_sample": False, "cross_attention_dim": 16,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4,
    "layers_per_block": 1, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 8,
    "out_channels": 4, "sample_size": 16,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
VAE_CFG = {
    "_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [16, 16, 16, 16],
    "down_block_types": ["DownEncoderBlock2D"] * 4, "in_channels": 3, "latent_channels": 4,
    "layers_per_block": 1, "norm_num_groups": 8, "out_channels": 3, "sample_size": 64,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}
CLIP_CFG = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                image_size=224, patch_size=14, projection_dim=16, hidden_act="quick_gelu",
                layer_norm_eps=1e-5)
POSE_WIDTHS = (8, 16, 16, 32)
W, H, STEPS, CFG, SEED = 64, 128, 3, 3.5, 42
ODD_SIZES = ((72, 120),)     # W x H


def randomise(torch, model, gen):
    """Random weights, norm affines too, all float16-representable."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and ("norm" in name or "layrnorm" in name or "layer_norm" in name) and name.endswith("weight"):
                v = 1.0 + 0.2 * torch.randn(p.shape, generator=gen)
            elif p.ndim == 1:
                v = 0.1 * torch.randn(p.shape, generator=gen)
            else:
                fan_in = max(1, p[0].numel())
                v = torch.randn(p.shape, generator=gen) / (fan_in ** 0.5)
            p.copy_(v.half().float())


def save_both(torch, st_save, sd, pth_path, st_path):
    # torch.save(model.state_dict()) as Moore and transformers do: an OrderedDict whose
    # _metadata attribute pickles as a BUILD; CLIP's position_ids buffer is an int64 tensor.
    torch.save(sd, pth_path)
    st = {}
    for k, v in sd.items():
        st[k] = v.half() if v.is_floating_point() else v
    st_save(st, st_path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "fixtures", "animate"))
    args = ap.parse_args()
    setup_env()
    import numpy as np
    import torch
    from PIL import Image
    from safetensors.torch import save_file as st_save
    import diffusers.models.attention_processor as ap_mod
    from diffusers import AutoencoderKL, DDIMScheduler
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
    from src.models.pose_guider import PoseGuider
    from src.models.unet_2d_condition import UNet2DConditionModel
    from src.models.unet_3d import UNet3DConditionModel
    from src.pipelines.pipeline_pose2img import Pose2ImagePipeline

    orig_scores = ap_mod.Attention.get_attention_scores

    def scores(self, query, key, attention_mask=None):
        if attention_mask is None:
            attention_mask = torch.zeros(query.shape[0], query.shape[1], key.shape[1], dtype=query.dtype)
        return orig_scores(self, query, key, attention_mask)
    ap_mod.Attention.get_attention_scores = scores

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    out = os.path.abspath(args.out)
    pth_dir, st_dir = os.path.join(out, "tiny"), os.path.join(out, "tiny-st")
    for d in (pth_dir, st_dir):
        shutil.rmtree(d, ignore_errors=True)
        for sub in ("image_encoder", "sd-vae-ft-mse", "stable-diffusion-v1-5/unet"):
            os.makedirs(os.path.join(d, sub))
        with open(os.path.join(d, "stable-diffusion-v1-5/unet/config.json"), "w") as f:
            json.dump(UNET_CFG, f, indent=1)

    ref_unet = UNet2DConditionModel.from_config(UNET_CFG)
    randomise(torch, ref_unet, gen)
    den_cfg = dict(UNET_CFG)
    den_cfg["_class_name"] = "UNet3DConditionModel"
    den_cfg["down_block_types"] = ["CrossAttnDownBlock3D"] * 3 + ["DownBlock3D"]
    den_cfg["up_block_types"] = ["UpBlock3D"] + ["CrossAttnUpBlock3D"] * 3
    den_cfg["mid_block_type"] = "UNetMidBlock3DCrossAttn"
    den_unet = UNet3DConditionModel.from_config(den_cfg, use_inflated_groupnorm=True,
                                                unet_use_cross_frame_attention=False,
                                                unet_use_temporal_attention=False, use_motion_module=False)
    randomise(torch, den_unet, gen)
    pose_guider = PoseGuider(UNET_CFG["block_out_channels"][0], block_out_channels=POSE_WIDTHS)
    randomise(torch, pose_guider, gen)      # conv_out re-initialised too (Moore's is zero at init)
    clip = CLIPVisionModelWithProjection(CLIPVisionConfig(**CLIP_CFG))
    randomise(torch, clip, gen)
    vae = AutoencoderKL.from_config(VAE_CFG)
    randomise(torch, vae, gen)
    for m in (ref_unet, den_unet, pose_guider, clip, vae):
        m.eval()

    # The files as users have them (state dicts; Moore's reference_unet.pth lacks conv_norm_out
    # and conv_out: its UNet2DConditionModel does not build them).
    for name, m in (("denoising_unet", den_unet), ("reference_unet", ref_unet), ("pose_guider", pose_guider)):
        save_both(torch, st_save, m.state_dict(), os.path.join(pth_dir, name + ".pth"),
                  os.path.join(st_dir, name + ".safetensors"))
    save_both(torch, st_save, clip.state_dict(), os.path.join(pth_dir, "image_encoder", "pytorch_model.bin"),
              os.path.join(st_dir, "image_encoder", "model.safetensors"))
    save_both(torch, st_save, vae.state_dict(), os.path.join(pth_dir, "sd-vae-ft-mse", "diffusion_pytorch_model.bin"),
              os.path.join(st_dir, "sd-vae-ft-mse", "diffusion_pytorch_model.safetensors"))
    clip_json = clip.config.to_dict()
    for d in (pth_dir, st_dir):
        with open(os.path.join(d, "image_encoder", "config.json"), "w") as f:
            json.dump({k: clip_json[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                                 "num_attention_heads", "image_size", "patch_size",
                                                 "projection_dim", "hidden_act", "layer_norm_eps",
                                                 "num_channels")}, f, indent=1)
        with open(os.path.join(d, "sd-vae-ft-mse", "config.json"), "w") as f:
            json.dump(VAE_CFG, f, indent=1)

    # Inputs: a smooth coloured character-ish picture and a skeleton-like pose picture.
    rng = np.random.RandomState(7)
    yy, xx = np.mgrid[0:H, 0:W]
    ref = np.stack([(xx * 4) % 256, (yy * 2) % 256, ((xx + yy) * 3) % 256], -1).astype(np.float64)
    ref += rng.randint(0, 40, ref.shape)
    ref_u8 = np.clip(ref, 0, 255).astype(np.uint8)
    pose_u8 = np.zeros((H, W, 3), np.uint8)
    pose_u8[20:100, 30:34] = (255, 0, 85)
    pose_u8[40:44, 10:54] = (0, 255, 170)
    pose_u8[90:120, 20:24] = (85, 0, 255)
    ref_img, pose_img = Image.fromarray(ref_u8), Image.fromarray(pose_u8)

    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear", clip_sample=False,
                          steps_offset=1, prediction_type="v_prediction", rescale_betas_zero_snr=True,
                          timestep_spacing="trailing")
    pipe = Pose2ImagePipeline(vae=vae, image_encoder=clip, reference_unet=ref_unet, denoising_unet=den_unet,
                              pose_guider=pose_guider, scheduler=sched)

    g = {}
    # hooks: CLIP input/output, VAE encoder input/latent, pose guider in/out, reference banks
    def clip_hook(mod, inp, outp):
        g["clip_pixels"] = inp[0].detach().numpy().copy()
        g["clip_embeds"] = outp.image_embeds.detach().numpy().copy()
    clip.register_forward_hook(clip_hook)

    def pose_hook(mod, inp, outp):
        g["pose_in"] = inp[0].detach()[:, :, 0].numpy().copy()
        g["pose_fea"] = outp.detach()[:, :, 0].numpy().copy()
    pose_guider.register_forward_hook(pose_hook)

    vae.quant_conv.register_forward_hook(lambda m, i, o: g.__setitem__("vae_moments", o.detach().numpy().copy()))
    vae.encoder.register_forward_hook(lambda m, i, o: g.__setitem__("vae_in", i[0].detach().numpy().copy()))
    vae.post_quant_conv.register_forward_hook(lambda m, i, o: g.__setitem__("dec_in", i[0].detach().numpy().copy()))

    from src.models.attention import BasicTransformerBlock
    bank_names, blocks = [], []
    for name, mod in ref_unet.named_modules():
        if isinstance(mod, BasicTransformerBlock):
            bank_names.append(name)

            def h(m, i, o, name=name):
                key = "bank." + name
                if key not in g:
                    g[key] = o.detach()[1].numpy().copy()     # the cond row (clip embeds)
            mod.norm1.register_forward_hook(h)
    for unet in (ref_unet, den_unet):
        blocks += [mod for mod in unet.modules() if isinstance(mod, BasicTransformerBlock)]

    def ref_hook(mod, args_, kwargs_=None):
        g["ref_latents"] = args_[0].detach()[1].numpy().copy()
    ref_unet.register_forward_pre_hook(ref_hook)

    step = {"i": 0}

    def den_hook(mod, inp, outp):
        i = step["i"]
        g[f"step{i}.den_in"] = inp[0].detach()[:, :, 0].numpy().copy()
        g[f"step{i}.t"] = np.array([float(inp[1])], np.float64)
        g[f"step{i}.den_out"] = outp[0].detach()[:, :, 0].numpy().copy()
    den_unet.register_forward_hook(den_hook)

    def cb(i, t, latents):
        g[f"step{i}.latents_after"] = latents.detach()[:, :, 0].numpy().copy()
        step["i"] = i + 1

    def run(w, h):
        """One Pose2ImagePipeline call at w x h (the inputs are resized by the pipeline)."""
        g.clear()
        step["i"] = 0
        # ReferenceAttentionControl patches each block's forward per call: start from the class's
        for mod in blocks:
            mod.__dict__.pop("forward", None)
        generator = torch.Generator().manual_seed(SEED)
        g["init_noise"] = torch.randn((1, 4, h // 8, w // 8), generator=torch.Generator().manual_seed(SEED)).numpy()
        with torch.no_grad():
            img = pipe(ref_img, pose_img, w, h, STEPS, CFG, generator=generator, callback=cb, callback_steps=1).images
        img = img[0, :, 0].numpy()      # [3, H, W] in [0, 1]
        g["image"] = img
        g["image_u8"] = (img.transpose(1, 2, 0) * 255).astype(np.uint8)     # the original truncates
        g["timesteps"] = sched.timesteps.numpy().astype(np.int64)
        g["alphas_cumprod"] = sched.alphas_cumprod.numpy()
        return img

    def save_gold(path):
        for k, v in g.items():
            if isinstance(v, np.ndarray) and v.dtype.kind == "f" and not np.isfinite(v).all():
                raise SystemExit(f"non-finite values in {k}")
        gold = {}
        for k, v in g.items():
            v = np.ascontiguousarray(v)
            if v.dtype == np.float64:
                v = v.astype(np.float32)
            if v.dtype == np.uint8:
                v = v.astype(np.float32)
            gold[k] = torch.from_numpy(v)
        st_save(gold, path)

    img = run(W, H)
    g["ref_u8"] = ref_u8
    g["pose_u8"] = pose_u8
    ref_img.save(os.path.join(out, "character.png"))
    pose_img.save(os.path.join(out, "pose.png"))
    save_gold(os.path.join(out, "ref.safetensors"))
    print("blocks:", len(bank_names), "steps:", STEPS, "timesteps:", g["timesteps"].tolist())
    print("image range", float(img.min()), float(img.max()))

    # Sizes that are multiples of 8 but not of 64 (72 x 120: latents 9 x 15, odd both ways, so
    # both UNets take diffusers' forward_upsample_size path): the same inputs, which the
    # pipeline resizes (Pillow LANCZOS).
    for w, h in ODD_SIZES:
        run(w, h)
        print(f"{w}x{h}: latents", list(g["step0.latents_after"].shape), "image", list(g["image"].shape))
        save_gold(os.path.join(out, f"ref_{w}x{h}.safetensors"))
    with open(os.path.join(out, "banks.txt"), "w") as f:
        f.write("\n".join(bank_names) + "\n")


if __name__ == "__main__":
    main()
