#!/usr/bin/env bash
# End-to-end check of the CPU forward pass against the independent NumPy reference
# (tests/reference/), on tiny synthetic models with the real vocabulary, over 320 tokens:
# one micro-batch, token by token, and -ub 64; F32 KV (rel err < 1e-3) and F16 KV (< 1e-2);
# under the "c" CPU kernel set (the f32 path) and the best set of the machine (int16 activations);
# same arg-max on every row (rows with a router near-tie are reported and excluded). Where the
# best set has int8 activations (FY_CPU_Q8=1: the experts' gate/up in micro-batches of 32+, not
# the default), the tiny model is run once more with them, at issue 11's gates for fast sets
# (compare.py --fast-gates). The
# reference stores K/V at the engine's cache precision (numpy float32 / float16 rounding).
# usage: test_reference.sh FERRY SOURCE_DIR VOCAB     exit 0 pass, 77 skip, 1 fail
set -uo pipefail
ferry=$1 src=$2 vocab=$3
py=/usr/bin/python3
ref=$src/tests/reference
[ -f "$vocab" ] || { echo "skip: vocabulary $vocab absent (bash tools/setup-vocab.sh)"; exit 77; }
$py -c 'import numpy' 2>/dev/null || { echo "skip: python3-numpy absent"; exit 77; }

tmp=$(mktemp -d /tmp/ferry-ref.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n_vocab=201088
fail=0

$py -c 'import random; r = random.Random(7); print(",".join(str(r.randrange(199998)) for _ in range(320)))' > "$tmp/tokens"
tokens=$(cat "$tmp/tokens")

# The CPU kernel sets (src/cpu/qdot.h): "c" (the f32 path) and the best this machine runs, if
# another (the integer path, int16 activations); both are held to the same gates.
sets=c
best=$("$ferry" --version | sed -n 's/.*CPU kernels: \([a-z0-9]*\).*/\1/p')
[ -n "$best" ] && [ "$best" != c ] && sets="c $best"
echo "reference: CPU kernel sets: $sets"

check() { # label model kv ub tol q8 (the reference for that KV type is in ref-$kv.bin)
    local label=$1 model=$2 kv=$3 ub=$4 tol=$5 q8=$6
    for set in $sets; do
        # FY_CPU_Q8=1 (int8 activations for the experts' gate/up in micro-batches of 32+):
        # the gates for fast sets, on the model where it meets them (see moe_qdot.c)
        if [ "$set" != c ] && [ "$q8" = 1 ] && [ "$ub" -ge 32 ]; then
            check_set "$label cpu=$set" "$model" "$kv" "$ub" "$tol" "$set"
            FY_CPU_Q8=1 check_set "$label cpu=$set q8" "$model" "$kv" "$ub" "$tol" "$set" \
                --fast-gates
        else
            check_set "$label cpu=$set" "$model" "$kv" "$ub" "$tol" "$set"
        fi
    done
}

check_set() { # label model kv ub tol set [--fast-gates]
    local label=$1 model=$2 kv=$3 ub=$4 tol=$5 set=$6 gates=${7:-}
    if ! FY_CPU=$set "$ferry" logits -m "$model" --tokens-file "$tmp/tokens" -ub "$ub" \
            --kv-type "$kv" -o "$tmp/out.bin"; then
        echo "FAIL $label: ferry logits failed"
        fail=1
        return
    fi
    # shellcheck disable=SC2086
    $py "$ref/compare.py" "$tmp/out.bin" "$tmp/ref-$kv.bin" --vocab $n_vocab --tol "$tol" \
        --margins "$tmp/margins.bin" --min-margin 1e-3 --label "$label" $gates || fail=1
    rm -f "$tmp/out.bin"
}

run_model() { # name q8 synth-args...   (q8: 1 to add the FY_CPU_Q8=1 runs)
    local name=$1 q8=$2
    shift 2
    if ! "$ferry" synth "$@" --vocab "$vocab" -o "$tmp/$name.gguf" >/dev/null; then
        echo "FAIL $name: ferry synth failed"
        fail=1
        return
    fi
    $py "$ref/check_vocab.py" "$tmp/$name.gguf" || fail=1
    # the reference rounds cached K/V like the engine's cache type (f32: none at this precision)
    for kv in f32 f16; do
        if ! $py "$ref/gptoss_ref.py" "$tmp/$name.gguf" --tokens "$tokens" --kv $kv \
                -o "$tmp/ref-$kv.bin" --margins "$tmp/margins.bin"; then
            echo "FAIL $name: reference failed"
            fail=1
            return
        fi
    done
    for ub in 512 1 64; do
        check "$name kv=f32 ub=$ub" "$tmp/$name.gguf" f32 $ub 1e-3 $q8
        check "$name kv=f16 ub=$ub" "$tmp/$name.gguf" f16 $ub 1e-2 $q8
    done
    rm -f "$tmp/$name.gguf" "$tmp"/ref-*.bin
}

# The default tiny model: Q8_0 dense, MXFP4 experts, peaky attention, clamps engaged.
run_model tiny 1 --preset tiny --seed 1
# Variants: fused gate/up experts with BF16 dense weights; mild weights; F16 dense + BF16 experts.
run_model tiny-fused-bf16 0 --preset tiny --seed 2 --fuse-gate-up --dense-type bf16
run_model tiny-mild-f16 0 --preset tiny --seed 3 --mild --dense-type f16 --expert-type bf16

[ $fail = 0 ] && echo "reference: all comparisons passed" || echo "reference: FAILED"
exit $fail
