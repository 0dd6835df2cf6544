#!/usr/bin/env bash
# Issue 6's GPU figures in one go, for a lent GPU machine (H100/H200: nvcc, gcc, meson, ninja, no
# apt, no network). Needs, carried with the tree: .debs/ (libpcre2-dev, libnuma-dev and their
# runtime libraries as Debian .deb files: bash bench/gpu/fetch-debs.sh on a Debian 12 machine)
# and data/o200k_base.tiktoken (tools/setup-vocab.sh).
#   bash bench/gpu/run.sh OUT_DIR [steps...]     steps: build suite ops sweep20 sweep120 (default all)
# Writes OUT_DIR/machine.md, build.txt, gpu-suite.txt and OUT_DIR/{20b_gpu,120b_hybrid}/ with
# cmd.txt, sweep.jsonl, sweep.svg, sweep.md: copy them into bench/results/<date>_<what>/.
# On the device tool (at most 8 files come back, so pack them):
#   run(command="bash bench/gpu/run.sh /tmp/r; tar czf $OUT/gpu-results.tgz -C /tmp/r .",
#       carry=[".debs", "data"])
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: run.sh OUT_DIR [build suite ops sweep20 sweep120]}
shift
steps=${*:-build suite ops sweep20 sweep120}
mkdir -p "$out" models
has() { [[ " $steps " == *" $1 "* ]]; }
bld=build-gpu

# Debian -dev packages unpacked into a private prefix (no apt there)
source bench/gpu/use-debs.sh

{
    echo "# Machine"
    echo; echo '```'
    nvidia-smi --query-gpu=name,memory.total,driver_version,pcie.link.gen.max,pcie.link.width.max \
        --format=csv 2>&1
    lscpu | grep -E 'Model name|^CPU\(s\)|Thread|NUMA node\(s\)' ; free -g | head -2
    nvcc --version | tail -2; gcc --version | head -1; meson --version
    git describe --always --dirty 2>/dev/null
    echo '```'
} > "$out/machine.md" 2>&1

if has build; then
    arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .)
    [ "$arch" = 90 ] && arch=90a,90   # sm_90a for Hopper-only instructions, sm_90 too
    { meson setup "$bld" -Dgpu=cuda -Dcuda-arch="${arch:-90}" -Dnative=true --wipe 2>&1 \
        || meson setup "$bld" -Dgpu=cuda -Dcuda-arch="${arch:-90}" -Dnative=true 2>&1
      time ninja -C "$bld" 2>&1 | tail -5; } > "$out/build.txt" 2>&1
fi
ferry=$bld/ferry
[ -x "$ferry" ] || { echo "no $ferry (build failed: $out/build.txt)"; tail -30 "$out/build.txt"; exit 1; }

if has suite; then
    meson test -C "$bld" --suite gpu --print-errorlogs --num-processes 1 > "$out/gpu-suite.txt" 2>&1
    tail -15 "$out/gpu-suite.txt"
fi
if has ops; then
    "$bld/bench/bench_gpu_ops" --jsonl "$out/gpu-ops.jsonl" | tee "$out/gpu-ops.md"
fi

# one directory per sweep, as bench/results/README.md describes: cmd.txt, sweep.jsonl, sweep.svg
sweep() {  # dir model args...
    local d=$out/$1 model=$2
    shift 2
    mkdir -p "$d"
    local cmd="$ferry sweep-bench -m $model $* --output jsonl --sweep-memory --plot $d/sweep.svg"
    { echo "$cmd"; git describe --always --dirty 2>/dev/null; } > "$d/cmd.txt"
    $cmd > "$d/sweep.jsonl" 2> "$d/stderr.txt"
    tail -n +2 "$d/sweep.jsonl" | python3 -c 'import sys, json
print("|    PP |     TG |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |")
print("|-------|--------|--------|----------|----------|----------|----------|")
for l in sys.stdin:
    r = json.loads(l)
    print("| %5d | %6d | %6d | %8.3f | %8.2f | %8.3f | %8.2f |" % (r["pp"], r["tg"], r["n_kv"],
          r["t_pp"], r["speed_pp"], r["t_tg"], r["speed_tg"]))' | tee "$d/sweep.md"
}
if has sweep20; then
    m=models/synth-20b.gguf
    [ -f $m ] || "$ferry" synth --preset 20b --seed 1 -q -o $m
    sweep 20b_gpu $m -c 8192 -ub 2048 -ngl 99
fi
if has sweep120; then
    m=models/synth-120b-se.gguf
    [ -f $m ] || "$ferry" synth --preset 120b --seed 1 --sparse-experts -q -o $m
    sweep 120b_hybrid $m -c 8192 -ub 4096 -ngl 99 -ot exps=CPU -t 16
fi
