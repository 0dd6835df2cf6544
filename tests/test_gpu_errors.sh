#!/usr/bin/env bash
# GPU errors are reported, not taken for "no GPU" (issue 12, item 2), on the emulator:
# FY_EMU_DEVICES=0 is a machine without a GPU (the GPU tests skip: exit 77), FY_EMU_DEVICES=-1 a
# driver the runtime cannot use (hipErrorInsufficientDriver: the GPU tests fail, exit 99, and
# ferry with a placement flag stops with exit 1, naming the error).
# usage: test_gpu_errors.sh GPU_TEST_EMU FERRY_EMU VOCAB      exit 0 pass, 1 fail
set -uo pipefail
gpu_test=$1 ferry=$2 vocab=$3
tmp=$(mktemp -d /tmp/ferry-gpuerr.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=testlib.sh
source "$(dirname "$0")/testlib.sh"

FY_EMU_DEVICES=0 "$gpu_test" > "$tmp/out" 2>&1
rc=$?
[ $rc -eq 77 ] && ok "no GPU: the GPU test skips (77)" || bad "no GPU: exit $rc, want 77: $(tail -2 "$tmp/out")"

FY_EMU_DEVICES=-1 "$gpu_test" > "$tmp/out" 2>&1
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 77 ] && grep -q "hipErrorInsufficientDriver" "$tmp/out"; then
    ok "unusable driver: the GPU test fails (exit $rc) and names the error"
else
    bad "unusable driver: exit $rc, output: $(tail -2 "$tmp/out")"
fi

if [ -f "$vocab" ]; then
    "$ferry" synth --preset tiny --seed 5 --vocab "$vocab" -q -o "$tmp/m.gguf" || exit 1
    # placement flags without a usable GPU run on the CPU (issue 13), the driver's error named
    for pat in "runtime cannot use it: hipErrorInsufficientDriver" \
        "no usable GPU: running everything on the CPU"; do
        expect "ferry -ngl 1, unusable driver: $pat" 0 "$pat" \
            env FY_EMU_DEVICES=-1 "$ferry" run -m "$tmp/m.gguf" -p hi -n 1 -ngl 1
    done
    expect "ferry -ngl 1, no GPU" 0 "no GPU found \\(emu GPU 0; 0 present\\): running everything on the CPU" \
        env FY_EMU_DEVICES=0 "$ferry" run -m "$tmp/m.gguf" -p hi -n 1 -ngl 1
else
    echo "skip: ferry checks (vocabulary $vocab absent)"
fi
exit $fail
