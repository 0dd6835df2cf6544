#!/usr/bin/env bash
# NUMA expert parallelism (issue 17) on a machine with several NUMA nodes: `ferry batched-bench`
# at batch 1..64 once per --numa mode (default: off, then experts), each in a process of its own
# (the weights are placed on the nodes once per process), into OUT_DIR in the bench/results
# layout:
#   cmd.txt                the command lines and `git describe --dirty`
#   machine.md             lscpu, numactl -H (when installed), /proc/meminfo's totals
#   plan-MODE.txt          `ferry plan --numa MODE`: experts and bytes per node
#   bb-MODE.jsonl, .md     the batched-bench run (JSON lines: the run object with "numa", then a
#                          row per batch size) and its table
#   summary.md             per batch size, S_TG and S_PP of each mode and their ratio to the first
# Record a run with OUT_DIR=bench/results/$(date +%F)_<model>_<machine>_numa, e.g. on a dual-socket
# machine with the 120b:
#   FERRY_NUMA_EXTRA="--no-mmap" bash bench/numa.sh \
#       bench/results/$(date +%F)_120b_2s-epyc_numa gpt-oss-120b-mxfp4-00001-of-00003.gguf
# The default command lines (one per mode M):
#   ferry plan -m MODEL --numa M
#   ferry batched-bench -m MODEL -npp 128 -ntg 32 -npl 1,2,4,8,16,32,64 --numa M -o jsonl
# --no-mmap in FERRY_NUMA_EXTRA reads the file into each run's own memory: with off the pages land
# where the reading thread touched them (one node), with experts each node's experts are moved to
# it; without it, experts copies the mapped experts onto their nodes and off reads the page cache
# wherever it is. Run nothing else meanwhile; as root, FERRY_NUMA_DROP_CACHES=1 drops the page
# cache before each mode so that no run inherits the previous one's pages.
# usage: bench/numa.sh OUT_DIR MODEL [FERRY]
#   FERRY                   the binary (default: $FERRY, else build/ferry next to this script)
#   FERRY_NUMA_MODES        the modes, in order (default "off experts"; also distribute,
#                           isolate, mirror)
#   FERRY_NUMA_NPL          batch sizes (default 1,2,4,8,16,32,64)
#   FERRY_NUMA_NPP          prompt tokens per sequence (default 128)
#   FERRY_NUMA_NTG          generated tokens per sequence (default 32)
#   FERRY_NUMA_REPS         -r (default 1)
#   FERRY_NUMA_EXTRA        more flags for every run (-t N, --no-mmap, placement flags, ...)
#   FY_NUMA_FAKE=N          pretend nodes (for trying the script on a one-node machine)
# It is a benchmark, not a test: it is not part of `meson test`.
set -euo pipefail
[ $# -ge 2 ] && [ $# -le 3 ] || { sed -n '2,38p' "$0" >&2; exit 2; }
out=$1 model=$2
root=$(cd "$(dirname "$0")/.." && pwd)
ferry=${3:-${FERRY:-$root/build/ferry}}
[ -x "$ferry" ] || { echo "numa.sh: no ferry binary at $ferry (pass it as FERRY)" >&2; exit 2; }
[ -f "$model" ] || { echo "numa.sh: no model file $model" >&2; exit 2; }
read -r -a modes <<< "${FERRY_NUMA_MODES:-off experts}"
npl=${FERRY_NUMA_NPL:-1,2,4,8,16,32,64}
npp=${FERRY_NUMA_NPP:-128}
ntg=${FERRY_NUMA_NTG:-32}
reps=${FERRY_NUMA_REPS:-1}
read -r -a extra <<< "${FERRY_NUMA_EXTRA:-}"
mkdir -p "$out"

load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    echo "numa.sh: warning: load average $load: other work will skew the timings" >&2
fi
{
    echo '```'
    lscpu 2>/dev/null || true
    echo
    numactl -H 2>/dev/null || echo "(numactl not installed)"
    echo
    grep -E '^(MemTotal|MemFree|MemAvailable|Hugepagesize)' /proc/meminfo || true
    echo "FY_NUMA_FAKE=${FY_NUMA_FAKE:-}"
    echo '```'
} > "$out/machine.md"
{
    (cd "$root" && git describe --always --dirty 2>/dev/null) || echo "(no git)"
    echo "FY_NUMA_FAKE=${FY_NUMA_FAKE:-} FERRY_NUMA_EXTRA=${FERRY_NUMA_EXTRA:-}"
} > "$out/cmd.txt"

for mode in "${modes[@]}"; do
    if [ "${FERRY_NUMA_DROP_CACHES:-0}" = 1 ]; then
        sync && echo 3 > /proc/sys/vm/drop_caches ||
            echo "numa.sh: warning: could not drop the page cache (root only)" >&2
    fi
    plan=("$ferry" plan -m "$model" --numa "$mode")
    bb=("$ferry" batched-bench -m "$model" -npp "$npp" -ntg "$ntg" -npl "$npl" -r "$reps"
        --numa "$mode" "${extra[@]}")
    echo "${plan[*]}" >> "$out/cmd.txt"
    echo "${bb[*]} -o jsonl" >> "$out/cmd.txt"
    echo "numa.sh: --numa $mode" >&2
    "${plan[@]}" > "$out/plan-$mode.txt"
    "${bb[@]}" -o jsonl > "$out/bb-$mode.jsonl"
done

# the tables and the summary, from the JSON lines
python3 - "$out" "${modes[@]}" <<'PY'
import json, os, sys
out, modes = sys.argv[1], sys.argv[2:]
runs = {}
for m in modes:
    lines = [json.loads(l) for l in open(os.path.join(out, "bb-%s.jsonl" % m))]
    runs[m] = (lines[0], {r["pl"]: r for r in lines[1:]})
    with open(os.path.join(out, "bb-%s.md" % m), "w") as f:
        head, rows = runs[m]
        n = head.get("numa") or {}
        f.write("--numa %s: %s over %s node(s), experts per node %s\n\n" % (
            m, n.get("mode"), n.get("nodes"), n.get("experts_per_node")))
        f.write("| PP | TG | B | T_PP s | S_PP t/s | T_TG s | S_TG t/s | S_TG/seq |\n")
        f.write("|---|---|---|---|---|---|---|---|\n")
        for b in sorted(rows):
            r = rows[b]
            f.write("| %d | %d | %d | %.3f | %.2f | %.3f | %.2f | %.2f |\n" % (
                r["pp"], r["tg"], b, r["t_pp"], r["speed_pp"], r["t_tg"], r["speed_tg"],
                r["speed_tg_per_seq"]))
base = modes[0]
with open(os.path.join(out, "summary.md"), "w") as f:
    head = runs[base][0]
    f.write("model %s, %s, %d cores, CPU kernels %s, git %s\n\n" % (
        head["model"], head["cpu"], head["cores"], head["cpu_kernels"], head["git"]))
    cols = []
    for m in modes:
        cols += ["S_TG %s" % m, "S_PP %s" % m]
        if m != base:
            cols += ["TG %s/%s" % (m, base), "PP %s/%s" % (m, base)]
    f.write("| B | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols) + "\n")
    for b in sorted(runs[base][1]):
        cells = []
        for m in modes:
            r, r0 = runs[m][1].get(b), runs[base][1].get(b)
            if not r:
                cells += ["-", "-"] + (["-", "-"] if m != base else [])
                continue
            cells += ["%.2f" % r["speed_tg"], "%.1f" % r["speed_pp"]]
            if m != base:
                cells += ["%.3f" % (r["speed_tg"] / r0["speed_tg"]),
                          "%.3f" % (r["speed_pp"] / r0["speed_pp"])]
        f.write("| %d | %s |\n" % (b, " | ".join(cells)))
print(open(os.path.join(out, "summary.md")).read())
PY
echo "numa.sh: wrote $out" >&2
