#!/usr/bin/env bash
# --numa on the command line (issue 17): a bad mode or FY_NUMA_FAKE value is a usage error that
# names it; with pretend nodes (FY_NUMA_FAKE=2, 3) logits equal the one-node logits bit for bit
# in every mode, mapped and --no-mmap, CPU-only and with the test device; `ferry plan` and the
# bench JSON show the layout (experts and bytes per node).
# usage: test_numa_cli.sh FERRY VOCAB       exit 0 pass, 77 skip, 1 fail
set -uo pipefail
ferry=$1 vocab=$2
[ -f "$vocab" ] || { echo "skip: vocabulary $vocab absent"; exit 77; }
py=/usr/bin/python3
[ -x "$py" ] || { echo "skip: no python3"; exit 77; }
tmp=$(mktemp -d /tmp/ferry-numa.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=testlib.sh
source "$(dirname "$0")/testlib.sh"
unset FY_NUMA_FAKE

# 32 experts (k 4) and the tiny preset's 8: the odd splits over 3 nodes
"$ferry" synth --preset tiny --seed 3 --experts 32 --experts-used 4 --toy-vocab 400 -q \
    -o "$tmp/m32.gguf" || exit 1
"$ferry" synth --preset tiny --seed 4 --toy-vocab 400 -q -o "$tmp/m8.gguf" || exit 1

for c in logits run bench sweep-bench batched-bench plan; do
    expect "$c --numa bogus" 2 'flag --numa: "bogus" is not one of off, distribute, isolate, mirror, experts' \
        "$ferry" $c -m "$tmp/m8.gguf" --numa bogus
done
expect "FY_NUMA_FAKE=0" 1 'FY_NUMA_FAKE=0: not a node count from 1 to 64' \
    env FY_NUMA_FAKE=0 "$ferry" logits -m "$tmp/m8.gguf" --tokens 1 -o "$tmp/x.f32"
expect "logits -h names --numa" 0 '--numa MODE' "$ferry" logits -h

toks=1,5,9,200,13,77,3,8,100,42,7,300,21,2,64,11
for m in m32 m8; do
    "$ferry" logits -m "$tmp/$m.gguf" --tokens $toks -o "$tmp/$m.ref" 2>/dev/null ||
        bad "$m: reference logits"
    for fake in 2 3; do
        for mode in experts mirror distribute isolate; do
            for extra in "" "--no-mmap" "-ub 4" "-ngl 99 -ot exps=CPU --test-gpu -ub 4" \
                    "-ngl 99 -ot exps=CPU --test-gpu --offload-threshold 4"; do
                out=$tmp/$m.$fake.$mode.f32
                # shellcheck disable=SC2086
                if FY_NUMA_FAKE=$fake "$ferry" logits -m "$tmp/$m.gguf" --tokens $toks \
                        --numa $mode $extra -o "$out" 2> "$tmp/err" &&
                    cmp -s "$tmp/$m.ref" "$out"; then :; else
                    bad "$m FY_NUMA_FAKE=$fake --numa $mode $extra: logits differ ($(tail -2 "$tmp/err"))"
                fi
            done
        done
        ok "$m FY_NUMA_FAKE=$fake: every mode gives the one-node logits"
    done
done
expect "the default with 3 pretend nodes is experts" 0 \
    'numa: experts over 3 of 3 nodes \(pretend: FY_NUMA_FAKE\): per node 11 experts' \
    env FY_NUMA_FAKE=3 "$ferry" logits -m "$tmp/m32.gguf" --tokens 1,2 -o "$tmp/x.f32"
expect "one node: off, nothing said" 0 '^$' \
    env FY_NUMA_FAKE=1 "$ferry" logits -m "$tmp/m32.gguf" --tokens 1,2 -o "$tmp/x.f32"

# ferry plan: the layout in text and JSON
FY_NUMA_FAKE=3 "$ferry" plan -m "$tmp/m32.gguf" > "$tmp/plan.txt" 2>&1 || bad "plan"
for want in 'NUMA: experts over 3 of 3 nodes \(pretend' 'node 0 \(pretend, of node [0-9]+\): .*experts 0-10 of each layer' \
        'node 1 .*experts 11-21 of each layer' 'node 2 .*experts 22-31 of each layer'; do
    grep -Eq -- "$want" "$tmp/plan.txt" && ok "plan: $want" || bad "plan: no \"$want\" in $(cat "$tmp/plan.txt")"
done
FY_NUMA_FAKE=3 "$ferry" plan -m "$tmp/m8.gguf" --json -ngl 99 --n-cpu-moe 2 > "$tmp/plan.json" \
    2>/dev/null || bad "plan --json"
"$py" - "$tmp/plan.json" <<'PY' && ok "plan --json: experts 3/3/2, bytes of the CPU layers" ||
import json, sys
p = json.load(open(sys.argv[1]))
n = p["numa"]
assert n["mode"] == "experts" and n["nodes"] == 3 and n["fake"] is True, n
assert n["experts_per_node"] == [3, 3, 2] and n["first_expert"] == [0, 3, 6], n
# the expert weights of the 2 CPU layers, split 3/3/2 of 8
cpu = sum(g["bytes"] for g in p["groups"] if g["class"].endswith("_exps.weight") and g["device"] == "CPU")
assert sum(n["expert_bytes_per_node"]) == cpu and n["expert_bytes_per_node"][0] == cpu * 3 // 8, (n, cpu)
PY
    bad "plan --json numa"
expect "plan --numa off: no NUMA section" 0 '^model' \
    env FY_NUMA_FAKE=3 "$ferry" plan -m "$tmp/m8.gguf" --numa off
if env FY_NUMA_FAKE=3 "$ferry" plan -m "$tmp/m8.gguf" --numa off | grep -q NUMA; then
    bad "plan --numa off shows NUMA"
fi

# bench -o jsonl and batched-bench -o jsonl: the run object's "numa"
FY_NUMA_FAKE=2 "$ferry" bench -m "$tmp/m32.gguf" -p 8 -n 2 -r 1 -o jsonl --numa mirror \
    > "$tmp/b.jsonl" 2>/dev/null || bad "bench jsonl"
FY_NUMA_FAKE=2 "$ferry" batched-bench -m "$tmp/m32.gguf" -npp 8 -ntg 2 -npl 1,2 -o jsonl \
    > "$tmp/bb.jsonl" 2>/dev/null || bad "batched-bench jsonl"
"$py" - "$tmp/b.jsonl" "$tmp/bb.jsonl" <<'PY' && ok "bench and batched-bench JSON: the layout" ||
import json, sys
run = json.loads(open(sys.argv[1]).readline())
assert run["numa_mode"] == "mirror" and run["numa_fake"] is True, run
assert run["numa_experts_per_node"] == [32, 32] and len(run["numa_node_ids"]) == 2, run
assert run["numa_expert_bytes_per_node"][0] == run["numa_expert_bytes_per_node"][1] > 0, run
hdr = json.loads(open(sys.argv[2]).readline())
n = hdr["numa"]
assert n["mode"] == "experts" and n["experts_per_node"] == [16, 16], n
assert len(n["node_ids"]) == 2 and len(n["cpus"]) == 2 and n["other_bytes"] > 0, n
PY
    bad "bench JSON numa"
exit $fail
