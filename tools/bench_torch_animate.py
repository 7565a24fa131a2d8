#!/usr/bin/env python3
"""bench_torch_animate.py — the PyTorch side of bench_animate: Moore-AnimateAnyone's own code
(ReferenceNet = its UNet2DConditionModel, denoiser = UNet3DConditionModel, both from SD 1.5's
UNet config, random weights; ReferenceAttentionControl writer/reader with CFG, fusion "full")
at the same shapes: the reference pass once (t = 0, as the pipeline's step 0, batch 2 as
Moore runs it), then two guided denoiser calls (batch 2, pose features added after conv_in).

  OMA_MOORE_SRC=/tmp/aa_ref OMA_AA_DEPS=/tmp/aa_ref/deps /usr/bin/python3 tools/bench_torch_animate.py [W H]

Sources and shims as tools/make_animate_fixtures.py (same environment variables). fp32 (the
CPU reference; Moore's GPU runs use fp16). Threads: OMA_THREADS (default all CPUs). Prints one
line like bench_animate. A yardstick only; nothing here runs in the product.
"""
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_animate_fixtures import UNET_CFG, setup_env  # noqa: E402

setup_env()
import torch  # noqa: E402

threads = int(os.environ.get("OMA_THREADS") or os.cpu_count())
torch.set_num_threads(threads)
W = int(sys.argv[1]) if len(sys.argv) > 2 else 512
H = int(sys.argv[2]) if len(sys.argv) > 2 else 768

from src.models.mutual_self_attention import ReferenceAttentionControl  # noqa: E402
from src.models.unet_2d_condition import UNet2DConditionModel  # noqa: E402
from src.models.unet_3d import UNet3DConditionModel  # noqa: E402

cfg = dict(UNET_CFG, block_out_channels=[320, 640, 1280, 1280], layers_per_block=2, attention_head_dim=8,
           cross_attention_dim=768, norm_num_groups=32, sample_size=64)
t0 = time.time()
with torch.no_grad():
    ref = UNet2DConditionModel.from_config(cfg).eval()
    dcfg = dict(cfg, _class_name="UNet3DConditionModel", down_block_types=["CrossAttnDownBlock3D"] * 3 + ["DownBlock3D"],
                up_block_types=["UpBlock3D"] + ["CrossAttnUpBlock3D"] * 3, mid_block_type="UNetMidBlock3DCrossAttn")
    den = UNet3DConditionModel.from_config(dcfg, use_inflated_groupnorm=True, unet_use_cross_frame_attention=False,
                                           unet_use_temporal_attention=False, use_motion_module=False).eval()
tl = time.time() - t0
g = torch.Generator().manual_seed(0)
h, w = H // 8, W // 8
lat = torch.randn((1, 4, 1, h, w), generator=g)
ref_lat = torch.randn((1, 4, h, w), generator=g)
emb = torch.randn((1, 1, 768), generator=g)
ctx = torch.cat([torch.zeros_like(emb), emb])
pose = torch.randn((1, 320, 1, h, w), generator=g)
writer = ReferenceAttentionControl(ref, do_classifier_free_guidance=True, mode="write", batch_size=1, fusion_blocks="full")
reader = ReferenceAttentionControl(den, do_classifier_free_guidance=True, mode="read", batch_size=1, fusion_blocks="full")
with torch.no_grad():
    t0 = time.time()
    ref(ref_lat.repeat(2, 1, 1, 1), torch.zeros(()), encoder_hidden_states=ctx, return_dict=False)
    reader.update(writer)
    tr = time.time() - t0
    ts = []
    for _ in range(2):
        t0 = time.time()
        out = den(torch.cat([lat] * 2), torch.tensor(500), encoder_hidden_states=ctx,
                  pose_cond_fea=torch.cat([pose] * 2), return_dict=False)[0]
        u, c = out.chunk(2)
        v = u + 3.5 * (c - u)
        ts.append(time.time() - t0)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024.0 * 1024.0)
print("torch_aa_step_sd15 %dx%d load %.2f reference %.2f step_first %.2f step %.2f RSS %.2f GB projected_20 %.0f s"
      % (W, H, tl, tr, ts[0], ts[1], rss, tr + 20 * ts[1]))
