#!/usr/bin/python3
"""train_reference.py — the style recipe's training loop in PyTorch, the reference for
src/train (tests/unit/train/test_train_reference.c).

Runs on the tiny fixture model (tests/fixtures/sd/tiny-sd): diffusers v0.21.4's
UNet2DConditionModel, AutoencoderKL and DDPMScheduler (from OMA_DIFFUSERS_SRC), and the CLIP text
encoder written out here (transformers is not on Debian; it is checked against the fixture's
reference text embeddings first). LoRA layers are written directly (y = Wx + b + up(down(x)),
lora_pti's LoraInjectedLinear with scale 1, dropout 0), no PEFT.

The loop is the one src/train/style_trainer.c runs (the sound version of lora_pti, README
"Style training"): cached latents (VAE sample x scaling factor), captions from the style
templates with <s1><s2>; stage 1 textual inversion (only the two rows train, AdamW wd 0, lr
schedule linear over the updates, clip_ti_decay toward norm 0.4), stage 2 LoRA on the UNet's
attention q/k/v/out + ff.net.0.proj and the text encoder's q/k/v/out_proj with the rows still
training, AdamW with three groups, gradient clipping 1.0 over all of them; gradient accumulation
in both stages; loss MSE(eps, noise). Every random draw (images, VAE sample noise, initial
embeddings and LoRA down weights, which sample, timestep and noise per micro-step) is made here
with torch's generator and written to the fixture, so the C test replays the same draws.

    OMA_DIFFUSERS_SRC=/tmp/sdref/src /usr/bin/python3 tools/train_reference.py
writes tests/fixtures/train/reference.safetensors (inputs, draws, per-micro-step losses, the first
LoRA update's gradients, the trained rows and adapters). Deterministic (one thread, fixed seeds).
With --float64 it runs the same loop in double on the same draws and prints how far the float32
fixture is from it (nothing written; with --float64 --write it also writes the float64 run's
first LoRA gradients and trained tensors, rounded to float32, to
tests/fixtures/train/reference64.safetensors, for the test to measure both float32 runs against): Adam divides every element by its own gradient's scale, so
an element with a gradient 1000x below its tensor's largest turns float32 rounding of that
gradient into a 1000x larger relative error in its update.
"""
import json
import math
import os
import sys

import regex
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(HERE, "sd_fixture_shims"))
sys.path.insert(1, os.environ.get("OMA_DIFFUSERS_SRC", "/tmp/sdref/src"))
from safetensors.torch import load_file, save_file  # noqa: E402  (the shim)

DT = torch.float64 if "--float64" in sys.argv else torch.float32
MODEL = os.path.join(ROOT, "tests", "fixtures", "sd", "tiny-sd")
OUT = os.path.join(ROOT, "tests", "fixtures", "train", "reference.safetensors")

# the run (small: the tiny model at 64x64, 5 updates per stage)
N_IMAGES, RES, RANK, ACCUM, UPDATES = 3, 64, 4, 2, 5
LR_TI, LR_UNET, LR_TEXT, LR_EMB = 5e-3, 1e-3, 1e-3, 1e-3
T_TI, T_LORA = 1000, 800
TEMPLATES = [
    "a painting in the style of {}", "a rendering in the style of {}",
    "a cropped painting in the style of {}", "the painting in the style of {}",
    "a clean painting in the style of {}", "a dirty painting in the style of {}",
    "a dark painting in the style of {}", "a picture in the style of {}",
    "a cool painting in the style of {}", "a close-up painting in the style of {}",
    "a bright painting in the style of {}", "a cropped painting in the style of {}",
    "a good painting in the style of {}", "a close-up painting in the style of {}",
    "a rendition in the style of {}", "a nice painting in the style of {}",
    "a small painting in the style of {}", "a weird painting in the style of {}",
    "a large painting in the style of {}",
]


def patch_bmm():
    # as tools/make_sd_fixtures.py: torch 1.13's baddbmm(beta=0) reads the uninitialised input
    _baddbmm = torch.baddbmm

    def baddbmm_defined(inp, b1, b2, *, beta=1, alpha=1):
        if beta == 0:
            inp, beta = torch.zeros(b1.shape[0], b1.shape[1], b2.shape[2], dtype=b1.dtype), 1
        return _baddbmm(inp, b1, b2, beta=beta, alpha=alpha)

    def bmm_defined(b1, b2):
        return _baddbmm(torch.zeros(b1.shape[0], b1.shape[1], b2.shape[2], dtype=b1.dtype), b1, b2)
    torch.baddbmm = baddbmm_defined
    torch.bmm = bmm_defined


# ---------------------------------------------------------------- CLIP BPE (ASCII captions)
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class Tokenizer:
    PAT = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                        regex.IGNORECASE)

    def __init__(self, d):
        self.vocab = json.load(open(os.path.join(d, "vocab.json")))
        merges = open(os.path.join(d, "merges.txt"), encoding="utf-8").read().split("\n")[1:]
        merges = [tuple(m.split()) for m in merges if m.strip()]
        self.ranks = dict(zip(merges, range(len(merges))))
        self.b2u = bytes_to_unicode()

    def bpe(self, token):
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            a, b = best
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == a and word[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = tuple(out)
        return word

    def encode(self, text):
        ids = []
        text = " ".join(text.split()).lower()
        for tok in regex.findall(self.PAT, text):
            tok = "".join(self.b2u[b] for b in tok.encode("utf-8"))
            ids += [self.vocab[p] for p in self.bpe(tok) if p in self.vocab]
        return ids


# ---------------------------------------------------------------- models
class LoRALinear(torch.nn.Module):
    """y = base(x) + up(down(x)): lora_pti's LoraInjectedLinear (scale 1, no dropout)."""

    def __init__(self, base, rank, down_init):
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.down = torch.nn.Parameter(down_init.clone())
        self.up = torch.nn.Parameter(torch.zeros(base.out_features, rank, dtype=down_init.dtype))

    def forward(self, x, *args, **kwargs):     # diffusers 0.21 passes scale=
        return self.base(x) + F.linear(F.linear(x, self.down), self.up)


class CLIPText(torch.nn.Module):
    """transformers' CLIPTextModel (pre-LN, causal, quick-GELU) from the fixture's weights."""

    def __init__(self, sd, cfg):
        super().__init__()
        sd = {k: v.to(DT) if v.is_floating_point() else v for k, v in sd.items()}
        H, self.heads = cfg["hidden_size"], cfg["num_attention_heads"]
        self.eps = cfg["layer_norm_eps"]
        p = "text_model."
        self.tok = sd[p + "embeddings.token_embedding.weight"]
        self.pos = sd[p + "embeddings.position_embedding.weight"]
        self.layers = []
        for i in range(cfg["num_hidden_layers"]):
            q = f"{p}encoder.layers.{i}."
            L = torch.nn.Module()
            for n in ["q_proj", "k_proj", "v_proj", "out_proj"]:
                lin = torch.nn.Linear(H, H)
                lin.weight.data = sd[q + f"self_attn.{n}.weight"].clone()
                lin.bias.data = sd[q + f"self_attn.{n}.bias"].clone()
                lin.requires_grad_(False)
                setattr(L, n, lin)
            for n, (i_, o_) in {"fc1": (H, cfg["intermediate_size"]), "fc2": (cfg["intermediate_size"], H)}.items():
                lin = torch.nn.Linear(i_, o_)
                lin.weight.data = sd[q + f"mlp.{n}.weight"].clone()
                lin.bias.data = sd[q + f"mlp.{n}.bias"].clone()
                lin.requires_grad_(False)
                setattr(L, n, lin)
            for n in ["layer_norm1", "layer_norm2"]:
                setattr(L, n, (sd[q + n + ".weight"], sd[q + n + ".bias"]))
            self.layers.append(L)
            self.add_module(f"layer{i}", L)
        self.final = (sd[p + "final_layer_norm.weight"], sd[p + "final_layer_norm.bias"])

    def forward(self, ids, extra=None):
        V = self.tok.shape[0]
        x = self.tok[ids.clamp(max=V - 1)]
        if extra is not None:
            rows = torch.cat([self.tok, extra], 0)
            x = F.embedding(ids, rows)
        x = x + self.pos[: ids.shape[1]]
        B, N, H = x.shape
        D = H // self.heads
        mask = torch.full((N, N), float("-inf"), dtype=x.dtype).triu(1)
        for L in self.layers:
            h = F.layer_norm(x, (H,), *L.layer_norm1, self.eps)
            q = L.q_proj(h).view(B, N, self.heads, D).transpose(1, 2) * D ** -0.5
            k = L.k_proj(h).view(B, N, self.heads, D).transpose(1, 2)
            v = L.v_proj(h).view(B, N, self.heads, D).transpose(1, 2)
            a = torch.softmax(q @ k.transpose(-1, -2) + mask, -1) @ v
            x = x + L.out_proj(a.transpose(1, 2).reshape(B, N, H))
            h = F.layer_norm(x, (H,), *L.layer_norm2, self.eps)
            f = L.fc1(h)
            x = x + L.fc2(f * torch.sigmoid(1.702 * f))
        return F.layer_norm(x, (H,), *self.final, self.eps)


def kohya_targets(unet, text):
    """(kohya name, parent module, attribute, linear) of lora_pti's targets."""
    out = []
    for name, mod in unet.named_modules():
        if type(mod).__name__ == "BasicTransformerBlock":
            for a in ["attn1", "attn2"]:
                attn = getattr(mod, a)
                for n in ["to_q", "to_k", "to_v"]:
                    out.append((f"{name}.{a}.{n}", attn, n, getattr(attn, n)))
                out.append((f"{name}.{a}.to_out.0", attn.to_out, "0", attn.to_out[0]))
            out.append((f"{name}.ff.net.0.proj", mod.ff.net[0], "proj", mod.ff.net[0].proj))
    out = [("lora_unet_" + n.replace(".", "_"), p, a, l) for n, p, a, l in out]
    for i, L in enumerate(text.layers):
        for n in ["q_proj", "k_proj", "v_proj", "out_proj"]:
            out.append((f"lora_te_text_model_encoder_layers_{i}_self_attn_{n}", L, n, getattr(L, n)))
    return out


def main():
    torch.set_num_threads(1)
    patch_bmm()
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    g = torch.Generator().manual_seed(1234)

    unet = UNet2DConditionModel.from_pretrained(os.path.join(MODEL, "unet")).to(DT).eval()
    vae = AutoencoderKL.from_pretrained(os.path.join(MODEL, "vae")).to(DT).eval()
    sched = DDPMScheduler.from_pretrained(os.path.join(MODEL, "scheduler"))
    unet.requires_grad_(False)
    vae.requires_grad_(False)
    tcfg = json.load(open(os.path.join(MODEL, "text_encoder", "config.json")))
    text = CLIPText(load_file(os.path.join(MODEL, "text_encoder", "model.safetensors")), tcfg)
    tok = Tokenizer(os.path.join(MODEL, "tokenizer"))
    V, H = text.tok.shape

    # the hand-written text encoder and tokenizer against the fixture's references
    refs = json.load(open(os.path.join(ROOT, "tests", "fixtures", "sd", "ref", "tokens.json")))
    p0 = refs["plain"][0]
    assert tok.encode(p0["prompt"]) == p0["tokens"], "tokenizer differs from the reference"
    ref = load_file(os.path.join(ROOT, "tests", "fixtures", "sd", "ref", "text_encoder.safetensors"))
    with torch.no_grad():
        got = text(torch.tensor([p0["ids"]]))
    err = (got - ref["p0.last_hidden_state"]).abs().max().item()
    assert err < 1e-5, f"text encoder differs from the reference by {err}"

    out = {}
    # images: smooth random patterns in [-1, 1]
    img = torch.rand(N_IMAGES, 3, RES // 8, RES // 8, generator=g) * 2 - 1
    img = F.interpolate(img, size=(RES, RES), mode="bilinear", align_corners=False).clamp(-1, 1).to(DT)
    out["images"] = img
    vae_noise = torch.randn(N_IMAGES, 4, RES // 8, RES // 8, generator=g).to(DT)
    out["vae_noise"] = vae_noise
    with torch.no_grad():
        dist = vae.encode(img).latent_dist
        latents = (dist.mean + dist.std * vae_noise) * vae.config.scaling_factor
    out["latents"] = latents
    tpl = torch.randint(0, len(TEMPLATES), (N_IMAGES,), generator=g)
    out["templates"] = tpl.float()
    ids = []
    bos, eos = tok.vocab["<|startoftext|>"], tok.vocab["<|endoftext|>"]
    for i in range(N_IMAGES):
        before = TEMPLATES[int(tpl[i])].split("{}")[0]
        row = [bos] + tok.encode(before) + [V, V + 1, eos]
        ids.append(row + [eos] * (77 - len(row)))
    ids = torch.tensor(ids)
    out["ids"] = ids.float()

    emb = torch.nn.Parameter((torch.randn(2, H, generator=g) * 0.017).to(DT))
    out["emb_init"] = emb.detach().clone()

    def micro(i, t, noise, scale):
        ctx = text(ids[i:i + 1], emb)
        noisy = sched.add_noise(latents[i:i + 1], noise, torch.tensor([t]))
        pred = unet(noisy, torch.tensor([t]), ctx).sample
        loss = F.mse_loss(pred, noise, reduction="mean")
        (loss * scale).backward()
        return loss.item()

    losses, samples, ts, noises = [], [], [], []

    def draws(T):
        i = int(torch.randint(0, N_IMAGES, (1,), generator=g))
        t = int(torch.randint(0, T, (1,), generator=g))
        noise = torch.randn(1, 4, RES // 8, RES // 8, generator=g).to(DT)
        samples.append(i)
        ts.append(t)
        noises.append(noise[0])
        return i, t, noise

    def linear(k):
        return max(0.0, float(UPDATES - k) / float(max(1, UPDATES)))

    # ---- stage 1: textual inversion
    opt = torch.optim.AdamW([emb], lr=LR_TI, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    for k in range(UPDATES):
        for _ in range(ACCUM):
            i, t, noise = draws(T_TI)
            losses.append(micro(i, t, noise, 1.0 / ACCUM))
        lr = LR_TI * linear(k)
        opt.param_groups[0]["lr"] = lr
        opt.step()
        opt.zero_grad()
        with torch.no_grad():
            pre = emb.norm(dim=-1, keepdim=True)
            lam = min(1.0, 100 * lr)
            emb.data = F.normalize(emb, dim=-1) * (pre + lam * (0.4 - pre))
    out["emb_after_ti"] = emb.detach().clone()

    # ---- stage 2: LoRA
    targets = kohya_targets(unet, text)
    unet_params, text_params = [], []
    for name, parent, attr, lin in targets:
        down = (torch.randn(RANK, lin.in_features, generator=g) / RANK).to(DT)
        out[f"lora_init.{name}"] = down
        l = LoRALinear(lin, RANK, down)
        if attr == "0":
            parent[0] = l
        else:
            setattr(parent, attr, l)
        (text_params if name.startswith("lora_te_") else unet_params).append((name, l))
    opt = torch.optim.AdamW([
        {"params": [p for _, l in unet_params for p in (l.down, l.up)], "lr": LR_UNET},
        {"params": [p for _, l in text_params for p in (l.down, l.up)], "lr": LR_TEXT},
        {"params": [emb], "lr": LR_EMB},
    ], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    base = [LR_UNET, LR_TEXT, LR_EMB]
    allp = [p for grp in opt.param_groups for p in grp["params"]]
    for k in range(UPDATES):
        for _ in range(ACCUM):
            i, t, noise = draws(T_LORA)
            losses.append(micro(i, t, noise, 1.0 / ACCUM))
        for grp, b in zip(opt.param_groups, base):
            grp["lr"] = b * linear(k)
        if k == 0:      # the first update's accumulated gradients, before clipping
            for name, l in unet_params + text_params:
                out[f"grad0.{name}.down"] = l.down.grad.detach().clone()
                out[f"grad0.{name}.up"] = l.up.grad.detach().clone()
            out["grad0.emb"] = emb.grad.detach().clone()
        torch.nn.utils.clip_grad_norm_(allp, 1.0)
        opt.step()
        opt.zero_grad()
    out["emb_final"] = emb.detach().clone()
    for name, l in unet_params + text_params:
        out[f"lora.{name}.down"] = l.down.detach().clone()
        out[f"lora.{name}.up"] = l.up.detach().clone()

    out["samples"] = torch.tensor(samples, dtype=torch.float32)
    out["timesteps"] = torch.tensor(ts, dtype=torch.float32)
    out["noise"] = torch.stack(noises)
    out["loss"] = torch.tensor(losses, dtype=torch.float32)
    for k, v in out.items():
        assert torch.isfinite(v).all(), k
    meta = {"generator": "tools/train_reference.py", "torch": torch.__version__,
            "n_images": N_IMAGES, "res": RES, "rank": RANK, "accum": ACCUM, "updates": UPDATES,
            "lr_ti": LR_TI, "lr_unet": LR_UNET, "lr_text": LR_TEXT, "lr_emb": LR_EMB,
            "n_adapters": len(targets)}
    if DT == torch.float64:
        # how far float32 torch is from float64 torch on the same draws: the float32 noise floor
        # that any float32 implementation (torch's or ours) sits within
        ref = load_file(OUT)
        for prefix in ["loss", "emb_final", "grad0.", "lora."]:
            worst = 0.0
            for k, v in out.items():
                if k.startswith(prefix):
                    r = ref[k].double()
                    worst = max(worst, ((r - v).abs().max() / r.abs().max().clamp(min=1e-30)).item())
            print(f"float32 vs float64 torch, {prefix}*: worst rel {worst:.2e}")
        if "--write" in sys.argv:
            # the float64 run's first LoRA gradients and trained adapters, rounded to float32:
            # the test measures ours and torch float32 against them (reference64.safetensors)
            keep = {k: v.float().contiguous() for k, v in out.items()
                    if k.startswith(("lora.", "grad0.")) or k == "emb_final"}
            save_file(keep, OUT.replace("reference.safetensors", "reference64.safetensors"),
                      metadata=dict(meta, float64="1"))
        return
    save_file({k: v.float().contiguous() for k, v in out.items()}, OUT, metadata=meta)
    print("losses", [round(x, 5) for x in losses])
    print("adapters", len(targets), "emb norms", emb.norm(dim=-1).tolist())


if __name__ == "__main__":
    main()
