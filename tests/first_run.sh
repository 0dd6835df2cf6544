#!/usr/bin/env bash
# bench/gpu/first-run.sh (issue 12 item 8) on the emulator: binaries from the build (ferry-emu as
# ferry, the emulator builds of two GPU tests and of bench_gpu_ops), a toy model, small sweeps.
# Checks that a run writes at most 8 files, logs every step, measures the all-GPU and both hybrid
# sweeps with RSS samples, and that a short budget cuts steps off without overrunning it.
# usage: first_run.sh SRC_DIR FERRY_EMU BENCH_GPU_OPS_EMU TEST_GPU_EMU...   exit 0 pass, 1 fail
set -uo pipefail
src=$1 ferry=$2 ops=$3
shift 3
tmp=$(mktemp -d /tmp/ferry-firstrun.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=testlib.sh
source "$(dirname "$0")/testlib.sh"

mkdir -p "$tmp/bin"
ln -s "$ferry" "$tmp/bin/ferry"
ln -s "$ops" "$tmp/bin/bench_gpu_ops"
for t in "$@"; do ln -s "$t" "$tmp/bin/$(basename "${t%_emu}")"; done
"$ferry" synth --toy-vocab 300 --seed 3 -q -o "$tmp/m.gguf" || exit 1

run() {  # OUT BUDGET
    FY_RUN_BUDGET_S=$2 FY_FIRST_RUN_BIN=$tmp/bin FY_FIRST_RUN_MODEL=$tmp/m.gguf \
        FY_FIRST_RUN_SWEEP="-c 64 -ub 32 -n 2" FY_FIRST_RUN_OPS=--smoke FY_EMU_MEM_MB=512 \
        bash "$src/bench/gpu/first-run.sh" "$1" > "$1.stdout" 2>&1
}

t0=$(date +%s)
run "$tmp/a" 200
secs=$(($(date +%s) - t0))
n=$(ls "$tmp/a" | wc -l)
[ "$n" -le 8 ] && ok "at most 8 result files ($n: $(ls "$tmp/a" | tr '\n' ' '))" || bad "$n result files"
for s in gpu-suite gpu-ops sweep-gpu hybrid-pinned hybrid-unpinned; do
    grep -q "^| $s | ok |" "$tmp/a/log.md" && ok "step $s ok" ||
        bad "step $s: $(grep "^| $s " "$tmp/a/log.md"; tail -3 "$tmp/a/facts.md")"
done
grep -q "^== test_gpu_add: exit 0" "$tmp/a/gpu-suite.txt" && grep -q "^failures: 0" "$tmp/a/gpu-suite.txt" &&
    ok "the GPU tests ran and passed" || bad "gpu-suite.txt: $(head -5 "$tmp/a/gpu-suite.txt")"
rows() { grep -c '"speed_tg"' "$1"; }
[ "$(rows "$tmp/a/sweep-gpu.jsonl")" -ge 1 ] && ok "all-GPU sweep rows" || bad "no all-GPU sweep rows"
[ "$(grep -c run_label "$tmp/a/sweep-hybrid.jsonl")" -eq 2 ] && [ "$(rows "$tmp/a/sweep-hybrid.jsonl")" -ge 2 ] &&
    ok "hybrid sweeps, pinned and unpinned" || bad "sweep-hybrid.jsonl: $(head -c 300 "$tmp/a/sweep-hybrid.jsonl")"
grep -q "^pinned	" "$tmp/a/rss.tsv" && grep -q "^unpinned	" "$tmp/a/rss.tsv" &&
    ok "RSS sampled in both hybrid runs" || bad "rss.tsv: $(head -3 "$tmp/a/rss.tsv")"
grep -q "^binaries: carried" "$tmp/a/facts.md" && ok "carried binaries used, nothing built" ||
    bad "facts.md: $(grep binaries "$tmp/a/facts.md")"
[ "$secs" -le 205 ] && ok "ran in ${secs} s of a 200 s budget" || bad "${secs} s for a 200 s budget"

# a budget too short for everything: steps cut off or skipped, the budget kept, files written
t0=$(date +%s)
run "$tmp/b" 12
secs=$(($(date +%s) - t0))
[ "$secs" -le 17 ] && ok "a 12 s budget ends in ${secs} s" || bad "a 12 s budget took ${secs} s"
grep -Eq "timed out|skipped: no time left" "$tmp/b/log.md" && [ -s "$tmp/b/facts.md" ] &&
    ok "steps past the deadline are cut off and logged" || bad "log.md: $(cat "$tmp/b/log.md")"
exit $fail
