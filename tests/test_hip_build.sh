#!/usr/bin/env bash
# The AMD path: every src/hip/*.hip compiles with hipcc for the -Dhip_arch targets (compile only;
# no AMD GPU in CI). Skipped (77) where hipcc is not installed (apt-get install hipcc
# libamdhip64-dev: Debian 12 ships HIP 5.2.3).
#   test_hip_build.sh SOURCE_ROOT BUILD_ROOT ARCH...
set -uo pipefail
src=$1 bld=$2
shift 2
hipcc=$(command -v hipcc) || { echo "hipcc not found: skipped"; exit 77; }
[ -f /usr/include/hip/hip_runtime.h ] || [ -f /opt/rocm/include/hip/hip_runtime.h ] \
    || { echo "HIP headers not found: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$src/tests/testlib.sh"
# Each -Dhip_arch target this hipcc knows (Debian's HIP 5.2.3 predates gfx942 and has no device
# library for gfx1100: those are reported and left out; a newer ROCm builds them all).
offload=() archs=()
printf '#include <hip/hip_runtime.h>\n__global__ void k(float *x) { x[threadIdx.x] = 1.f; }\n' > "$tmp/probe.hip"
# the nearest target of the same family stands in (CDNA3 wave64 / RDNA wave32 code paths)
declare -A stand_in=([gfx942]=gfx940 [gfx1100]=gfx1030)
try() { "$hipcc" -x hip --offload-arch="$1" -c "$tmp/probe.hip" -o "$tmp/probe.o" 2>"$tmp/probe.err"; }
for a in "$@"; do
    if try "$a"; then
        offload+=("--offload-arch=$a"); archs+=("$a")
        continue
    fi
    echo "note: this hipcc cannot target $a: $(grep -m1 -i error "$tmp/probe.err")"
    b=${stand_in[$a]:-}
    if [ -n "$b" ] && [[ " ${archs[*]} " != *" $b "* ]] && try "$b"; then
        echo "note: $b stands in for $a"
        offload+=("--offload-arch=$b"); archs+=("$b")
    fi
done
[ ${#archs[@]} -gt 0 ] || { echo "hipcc targets none of: $*"; exit 1; }
set -- "${archs[@]}"
for f in "$src"/src/hip/*.hip; do
    n=$(basename "$f" .hip)
    if "$hipcc" -x hip -std=c++17 -O3 -fPIC -Wno-unused-function "${offload[@]}" \
        -I"$src/src" -I"$bld" -c "$f" -o "$tmp/$n.o" 2>"$tmp/$n.err"; then
        ok "hipcc ${*}: $n.hip"
    else
        bad "hipcc ${*}: $n.hip"
        head -40 "$tmp/$n.err"
    fi
done
exit $fail
