#!/usr/bin/env python3
"""make_lora_fixtures.py — LoRA and textual-inversion fixtures for the tiny SD model (tests/fixtures/lora/).

The idea: random LoRA / embedding files in every format users have, for tests/fixtures/sd/tiny-sd,
and what the REFERENCE draws with them (4 DDIM steps, CFG 7.5, 64x64, seed 1004, the prompt and
negative prompt of tests/fixtures/sd/ref/txt2img_ddim), so the C engine is checked image for image.
  * diffusers v0.21.4 (non-PEFT path) applies what it can load itself: kohya files through
    LoraLoaderMixin.lora_state_dict (its kohya conversion) + load_lora_into_unet, and the attention-
    processor format through unet.load_attn_procs — LoRA layers at run time, not merged;
  * the rest is merged by hand into the modules' weights following each format's documented
    semantics (W += weight * scale * up @ down; kohya scale alpha/rank, PEFT lora_alpha/r, lora_pti
    1 with its positional order found by walking unet.modules() as lora_pti's _find_modules does);
  * the text encoder is transformers' CLIPTextModel maths written out in torch here (transformers
    is not in Debian), checked first against tests/fixtures/sd/ref/text_encoder.safetensors (made
    from OpenAI CLIP), and a textual-inversion token is its vector put where the token stands, as
    diffusers' load_textual_inversion / A1111 do (multi-vector: consecutive positions).
Token ids of the plain words come from tests/fixtures/sd/ref/index.json (OpenAI CLIP's tokenizer).

Usage: OMA_DIFFUSERS_SRC=/tmp/sdref/src OMA_LYCORIS_SRC=/tmp/lyco /usr/bin/python3 tools/make_lora_fixtures.py [--out tests/fixtures/lora]
"""
import argparse
import copy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "sd_fixture_shims"))

SD = os.path.join(ROOT, "tests", "fixtures", "sd")
W = 48
PROMPT, NEGATIVE = "a city street at night in the rain", "lowres, bad anatomy, blurry, worst quality"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "lora"))
    args = ap.parse_args()
    import torch
    _baddbmm = torch.baddbmm  # same defined-memory fix as make_sd_fixtures.py

    def baddbmm_defined(inp, b1, b2, *, beta=1, alpha=1):
        if beta == 0:
            inp, beta = torch.zeros(b1.shape[0], b1.shape[1], b2.shape[2], dtype=b1.dtype), 1
        return _baddbmm(inp, b1, b2, beta=beta, alpha=alpha)
    torch.baddbmm = baddbmm_defined
    torch.bmm = lambda b1, b2: _baddbmm(torch.zeros(b1.shape[0], b1.shape[1], b2.shape[2], dtype=b1.dtype), b1, b2)
    torch.set_num_threads(1)
    sys.path.insert(1, os.environ["OMA_DIFFUSERS_SRC"])
    import diffusers
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from diffusers.loaders import LoraLoaderMixin
    from safetensors.torch import load_file, save_file
    from PIL import Image

    out = args.out
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f != "README.md" and os.path.isfile(os.path.join(out, f)):
            os.remove(os.path.join(out, f))
    unet0 = UNet2DConditionModel.from_pretrained(os.path.join(SD, "tiny-sd", "unet")).float().eval()
    vae = AutoencoderKL.from_pretrained(os.path.join(SD, "tiny-sd", "vae")).float().eval()
    te0 = {k: v.float() for k, v in load_file(os.path.join(SD, "tiny-sd", "text_encoder", "model.safetensors")).items()}
    index = json.load(open(os.path.join(SD, "ref", "index.json")))
    meta = index["files"]["ref/txt2img_ddim.safetensors"]["meta"]
    assert meta["prompt"] == PROMPT and meta["negative"] == NEGATIVE
    ids_p = [i for i in meta["ids_prompt"] if i not in (998, 999)]  # words only
    ids_n = meta["ids_negative"]
    BOS, EOS = 998, 999
    HEADS, LAYERS = 12, 2

    def text_encoder(te, rows):
        """rows: 77 token vectors (ids looked up or embedding vectors) -> last_hidden_state [1,77,W]."""
        with torch.no_grad():
            x = (torch.stack(rows) + te["text_model.embeddings.position_embedding.weight"])[None]
            mask = torch.full((77, 77), float("-inf")).triu(1)
            ln = lambda v, p: torch.nn.functional.layer_norm(v, (W,), te[p + ".weight"], te[p + ".bias"], 1e-5)
            lin = lambda v, p: v @ te[p + ".weight"].T + te[p + ".bias"]
            for layer in range(LAYERS):
                p = f"text_model.encoder.layers.{layer}"
                h = ln(x, p + ".layer_norm1")
                q = lin(h, p + ".self_attn.q_proj") * (W // HEADS) ** -0.5
                k, v = lin(h, p + ".self_attn.k_proj"), lin(h, p + ".self_attn.v_proj")
                sh = lambda t: t.view(1, 77, HEADS, W // HEADS).transpose(1, 2)
                a = torch.softmax(sh(q) @ sh(k).transpose(-1, -2) + mask, -1) @ sh(v)
                x = x + lin(a.transpose(1, 2).reshape(1, 77, W), p + ".self_attn.out_proj")
                h = lin(ln(x, p + ".layer_norm2"), p + ".mlp.fc1")
                x = x + lin(h * torch.sigmoid(1.702 * h), p + ".mlp.fc2")
            return ln(x, "text_model.final_layer_norm")

    def frame(te, pieces):
        """pieces: ids (int) or vectors -> 77 rows: BOS, pieces, EOS, pad."""
        tab = te["text_model.embeddings.token_embedding.weight"]
        rows = [tab[BOS]] + [tab[p] if isinstance(p, int) else p for p in pieces][:75] + [tab[EOS]]
        return rows + [tab[EOS]] * (77 - len(rows))

    # self-check of the text encoder against the OpenAI CLIP reference
    ref_te = load_file(os.path.join(SD, "ref", "text_encoder.safetensors"))
    ids0 = index["files"]["ref/text_encoder.safetensors"]["meta"][0]["ids"]
    tab0 = te0["text_model.embeddings.token_embedding.weight"]
    err = (text_encoder(te0, [tab0[i] for i in ids0]) - ref_te["p0.last_hidden_state"]).abs().max().item()
    assert err < 1e-5, f"text encoder differs from the reference by {err}"

    sched_cfg = json.load(open(os.path.join(SD, "tiny-sd", "scheduler", "scheduler_config.json")))

    def generate(unet, te, extra_words=()):
        neg = text_encoder(te, frame(te, [i for i in ids_n if i not in (998, 999)][:]))
        pos = text_encoder(te, frame(te, ids_p + list(extra_words)))
        emb = torch.cat([neg, pos])
        sched = DDIMScheduler.from_config(sched_cfg)
        sched.set_timesteps(4)
        g = torch.Generator().manual_seed(1004)
        lat = torch.randn((1, 4, 8, 8), generator=g) * sched.init_noise_sigma
        with torch.no_grad():
            for t in sched.timesteps:
                noise = unet(sched.scale_model_input(torch.cat([lat] * 2), t), t, encoder_hidden_states=emb).sample
                un, tx = noise.chunk(2)
                lat = sched.step(un + 7.5 * (tx - un), t, lat, eta=0.0).prev_sample
            im = vae.decode(lat / vae.config.scaling_factor).sample
        assert torch.isfinite(lat).all()
        return lat, ((im / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1) * 255).round()[0].byte().numpy()

    # the plain run must be the existing reference image (same inputs, same numbers)
    base_lat, base_img = generate(unet0, te0)
    want = load_file(os.path.join(SD, "ref", "txt2img_ddim.safetensors"))["final_latents"]
    assert (base_lat - want).abs().max().item() < 1e-4, "the plain DDIM run differs from the SD fixture"

    gen = torch.Generator().manual_seed(2024)
    rnd = lambda *s, sc=0.25: (torch.randn(s, generator=gen) * sc).contiguous()
    unet_mods = dict(unet0.named_modules())
    R = 4
    cases = {}

    def lin_or_conv(name):
        m = unet_mods[name]
        if isinstance(m, torch.nn.Conv2d):
            return m.out_channels, m.in_channels, m.kernel_size[0]
        return m.out_features, m.in_features, 0

    def pair(name, rank=R):
        o, i, k = lin_or_conv(name)
        down = rnd(rank, i, k, k) if k else rnd(rank, i)
        up = rnd(o, rank, 1, 1) if k else rnd(o, rank)
        return down, up

    def merge_unet(unet, name, down, up, scale):
        m = dict(unet.named_modules())[name]
        with torch.no_grad():
            delta = up.reshape(up.shape[0], -1) @ down.reshape(down.shape[0], -1)
            m.weight += scale * delta.reshape(m.weight.shape)

    def te_pair(name, rank=R):
        o, i = te0[name + ".weight"].shape
        return rnd(rank, i), rnd(o, rank)

    def merge_te(te, name, down, up, scale):
        te[name + ".weight"] = te[name + ".weight"] + scale * (up.reshape(up.shape[0], -1) @ down.reshape(down.shape[0], -1))

    attn_names = [n for n in unet_mods if n.endswith((".to_q", ".to_k", ".to_v", ".to_out.0", ".ff.net.0.proj", ".ff.net.2"))]
    proj_names = [n for n in unet_mods if n.endswith((".proj_in", ".proj_out"))]
    conv_names = [n for n in unet_mods if n.endswith((".conv1", ".conv2")) or n.endswith("samplers.0.conv")]
    te_names = [f"text_model.encoder.layers.{l}.{p}" for l in range(LAYERS)
                for p in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "mlp.fc1", "mlp.fc2")]

    def save(name, tensors, metadata=None):
        save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, name), metadata=metadata)

    def record(case, lat, img, what, params):
        Image.fromarray(img).save(os.path.join(out, f"{case}.png"))
        cases[case] = dict(params, what=what, png=f"{case}.png", final_latents=[float(v) for v in lat.flatten()])

    # ---- 1. kohya with LoCon (3x3 resnet/sampler convs, 1x1 proj_in/out) + text encoder, alpha != rank:
    #         UNet through diffusers' own kohya loader, text encoder merged with alpha/rank
    sd = {}
    for n in attn_names + proj_names + conv_names:
        d, u = pair(n)
        key = "lora_unet_" + n.replace(".", "_")
        sd[key + ".lora_down.weight"], sd[key + ".lora_up.weight"] = d, u
        sd[key + ".alpha"] = torch.tensor(2.0)
    te = dict(te0)
    for n in te_names:
        d, u = te_pair(n)
        key = "lora_te_" + n.replace(".", "_")
        sd[key + ".lora_down.weight"], sd[key + ".lora_up.weight"], sd[key + ".alpha"] = d, u, torch.tensor(3.0)
        merge_te(te, n, d, u, 3.0 / R)
    save("kohya_locon.safetensors", sd, {"ss_network_dim": "4", "ss_network_alpha": "2"})
    unet = copy.deepcopy(unet0)
    state, alphas = LoraLoaderMixin.lora_state_dict({k: v.clone() for k, v in sd.items()})
    LoraLoaderMixin.load_lora_into_unet(state, alphas, unet)
    lat, img = generate(unet, te)
    record("kohya_locon", lat, img, "kohya LoRA with LoCon convs, alpha 2 (UNet) / 3 (text), rank 4; diffusers "
           "lora_state_dict + load_lora_into_unet for the UNet, text encoder merged by hand",
           {"loras": [{"file": "kohya_locon.safetensors", "unet_weight": 1.0, "text_weight": 1.0}]})

    # ---- 2. diffusers attention processors (old format: no prefix), through unet.load_attn_procs;
    #         text encoder lora_linear_layer keys (text_encoder. prefix) merged by hand
    sd, te = {}, dict(te0)
    for n in [x for x in attn_names if ".attn" in x]:
        d, u = pair(n)
        base, proj = n.rsplit(".attn", 1)[0] + ".attn" + n.rsplit(".attn", 1)[1].split(".")[0], n.split(".")[-1]
        proj = "to_out" if n.endswith("to_out.0") else proj
        sd[f"{base}.processor.{proj}_lora.down.weight"], sd[f"{base}.processor.{proj}_lora.up.weight"] = d, u
    unet = copy.deepcopy(unet0)
    unet.load_attn_procs({k: v.clone() for k, v in sd.items()})
    for n in te_names[:4]:
        d, u = te_pair(n)
        sd[f"text_encoder.{n}.lora_linear_layer.down.weight"], sd[f"text_encoder.{n}.lora_linear_layer.up.weight"] = d, u
        merge_te(te, n, d, u, 1.0)
    save("diffusers_attnproc.safetensors", sd)
    # the .bin diffusers <= 0.20 saved, text keys in its processor style (self_attn.to_q_lora.down.weight)
    ren = {"q_proj": "to_q", "k_proj": "to_k", "v_proj": "to_v", "out_proj": "to_out"}
    old_sd = {}
    for k, v in sd.items():
        if k.startswith("text_encoder."):
            mod, part = k.split(".lora_linear_layer.")
            base, proj = mod.rsplit(".", 1)
            k = f"{base}.{ren[proj]}_lora.{part}"
        old_sd[k] = v.clone()
    torch.save(old_sd, os.path.join(out, "pytorch_lora_weights.bin"))
    lat, img = generate(unet, te)
    record("diffusers_attnproc", lat, img, "diffusers attention-processor LoRA (to_q_lora...), unet.load_attn_procs; "
           "text lora_linear_layer merged by hand", {"loras": [{"file": "diffusers_attnproc.safetensors"}]})

    # ---- 3. diffusers PEFT-era keys (unet./text_encoder. + lora_A/lora_B), weights 0.7 / 0.5, merged by hand
    sd, te, unet = {}, dict(te0), copy.deepcopy(unet0)
    for n in attn_names:
        d, u = pair(n)
        sd[f"unet.{n}.lora_A.weight"], sd[f"unet.{n}.lora_B.weight"] = d, u
        merge_unet(unet, n, d, u, 0.7)
    for n in te_names:
        d, u = te_pair(n)
        sd[f"text_encoder.{n}.lora_A.weight"], sd[f"text_encoder.{n}.lora_B.weight"] = d, u
        merge_te(te, n, d, u, 0.5)
    save("diffusers_peft.safetensors", sd)
    lat, img = generate(unet, te)
    record("diffusers_peft", lat, img, "diffusers PEFT-era LoRA (lora_A/lora_B), UNet weight 0.7, text 0.5, merged",
           {"loras": [{"file": "diffusers_peft.safetensors", "unet_weight": 0.7, "text_weight": 0.5}]})

    # ---- 4. PEFT native adapter (base_model.model.*) of the UNet, adapter_config lora_alpha 8, r 4 -> scale 2
    os.makedirs(os.path.join(out, "peft_unet"), exist_ok=True)
    sd, unet = {}, copy.deepcopy(unet0)
    for n in attn_names + proj_names:
        d, u = pair(n)
        sd[f"base_model.model.{n}.lora_A.weight"], sd[f"base_model.model.{n}.lora_B.weight"] = d, u
        merge_unet(unet, n, d, u, 8.0 / R * 0.5)
    save_file(sd, os.path.join(out, "peft_unet", "adapter_model.safetensors"))
    json.dump({"peft_type": "LORA", "r": R, "lora_alpha": 8, "use_rslora": False,
               "target_modules": ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2"]},
              open(os.path.join(out, "peft_unet", "adapter_config.json"), "w"), indent=1)
    lat, img = generate(unet, te0)
    record("peft_native", lat, img, "PEFT adapter_model.safetensors + adapter_config.json (alpha 8 / r 4), weight 0.5",
           {"loras": [{"file": "peft_unet/adapter_model.safetensors", "unet_weight": 0.5, "text_weight": 0.5}]})

    # ---- 5. lora_pti: positional unet:{i} (Attention/GEGLU linears in unet.modules() order), text_encoder:{i}
    #         (CLIPAttention k, v, q, out), <s1> <s2> tokens; up pre-scaled; tune_lora_scale 0.8 / 0.9
    targets = []
    for mod in unet0.modules():  # lora_pti _find_modules: ancestors of these classes, their Linear children
        if type(mod).__name__ in ("Attention", "CrossAttention", "GEGLU"):
            for fname, child in mod.named_modules():
                if isinstance(child, torch.nn.Linear):
                    targets.append(next(n for n, m in unet0.named_modules() if m is child))
    sd, te, unet = {}, dict(te0), copy.deepcopy(unet0)
    for i, n in enumerate(targets):
        d, u = pair(n)
        sd[f"unet:{i}:down"], sd[f"unet:{i}:up"] = d.half(), u.half()
        merge_unet(unet, n, d.half().float(), u.half().float(), 0.8)
    te_pti = [f"text_model.encoder.layers.{l}.self_attn.{p}" for l in range(LAYERS) for p in ("k_proj", "v_proj", "q_proj", "out_proj")]
    for i, n in enumerate(te_pti):
        d, u = te_pair(n)
        sd[f"text_encoder:{i}:down"], sd[f"text_encoder:{i}:up"] = d.half(), u.half()
        merge_te(te, n, d.half().float(), u.half().float(), 0.9)
    s1, s2 = rnd(W, sc=0.4), rnd(W, sc=0.4)
    sd["<s1>"], sd["<s2>"] = s1, s2
    md = {"<s1>": "<embed>", "<s2>": "<embed>", "unet": '["CrossAttention", "Attention", "GEGLU"]',
          "text_encoder": '["CLIPAttention"]'}
    md.update({f"unet:{i}:rank": str(R) for i in range(len(targets))})
    save("lora_pti.safetensors", sd, md)
    # the same file as lora_pti wrote it against diffusers <= 0.14 (attn1, ff, attn2 per block): same image
    old = []
    for b in range(0, len(targets), 9):
        blk = targets[b:b + 9]  # attn1 x4, attn2 x4, ff
        old += blk[0:4] + blk[8:9] + blk[4:8]
    sd_old = {k: v for k, v in sd.items() if not k.startswith("unet:")}
    for i, n in enumerate(old):
        j = targets.index(n)
        sd_old[f"unet:{i}:down"], sd_old[f"unet:{i}:up"] = sd[f"unet:{j}:down"], sd[f"unet:{j}:up"]
    save("lora_pti_old_order.safetensors", sd_old, md)
    lat, img = generate(unet, te, [s1, s2])
    record("lora_pti", lat, img, "lora_pti file (positional, fp16, <s1><s2>), UNet 0.8 / text 0.9, prompt + ' <s1><s2>'",
           {"loras": [{"file": "lora_pti.safetensors", "unet_weight": 0.8, "text_weight": 0.9}], "prompt_suffix": " <s1><s2>"})

    # ---- 6. embeddings: A1111 .pt (2 vectors), kohya emb_params .safetensors (3), diffusers learned_embeds
    #         .safetensors ({"<cat-toy>": [W]}) and .bin (torch.save {"<dog>": [W]})
    a = rnd(2, W, sc=0.4)
    torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": a.clone().requires_grad_(True)},
                "name": "myemb", "step": 1000, "sd_checkpoint": "deadbeef", "sd_checkpoint_name": "tiny"},
               os.path.join(out, "myemb.pt"))
    # several tokens in one torch.save dict, as DreamStyler saves its stages ({"<x>-T0": [W], ...}):
    # the same vectors as myemb.pt (the C test compares them)
    torch.save({"<sty>-T0": a[0].clone(), "<sty>-T1": a[1].clone()}, os.path.join(out, "multi_token.bin"))
    b = rnd(3, W, sc=0.4)
    save("kohyaemb.safetensors", {"emb_params": b})
    c = rnd(W, sc=0.4)
    save("learned_embeds.safetensors", {"<cat-toy>": c})
    dd = rnd(W, sc=0.4)
    torch.save({"<dog>": dd}, os.path.join(out, "learned_embeds_dog.bin"))
    lat, img = generate(unet0, te0, [a[0], a[1], b[0], b[1], b[2], c, dd])
    record("embeddings", lat, img, "four embedding files; prompt + ' myemb kohyaemb <cat-toy> <dog>'",
           {"embeddings": ["myemb.pt", "kohyaemb.safetensors", "learned_embeds.safetensors", "learned_embeds_dog.bin"],
            "prompt_suffix": " myemb kohyaemb <cat-toy> <dog>"})

    # ---- 7. a trained style as the training engine writes it: kohya keys (attention + ff, text q/k/v/out)
    #         with the embedding inside (bundle_emb.s1s2.string_to_param.*), plus a second kohya LoRA at 0.5
    sd, te, unet = {}, dict(te0), copy.deepcopy(unet0)
    for n in attn_names:
        d, u = pair(n)
        key = "lora_unet_" + n.replace(".", "_")
        sd[key + ".lora_down.weight"], sd[key + ".lora_up.weight"], sd[key + ".alpha"] = d, u, torch.tensor(float(R))
        merge_unet(unet, n, d, u, 0.8)
    for n in te_names[:4] + te_names[6:10]:
        d, u = te_pair(n)
        key = "lora_te_" + n.replace(".", "_")
        sd[key + ".lora_down.weight"], sd[key + ".lora_up.weight"] = d, u  # no alpha: scale 1
        merge_te(te, n, d, u, 0.9)
    e2 = rnd(2, W, sc=0.4)
    sd["bundle_emb.s1s2.string_to_param.*"] = e2
    save("style_bundle.safetensors", sd, {"ss_network_dim": "4", "oma_tokens": "s1s2"})
    sd2 = {}
    for n in conv_names:
        d, u = pair(n, 2)
        key = "lora_unet_" + n.replace(".", "_")
        sd2[key + ".lora_down.weight"], sd2[key + ".lora_up.weight"], sd2[key + ".alpha"] = d, u, torch.tensor(1.0)
        merge_unet(unet, n, d, u, 0.5 * 1.0 / 2)
    save("second_locon.safetensors", sd2)
    lat, img = generate(unet, te, [e2[0], e2[1]])
    record("style_bundle", lat, img, "kohya style file with bundle_emb (UNet 0.8, text 0.9) + a LoCon LoRA at 0.5; "
           "prompt + ', style of s1s2' is NOT used: prompt + ' s1s2'",
           {"loras": [{"file": "style_bundle.safetensors", "unet_weight": 0.8, "text_weight": 0.9},
                      {"file": "second_locon.safetensors", "unet_weight": 0.5, "text_weight": 0.5}],
            "prompt_suffix": " s1s2"})

    # ---- 8. the kohya LoCon file of case 1 under CompVis/LDM names (input_blocks_1_1_proj_in, in_layers_2,
    #         lora_te_transformer_text_model_...), as trainers on the original layout write it. The renaming
    #         is make_cfg_fixtures.unet_to_original, checked here against diffusers' own single-file
    #         conversion (convert_ldm_unet_checkpoint gives back every diffusers name and tensor), so its
    #         reference image is case 1's (diffusers' kohya loader on the same weights).
    import importlib
    import make_cfg_fixtures as mcf
    sys.meta_path.insert(0, mcf._StubFinder())  # convert_from_ckpt imports transformers at module level
    pbe = importlib.import_module("diffusers.pipelines.paint_by_example")  # hidden without transformers
    pbe.PaintByExampleImageEncoder = importlib.import_module(
        "diffusers.pipelines.paint_by_example.image_encoder").PaintByExampleImageEncoder
    cv = importlib.import_module("diffusers.pipelines.stable_diffusion.convert_from_ckpt")
    ucfg = dict(unet0.config)
    base_sd = unet0.state_dict()
    ldm = mcf.unet_to_original(base_sd, ucfg)
    back = cv.convert_ldm_unet_checkpoint({k: v.clone() for k, v in ldm.items()}, ucfg)
    assert set(back) == set(base_sd) and all(torch.equal(back[k], base_sd[k]) for k in back)
    rev = {}
    for lk, v in ldm.items():
        dk = [k for k in base_sd if base_sd[k] is v]
        assert len(dk) == 1
        rev[dk[0]] = lk
    kohya = load_file(os.path.join(out, "kohya_locon.safetensors"))
    by_kohya = {"lora_unet_" + n[:-7].replace(".", "_"): "lora_unet_" + rev[n][22:-7].replace(".", "_")
                for n in base_sd if n.endswith(".weight")}
    compvis = {}
    for k, v in kohya.items():
        stem, part = k.split(".", 1)
        if stem.startswith("lora_te_"):
            new = "lora_te_transformer_" + stem[8:]
        else:
            new = by_kohya[stem]
        compvis[new + "." + part] = v
    assert len(compvis) == len(kohya) and any("input_blocks" in k for k in compvis)
    save("kohya_compvis.safetensors", compvis)
    cases["kohya_compvis"] = dict(cases["kohya_locon"], loras=[{"file": "kohya_compvis.safetensors", "unet_weight": 1.0,
                                                                 "text_weight": 1.0}],
                                  what="case kohya_locon's tensors under CompVis/LDM kohya names (renaming checked "
                                       "against diffusers' convert_ldm_unet_checkpoint); same reference image")

    # ---- 9./10. LyCORIS LoHa and LoKr (kohya names), merged with LyCORIS' own functional delta code
    #         (lycoris/functional/loha.py, lokr.py at the commit in tools/README.md), multiplied by the
    #         UNet / text weight as A1111 does; diffusers then draws with the merged weights.
    sys.path.insert(0, os.environ["OMA_LYCORIS_SRC"])
    from lycoris.functional import loha as ly_loha, lokr as ly_lokr
    from lycoris.functional.general import factorization

    def merge_full(unet, te, name, delta, text, mult):
        with torch.no_grad():
            if text:
                te[name + ".weight"] = te[name + ".weight"] + mult * delta.reshape(te[name + ".weight"].shape)
            else:
                m = dict(unet.named_modules())[name]
                m.weight += mult * delta.reshape(m.weight.shape)

    def shape_of(name, text):
        if text:
            o, i = te0[name + ".weight"].shape
            return o, i, 0
        return lin_or_conv(name)

    # LoHa: linears plain, 1x1 proj and conv2/samplers plain ([out, r] @ [r, in*k*k]), conv1 Tucker
    sd, te, unet = {}, dict(te0), copy.deepcopy(unet0)
    for n, text in [(x, 0) for x in attn_names + proj_names + conv_names] + [(x, 1) for x in te_names]:
        o, i, k = shape_of(n, text)
        alpha = 3.0 if text else 2.0
        key = ("lora_te_" if text else "lora_unet_") + n.replace(".", "_")
        if k == 3 and n.endswith(".conv1"):
            t1, t2 = rnd(R, R, k, k, sc=0.3), rnd(R, R, k, k, sc=0.3)
            w1a, w1b, w2a, w2b = rnd(R, o, sc=0.3), rnd(R, i, sc=0.3), rnd(R, o, sc=0.3), rnd(R, i, sc=0.3)
            sd[key + ".hada_t1"], sd[key + ".hada_t2"] = t1, t2
        else:
            t1 = t2 = None
            kk = k * k if k else 1
            w1a, w1b, w2a, w2b = rnd(o, R, sc=0.3), rnd(R, i * kk, sc=0.3), rnd(o, R, sc=0.3), rnd(R, i * kk, sc=0.3)
        sd[key + ".hada_w1_a"], sd[key + ".hada_w1_b"], sd[key + ".hada_w2_a"], sd[key + ".hada_w2_b"] = w1a, w1b, w2a, w2b
        sd[key + ".alpha"] = torch.tensor(alpha)
        delta = ly_loha.diff_weight(w1b, w1a, w2b, w2a, t1, t2, gamma=torch.tensor(alpha / R))
        merge_full(unet, te, n, delta, text, 0.6 if text else 0.8)
    save("lyco_loha.safetensors", sd)
    lat, img = generate(unet, te)
    record("lyco_loha", lat, img, "LyCORIS LoHa (plain and Tucker convs), alpha 2 (UNet) / 3 (text), rank 4, "
           "UNet 0.8 / text 0.6; deltas from lycoris.functional.loha.diff_weight merged, diffusers draws",
           {"loras": [{"file": "lyco_loha.safetensors", "unet_weight": 0.8, "text_weight": 0.6}]})

    # LoKr: attention w1_a/_b + w2_a/_b; ff full w1 + full w2 (scale 1 whatever alpha says); 1x1 proj full
    # w1 + 4-D w2; conv1 w1_a/_b + Tucker w2; conv2/samplers full w1 + w2_a @ w2_b[r, d, 3, 3]; text full w1 + w2_a/_b
    sd, te, unet = {}, dict(te0), copy.deepcopy(unet0)
    for n, text in [(x, 0) for x in attn_names + proj_names + conv_names] + [(x, 1) for x in te_names]:
        o, i, k = shape_of(n, text)
        a, b = factorization(o, -1)
        c, d = factorization(i, -1)
        key = ("lora_te_" if text else "lora_unet_") + n.replace(".", "_")
        w1 = w1a = w1b = w2 = w2a = w2b = t2 = None
        alpha = 3.0 if text else 2.0
        if text:
            w1, w2a, w2b = rnd(a, c), rnd(b, R, sc=0.3), rnd(R, d, sc=0.3)
        elif n.endswith((".ff.net.0.proj", ".ff.net.2")):
            w1, w2, alpha = rnd(a, c), rnd(b, d), 5.0
        elif k == 1:
            w1, w2, alpha = rnd(a, c), rnd(b, d, 1, 1), 5.0
        elif k == 3 and n.endswith(".conv1"):
            w1a, w1b = rnd(a, R, sc=0.3), rnd(R, c, sc=0.3)
            t2, w2a, w2b = rnd(R, R, k, k, sc=0.3), rnd(R, b, sc=0.3), rnd(R, d, sc=0.3)
        elif k == 3:
            w1, w2a, w2b = rnd(a, c), rnd(b, R, sc=0.3), rnd(R, d, k, k, sc=0.3)
        else:
            w1a, w1b, w2a, w2b = rnd(a, R, sc=0.3), rnd(R, c, sc=0.3), rnd(b, R, sc=0.3), rnd(R, d, sc=0.3)
        for suf, v in (("lokr_w1", w1), ("lokr_w1_a", w1a), ("lokr_w1_b", w1b), ("lokr_w2", w2), ("lokr_w2_a", w2a),
                       ("lokr_w2_b", w2b), ("lokr_t2", t2)):
            if v is not None:
                sd[key + "." + suf] = v
        sd[key + ".alpha"] = torch.tensor(alpha)
        delta = ly_lokr.diff_weight(w1, w1a, w1b, w2, w2a, w2b, t2, gamma=alpha)
        merge_full(unet, te, n, delta, text, 0.7 if text else 1.0)
    save("lyco_lokr.safetensors", sd)
    lat, img = generate(unet, te)
    record("lyco_lokr", lat, img, "LyCORIS LoKr (factored, full, 4-D and Tucker w2), alpha 2/3 (5 where both "
           "halves are full: scale 1), rank 4, UNet 1.0 / text 0.7; deltas from lycoris.functional.lokr.diff_weight "
           "merged, diffusers draws",
           {"loras": [{"file": "lyco_lokr.safetensors", "unet_weight": 1.0, "text_weight": 0.7}]})

    Image.fromarray(base_img).save(os.path.join(out, "base.png"))
    json.dump({"generator": "tools/make_lora_fixtures.py", "diffusers_version": diffusers.__version__,
               "torch_version": torch.__version__, "prompt": PROMPT, "negative": NEGATIVE, "sampler": "DDIM",
               "steps": 4, "cfg": 7.5, "seed": 1004, "width": 64, "height": 64, "cases": cases},
              open(os.path.join(out, "index.json"), "w"), indent=1)
    for k, v in cases.items():
        diff = (torch.tensor(v["final_latents"]) - base_lat.flatten()).abs().max().item()
        print(f"{k}: final latents differ from the plain run by up to {diff:.3f}")


if __name__ == "__main__":
    main()
