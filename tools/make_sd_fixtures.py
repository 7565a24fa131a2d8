#!/usr/bin/env python3
"""make_sd_fixtures.py — builds the tiny Stable Diffusion 1.x conformance fixtures in tests/fixtures/sd/.

The idea: no pretrained weights can be fetched, so the C engine is checked number for number
against the reference implementations on a TINY model with random weights (fixed seeds):
  * UNet2DConditionModel, AutoencoderKL and the DDIM / Euler ancestral / DPM++ 2M Karras schedulers
    come from diffusers (a release that runs on Debian's torch 1.13, e.g. v0.21.4), imported from
    $OMA_DIFFUSERS_SRC (the folder holding the `diffusers` package);
  * the CLIP text transformer and the BPE tokenizer come from OpenAI's CLIP repository (model.py,
    simple_tokenizer.py: the code transformers' CLIPTextModel/CLIPTokenizer reproduce), imported
    from $OMA_CLIP_SRC (the folder holding model.py);
  * the A1111 emphasis parser is stable-diffusion-webui's parse_prompt_attention, imported from
    $OMA_A1111_PARSER_DIR (a folder with prompt_parser.py);
  * the single-file checkpoint is written with diffusers' own scripts/convert_diffusers_to_original_
    stable_diffusion.py ($OMA_DIFFUSERS_CONVERT), so the original-layout names are the reference's.
  * ftfy (the text repair CLIP's tokenizers run first), imported from $OMA_FTFY_SRC (the folder
    holding the `ftfy` package; needs Debian's python3-wcwidth).
None of those sources is committed. transformers, huggingface_hub and safetensors are not in
Debian: tools/sd_fixture_shims/ holds the tiniest stand-ins (an offline huggingface_hub, a
safetensors writer/reader over torch).

The model is SD 1.x-shaped (4 UNet blocks with the SD block types, 2 layers per block, 8 heads,
32 norm groups; 4 VAE blocks, factor 8; CLIP with 12 heads, quick-GELU, 77 positions), so every
hyperparameter a single file cannot state is the SD 1.x default; only the widths are small:
channels 32, CLIP width 48 with 2 layers, a 1000-token BPE vocab trained here on a small prompt
corpus. Every weight is random and rounded to float16-representable values, so the diffusers folder
(unet/vae F16, text_encoder F32) and the single file (all F16) hold exactly the same numbers. See tests/fixtures/sd/README.md for
what each file holds.

Usage (Debian 12, as root):
  apt-get install python3-torch python3-numpy python3-regex python3-pil python3-filelock \
      python3-requests python3-packaging python3-yaml python3-tqdm python3-importlib-metadata \
      python3-wcwidth
  OMA_DIFFUSERS_SRC=/tmp/sdref/src OMA_CLIP_SRC=/tmp/sdref/clip/clip \
  OMA_A1111_PARSER_DIR=/tmp/sdref/a1111 OMA_FTFY_SRC=/tmp/sdref/ftfy \
  OMA_DIFFUSERS_CONVERT=/tmp/sdref/convert_diffusers_to_original_stable_diffusion.py \
      /usr/bin/python3 tools/make_sd_fixtures.py [--out tests/fixtures/sd]
  OMA_FTFY_SRC=/tmp/sdref/ftfy /usr/bin/python3 tools/make_sd_fixtures.py \
      --unicode-tables src/models/sd/clip_tokenizer_unicode.c
"""
import argparse
import gzip
import importlib.util
import json
import os
import shutil
import struct
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "sd_fixture_shims"))

import regex  # noqa: E402  (Debian python3-regex, same engine CLIP uses)

CLIP_PAT = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


# ------------------------------------------------------------------ unicode tables for the C tokenizer
def write_unicode_tables(path):
    """Ranges of \\p{L}, \\p{N} and \\s as the `regex` module sees them, and str.lower() mappings."""
    L, N, S = regex.compile(r"\p{L}"), regex.compile(r"\p{N}"), regex.compile(r"\s")

    def ranges(pat):
        out, start = [], None
        for cp in range(0x110000):
            hit = bool(pat.match(chr(cp)))
            if hit and start is None:
                start = cp
            if not hit and start is not None:
                out.append((start, cp - 1))
                start = None
        if start is not None:
            out.append((start, 0x10FFFF))
        return out

    lower = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        lo = chr(cp).lower()
        if len(lo) == 1 and ord(lo) != cp:
            lower.append((cp, ord(lo)))
    # ftfy's character-level repairs (what CLIPTokenizer's fix_text does per character), composed in
    # ftfy's order; the context-dependent ones (mojibake, NFC) are not reproduced.
    sys.path.insert(1, env_path("OMA_FTFY_SRC"))
    from ftfy import fixes as ff

    def char_fix(ch):
        for f in (ff.fix_c1_controls, ff.fix_latin_ligatures, ff.fix_character_width, ff.uncurl_quotes,
                  ff.remove_control_chars):
            ch = f(ch)
        return ch
    ftfy_map = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        out = char_fix(chr(cp))
        if out != chr(cp):
            ftfy_map.append((cp, out))
    with open(path, "w") as f:
        f.write("/* clip_tokenizer_unicode.c — Unicode classes for CLIP's pre-tokenizer, lowercasing, ftfy's\n"
                " * per-character repairs.\n"
                " *\n * GENERATED by tools/make_sd_fixtures.py --unicode-tables from Python's `regex` module\n"
                " * (\\p{L}, \\p{N}, \\s), str.lower() and ftfy (fix_c1_controls, fix_latin_ligatures,\n"
                " * fix_character_width, uncurl_quotes, remove_control_chars), so the C tokenizer cleans, splits and\n"
                " * lowercases text as CLIP's Python tokenizer does. Sorted tables, searched by bisection. Do not edit.\n */\n")
        f.write('#include "models/sd/clip_tokenizer_unicode.h"\n\n')
        for name, rs in (("letter", ranges(L)), ("number", ranges(N)), ("space", ranges(S))):
            f.write(f"static const uint32_t {name}_ranges[][2] = {{\n")
            for a, b in rs:
                f.write(f"    {{0x{a:X}, 0x{b:X}}},\n")
            f.write("};\n\n")
        f.write("static const struct { uint32_t cp; const char *to; } ftfy_map[] = {\n")
        for a, b in ftfy_map:
            esc = "".join(f"\\x{x:02x}" for x in b.encode("utf-8"))
            f.write(f'    {{0x{a:X}, "{esc}"}},\n')
        f.write("};\n\n")
        f.write("static const uint32_t lower_map[][2] = {\n")
        for a, b in lower:
            f.write(f"    {{0x{a:X}, 0x{b:X}}},\n")
        f.write("};\n\n")
        f.write("""static int in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid][0]) hi = mid;
        else if (cp > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
int oma_uni_is_letter(uint32_t cp) { return in_ranges(letter_ranges, COUNT(letter_ranges), cp); }
int oma_uni_is_number(uint32_t cp) { return in_ranges(number_ranges, COUNT(number_ranges), cp); }
int oma_uni_is_space(uint32_t cp) { return in_ranges(space_ranges, COUNT(space_ranges), cp); }

const char *oma_uni_ftfy(uint32_t cp) {
    size_t lo = 0, hi = COUNT(ftfy_map);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < ftfy_map[mid].cp) hi = mid;
        else if (cp > ftfy_map[mid].cp) lo = mid + 1;
        else return ftfy_map[mid].to;
    }
    return NULL;
}

uint32_t oma_uni_lower(uint32_t cp) {
    size_t lo = 0, hi = COUNT(lower_map);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < lower_map[mid][0]) hi = mid;
        else if (cp > lower_map[mid][0]) lo = mid + 1;
        else return lower_map[mid][1];
    }
    return cp;
}
""")
    print(f"wrote {path}")


# ------------------------------------------------------------------ reference imports
def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def env_path(var):
    v = os.environ.get(var)
    if not v or not os.path.exists(v):
        sys.exit(f"make_sd_fixtures: set {var} (see the usage at the top of this script)")
    return v


# ------------------------------------------------------------------ tokenizer: a tiny BPE vocab
CORPUS = """
masterpiece, best quality, a city street at night in the rain, neon signs, wet asphalt, reflections
a quiet classroom in the afternoon, sunlight through the windows, desks and chairs, chalkboard
a rooftop at sunset, water tower, fence, clouds, the city skyline behind
a small cafe interior, wooden tables, a coffee machine, plants on the shelves, warm light
a forest path in autumn, red and yellow leaves, fog, tall trees, a stone bridge over a stream
a train station platform, the train arriving, people waiting, morning light, long shadows
a convenience store at night, bright lights, an empty parking lot, a vending machine
a bedroom with a bed, a desk, a lamp, posters on the wall, manga on the floor
a school hallway, lockers, windows, a long corridor, black and white, screentone
a mountain village, old houses, tiled roofs, a temple, cherry blossoms, spring
a beach at noon, waves, sand, a lighthouse, seagulls, blue sky, summer
a subway car, seats, handles, a map, advertisements, city lights through the windows
a library with tall bookshelves, a reading table, a ladder, dust in the light
a busy market street, stalls, lanterns, crowds, food, signs with letters and numbers 1 2 3 4 5
a hospital corridor, a bench, doors, clean white walls, night, a clock on the wall
a rainy bus stop, umbrellas, puddles, a bus coming, headlights, evening
line art, lineart, clean lines, ink, monochrome, webtoon background, comic style, manga style
lowres, bad anatomy, blurry, worst quality, low quality, jpeg artifacts, watermark, text, signature
detailed background, perspective, wide shot, from above, from below, depth of field
it's a dog's life, they're here, we've gone, i'm late, you'll see, he'd know, don't stop
웹툰 배경, 도시 거리, 밤, 비
""" * 3 + """
house house house tree tree tree street street window window window light light night night
building building buildings road roads car cars sky sky cloud clouds sun moon star stars
"""


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def train_bpe(text, target_vocab=1000):
    """Plain BPE training (most frequent adjacent pair, ties broken by the pair's text) over the
    CLIP pre-tokenized, byte-mapped corpus; merged strings are kept unique."""
    be = bytes_to_unicode()
    pat = regex.compile(CLIP_PAT, regex.IGNORECASE)
    freq = Counter()
    for piece in regex.findall(pat, " ".join(text.split()).lower()):
        freq["".join(be[b] for b in piece.encode("utf-8"))] += 1
    words = {tuple(w[:-1]) + (w[-1] + "</w>",): f for w, f in freq.items()}
    base = list(be.values())
    known = set(base) | {v + "</w>" for v in base}
    merges = []
    n_merges = target_vocab - 512 - 2
    while len(merges) < n_merges:
        pairs = Counter()
        for sym, f in words.items():
            for a, b in zip(sym, sym[1:]):
                pairs[(a, b)] += f
        cands = [(f, p) for p, f in pairs.items() if f >= 2 and p[0] + p[1] not in known]
        if not cands:
            break
        f, best = max(cands, key=lambda x: (x[0], tuple(-ord(c) for c in x[1][0] + " " + x[1][1])))
        merges.append(best)
        known.add(best[0] + best[1])
        new_words = {}
        for sym, fr in words.items():
            out, i = [], 0
            while i < len(sym):
                if i + 1 < len(sym) and sym[i] == best[0] and sym[i + 1] == best[1]:
                    out.append(sym[i] + sym[i + 1])
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + fr
        words = new_words
    vocab = base + [v + "</w>" for v in base] + [a + b for a, b in merges] + ["<|startoftext|>", "<|endoftext|>"]
    return vocab, merges


# ------------------------------------------------------------------ small writers
def json_safe(o):
    """Strict JSON: non-finite floats (diffusers' lambda_min_clipped = -inf) become strings."""
    if isinstance(o, float) and o != o:
        return "nan"
    if isinstance(o, float) and o in (float("inf"), float("-inf")):
        return "inf" if o > 0 else "-inf"
    if isinstance(o, dict):
        return {k: json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [json_safe(v) for v in o]
    return o


def save_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(json_safe(obj), f, indent=1, ensure_ascii=False, sort_keys=False, allow_nan=False)
        f.write("\n")


def f16_round_(module):
    import torch
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.half().float())


def randomize_(module, gen, scale_bias=0.1):
    """Every parameter random (weights ~ N(0, 1/fan_in), norm weights ~ 1 + N(0, .1), biases ~ N(0, .1)),
    so no layer is an identity or zero that would hide a mistake."""
    import torch
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in ** 0.5)
            elif "norm" in name or "ln_" in name or name.endswith("ln_final.weight"):
                if name.endswith("weight"):
                    p.copy_(1 + scale_bias * torch.randn(p.shape, generator=gen))
                else:
                    p.copy_(scale_bias * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(scale_bias * torch.randn(p.shape, generator=gen))
    f16_round_(module)


def real_vocab_check(out):
    """Writes OpenAI CLIP's real vocab (vocab.json + merges.txt, from $OMA_CLIP_SRC's
    bpe_simple_vocab_16e6.txt.gz) and reference token ids for varied + random prompts into `out`
    (NOT for committing). tests/unit/models/test_tokenizer.c compares against it when
    OMA_CLIP_CHECK_DIR=out is set."""
    import random
    clip_src = env_path("OMA_CLIP_SRC")
    sys.path.insert(1, clip_src)
    sys.path.insert(1, env_path("OMA_FTFY_SRC"))
    import simple_tokenizer
    tok = simple_tokenizer.SimpleTokenizer()
    os.makedirs(out, exist_ok=True)
    save_json(os.path.join(out, "vocab.json"), tok.encoder)
    with gzip.open(os.path.join(clip_src, "bpe_simple_vocab_16e6.txt.gz")) as f:
        merges = f.read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    prompts = [l for l in CORPUS.split("\n") if l.strip()]
    prompts += ["masterpiece, best quality, 1girl, solo, (looking at viewer:1.2), école, naïve café, Straße, ÆØÅ",
                "İstanbul", "東京の夜景、雨、ネオン", "emoji 🎨🖌️ test", "3.14159 and 1234567890",
                "hyphen-ated words_with_underscores, CamelCase, ALLCAPS", "tab\tand\nnewline   spaces",
                "it\u2019s \u201cquoted\u201d \ufb01ne", "\uff26\uff35\uff2c\uff2c\u3000\uff57\uff49\uff44\uff54\uff48",
                "R&amp;B &quot;night&quot;"]
    rnd = random.Random(5)
    for _ in range(3000):
        alpha = rnd.choice(["ab", "abc", "aeiou", "thesanor", "abcdefghijklmnopqrstuvwxyz", "ing", "ㅋㅎ", "éèa"])
        n = rnd.randint(1, 60)
        prompts.append(" ".join("".join(rnd.choice(alpha) for _ in range(rnd.randint(1, n)))
                                for _ in range(rnd.randint(1, 4))))
    save_json(os.path.join(out, "check.json"), [{"prompt": p, "tokens": tok.encode(p)} for p in prompts])
    print(f"wrote {out}: vocab {len(tok.encoder)}, {len(prompts)} prompts")


def stable_config(cfg):
    """A scheduler config as JSON-ready dict with a reproducible order (diffusers keeps a set inside)."""
    return {k: (sorted(v) if k == "_use_default_values" else v) for k, v in sorted(cfg.items())}


# ------------------------------------------------------------------ main build
def build(out):
    import numpy as np
    import torch

    torch.set_num_threads(1)
    # diffusers computes attention scores as baddbmm(torch.empty(..), q, k^T, beta=0). Debian's torch
    # 1.13 then leaves the result's uninitialised memory in play (baddbmm(.., beta=0, out=NaNs) gives
    # NaN), which made whole UNet outputs NaN at random. Same maths with defined memory: a zero input
    # with beta=1 (bmm likewise). The build also refuses to save any NaN.
    _baddbmm = torch.baddbmm

    def baddbmm_defined(inp, b1, b2, *, beta=1, alpha=1):
        if beta == 0:
            inp, beta = torch.zeros(b1.shape[0], b1.shape[1], b2.shape[2], dtype=b1.dtype), 1
        return _baddbmm(inp, b1, b2, beta=beta, alpha=alpha)

    def bmm_defined(b1, b2):
        return _baddbmm(torch.zeros(b1.shape[0], b1.shape[1], b2.shape[2], dtype=b1.dtype), b1, b2)
    torch.baddbmm = baddbmm_defined
    torch.bmm = bmm_defined
    diffusers_src = env_path("OMA_DIFFUSERS_SRC")
    clip_src = env_path("OMA_CLIP_SRC")
    a1111_dir = env_path("OMA_A1111_PARSER_DIR")
    convert_path = env_path("OMA_DIFFUSERS_CONVERT")
    sys.path.insert(1, diffusers_src)
    sys.path.insert(1, clip_src)
    sys.path.insert(1, env_path("OMA_FTFY_SRC"))
    sys.path.insert(1, a1111_dir)
    import diffusers
    from diffusers import (AutoencoderKL, DDIMScheduler, DPMSolverMultistepScheduler,
                           EulerAncestralDiscreteScheduler, UNet2DConditionModel)
    import model as clip_model  # OpenAI CLIP model.py
    import simple_tokenizer  # OpenAI CLIP simple_tokenizer.py
    from prompt_parser import parse_prompt_attention
    from safetensors.torch import save_file
    conv = load_module("sd_convert", convert_path)

    for sub in ("tiny-sd", "single", "ref"):  # README.md and anything else stays
        if os.path.exists(os.path.join(out, sub)):
            shutil.rmtree(os.path.join(out, sub))
    os.makedirs(out, exist_ok=True)
    folder = os.path.join(out, "tiny-sd")
    single_dir = os.path.join(out, "single")
    ref = os.path.join(out, "ref")
    for d in (folder, single_dir, ref):
        os.makedirs(d, exist_ok=True)
    index = {"generator": "tools/make_sd_fixtures.py", "diffusers_version": diffusers.__version__,
             "torch_version": torch.__version__, "files": {}}

    # ---- tokenizer
    vocab, merges = train_bpe(CORPUS)
    enc = {t: i for i, t in enumerate(vocab)}
    assert len(enc) == len(vocab)
    tokdir = os.path.join(folder, "tokenizer")
    os.makedirs(tokdir)
    save_json(os.path.join(tokdir, "vocab.json"), enc)
    with open(os.path.join(tokdir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    specials = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
                "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    save_json(os.path.join(tokdir, "special_tokens_map.json"), specials)
    save_json(os.path.join(tokdir, "tokenizer_config.json"),
              dict(specials, model_max_length=77, do_lower_case=True, tokenizer_class="CLIPTokenizer"))
    gz = os.path.join(ref, "_merges.tmp.gz")
    with gzip.open(gz, "wb") as f:
        f.write(("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges)).encode("utf-8"))
    tok = simple_tokenizer.SimpleTokenizer(bpe_path=gz)
    os.remove(gz)
    assert tok.encoder == enc, "reference tokenizer builds a different vocab"
    BOS, EOS = enc["<|startoftext|>"], enc["<|endoftext|>"]
    PAD = EOS

    def frame(ids, weights=None):
        ids = ids[:75]
        w = (weights or [1.0] * len(ids))[:75]
        full = [BOS] + ids + [EOS]
        fw = [1.0] + list(w) + [1.0]
        n = len(full)
        return full + [PAD] * (77 - n), fw + [1.0] * (77 - n), n

    plain_prompts = [
        "a city street at night in the rain",
        "",
        "Masterpiece,   Best Quality!!  a  ROOFTOP\tat sunset",
        "it's 2024: they're here, we've gone 12345",
        "lowres, bad anatomy, blurry, worst quality",
        "웹툰 배경, 도시 거리, 밤",
        "zebra xylophone quokka (never seen words) #hashtag @user $9.99",
        "<|startoftext|>hello<|endoftext|> world",
        " ".join(["house"] * 80),
        # ftfy's repairs: curly quotes, ligatures, full width, HTML entities, control characters
        "it\u2019s a \u201cquoted\u201d \ufb01ne \ufb02ow",
        "\uff26\uff35\uff2c\uff2c\u3000\uff57\uff49\uff44\uff54\uff48 \uff11\uff12\uff13",
        "R&amp;B &quot;night&quot;&nbsp;cafe &apos;90s",
        "zero\u200bwidth\u200djoiner\u200e mark and\x07bell\x1b[31mred",
    ]
    weighted_prompts = [
        "a (city street:1.3) at night",
        "((masterpiece)), [blurry], (rain)",
        "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
        "\\(literal\\) parens and [[low]]",
        "(unbalanced open",
        "a (b:0.25) c) d]",
        "(street:-0.5), (window: 2)",
        "an (important) word",
    ]
    tokens = {"bos": BOS, "eos": EOS, "pad": PAD, "vocab_size": len(vocab), "plain": [], "weighted": []}
    for p in plain_prompts:
        raw = tok.encode(p)
        ids, w, n = frame(raw)
        tokens["plain"].append({"prompt": p, "tokens": raw, "ids": ids, "length": n})
    for p in weighted_prompts:
        spans = parse_prompt_attention(p)
        raw, ws = [], []
        for text, weight in spans:
            t = tok.encode(text)
            raw += t
            ws += [weight] * len(t)
        ids, w, n = frame(raw, ws)
        tokens["weighted"].append({"prompt": p, "spans": spans, "ids": ids, "weights": w, "length": n})
    save_json(os.path.join(ref, "tokens.json"), tokens)
    index["files"]["ref/tokens.json"] = ("token ids from OpenAI CLIP's simple_tokenizer over the tiny vocab, "
                                         "framed as SD does (BOS, <=75 tokens, EOS, pad=EOS to 77); weighted: "
                                         "A1111 parse_prompt_attention spans, each tokenized separately")

    # ---- text encoder (OpenAI CLIP text transformer == transformers CLIPTextModel)
    W, HEADS, LAYERS = 48, 12, 2
    gen = torch.Generator().manual_seed(1234)
    clip = clip_model.CLIP(embed_dim=W, image_resolution=32, vision_layers=1, vision_width=64,
                           vision_patch_size=16, context_length=77, vocab_size=len(vocab),
                           transformer_width=W, transformer_heads=HEADS, transformer_layers=LAYERS).eval()
    randomize_(clip, gen)
    sd = {}
    sd["text_model.embeddings.token_embedding.weight"] = clip.token_embedding.weight
    sd["text_model.embeddings.position_embedding.weight"] = clip.positional_embedding
    for i, blk in enumerate(clip.transformer.resblocks):
        pre = f"text_model.encoder.layers.{i}."
        q, k, v = blk.attn.in_proj_weight.chunk(3, dim=0)
        qb, kb, vb = blk.attn.in_proj_bias.chunk(3, dim=0)
        sd[pre + "self_attn.q_proj.weight"], sd[pre + "self_attn.q_proj.bias"] = q, qb
        sd[pre + "self_attn.k_proj.weight"], sd[pre + "self_attn.k_proj.bias"] = k, kb
        sd[pre + "self_attn.v_proj.weight"], sd[pre + "self_attn.v_proj.bias"] = v, vb
        sd[pre + "self_attn.out_proj.weight"] = blk.attn.out_proj.weight
        sd[pre + "self_attn.out_proj.bias"] = blk.attn.out_proj.bias
        sd[pre + "layer_norm1.weight"], sd[pre + "layer_norm1.bias"] = blk.ln_1.weight, blk.ln_1.bias
        sd[pre + "layer_norm2.weight"], sd[pre + "layer_norm2.bias"] = blk.ln_2.weight, blk.ln_2.bias
        sd[pre + "mlp.fc1.weight"], sd[pre + "mlp.fc1.bias"] = blk.mlp.c_fc.weight, blk.mlp.c_fc.bias
        sd[pre + "mlp.fc2.weight"], sd[pre + "mlp.fc2.bias"] = blk.mlp.c_proj.weight, blk.mlp.c_proj.bias
    sd["text_model.final_layer_norm.weight"] = clip.ln_final.weight
    sd["text_model.final_layer_norm.bias"] = clip.ln_final.bias
    text_sd = {k: v.detach().clone().contiguous() for k, v in sd.items()}
    # transformers' older checkpoints (SD 1.5's included) carry this int64 buffer: keep it, as real files do
    text_sd["text_model.embeddings.position_ids"] = torch.arange(77, dtype=torch.int64).unsqueeze(0)
    te_dir = os.path.join(folder, "text_encoder")
    os.makedirs(te_dir)
    save_file(text_sd, os.path.join(te_dir, "model.safetensors"), metadata={"format": "pt"})
    save_json(os.path.join(te_dir, "config.json"), {
        "_name_or_path": "oma/tiny-sd", "architectures": ["CLIPTextModel"], "model_type": "clip_text_model",
        "attention_dropout": 0.0, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1,
        "dropout": 0.0, "hidden_act": "quick_gelu", "hidden_size": W, "initializer_factor": 1.0,
        "initializer_range": 0.02, "intermediate_size": 4 * W, "layer_norm_eps": 1e-05,
        "max_position_embeddings": 77, "num_attention_heads": HEADS, "num_hidden_layers": LAYERS,
        "projection_dim": W, "torch_dtype": "float32", "transformers_version": "4.25.1",
        "vocab_size": len(vocab)})

    def text_hidden(ids):
        """CLIP text transformer on 77 ids: (last_hidden_state, penultimate layer + final LN)."""
        with torch.no_grad():
            t = torch.tensor([ids])
            x = clip.token_embedding(t) + clip.positional_embedding
            x = x.permute(1, 0, 2)
            states = []
            for blk in clip.transformer.resblocks:
                x = blk(x)
                states.append(x)
            last = clip.ln_final(states[-1].permute(1, 0, 2))
            skip2 = clip.ln_final(states[-2].permute(1, 0, 2))
        return last.contiguous(), skip2.contiguous()

    # ---- UNet and VAE (diffusers)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(32, 32, 32, 32),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=W, attention_head_dim=8, norm_num_groups=8).eval()
    randomize_(unet, torch.Generator().manual_seed(42))
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=64,
        block_out_channels=(32, 32, 32, 32), norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4).eval()
    randomize_(vae, torch.Generator().manual_seed(43))
    for name, m in (("unet", unet), ("vae", vae)):  # F16 weights (as fp16 model folders have) to stay small
        m.save_config(os.path.join(folder, name))
        save_file({k: v.detach().half().contiguous() for k, v in m.state_dict().items()},
                  os.path.join(folder, name, "diffusion_pytorch_model.safetensors"), metadata={"format": "pt"})
    sched_cfg = {"_class_name": "PNDMScheduler", "_diffusers_version": diffusers.__version__,
                 "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
                 "clip_sample": False, "num_train_timesteps": 1000, "prediction_type": "epsilon",
                 "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
                 "timestep_spacing": "leading", "trained_betas": None}
    os.makedirs(os.path.join(folder, "scheduler"))
    save_json(os.path.join(folder, "scheduler", "scheduler_config.json"), sched_cfg)
    save_json(os.path.join(folder, "model_index.json"), {
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": diffusers.__version__,
        "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"]})

    # ---- the single file, with diffusers' own conversion script, stored as F16
    unet_o = conv.convert_unet_state_dict({k: v.detach() for k, v in unet.state_dict().items()})
    vae_o = conv.convert_vae_state_dict({k: v.detach() for k, v in vae.state_dict().items()})
    te_o = conv.convert_text_enc_state_dict(dict(text_sd))
    single = {}
    single.update({"model.diffusion_model." + k: v for k, v in unet_o.items()})
    single.update({"first_stage_model." + k: v for k, v in vae_o.items()})
    single.update({"cond_stage_model.transformer." + k: v for k, v in te_o.items()})
    single = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in single.items()}
    # what real single files also carry and a loader must tolerate
    from diffusers import DDPMScheduler
    ddpm = DDPMScheduler.from_config(sched_cfg)
    single["alphas_cumprod"] = ddpm.alphas_cumprod.float().contiguous()
    single["model_ema.decay"] = torch.tensor(0.9999, dtype=torch.float32)
    save_file(single, os.path.join(single_dir, "tiny-sd-v1.safetensors"))
    shutil.copytree(tokdir, os.path.join(single_dir, "tokenizer"))
    n_mapped = len(unet_o) + len(vae_o) + len(te_o)
    index["single_file"] = {"path": "single/tiny-sd-v1.safetensors", "dtype": "F16", "mapped_tensors": n_mapped,
                            "extra_tensors": ["alphas_cumprod", "model_ema.decay"]}

    # ---- reference outputs
    def save_ref(name, tensors, meta, what):
        tensors = {k: v.detach().float().contiguous() if v.is_floating_point() else v.contiguous()
                   for k, v in tensors.items()}
        for k, v in tensors.items():
            if v.is_floating_point() and not torch.isfinite(v).all():
                sys.exit(f"make_sd_fixtures: {name}: {k} is not finite")
        save_file(tensors, os.path.join(ref, name))
        index["files"]["ref/" + name] = {"what": what, "meta": meta,
                                         "tensors": {k: list(v.shape) for k, v in tensors.items()}}

    # text embeddings
    te_tensors, te_meta = {}, []
    for i, e in enumerate(tokens["plain"][:3]):
        last, skip2 = text_hidden(e["ids"])
        te_tensors[f"p{i}.last_hidden_state"] = last
        te_tensors[f"p{i}.clip_skip2"] = skip2
        te_meta.append({"prompt": e["prompt"], "ids": e["ids"]})
    save_ref("text_encoder.safetensors", te_tensors, te_meta,
             "CLIP text encoder: pN.last_hidden_state [1,77,48] = final_layer_norm(last layer); "
             "pN.clip_skip2 = final_layer_norm(output of the second-to-last layer) (A1111 clip skip 2)")

    # UNet
    g = torch.Generator().manual_seed(7)
    x = torch.randn((2, 4, 8, 8), generator=g)
    ctx = torch.randn((2, 77, W), generator=g)
    with torch.no_grad():
        u500 = unet(x, 500, encoder_hidden_states=ctx).sample
        u1 = unet(x, 1, encoder_hidden_states=ctx).sample
    save_ref("unet.safetensors", {"sample": x, "encoder_hidden_states": ctx, "out_t500": u500, "out_t1": u1},
             {"timesteps": {"out_t500": 500, "out_t1": 1}},
             "UNet2DConditionModel forward on random sample [2,4,8,8] and context [2,77,48] at t=500 and t=1")

    # VAE
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
    img = torch.stack([xx, yy, torch.sin(3 * xx) * torch.cos(2 * yy)]).unsqueeze(0)
    img = ((img + 1) * 127.5).round().clamp(0, 255) / 127.5 - 1  # exactly an 8-bit image
    from PIL import Image
    img_u8 = ((img[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
    Image.fromarray(img_u8).save(os.path.join(ref, "init.png"))
    with torch.no_grad():
        post = vae.encode(img).latent_dist
        z = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(11))
        dec = vae.decode(z).sample
    save_ref("vae.safetensors", {"image": img, "posterior_mean": post.mean, "posterior_logvar": post.logvar,
                                 "latent": z, "decoded": dec},
             {"init_png": "ref/init.png"},
             "AutoencoderKL: encode(image [1,3,64,64] in [-1,1], = ref/init.png/127.5-1) -> posterior mean/logvar "
             "[1,4,8,8]; decode(latent) -> [1,3,64,64] (no scaling factor applied in either)")

    # torch CPU RNG
    rng = {}
    for seed in (0, 1, 42, 123456789, 4294967295):
        for n in (1, 7, 15, 16, 17, 100, 256):
            rng[f"seed{seed}.n{n}"] = torch.randn((n,), generator=torch.Generator().manual_seed(seed))
        rng[f"seed{seed}.latent"] = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(seed))
        g2 = torch.Generator().manual_seed(seed)
        rng[f"seed{seed}.twice_a"] = torch.randn((1, 4, 8, 8), generator=g2)
        rng[f"seed{seed}.twice_b"] = torch.randn((1, 4, 8, 8), generator=g2)
    save_ref("rng.safetensors", rng, {},
             "torch.randn(shape, generator=torch.Generator('cpu').manual_seed(seed)): seedS.nN is N values; "
             "seedS.latent [1,4,8,8]; twice_a then twice_b are two draws from one generator")

    # full runs
    prompt, negative = "a city street at night in the rain", "lowres, bad anatomy, blurry, worst quality"
    ids_p, _, _ = frame(tok.encode(prompt))
    ids_n, _, _ = frame(tok.encode(negative))
    emb = torch.cat([text_hidden(ids_n)[0], text_hidden(ids_p)[0]])
    SF = vae.config.scaling_factor
    samplers = {
        "ddim": lambda: DDIMScheduler.from_config(sched_cfg),
        "euler_a": lambda: EulerAncestralDiscreteScheduler.from_config(sched_cfg),
        "dpmpp_2m_karras": lambda: DPMSolverMultistepScheduler.from_config(
            sched_cfg, use_karras_sigmas=True, algorithm_type="dpmsolver++", solver_order=2),
    }
    names = {"ddim": "DDIM", "euler_a": "Euler a", "dpmpp_2m_karras": "DPM++ 2M Karras"}

    def denoise(sched, latents, timesteps, g, cfg, record):
        for i, t in enumerate(timesteps):
            with torch.no_grad():
                inp = sched.scale_model_input(torch.cat([latents] * 2), t)
                noise = unet(inp, t, encoder_hidden_states=emb).sample
                un, te = noise.chunk(2)
                guided = un + cfg * (te - un)
                record[f"step{i}.noise_pred"] = guided
                kw = {"generator": g} if "generator" in sched.step.__code__.co_varnames else {}
                if isinstance(sched, DDIMScheduler):
                    kw["eta"] = 0.0
                latents = sched.step(guided, t, latents, **kw).prev_sample
                record[f"step{i}.latents"] = latents
        return latents

    def decode(latents, record):
        with torch.no_grad():
            im = vae.decode(latents / SF).sample
        record["decoded"] = im
        u8 = ((im / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1) * 255).round()
        record["image_u8"] = u8
        return u8[0].byte().numpy()

    for key, mk in samplers.items():
        sched = mk()
        steps, cfg, seed = 4, 7.5, 1000 + len(key)
        sched.set_timesteps(steps)
        g = torch.Generator().manual_seed(seed)
        rec = {"prompt_embeds": emb}
        latents = torch.randn((1, 4, 8, 8), generator=g)
        rec["noise"] = latents
        latents = latents * sched.init_noise_sigma
        rec["init_latents"] = latents
        latents = denoise(sched, latents, sched.timesteps, g, cfg, rec)
        rec["final_latents"] = latents
        Image.fromarray(decode(latents, rec)).save(os.path.join(ref, f"txt2img_{key}.png"))
        meta = {"sampler": names[key], "prompt": prompt, "negative": negative, "ids_prompt": ids_p,
                "ids_negative": ids_n, "steps": steps, "cfg": cfg, "seed": seed, "width": 64, "height": 64,
                "timesteps": [int(t) for t in sched.timesteps],
                "init_noise_sigma": float(sched.init_noise_sigma),
                "sigmas": [float(s) for s in getattr(sched, "sigmas", [])],
                "scheduler_class": type(sched).__name__, "scheduler_config": stable_config(sched.config),
                "png": f"ref/txt2img_{key}.png"}
        save_ref(f"txt2img_{key}.safetensors", rec, meta,
                 f"4-step txt2img with {names[key]} (diffusers StableDiffusionPipeline's loop, CFG batch [neg, pos])")

    # img2img, strength 0.55, each sampler: vae.encode().latent_dist.sample(g) draws first, then the noise
    for key, seed in (("ddim", 77), ("euler_a", 78), ("dpmpp_2m_karras", 79)):
        sched = samplers[key]()
        steps, cfg, strength = 4, 7.5, 0.55
        sched.set_timesteps(steps)
        init_t = min(int(steps * strength), steps)
        t_start = max(steps - init_t, 0)
        timesteps = sched.timesteps[t_start * sched.order:]
        g = torch.Generator().manual_seed(seed)
        rec = {"prompt_embeds": emb, "image": img}
        with torch.no_grad():
            dist = vae.encode(img).latent_dist
            init = dist.sample(g) * SF
        rec["init_latents"] = init
        noise = torch.randn(init.shape, generator=g)
        rec["noise"] = noise
        latents = sched.add_noise(init, noise, timesteps[:1])
        rec["noised_latents"] = latents
        latents = denoise(sched, latents, timesteps, g, cfg, rec)
        rec["final_latents"] = latents
        Image.fromarray(decode(latents, rec)).save(os.path.join(ref, f"img2img_{key}.png"))
        save_ref(f"img2img_{key}.safetensors", rec, {
            "sampler": names[key], "prompt": prompt, "negative": negative, "steps": steps, "cfg": cfg,
            "seed": seed, "strength": strength, "init_png": "ref/init.png",
            "timesteps": [int(t) for t in timesteps], "all_timesteps": [int(t) for t in sched.timesteps],
            "sigmas": [float(x) for x in getattr(sched, "sigmas", [])], "scaling_factor": SF,
            "scheduler_class": type(sched).__name__, "scheduler_config": stable_config(sched.config),
            "png": f"ref/img2img_{key}.png"},
            f"img2img with {names[key]}: init image -> posterior sample (first RNG draw) * 0.18215 -> "
            "scheduler.add_noise(second draw) at the first kept timestep -> remaining steps -> decode")

    save_json(os.path.join(ref, "index.json"), index)
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out) for f in fs)
    for a, b in merges:  # keep the corpus honest: every merge is two symbols
        assert a and b and " " not in a + b
    print(f"fixtures in {out}: {total / 1e6:.2f} MB, vocab {len(vocab)}, merges {len(merges)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "fixtures", "sd"))
    ap.add_argument("--unicode-tables", metavar="C_FILE")
    ap.add_argument("--real-vocab-check", metavar="DIR")
    a = ap.parse_args()
    if a.unicode_tables:
        write_unicode_tables(a.unicode_tables)
    elif a.real_vocab_check:
        real_vocab_check(a.real_vocab_check)
    else:
        build(os.path.normpath(a.out))


if __name__ == "__main__":
    main()
