#!/usr/bin/env python3
"""make_grad_fixtures.py — reference gradients for the training engine's backward passes.

Writes tests/fixtures/grad/grad.safetensors: for each case, small random weights of one of
diffusers v0.21.4's own modules (Attention, FeedForward, BasicTransformerBlock,
Transformer2DModel with a conv and with a linear projection, ResnetBlock2D with and without
shortcut, Downsample2D UNet and VAE style, Upsample2D), LoRA adapters added to the attention
q/k/v/out and ff.net.0.proj linears in torch directly (a forward hook adding
scale * up(down(x)), scale 0.75, rank 4, up non-zero so every gradient is exercised), the input
(and context, temb), an upstream gradient dy, and what torch autograd gives for
L = sum(dy * module(x)): dx, dcontext and the adapters' gradients. Plus an op-level case of
causal softmax attention written out in torch (CLIP's mask): q, k, v, dO -> dq, dk, dv.

Names: "<case>.x", ".context", ".temb", ".dy", ".dx", ".dcontext", weights "<case>.w.<state
dict key>", adapters "<case>.lora.<linear>.down|up" and their ".grad". The case list with its
sizes is in the safetensors metadata ("cases"). All float32; deterministic (seed 1234).

Run (Debian 12's torch 1.13, diffusers v0.21.4 source, the shims in tools/sd_fixture_shims):
    OMA_DIFFUSERS_SRC=/tmp/sdref/src /usr/bin/python3 tools/make_grad_fixtures.py
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "sd_fixture_shims"))
sys.path.insert(0, os.environ.get("OMA_DIFFUSERS_SRC", "/tmp/sdref/src"))

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402  (the shim)
from diffusers.models.attention import BasicTransformerBlock, FeedForward  # noqa: E402
from diffusers.models.attention_processor import Attention  # noqa: E402
from diffusers.models.resnet import Downsample2D, ResnetBlock2D, Upsample2D  # noqa: E402
from diffusers.models.transformer_2d import Transformer2DModel  # noqa: E402

RANK, SCALE = 4, 0.75
OUT = {}
CASES = {}
gen = torch.Generator().manual_seed(1234)


def randn(*shape, std=1.0):
    return torch.randn(*shape, generator=gen) * std


def randomize(module):
    """Small random weights; norm scales near 1 so the norms are not trivial."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + randn(*p.shape, std=0.2))
            elif name.endswith("bias"):
                p.copy_(randn(*p.shape, std=0.1))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                p.copy_(randn(*p.shape, std=1.0 / fan_in ** 0.5))
            p.requires_grad_(False)


def add_lora(module, names):
    """LoRA on the named nn.Linear submodules: y += SCALE * up(down(x)); returns the adapters."""
    loras = {}
    for name in names:
        lin = module.get_submodule(name)
        down = randn(RANK, lin.in_features, std=1.0 / RANK).requires_grad_(True)
        up = randn(lin.out_features, RANK, std=0.2).requires_grad_(True)

        def hook(m, inp, out, down=down, up=up):
            return out + SCALE * (inp[0] @ down.t()) @ up.t()

        lin.register_forward_hook(hook)
        loras[name] = (down, up)
    return loras


def attn_names(prefix=""):
    return [prefix + n for n in ("to_q", "to_k", "to_v", "to_out.0")]


def record(case, module, inputs, loras, y, meta):
    """Backprop sum(dy * y); store weights, inputs, dy, and the gradients."""
    dy = randn(*y.shape)
    (y * dy).sum().backward()
    for k, v in module.state_dict().items():
        OUT[f"{case}.w.{k}"] = v.detach().clone()
    for k, t in inputs.items():
        OUT[f"{case}.{k}"] = t.detach().clone()
        if t.requires_grad:
            OUT[f"{case}.d{k}"] = t.grad.detach().clone()
    for name, (down, up) in loras.items():
        OUT[f"{case}.lora.{name}.down"] = down.detach().clone()
        OUT[f"{case}.lora.{name}.up"] = up.detach().clone()
        OUT[f"{case}.lora.{name}.down.grad"] = down.grad.detach().clone()
        OUT[f"{case}.lora.{name}.up.grad"] = up.grad.detach().clone()
    OUT[f"{case}.dy"] = dy
    CASES[case] = meta


def leaf(*shape, std=1.0):
    return randn(*shape, std=std).requires_grad_(True)


def main():
    torch.set_grad_enabled(True)

    # a linear layer with an adapter
    lin = torch.nn.Linear(24, 20)
    randomize(lin)
    holder = torch.nn.Module()
    holder.lin = lin
    lo = add_lora(holder, ["lin"])
    x = leaf(2, 5, 24)
    record("linear", lin, {"x": x}, lo, lin(x), {"in": 24, "out": 20})

    # self- and cross-attention
    for case, cdim, heads, dh in (("attn_self", None, 4, 8), ("attn_cross", 24, 2, 16)):
        a = Attention(query_dim=32, cross_attention_dim=cdim, heads=heads, dim_head=dh)
        randomize(a)
        lo = add_lora(a, attn_names())
        x = leaf(2, 10, 32)
        inputs = {"x": x}
        if cdim:
            ctx = leaf(2, 7, cdim)
            inputs["context"] = ctx
            y = a(x, encoder_hidden_states=ctx)
        else:
            y = a(x)
        record(case, a, inputs, lo, y, {"dim": 32, "context_dim": cdim or 32, "heads": heads})

    # GEGLU feed-forward
    ff = FeedForward(32, activation_fn="geglu")
    randomize(ff)
    lo = add_lora(ff, ["net.0.proj"])
    x = leaf(2, 9, 32)
    record("ff", ff, {"x": x}, lo, ff(x), {"dim": 32})

    # BasicTransformerBlock
    blk = BasicTransformerBlock(32, 4, 8, cross_attention_dim=24)
    randomize(blk)
    lo = add_lora(blk, attn_names("attn1.") + attn_names("attn2.") + ["ff.net.0.proj"])
    x, ctx = leaf(2, 11, 32), leaf(2, 7, 24)
    record("block", blk, {"x": x, "context": ctx}, lo, blk(x, encoder_hidden_states=ctx),
           {"dim": 32, "context_dim": 24, "heads": 4})

    # Transformer2DModel, conv projection (SD 1.x) and linear projection (SD 2.x), 2 layers
    for case, linear, layers in (("t2d_conv", False, 1), ("t2d_linear", True, 2)):
        t = Transformer2DModel(num_attention_heads=4, attention_head_dim=8, in_channels=32,
                               num_layers=layers, cross_attention_dim=24, norm_num_groups=8,
                               use_linear_projection=linear)
        randomize(t)
        names = []
        for i in range(layers):
            p = f"transformer_blocks.{i}."
            names += attn_names(p + "attn1.") + attn_names(p + "attn2.") + [p + "ff.net.0.proj"]
        lo = add_lora(t, names)
        x, ctx = leaf(2, 32, 6, 5), leaf(2, 7, 24)
        y = t(x, encoder_hidden_states=ctx, return_dict=False)[0]
        record(case, t, {"x": x, "context": ctx}, lo, y,
               {"channels": 32, "heads": 4, "context_dim": 24, "layers": layers,
                "linear": int(linear), "groups": 8})

    # ResnetBlock2D with a shortcut (16 -> 24) and without (16 -> 16)
    for case, cout in (("resnet_sc", 24), ("resnet", 16)):
        r = ResnetBlock2D(in_channels=16, out_channels=cout, temb_channels=20, groups=8, eps=1e-5)
        randomize(r)
        x, temb = leaf(2, 16, 6, 7), randn(2, 20)
        record(case, r, {"x": x, "temb": temb}, {}, r(x, temb),
               {"in": 16, "out": cout, "temb": 20, "groups": 8})

    # Downsample2D (UNet: padding 1; VAE: padding 0, padded right/bottom) and Upsample2D
    for case, pad, h, w in (("down", 1, 7, 6), ("down_vae", 0, 8, 7)):
        d = Downsample2D(16, use_conv=True, padding=pad, name="op")
        randomize(d)
        x = leaf(2, 16, h, w)
        record(case, d, {"x": x}, {}, d(x), {"channels": 16, "padding": pad})
    u = Upsample2D(16, use_conv=True)
    randomize(u)
    x = leaf(2, 16, 5, 3)
    record("up", u, {"x": x}, {}, u(x), {"channels": 16})

    # causal attention (CLIP's mask), op level: out = softmax(q k^T / sqrt(d) + mask) v per head
    B, N, H, D = 1, 77, 2, 40
    q, k, v = leaf(B, N, H * D), leaf(B, N, H * D), leaf(B, N, H * D)
    sh = lambda t: t.view(B, N, H, D).transpose(1, 2)  # noqa: E731
    s = sh(q) @ sh(k).transpose(-1, -2) / D ** 0.5
    s = s.masked_fill(torch.triu(torch.ones(N, N, dtype=torch.bool), 1), float("-inf"))
    o = (s.softmax(-1) @ sh(v)).transpose(1, 2).reshape(B, N, H * D)
    record("attn_causal", torch.nn.Module(), {"q": q, "k": k, "v": v}, {}, o,
           {"heads": H, "causal": 1})
    OUT["attn_causal.o"] = o.detach().clone()

    dst = os.path.join(HERE, "..", "tests", "fixtures", "grad", "grad.safetensors")
    save_file({k: v.contiguous().float() for k, v in OUT.items()}, dst,
              metadata={"cases": json.dumps(CASES, sort_keys=True), "lora_rank": RANK,
                        "lora_scale": SCALE, "torch": torch.__version__,
                        "diffusers": "v0.21.4"})
    print(f"{dst}: {len(OUT)} tensors, {os.path.getsize(dst)} bytes")


if __name__ == "__main__":
    main()
