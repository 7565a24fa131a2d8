#!/usr/bin/env bash
# run_on_device.sh — every check the CUDA backend needs on a GPU, in ONE device call (~6-9 min).
#
# Before the call, HERE:  bash bench/cuda/make_bundle.sh   (builds oma & co. with -DOMA_CUDA=ON
#   into build-cuda/bundle.tar.xz with their shared libraries: the lent machine has none of the
#   project's C dependencies and no network).
# The call:  device `run`, carry ["build-cuda/bundle.tar.xz"], timeout_s 560,
#   command "bash bench/cuda/run_on_device.sh"
# Results in $OUT: device.log (everything), summary.txt (one PASS/FAIL/SKIP line per check),
#   kernels.json, pictures. Exit status: 0 when no check FAILED (SKIPs say why), 1 otherwise.
#
# Checks (each under its own time limit; a failing check does not stop the later ones):
#  K1  the kernels alone, built with the device's nvcc, vs PyTorch on the same GPU
#      (bench/cuda/kernels_vs_torch.py: fp32 within 2e-4, fp16 within 2e-2 of 1+max|ref|,
#      and fp16 time per op vs torch's)
#  K2  tensor.test_cuda_kernels (bundle): every kernel the backend table uses vs the CPU backend
#  D1  pipelines.test_generate_device (bundle): the dispatch with the fake device (host logic)
#  T1  tiny fixture model, `oma generate --device cuda` vs `--device cpu --precision fp32`, DDIM
#      and Euler a, 64x64, batch 2: 8-bit pictures within mean 0.5 / max 2 (the CPU's own bound
#      against diffusers), and 0 ops on the host
#  S1  SD 1.5 shapes, random weights (bench_generate, CLIP ViT-L text + UNet + VAE), 256x256 DDIM
#      4 steps CFG 7.5: OMA_DEVICE=cuda vs cpu fp32, mean <= 1 of 255 (reported: max) and 0 ops
#      on the host
#  P1  speed, reported not judged: bench_generate txt2img 512x512 DDIM 20 steps and the six
#      img2img candidates on cuda (peak device memory), and diffusers' fp16 pipeline on this
#      machine's torch with the same shapes (tools/bench_torch_generate.py), ratio printed
set -eu
OUT=${OUT:-/tmp/oma-cuda-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/device.log") 2>&1
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
failed=0
T0=$(date +%s)
step() { echo; echo "=== $* (+$(( $(date +%s) - T0 )) s)"; }
verdict() {   # verdict ID PASS|FAIL|SKIP "why"
    echo "$1 $2: $3" | tee -a "$SUMMARY"
    if [ "$2" = FAIL ]; then failed=1; fi
    return 0
}
# run a command under a time limit without tripping set -e; its status in $rc
run() { rc=0; timeout "$@" || rc=$?; return 0; }
elapsed() { echo $(( $(date +%s) - T0 )); }
# the device tool stops a command at 600 s: the optional runs are left out past these marks
LATE=${OMA_DEVICE_LATE:-420}

step "0. machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
"$NVCC" --version 2>/dev/null | tail -2 || echo "no nvcc"
PY=$(command -v python3 || echo python3)
$PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())' || true
ldd --version | head -1
[ -f build-cuda/bundle/GLIBC_BUILT_WITH ] && echo "bundle built with: $(cat build-cuda/bundle/GLIBC_BUILT_WITH)"

step "K1. kernels (device nvcc, sm_90) vs PyTorch on this GPU"
if [ -n "${OMA_DEVICE_SKIP_K1:-}" ]; then   # dry runs on the build machine only
  verdict K1 SKIP "OMA_DEVICE_SKIP_K1 set"
else
LIB=/tmp/oma-cuda/liboma_cuda.so
rm -rf /tmp/oma-cuda; mkdir -p /tmp/oma-cuda
CUDA_LIB=$(dirname "$(dirname "$NVCC")")/lib64
pids=()
for f in src/tensor/cuda/*.cu; do
  timeout 240 "$NVCC" -O3 -std=c++17 -arch=sm_90 -Xcompiler=-fPIC,-Wall,-Wextra,-Werror -Werror all-warnings \
    -I src -c "$f" -o "/tmp/oma-cuda/$(basename "$f").o" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done   # (a bare wait would also wait for tee)
if [ $rc -eq 0 ]; then run 60 "$NVCC" -shared -o "$LIB" /tmp/oma-cuda/*.o -L"$CUDA_LIB" -lcublasLt -lcudart; fi
if [ $rc -ne 0 ] || [ ! -f "$LIB" ]; then
  verdict K1 FAIL "the kernels did not build with this machine's nvcc"
else
  PYTHONUNBUFFERED=1 run 150 $PY bench/cuda/kernels_vs_torch.py --lib "$LIB" --out "$OUT/kernels.json"
  case $rc in 0) verdict K1 PASS "every kernel within tolerance of torch (kernels.json)";;
              77) verdict K1 SKIP "torch sees no CUDA device";;
              124) verdict K1 FAIL "timed out (150 s)";;
              *) verdict K1 FAIL "a kernel outside tolerance or an error (rc $rc; see the log)";; esac
fi
fi

step "bundle: the programs built with -DOMA_CUDA=ON (make_bundle.sh)"
BIN=""
if [ -f build-cuda/bundle.tar.xz ] && [ ! -x build-cuda/bundle/bin/oma ]; then
  tar -C build-cuda -xJf build-cuda/bundle.tar.xz || echo "bundle: could not unpack"
fi
if [ -x build-cuda/bundle/bin/oma ]; then
  extra=""
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
           $($PY -c 'import nvidia, os; print(" ".join(os.path.join(p, "cublas", "lib") for p in nvidia.__path__))' 2>/dev/null); do
    [ -d "$d" ] && extra="$extra:$d"
  done
  export LD_LIBRARY_PATH="$PWD/build-cuda/bundle/lib$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  missing=$(ldd build-cuda/bundle/bin/* 2>&1 | grep -E "not found|version .* not found" | sort -u || true)
  if [ -n "$missing" ]; then
    echo "$missing"
    why="libraries missing here: $(echo "$missing" | awk '{print $1}' | sort -u | tr '\n' ' ')"
  else
    BIN=build-cuda/bundle/bin
  fi
else
  why="no build-cuda/bundle.tar.xz carried (run bench/cuda/make_bundle.sh here first and carry it)"
fi
if [ -z "$BIN" ]; then
  echo "SKIP: $why"
  for id in K2 D1 T1 S1 P1; do verdict $id SKIP "$why"; done
else
  step "K2. tensor.test_cuda_kernels (CUDA vs the CPU backend, fp32 + fp16)"
  run 120 "$BIN/tensor_test_cuda_kernels"
  case $rc in 0) verdict K2 PASS "every kernel within tolerance of the CPU backend";;
              77) verdict K2 SKIP "the bundle's CUDA runtime sees no device (see the line above: driver?)";;
              *) verdict K2 FAIL "rc $rc";; esac
  nodev=""
  if [ $rc -eq 77 ]; then
    nodev_out=$("$BIN/oma" generate --model tests/fixtures/sd/tiny-sd --prompt x --steps 1 \
                -o /tmp/oma-nodev.png --device cuda 2>&1) && nodev="" || nodev=$(echo "$nodev_out" | tail -1)
  fi

  step "D1. pipelines.test_generate_device (dispatch with the fake device)"
  OMA_SOURCE_DIR=$PWD run 120 "$BIN/pipelines_test_generate_device"
  [ $rc -eq 0 ] && verdict D1 PASS "fake-device generation equals the CPU run" || verdict D1 FAIL "rc $rc"

  if [ -n "$nodev" ]; then
    for id in T1 S1 P1; do verdict $id SKIP "no usable device for the bundle: $nodev"; done
  else
  step "T1. tiny fixture model: oma generate --device cuda vs cpu"
  for s in "DDIM" "Euler a"; do
    tag=$(echo "$s" | tr -d ' ')
    args=(generate --model tests/fixtures/sd/tiny-sd --prompt "a lighthouse on a cliff, ink" \
          --negative "blurry" --steps 4 --cfg 7.5 --seed 77 --sampler "$s" --width 64 --height 64 --batch 2)
    run 120 "$BIN/oma" "${args[@]}" --device cpu --precision fp32 -o "$OUT/tiny_${tag}_cpu.png"; rc_cpu=$rc
    run 120 "$BIN/oma" "${args[@]}" --device cuda -o "$OUT/tiny_${tag}_cuda.png" 2> "$OUT/tiny_${tag}_cuda.err"; rc_gpu=$rc
    cat "$OUT/tiny_${tag}_cuda.err"
    if [ $rc_cpu -ne 0 ] || [ $rc_gpu -ne 0 ]; then
      verdict "T1-$tag" FAIL "oma generate failed (cpu rc $rc_cpu, cuda rc $rc_gpu): $(tail -1 "$OUT/tiny_${tag}_cuda.err")"
      continue
    fi
    host=$(grep -o '[0-9]* on the host' "$OUT/tiny_${tag}_cuda.err" | head -1 | cut -d' ' -f1)
    ok=1; msg=""
    for i in 0 1; do
      a="$OUT/tiny_${tag}_cpu-$i.png"; b="$OUT/tiny_${tag}_cuda-$i.png"
      [ -f "$a" ] || { a="$OUT/tiny_${tag}_cpu.png"; b="$OUT/tiny_${tag}_cuda.png"; }
      line=$($PY bench/cuda/imgdiff.py "$a" "$b" --mean 0.5 --max 2) || ok=0
      msg="$msg [$i] $line"
    done
    [ "${host:-x}" = 0 ] || { ok=0; msg="$msg; host ops: ${host:-unknown}"; }
    [ $ok -eq 1 ] && verdict "T1-$tag" PASS "$msg" || verdict "T1-$tag" FAIL "$msg"
  done

  step "S1. SD 1.5 shapes, random weights: cuda vs cpu fp32 (256x256, DDIM 4 steps)"
  OMA_DEVICE=cpu OMA_PRECISION=fp32 OMA_SOURCE_DIR=$PWD OMA_BENCH_OUT="$OUT/sd15_cpu.ppm" \
    run 240 "$BIN/bench_generate" txt2img DDIM 4 7.5 32; rc_cpu=$rc
  OMA_DEVICE=cuda OMA_SOURCE_DIR=$PWD OMA_BENCH_OUT="$OUT/sd15_cuda.ppm" \
    run 120 "$BIN/bench_generate" txt2img DDIM 4 7.5 32 > "$OUT/sd15_cuda.txt"; rc_gpu=$rc
  cat "$OUT/sd15_cuda.txt"
  if [ $rc_cpu -ne 0 ] || [ $rc_gpu -ne 0 ] || [ ! -f "$OUT/sd15_cuda.ppm" ]; then
    verdict S1 FAIL "bench_generate failed (cpu rc $rc_cpu, cuda rc $rc_gpu)"
  else
    host=$(grep -o '[0-9]* on the host' "$OUT/sd15_cuda.txt" | head -1 | cut -d' ' -f1)
    line=$($PY bench/cuda/imgdiff.py "$OUT/sd15_cpu.ppm" "$OUT/sd15_cuda.ppm" --mean 1) && ok=1 || ok=0
    [ "${host:-x}" = 0 ] || ok=0
    [ $ok -eq 1 ] && verdict S1 PASS "$line; host ops $host" || verdict S1 FAIL "$line; host ops ${host:-unknown}"
  fi

  step "P1. speed on cuda (reported, not judged) and diffusers fp16 on this machine's torch"
  OMA_DEVICE=cuda OMA_SOURCE_DIR=$PWD run 120 "$BIN/bench_generate" txt2img DDIM 20 7.5 64 > "$OUT/p1_ours.txt"
  ours_rc=$rc
  if [ "$(elapsed)" -lt "$LATE" ]; then
    OMA_DEVICE=cuda OMA_SOURCE_DIR=$PWD run 100 "$BIN/bench_generate" candidates DDIM 20 64 >> "$OUT/p1_ours.txt"
  else
    echo "candidates left out: $(elapsed) s gone"
  fi
  cat "$OUT/p1_ours.txt"
  if [ "$(elapsed)" -ge $((LATE + 40)) ]; then
    torch_rc=-1; echo "diffusers fp16 left out: $(elapsed) s gone"
  elif [ -d build-cuda/bundle/diffusers/diffusers ]; then
    OMA_DIFFUSERS_SRC=$PWD/build-cuda/bundle/diffusers OMA_TORCH_DEVICE=cuda OMA_TORCH_DTYPE=float16 \
      run 100 $PY tools/bench_torch_generate.py txt2img DDIM 20 7.5 64 > "$OUT/p1_torch.txt"
    torch_rc=$rc
    cat "$OUT/p1_torch.txt"
  else
    torch_rc=-1; echo "no diffusers source carried"
  fi
  o=$(grep -o 'total [0-9.]* s' "$OUT/p1_ours.txt" | head -1 | awk '{print $2}')
  t=$(grep -o 'total [0-9.]* s' "$OUT/p1_torch.txt" 2>/dev/null | head -1 | awk '{print $2}')
  if [ $ours_rc -ne 0 ] || [ -z "$o" ]; then
    verdict P1 FAIL "our 512x512 20-step run failed (rc $ours_rc)"
  elif [ -n "$t" ]; then
    verdict P1 PASS "512x512 DDIM 20 steps: ours (fp32) $o s, diffusers fp16 $t s, ratio $(awk -v a="$t" -v b="$o" 'BEGIN{printf "%.2f", a/b}')x (>1: ours faster; not judged)"
  else
    verdict P1 PASS "512x512 DDIM 20 steps: ours (fp32) $o s; diffusers fp16 did not run (rc $torch_rc)"
  fi
  fi   # nodev
fi

echo; echo "=== summary (+$(( $(date +%s) - T0 )) s)"
cat "$SUMMARY"
[ $failed -eq 0 ] && echo "VERDICT: no check failed (SKIPs above say why)" || echo "VERDICT: FAIL"
exit $failed
