#!/usr/bin/env bash
# run.sh — `make bench`: builds the benchmarks (release) and runs them.
#  1. Stable Diffusion 1.5-sized passes in our engine (bench_sd: UNet batch 2 at 64x64 latents,
#     VAE decode 512x512, CLIP, fused attention vs GEMM+softmax+GEMM, convolutions im2col vs
#     oneDNN), random weights;
#     the opt-in bf16 mode (OMA_PRECISION=bf16): the same UNet pass, bench_sd bf16 (GEMM and
#     3x3 convolution, fp32 vs bf16) and its image quality on the tiny fixture model
#     (pipelines_test_generate_bf16: bf16 images vs the diffusers reference and our fp32);
#  2. the same UNet and VAE in PyTorch (Debian's python3-torch + diffusers source from
#     OMA_DIFFUSERS_SRC, see tools/bench_torch_unet.py) in the same run, given the set-up that
#     made it fastest here (see below), and the ratios of the steady-state passes;
#  3. one style-training step (bench_train_step) and the same step in PyTorch
#     (tools/bench_torch_train.py), with the ratio and the default recipe's projected time;
#  4. end-to-end generation 512x512 (bench/generate.sh: bench_generate and
#     tools/bench_torch_generate.py, ratios, time per phase; bf16 vs fp32 image differences);
#  5. DWPose by person count (bench_dwpose_people vs tools/bench_dwpose_ort.mjs, ratios);
#  6. every other bench_* executable, http_wrk.sh, queue.sh (sqlite vs postgres) and
#     server_hostile.mjs.
# Threads: OMA_THREADS for both engines (default: all CPUs). SD_LATENT=32 for a quick run.
# Numbers are wall-clock seconds on this machine, now: compare them only within one run.
set -uo pipefail
cd "$(dirname "$0")/.."
# Its own release folder, with the test programs (one of them measures bf16 quality).
B=${OMA_BENCH_BUILD:-build-bench}
[ -f "$B/.configured" ] || { cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DOMA_TESTS=ON >/dev/null && touch "$B/.configured"; } ||
  { rm -rf "$B/CMakeCache.txt" "$B/CMakeFiles"; echo "bench: configure failed" >&2; exit 1; }
targets=$(ls bench/bench_*.c 2>/dev/null | xargs -n1 basename | sed 's/\.c$//')
cmake --build "$B" -j "${JOBS:-2}" --target $targets oma pipelines_test_generate_bf16 >/dev/null || { echo "bench: build failed" >&2; exit 1; }
export OMA_THREADS=${OMA_THREADS:-$(nproc)}
L=${SD_LATENT:-64}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== Stable Diffusion (our engine), latent ${L}x${L}, ${OMA_THREADS} threads"
"$B/bench_sd" attn 4096 | tee -a "$log"
"$B/bench_sd" clip | tee -a "$log"
"$B/bench_sd" unet "$L" 2 | tee -a "$log"
"$B/bench_sd" vae "$L" | tee -a "$log"
# convolution implementations side by side (im2col + OpenBLAS, oneDNN direct, oneDNN with
# Winograd = the default "auto"): the measurement behind the backend's choice
"$B/bench_sd" conv | tee -a "$log"
echo "== opt-in bf16 compute mode (OMA_PRECISION=bf16; default fp32 above)"
OMA_PRECISION=bf16 "$B/bench_sd" unet "$L" 2 | tee -a "$log"
"$B/bench_sd" bf16 | tee -a "$log"
echo "-- bf16 quality, tiny fixture model (8-bit images, of 255):"
OMA_SOURCE_DIR="$PWD" "$B/pipelines_test_generate_bf16" | tee -a "$log"

PY=/usr/bin/python3
if [ -n "${OMA_DIFFUSERS_SRC:-}" ] && "$PY" -c "import torch" 2>/dev/null; then
    # The reference runs with the best set-up we found for it on this machine, the one our
    # engine has too: transparent huge pages for big buffers (glibc.malloc.hugetlb=1; without
    # them page faults on the 1 GB attention-score tensors took ~75% of its UNet time on the
    # development VM: 39-48 s instead of 9.4 s), OpenBLAS's own core detection
    # (OPENBLAS_CORETYPE unset) and the OpenMP OpenBLAS (the pthread one fights torch's OpenMP
    # threads). TORCH_AS_IS=1 also times it as installed, for the record.
    tenv=(env -u OPENBLAS_CORETYPE GLIBC_TUNABLES=glibc.malloc.hugetlb=1)
    omp=/usr/lib/x86_64-linux-gnu/openblas-openmp
    [ -d "$omp" ] && tenv+=("LD_LIBRARY_PATH=$omp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    echo "== the same in PyTorch (huge pages, OpenMP OpenBLAS, own core type)"
    "${tenv[@]}" "$PY" tools/bench_torch_unet.py unet "$L" 2 | tee -a "$log"
    "${tenv[@]}" "$PY" tools/bench_torch_unet.py vae "$L" | tee -a "$log"
    # training pieces (compare with bench_train below: its forward + backward)
    "${tenv[@]}" "$PY" tools/bench_torch_train_blocks.py "$L" | tee -a "$log"
    if [ -n "${TORCH_AS_IS:-}" ]; then
        echo "== PyTorch as installed (default environment)"
        "$PY" tools/bench_torch_unet.py unet "$L" 2 | sed 's/^torch_/torch_as_is_/'
        "$PY" tools/bench_torch_unet.py vae "$L" | sed 's/^torch_/torch_as_is_/'
    fi
    # ratios on the steady state (the last "forward" / "decode" figure of each line)
    awk '
      function prec(   i) { for (i = 1; i <= NF; i++) if ($i ~ /^precision=/) return substr($i, 11, 4); return "fp32" }
      function last(word,   i, v) { for (i = 1; i < NF; i++) if ($i == word) v = $(i + 1); return v }
      /^unet_sd15/ { ou[prec()] = last("forward") }
      /^torch_unet_sd15/ { tu = last("forward") }
      /^vae_decode_sd15/ { ov = last("decode") }
      /^torch_vae_decode_sd15/ { tv = last("decode") }
      END {
        if (ou["fp32"] && tu) printf "ratio UNet ours/torch = %.2f (%.2f s / %.2f s); 20-step 512x512 txt2img estimate %.0f s\n", ou["fp32"] / tu, ou["fp32"], tu, 20 * ou["fp32"] + ov
        if (ou["bf16"] && tu) printf "ratio UNet ours (bf16 mode)/torch = %.2f (%.2f s / %.2f s)\n", ou["bf16"] / tu, ou["bf16"], tu
        if (ov && tv) printf "ratio VAE decode ours/torch = %.2f (%.2f s / %.2f s)\n", ov / tv, ov, tv
      }' "$log"
else
    echo "== PyTorch comparison skipped (needs /usr/bin/python3 with torch, and OMA_DIFFUSERS_SRC)"
fi

# End-to-end generation at 512x512 (issue 15): bench/generate.sh (ours and diffusers, ratios).
[ "${GEN:-1}" != 0 ] && B="$B" L="$L" bash bench/generate.sh | tee -a "$log"

# One style-training step (UNet + rank-16 LoRA, forward + backward, batch 1) side by side with
# the same step in PyTorch (tools/bench_torch_train.py, same set-up as above), and what the
# default recipe's 1000 micro-steps would take at this size.
echo "== style training step, latent ${L}x${L} (ours, then PyTorch)"
"$B/bench_train_step" "$L" | tee -a "$log"
if [ -n "${OMA_DIFFUSERS_SRC:-}" ] && "$PY" -c "import torch" 2>/dev/null; then
    tenv=(env -u OPENBLAS_CORETYPE GLIBC_TUNABLES=glibc.malloc.hugetlb=1)
    omp=/usr/lib/x86_64-linux-gnu/openblas-openmp
    [ -d "$omp" ] && tenv+=("LD_LIBRARY_PATH=$omp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    "${tenv[@]}" "$PY" tools/bench_torch_train.py "$L" | tee -a "$log"
    awk '
      function last(word,   i, v) { for (i = 1; i < NF; i++) if ($i == word) v = $(i + 1); return v }
      function rss(   i) { for (i = 1; i < NF; i++) if ($i == "RSS") return $(i + 1) }
      /^train_step_sd15/ { o = last("step"); orss = rss() }
      /^torch_train_step_sd15/ { t = last("step"); trss = rss() }
      END { if (o && t) printf "ratio training step ours/torch = %.2f (%.2f s / %.2f s), peak RSS %s / %s GB\n", o / t, o, t, orss, trss }' "$log"
fi

# AnimateAnyone (issue 11): one guided denoising step at 512x768 with SD 1.5 shapes, random
# weights, against Moore-AnimateAnyone's own code on PyTorch (tools/bench_torch_animate.py,
# needs OMA_MOORE_SRC and OMA_AA_DEPS as tools/make_animate_fixtures.py). AA_SIZE="W H".
AA=${AA_SIZE:-512 768}
echo "== AnimateAnyone step ${AA} (ours, then Moore's on PyTorch)"
"$B/bench_animate" $AA | tee -a "$log"
if [ -n "${OMA_MOORE_SRC:-}" ] && [ -n "${OMA_AA_DEPS:-}" ] && "$PY" -c "import torch" 2>/dev/null; then
    tenv=(env -u OPENBLAS_CORETYPE GLIBC_TUNABLES=glibc.malloc.hugetlb=1)
    omp=/usr/lib/x86_64-linux-gnu/openblas-openmp
    [ -d "$omp" ] && tenv+=("LD_LIBRARY_PATH=$omp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    "${tenv[@]}" "$PY" tools/bench_torch_animate.py $AA 2>/dev/null | grep '^torch_aa' | tee -a "$log"
    awk '
      function last(word,   i, v) { for (i = 1; i < NF; i++) if ($i == word) v = $(i + 1); return v }
      /^aa_step_sd15/ { o = last("step"); orss = last("RSS"); op = last("projected_20") }
      /^torch_aa_step_sd15/ { t = last("step"); trss = last("RSS"); tp = last("projected_20") }
      END { if (o && t) printf "ratio AnimateAnyone step ours/torch = %.2f (%.2f s / %.2f s), peak RSS %s / %s GB, 20 steps %s s / %s s\n", o / t, o, t, orss, trss, op, tp }' "$log"
fi

# DWPose by person count (issue 14): our ONNX runtime on the two files, against
# onnxruntime-node (tests/package.json) on the same files in the same run. The real weights when
# OMA_MODELS/dwpose has them, else full-size random-weight graphs of the same architectures
# (tools/make_dwpose_bench_models.py, ~350 MB, made once into $B/dwpose-bench).
echo "== DWPose whole body by person count, 512x512 (ours vs onnxruntime-node, same files)"
DW="${OMA_MODELS:-models}/dwpose"
if [ ! -f "$DW/yolox_l.onnx" ] || [ ! -f "$DW/dw-ll_ucoco_384.onnx" ]; then
    DW="$B/dwpose-bench"
    [ -f "$DW/dw-ll_ucoco_384.onnx" ] || "$PY" tools/make_dwpose_bench_models.py "$DW" >/dev/null 2>&1 ||
        echo "bench: could not make the DWPose bench models (needs Debian's python3-torch)" >&2
fi
"$B/bench_dwpose_people" "$DW" | tee -a "$log"
if [ -d tests/node_modules/onnxruntime-node ]; then
    node tools/bench_dwpose_ort.mjs "$DW" | tee -a "$log"
    awk '/^dwpose_people / { for (i = 1; i <= NF; i++) if ($i == "median") ours[$4] = $(i + 1) }
         /^dwpose_ort people / { ref[$3] = $5 }
         END { for (n in ours) if (n in ref && ref[n] > 0)
                 printf "ratio dwpose %s people ours/onnxruntime = %.2f (%.2f s / %.2f s, %.2f vs %.2f s/person)\n", n, ours[n] / ref[n], ours[n], ref[n], ours[n] / n, ref[n] / n }' "$log"
fi

for t in $targets; do
    [ "$t" = bench_animate ] && continue
    [ "$t" = bench_dwpose_people ] && continue
    [ "$t" = bench_sd ] && continue
    [ "$t" = bench_train_step ] && continue
    [ "$t" = bench_generate ] && continue
    echo "== $t"
    "$B/$t" || echo "bench: $t failed" >&2
done
if [ -x bench/http_wrk.sh ] && command -v wrk >/dev/null; then
    echo "== http_wrk.sh"
    OMA_BIN="$B/oma" bench/http_wrk.sh 5s || true
fi
echo "== queue.sh (scale-out: queue jobs/s and GET /api/me on sqlite vs postgres)"
B="$B" bash bench/queue.sh 1000 5s || true
if command -v node >/dev/null; then
    echo "== server_hostile.mjs (issue 16: log-in floods, slow clients; give an older oma too for ratios)"
    node bench/server_hostile.mjs "$B/oma" || true
fi
