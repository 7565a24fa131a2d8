#!/usr/bin/env bash
# make_bundle.sh — run HERE (the build machine, which has nvcc and the project's C dependencies)
# before a device call: the lent GPU machine has nvcc, CMake and PyTorch but none of the project's
# C libraries (libmicrohttpd, jansson, openblas, ...) and no network, so the programs the device
# script runs are built here and carried there with the shared libraries they need.
#
#   bash bench/cuda/make_bundle.sh            -> build-cuda/bundle.tar.xz (bin, lib, diffusers)
#   device run: carry ["build-cuda/bundle.tar.xz"], command "bash bench/cuda/run_on_device.sh"
#
# Builds (Release, -DOMA_CUDA=ON, sm_80 + sm_90 real code, PTX for newer): oma, bench_generate,
# tensor_test_cuda_kernels, pipelines_test_generate_device. lib/ gets every shared library those
# link except the C library's own (libc, libm, libpthread, libdl, librt, ld-linux), so the device
# image's glibc must be at least this machine's (the device script says so if not), and except
# cuBLASLt (~0.5 GB, over the carry limit): the binaries need the device's libcublasLt.so.13,
# i.e. a CUDA 13 toolkit or wheel there, and a driver >= 580 (CUDA 13). Where the device has an
# older CUDA, these binaries cannot run there; the device script then says which library or
# driver is missing and runs only the kernel checks it builds with the device's own nvcc.
# diffusers v0.21.4's source (OMA_DIFFUSERS_SRC, default /tmp/sdref/src) is copied too, for the
# torch fp16 comparison; it is fetched code: build-*/ is ignored, never commit it.
# The carry limit is 64 MiB: the script prints the archive's size and fails above it.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=build-cuda
ARCHS=${OMA_BUNDLE_ARCHS:-"80-real;90"}
mkdir -p "$B"
nice -n 19 cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DOMA_TESTS=ON -DOMA_CUDA=ON \
    "-DCMAKE_CUDA_ARCHITECTURES=$ARCHS" > "$B/configure.log" 2>&1 || { tail -20 "$B/configure.log"; exit 1; }
nice -n 19 cmake --build "$B" -j"${JOBS:-2}" --target oma bench_generate tensor_test_cuda_kernels \
    pipelines_test_generate_device
D=$B/bundle
rm -rf "$D"
mkdir -p "$D/bin" "$D/lib"
for p in oma bench_generate tensor_test_cuda_kernels pipelines_test_generate_device; do
    cp "$B/$p" "$D/bin/"
    strip --strip-unneeded "$D/bin/$p" 2>/dev/null || true
done
for p in "$D"/bin/*; do
    ldd "$p" | awk '/=> \// { print $3 }'
done | sort -u | while read -r lib; do
    case "$(basename "$lib")" in
        libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libresolv.so*) ;;
        libcublas*|libcudart*|libcuda.so*) ;;   # the device's own toolkit/driver (~0.5 GB)
        *) cp -L "$lib" "$D/lib/"; strip --strip-unneeded "$D/lib/$(basename "$lib")" 2>/dev/null || true ;;
    esac
done
SRC=${OMA_DIFFUSERS_SRC:-/tmp/sdref/src}
if [ -d "$SRC/diffusers" ]; then
    mkdir -p "$D/diffusers"
    cp -r "$SRC/diffusers" "$D/diffusers/"
    find "$D/diffusers" -name '__pycache__' -prune -exec rm -rf {} +
fi
ldd --version | head -1 > "$D/GLIBC_BUILT_WITH"
# openblas + oneDNN alone are ~75 MiB: the carried form is one xz archive the device script
# unpacks (carry ["build-cuda/bundle.tar.xz"])
du -sh "$D"/* | sort -h | tail -5
rm -f "$B/bundle.tar.xz"
tar -C "$B" -cf - bundle | xz -T2 -6 > "$B/bundle.tar.xz"
size=$(du -m "$B/bundle.tar.xz" | cut -f1)
echo "bundle: $B/bundle.tar.xz, ${size} MiB (carry limit 64; unpacked $(du -sm "$D" | cut -f1) MiB, $(ls "$D/lib" | wc -l) libraries)"
[ "$size" -le 64 ] || { echo "bundle: over the 64 MiB carry limit"; exit 1; }
