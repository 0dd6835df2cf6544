#!/usr/bin/env bash
# A fixed speed suite on synthetic models sized for a small CI machine (2 cores): `ferry bench
# -o jsonl` on a tiny and a mid-size gpt-oss-shaped model, concatenated into OUT.jsonl. Compare
# with a baseline:
#   bash bench/regression.sh out.jsonl && build/ferry bench-compare \
#       bench/baselines/cpu-2core-zen3.jsonl out.jsonl --threshold 10
# (baselines per machine kind: cpu-2core-zen3.jsonl, AMD EPYC Zen 3, AVX2 kernel set with flash
# attention and --poll 0, 2026-12-07; cpu-2core-xeon-amx.jsonl, Intel Xeon with AVX-512 VNNI and
# AMX, amx kernel set, portable build, 2026-12-07;
# cpu-2core.jsonl, Intel Xeon, before the CPU kernel sets, 2026-11-22)
# usage: bench/regression.sh OUT.jsonl [FERRY]
#   FERRY                 the binary (default: $FERRY, else build/ferry next to this script)
#   FERRY_BENCH_CACHE     where the synthetic models are kept (default ~/.cache/ferry-bench)
#   FERRY_BENCH_THREADS   -t for every run (default 2; rows pair by threads, keep it fixed)
#   FERRY_BENCH_REPS      -r (default 3)
# It is a benchmark, not a test: it is not part of `meson test`.
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { sed -n '2,15p' "$0" >&2; exit 2; }
out=$1
root=$(cd "$(dirname "$0")/.." && pwd)
ferry=${2:-${FERRY:-$root/build/ferry}}
[ -x "$ferry" ] || { echo "regression.sh: no ferry binary at $ferry (pass it as FERRY)" >&2; exit 2; }
cache=${FERRY_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry-bench}
threads=${FERRY_BENCH_THREADS:-2}
reps=${FERRY_BENCH_REPS:-3}
mkdir -p "$cache"
load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    echo "regression.sh: warning: load average $load: other work will skew the timings" >&2
fi

# name and synth flags; the seed is fixed, so a model is only written when absent
models=(
    "tiny:--preset tiny --toy-vocab 32768 --seed 1"
    "mid:--layers 4 --d-model 1024 --heads 16 --kv-heads 4 --head-dim 64 --ff 1024 --experts 16 --experts-used 4 --toy-vocab 32768 --seed 2"
)

tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
for spec in "${models[@]}"; do
    name=${spec%%:*}
    flags=${spec#*:}
    model=$cache/bench-$name.gguf
    if [ ! -f "$model" ]; then
        # shellcheck disable=SC2086
        "$ferry" synth $flags -q -o "$model"
    fi
    echo "regression.sh: $name ($model)" >&2
    "$ferry" bench -m "$model" -p 64,256 -n 32 -d 0,256 -r "$reps" -t "$threads" -ub 256 \
        -o jsonl >> "$tmp"
done
mv "$tmp" "$out"
trap - EXIT
echo "regression.sh: wrote $out" >&2
