#!/usr/bin/env bash
# Builds what bench/gpu/first-run.sh runs on a lent GPU machine, here (nvcc, no GPU needed), into
# .gpu-prebuilt/ (ignored by git; carried with the device tool's carry=[".gpu-prebuilt", ".debs"]):
# ferry, bench_gpu_ops and the GPU test binaries of a CUDA build, stripped (the CUDA runtime is
# linked statically; the device's driver provides libcuda). Portable CPU code (-Dnative=false):
# the device's CPU may differ from this one.
#   bash bench/gpu/prebuild.sh [CUDA_ARCHS]     (default 90: sm_90 with PTX, H100/H200)
set -euo pipefail
cd "$(dirname "$0")/../.."
arch=${1:-90}
bld=build-prebuilt
meson setup "$bld" -Dgpu=cuda -Dcuda-arch="$arch" -Dnative=false --buildtype=release > /dev/null \
    || meson setup "$bld" --reconfigure -Dgpu=cuda -Dcuda-arch="$arch" > /dev/null
tests=$(cd "$bld" && ninja -t targets all | grep -o '^tests/test_gpu_[a-z_0-9]*' | grep -v '_emu$' |
    sort -u)
ninja -C "$bld" ferry bench/bench_gpu_ops $tests
rm -rf .gpu-prebuilt
mkdir -p .gpu-prebuilt
cp "$bld/ferry" "$bld/bench/bench_gpu_ops" .gpu-prebuilt/
for t in $tests; do cp "$bld/$t" .gpu-prebuilt/; done
strip .gpu-prebuilt/*
echo "$(git describe --always --dirty) sm_$arch $(date -u +%Y-%m-%dT%H:%MZ)" > .gpu-prebuilt/BUILT
du -sh .gpu-prebuilt
