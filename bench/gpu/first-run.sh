#!/usr/bin/env bash
# The first run on a lent GPU machine (issue 12 item 8): one call of the device tool, every step
# time-boxed against one deadline, each result file written as its step ends (a run cut short
# still returns what it measured), at most 8 files in OUT:
#   facts.md         driver, kernel, nvidia-smi, CPU, memory, toolchain, which binaries
#   log.md           one line per step: status, seconds, time left
#   gpu-suite.txt    every GPU test binary; a failure is rerun with the tensor cores off
#                    (FY_GPU_MMA=0)
#   gpu-ops.md       bench_gpu_ops (kernel GB/s and TFLOP/s)
#   sweep-gpu.jsonl  the 20b all on the GPU: sweep-bench -ngl 99 -c 4096 -ub 2048
#   sweep-hybrid.jsonl  the 20b with -ot exps=CPU, pinned then --no-pin (a {"run_label": ...}
#                    line before each run)
#   rss.tsv          anonymous and file RSS of the hybrid runs, sampled every 0.5 s
#   ncu.txt          an Nsight Compute profile of one decode token, if time remains
#
#   bash bench/gpu/first-run.sh [OUT]       (OUT: default $OUT, else /tmp/fy-first-run)
# Environment: FY_RUN_BUDGET_S (default 540: 9 minutes of a 10-minute call), FY_FIRST_RUN_MODEL
# (a GGUF to use instead of synthesizing the 20b preset), FY_FIRST_RUN_BIN (a build directory
# to take the binaries from), FY_FIRST_RUN_SWEEP (the sweeps' size flags, default
# "-c 4096 -ub 2048"), FY_FIRST_RUN_OPS (bench_gpu_ops flags); tests/first_run.sh runs it on
# the emulator with a toy model, small sweeps and bench_gpu_ops --smoke.
#
# Binaries: .gpu-prebuilt/ (ignored by git), made on a development machine with nvcc by
#   bash bench/gpu/prebuild.sh
# holds ferry, bench_gpu_ops and the GPU test binaries (stripped, CUDA runtime linked
# statically); carried with run(carry=[".gpu-prebuilt", ".debs"]) nothing is compiled on the
# device. Without it the script builds build-gpu/ there first (meson, ninja, nvcc: minutes of
# the budget). .debs/ (bench/gpu/fetch-debs.sh) has the runtime libraries the device lacks
# (libpcre2, libnuma). The whole call, on the device tool:
#   run(command="bash bench/gpu/first-run.sh $OUT", carry=[".gpu-prebuilt", ".debs"],
#       timeout_s=600)
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:-${OUT:-/tmp/fy-first-run}}
mkdir -p "$out"
t_start=$(date +%s)
budget=${FY_RUN_BUDGET_S:-540}
deadline=$((t_start + budget))
log=$out/log.md
echo "| step | status | seconds | left at end |" > "$log"
echo "|---|---|---|---|" >> "$log"

left() { echo $((deadline - $(date +%s))); }
# step NAME MAX_SECONDS CMD...: runs CMD under timeout min(MAX, time left - 5), logs the outcome
step() {
    local name=$1 max=$2
    shift 2
    local l
    l=$(($(left) - 5))
    if [ "$l" -le 0 ]; then
        echo "| $name | skipped: no time left | 0 | $(left) |" >> "$log"
        return 124
    fi
    [ "$max" -lt "$l" ] && l=$max
    local t0 rc
    t0=$(date +%s)
    timeout --kill-after=5 "$l" "$@"
    rc=$?
    local st="ok"
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && st="timed out after ${l} s"
    [ $rc -ne 0 ] && [ "$st" = ok ] && st="exit $rc"
    echo "| $name | $st | $(($(date +%s) - t0)) | $(left) |" >> "$log"
    return $rc
}

# libraries the device lacks, from Debian packages unpacked into a private prefix
source bench/gpu/use-debs.sh

# 1. facts
{
    echo "# Facts ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
    echo; echo '```'
    nvidia-smi 2>&1 | head -20
    nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv 2>&1
    echo "kernel: $(uname -r)"
    lscpu 2>/dev/null | grep -E 'Model name|^CPU\(s\)|NUMA node\(s\)'
    free -g | head -2
    nvcc --version 2>&1 | tail -2
    gcc --version 2>&1 | head -1
    echo "git: $(git describe --always --dirty 2>/dev/null || echo '?')"
    echo '```'
} > "$out/facts.md" 2>&1

# 2. binaries: carried, else built here
bin=${FY_FIRST_RUN_BIN:-.gpu-prebuilt}
if [ -x $bin/ferry ]; then
    echo "binaries: carried ($bin: $(cat $bin/BUILT 2>/dev/null || echo 'no BUILT file'))" >> "$out/facts.md"
else
    bin=build-gpu
    arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .)
    step build 300 bash -c "{ meson setup $bin -Dgpu=cuda -Dcuda-arch=${arch:-90} || \
        meson setup $bin --reconfigure -Dgpu=cuda -Dcuda-arch=${arch:-90}; } > /dev/null && \
        ninja -C $bin ferry bench/bench_gpu_ops \$(cd $bin && ninja -t targets all | \
        grep -o '^tests/test_gpu_[a-z_0-9]*' | grep -v '_emu$' | sort -u)" \
        > "$out/build.log" 2>&1
    tail -20 "$out/build.log" >> "$out/facts.md"
    rm -f "$out/build.log"
    echo "binaries: built on the device ($bin)" >> "$out/facts.md"
    ln -sf bench/bench_gpu_ops $bin/bench_gpu_ops 2>/dev/null
fi
ferry=$bin/ferry
ops=$bin/bench_gpu_ops
[ -x "$ops" ] || ops=$bin/bench/bench_gpu_ops
echo "ferry: $("$ferry" --version 2>&1 | head -1)" >> "$out/facts.md"

# 3. the GPU test suite, a failure rerun with the tensor cores off, then with the pipelined GEMM,
#    int8 activations, the fused decode kernels and step graphs off in turn
suite() {
    local t rc fails=0
    for t in $(ls "$bin"/test_gpu_* "$bin"/tests/test_gpu_* 2>/dev/null | grep -v '_emu$'); do
        [ -x "$t" ] || continue
        FY_CPU=c timeout 120 "$t" > /tmp/fy-t.txt 2>&1
        rc=$?
        echo "== $(basename "$t"): exit $rc"
        if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
            fails=$((fails + 1))
            tail -25 /tmp/fy-t.txt
            FY_CPU=c FY_GPU_MMA=0 timeout 120 "$t" > /tmp/fy-t.txt 2>&1
            echo "== $(basename "$t") with FY_GPU_MMA=0: exit $?"
            tail -10 /tmp/fy-t.txt
            # the paths of issue 12 off one by one: which one fails
            for v in FY_GPU_PIPE FY_GPU_DP4A FY_GPU_FUSE FY_GPU_GRAPH; do
                env FY_CPU=c "$v=0" timeout 120 "$t" > /tmp/fy-t.txt 2>&1
                echo "== $(basename "$t") with $v=0: exit $?"
                grep -E '^FAIL' /tmp/fy-t.txt | head -3
            done
        else
            grep -E '^(FAIL|note)' /tmp/fy-t.txt | head -5
        fi
    done
    echo "failures: $fails"
    return $((fails > 0))
}
export -f suite
export bin
step gpu-suite 150 bash -c suite > "$out/gpu-suite.txt" 2>&1

# 4. kernel benchmarks
step gpu-ops 60 "$ops" ${FY_FIRST_RUN_OPS:-} > "$out/gpu-ops.md" 2>&1

# 5. the model: given, else the 20b preset synthesized here
model=${FY_FIRST_RUN_MODEL:-models/synth-20b.gguf}
mkdir -p models
[ -f "$model" ] || step synth-20b 120 "$ferry" synth --preset 20b --seed 1 -q -o "$model" \
    >> "$out/facts.md" 2>&1

# 6. sweeps: all on the GPU, then hybrid pinned and unpinned with RSS sampled
sweep_size=${FY_FIRST_RUN_SWEEP:--c 4096 -ub 2048}
step sweep-gpu 120 "$ferry" sweep-bench -m "$model" -ngl 99 $sweep_size --output jsonl \
    --sweep-memory > "$out/sweep-gpu.jsonl" 2>> "$out/facts.md"

echo -e "label\tseconds\tRssAnon_kB\tRssFile_kB" > "$out/rss.tsv"
hybrid() {  # label extra-flags...
    local label=$1
    shift
    echo "{\"run_label\": \"$label\"}" >> "$out/sweep-hybrid.jsonl"
    "$ferry" sweep-bench -m "$model" -ngl 99 -ot 'exps=CPU' $sweep_size --output jsonl \
        --sweep-memory "$@" >> "$out/sweep-hybrid.jsonl" 2>> "$out/facts.md" &
    local pid=$! t0
    t0=$(date +%s)
    while kill -0 $pid 2>/dev/null; do
        awk -v l="$label" -v s=$(($(date +%s) - t0)) \
            '/^RssAnon/ {a=$2} /^RssFile/ {f=$2} END {if (a != "") print l "\t" s "\t" a "\t" f}' \
            /proc/$pid/status 2>/dev/null >> "$out/rss.tsv"
        sleep 0.5
    done
    wait $pid
}
: > "$out/sweep-hybrid.jsonl"
export -f hybrid
export out ferry model sweep_size
step hybrid-pinned 120 bash -c 'hybrid pinned'
step hybrid-unpinned 90 bash -c 'hybrid unpinned --no-pin'

# 7. one decode token under Nsight Compute, if there is time
if command -v ncu > /dev/null && [ "$(left)" -gt 60 ]; then
    step ncu 120 ncu --launch-skip 200 --launch-count 40 --section SpeedOfLight \
        "$ferry" run -m "$model" -ngl 99 -p "Hello" -n 2 > "$out/ncu.txt" 2>&1
else
    echo "| ncu | skipped: $(command -v ncu > /dev/null && echo 'no time left' || echo 'no ncu') | 0 | $(left) |" >> "$log"
fi
echo "total: $(($(date +%s) - t_start)) s of a $budget s budget" >> "$log"
cat "$log"
