#!/usr/bin/python3
"""check_trained_lora.py — a style file written by `oma train style` loads in diffusers and in
`oma generate`, and both draw the same image.

  OMA_DIFFUSERS_SRC=/tmp/sdref/src /usr/bin/python3 tools/check_trained_lora.py NAME.safetensors OMA_BIN

On the tiny fixture model (tests/fixtures/sd/tiny-sd; train the file on it, e.g.
`oma train style --model tests/fixtures/sd/tiny-sd --resolution 64 ...`): 4 DDIM steps, CFG 7.5,
64x64, seed 1004, prompt "a city street, style of <s1><s2>".
  * diffusers v0.21.4 loads the UNet LoRA itself (LoraLoaderMixin.lora_state_dict, its kohya
    conversion, + load_lora_into_unet: LoRA layers at run time). Its kohya conversion refuses any
    key that is not a LoRA tensor, so it is given the file's lora_* entries (the embedding keys
    are for A1111/ComfyUI/oma);
  * the text encoder is tools/train_reference.py's (transformers is not on Debian), the
    text-encoder LoRA merged into it (W += alpha/rank up @ down), <s1>/<s2> from the file's
    entries placed where the tokens stand, as diffusers' load_textual_inversion does;
  * OMA_BIN (an oma with LoRA loading) runs `oma generate --lora FILE` with the same settings.
Prints the largest difference of the two 8-bit images; exits 1 above 1/255 (the SD tests' fp32
tolerance) or when the LoRA changes nothing.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, HERE)
import train_reference as ref  # noqa: E402  (sets up the shims and the diffusers path)
from safetensors.torch import load_file  # noqa: E402

MODEL = os.path.join(ROOT, "tests", "fixtures", "sd", "tiny-sd")
PROMPT = "a city street, style of"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_trained_lora.py NAME.safetensors OMA_BIN")
    path, oma = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    ref.patch_bmm()
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from diffusers.loaders import LoraLoaderMixin
    from PIL import Image

    sd = load_file(path)
    lora = {k: v.float() for k, v in sd.items() if k.startswith(("lora_unet_", "lora_te_"))}
    s1, s2 = sd["<s1>"].float(), sd["<s2>"].float()

    def draw(with_lora):
        unet = UNet2DConditionModel.from_pretrained(os.path.join(MODEL, "unet")).float().eval()
        vae = AutoencoderKL.from_pretrained(os.path.join(MODEL, "vae")).float().eval()
        tcfg = json.load(open(os.path.join(MODEL, "text_encoder", "config.json")))
        text = ref.CLIPText(load_file(os.path.join(MODEL, "text_encoder", "model.safetensors")), tcfg)
        if with_lora:
            unet_sd = {k: v for k, v in lora.items() if k.startswith("lora_unet_")}
            state, alphas = LoraLoaderMixin.lora_state_dict(dict(unet_sd))
            LoraLoaderMixin.load_lora_into_unet(state, alphas, unet)
            for i, L in enumerate(text.layers):
                for n in ["q_proj", "k_proj", "v_proj", "out_proj"]:
                    k = f"lora_te_text_model_encoder_layers_{i}_self_attn_{n}"
                    down, up = lora[k + ".lora_down.weight"], lora[k + ".lora_up.weight"]
                    scale = lora[k + ".alpha"].item() / down.shape[0]
                    getattr(L, n).weight.data += scale * up @ down
        tok = ref.Tokenizer(os.path.join(MODEL, "tokenizer"))
        V = text.tok.shape[0]
        bos, eos = tok.vocab["<|startoftext|>"], tok.vocab["<|endoftext|>"]
        pos = [bos] + tok.encode(PROMPT) + [V, V + 1, eos]
        neg = [bos, eos]
        ids = torch.tensor([pos + [eos] * (77 - len(pos)), neg + [eos] * (77 - len(neg))])
        extra = torch.stack([s1, s2])
        with torch.no_grad():
            emb = torch.cat([text(ids[1:2], extra), text(ids[0:1], extra)])
            sched = DDIMScheduler.from_pretrained(os.path.join(MODEL, "scheduler"))
            sched.set_timesteps(4)
            g = torch.Generator().manual_seed(1004)
            lat = torch.randn((1, 4, 8, 8), generator=g) * sched.init_noise_sigma
            for t in sched.timesteps:
                e = unet(sched.scale_model_input(torch.cat([lat] * 2), t), t, encoder_hidden_states=emb).sample
                un, tx = e.chunk(2)
                lat = sched.step(un + 7.5 * (tx - un), t, lat, eta=0.0).prev_sample
            im = vae.decode(lat / vae.config.scaling_factor).sample
        return ((im / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1) * 255).round()[0].byte().numpy().astype(int)

    want, plain = draw(True), draw(False)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "oma.png")
        subprocess.run([oma, "generate", "--model", MODEL, "--steps", "4", "--sampler", "DDIM",
                        "--seed", "1004", "--width", "64", "--height", "64", "--cfg", "7.5",
                        "--lora", path, "--prompt", PROMPT + " <s1><s2>", "-o", out], check=True)
        got = np.asarray(Image.open(out).convert("RGB")).astype(int)
    diff = np.abs(got - want)
    effect = np.abs(want - plain).mean()
    print(f"oma generate vs diffusers with {os.path.basename(path)}: max |diff| {diff.max()} of 255, "
          f"mean {diff.mean():.4f}; the LoRA moves the image by {effect:.2f} of 255 on average")
    sys.exit(0 if diff.max() <= 1 and effect > 1 else 1)


if __name__ == "__main__":
    main()
