#!/usr/bin/env bash
# generate.sh — end-to-end generation, ours (bench_generate) then diffusers
# (tools/bench_torch_generate.py) in the same run, as ratios (issue 15). Run by bench/run.sh
# (GEN=0 there skips it), or alone after building bench_generate:
#   B=build-bench L=64 OMA_DIFFUSERS_SRC=/tmp/sdref/src bash bench/generate.sh [FILTER]
# FILTER (a substring such as "LCM" or "candidates") runs only the matching lines.
# The runs: the everyday txt2img (DPM++ 2M Karras, 20 steps, CFG 7), LCM at 4 and 8 steps with
# CFG 1 (a plain SD 1.5-shaped UNet: an LCM-LoRA merged into the weights costs nothing per step,
# so LCM's cost is its UNet steps), and the original's six img2img candidates (CANDIDATE_STEPS,
# default 20; the original used diffusers' default 50), then bf16 vs fp32 image differences on
# SD 1.5-shaped random weights (QUALITY_STEPS 20 at QUALITY_LATENT 32, DPM++ 2M Karras, CFG 7).
# The "draft" line is the everyday txt2img in DRAFT mode (DeepCache N=DRAFT_N, default 3, branch
# DRAFT_BRANCH, default 0: approximate images, opt-in) against our full run of the same line and
# diffusers' full run (DeepCache itself is not timed); then draft vs full 8-bit image errors on
# SD 1.5-shaped random weights (FILTER "draft": both).
# Several minutes on 2 cores; the machine is shared, so only the ratios mean much.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${B:-build-bench}
L=${L:-64}
PY=/usr/bin/python3
F=${1:-}
export OMA_THREADS=${OMA_THREADS:-$(nproc)}
echo "== end-to-end generate, ${L}x${L} latents (ours: bench_generate; diffusers: tools/bench_torch_generate.py)"
cs=${CANDIDATE_STEPS:-20}
gen_runs=("txt2img|DPM++ 2M Karras|20|7" "draft|DPM++ 2M Karras|20|7" "txt2img|LCM|4|1" "txt2img|LCM|8|1"
          "candidates|DPM++ 2M Karras|$cs|7.5")
dn=${DRAFT_N:-3}
db=${DRAFT_BRANCH:-0}
full_total=
tenv=(env -u OPENBLAS_CORETYPE GLIBC_TUNABLES=glibc.malloc.hugetlb=1)
omp=/usr/lib/x86_64-linux-gnu/openblas-openmp
[ -d "$omp" ] && tenv+=("LD_LIBRARY_PATH=$omp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
for r in "${gen_runs[@]}"; do
    [ -n "$F" ] && [[ "$r" != *"$F"* ]] && continue
    IFS='|' read -r kind smp st cf <<<"$r"
    denv=()
    if [ "$kind" = draft ]; then kind=txt2img; denv=(OMA_BENCH_DRAFT="$dn" OMA_BENCH_DRAFT_BRANCH="$db"); fi
    if [ "$kind" = candidates ]; then a=("$kind" "$smp" "$st" "$L"); else a=("$kind" "$smp" "$st" "$cf" "$L"); fi
    o=$(env "${denv[@]}" OMA_SOURCE_DIR="$PWD" "$B/bench_generate" "${a[@]}") || { echo "bench: bench_generate ${a[*]} failed" >&2; continue; }
    echo "$o"
    ot=$(awk '{ for (i = 1; i < NF; i++) if ($i == "total") print $(i + 1) }' <<<"$o")
    if [ ${#denv[@]} -eq 0 ] && [ "$kind $smp $st $cf" = "txt2img DPM++ 2M Karras 20 7" ]; then full_total=$ot; fi
    if [ ${#denv[@]} -gt 0 ]; then
        kind="DRAFT(DeepCache N=$dn branch $db) txt2img"
        [ -n "$full_total" ] && awk -v d="$ot" -v f="$full_total" \
            'BEGIN { printf "ratio generate draft: ours draft/ours full total %.2f (%.1f s / %.1f s)\n", d / f, d, f }'
    fi
    [ -n "${OMA_DIFFUSERS_SRC:-}" ] || continue
    if [ ${#denv[@]} -gt 0 ] && [ -n "${full_torch:-}" ]; then
        t=$full_torch    # diffusers' full run of the same line, measured above
    else
        t=$("${tenv[@]}" "$PY" tools/bench_torch_generate.py "${a[@]}" 2>/dev/null) || { echo "bench: torch ${a[*]} failed" >&2; continue; }
    fi
    [ ${#denv[@]} -eq 0 ] && [ "$kind $smp $st $cf" = "txt2img DPM++ 2M Karras 20 7" ] && full_torch=$t
    echo "$t"
    printf '%s\n%s\n' "$o" "$t" | awk -v what="$kind $smp $st steps cfg $cf" '
      function after(word,   i) { for (i = 1; i < NF; i++) if ($i == word) return $(i + 1) }
      function unet(   i) { for (i = 1; i < NF; i++) if ($i == "passes") return $(i + 3) }
      NR == 1 { o = after("total"); ou = unet(); orss = after("RSS") }
      NR == 2 { t = after("total"); tu = unet(); trss = after("RSS") }
      END { if (o && t) printf "ratio generate %s: ours/torch total %.2f (%.1f s / %.1f s), UNet %.2f, peak RSS %s / %s GB\n", what, o / t, o, t, ou / tu, orss, trss }'
done
if [ -z "$F" ] || [ "$F" = draft ]; then
    echo "-- DRAFT (DeepCache N=$dn branch $db) vs full on SD 1.5-shaped random weights, fixed prompts (8-bit images):"
    OMA_SOURCE_DIR="$PWD" "$B/bench_generate" draft "${QUALITY_STEPS:-20}" "${QUALITY_LATENT:-32}" "$dn" "$db"
fi
if [ -z "$F" ] || [ "$F" = quality ]; then
    echo "-- bf16 vs fp32 on SD 1.5-shaped random weights, fixed prompts (8-bit images):"
    OMA_SOURCE_DIR="$PWD" "$B/bench_generate" quality "${QUALITY_STEPS:-20}" "${QUALITY_LATENT:-32}"
fi
