#!/usr/bin/env bash
# ferry bench on a tiny toy-vocabulary model in every output format: the md table's shape, the
# csv header, json that parses, the jsonl schema (keys and JSON types), flag errors; and
# bench-compare of a file with itself.
# usage: test_bench.sh FERRY       exit 0 pass, 77 skip (no python3), 1 fail
set -uo pipefail
ferry=$1
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || { echo "skip: python3 absent"; exit 77; }
tmp=$(mktemp -d /tmp/ferry-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=testlib.sh
source "$(dirname "$0")/testlib.sh"

"$ferry" synth --toy-vocab 300 --seed 3 -q -o "$tmp/m.gguf" || exit 1
m=$tmp/m.gguf
# shellcheck disable=SC2054
args=(-m "$m" -p 16 -n 4 -d 0,32 -r 2)
version=$("$ferry" --version | awk '{print $2}')

# md
if "$ferry" bench "${args[@]}" > "$tmp/out.md" 2> "$tmp/err"; then ok "md runs"; else
    bad "md runs: $(cat "$tmp/err")"; fi
h='^\| model +\| +size \| +params \| backend +\| threads \| +ub \| test +\| +t/s \|$'
sed -n 1p "$tmp/out.md" | grep -Eq "$h" && ok "md header" || bad "md header: $(sed -n 1p "$tmp/out.md")"
sep='^\| -+ \| -+: \| -+: \| -+ \| -+: \| -+: \| -+ \| -+: \|$'
sed -n 2p "$tmp/out.md" | grep -Eq "$sep" && ok "md separator (numeric columns right-aligned)" ||
    bad "md separator: $(sed -n 2p "$tmp/out.md")"
row='^\| m\.gguf +\| +[0-9.]+ MiB \| +[0-9.]+ M \| cpu +\| +[0-9]+ \| +512 \| %s +\| +[0-9]+\.[0-9]{2} ± [0-9]+\.[0-9]{2} \|$'
i=3
for t in 'pp16' 'tg4' 'pp16 @ d32' 'tg4 @ d32'; do
    # shellcheck disable=SC2059
    sed -n ${i}p "$tmp/out.md" | grep -Eq "$(printf "$row" "$t")" && ok "md row $t" ||
        bad "md row $t: $(sed -n ${i}p "$tmp/out.md")"
    i=$((i + 1))
done
"$py" -c 'import sys; w={len(l) for l in open(sys.argv[1], encoding="utf-8").read().splitlines()[:6]}
assert len(w) == 1, w' "$tmp/out.md" && ok "md rows equally wide" || bad "md rows of unequal widths"
[ "$(sed -n 7p "$tmp/out.md")" = "" ] && sed -n 8p "$tmp/out.md" |
    grep -Eq "^build: [^ ]+ \($version\)$" && [ "$(wc -l < "$tmp/out.md")" = 8 ] &&
    ok "md footer" || bad "md footer: $(tail -2 "$tmp/out.md")"

# csv
"$ferry" bench "${args[@]}" -o csv > "$tmp/out.csv" 2> /dev/null || bad "csv runs"
hdr='build_commit,build_version,model_file,model_size,model_n_params,backend,n_threads,n_ubatch,test,n_prompt,n_gen,n_depth,reps,median_ts,mean_ts,stddev_ts,min_ts,max_ts,bytes_per_token,achieved_gbps,bw_fraction'
[ "$(sed -n 1p "$tmp/out.csv")" = "$hdr" ] && ok "csv header" || bad "csv header: $(sed -n 1p "$tmp/out.csv")"
[ "$(wc -l < "$tmp/out.csv")" = 5 ] && grep -q '^"[^"]*","'"$version"'",.*,"tg4 @ d32","0","4","32","2",' \
    "$tmp/out.csv" && ok "csv rows" || bad "csv rows: $(cat "$tmp/out.csv")"
"$py" - "$tmp/out.csv" <<'PY' && ok "csv parses, 21 fields a row" || bad "csv parse"
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
assert len(rows) == 5 and all(len(r) == 21 for r in rows), rows
PY

# json
"$ferry" bench "${args[@]}" -o json > "$tmp/out.json" 2> /dev/null || bad "json runs"
"$py" - "$tmp/out.json" <<'PY' && ok "json parses: 4 tests" || bad "json: $(head -c 300 "$tmp/out.json")"
import json, sys
a = json.load(open(sys.argv[1]))
assert isinstance(a, list) and [t["name"] for t in a] == ["pp16", "tg4", "pp16 @ d32", "tg4 @ d32"]
assert all(len(t["samples"]) == 2 and t["min_ts"] <= t["median_ts"] <= t["max_ts"] for t in a)
PY

# jsonl: the schema
"$ferry" bench "${args[@]}" -o jsonl > "$tmp/out.jsonl" 2> /dev/null || bad "jsonl runs"
"$py" - "$tmp/out.jsonl" <<'PY' && ok "jsonl schema" || bad "jsonl schema"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
objs = [json.loads(l) for l in lines]
S, I, N = str, int, (int, float)
run_keys = {"type": S, "time": S, "model_file": S, "model_file_bytes": I, "model_size": I,
            "model_n_params": I, "n_layer": I, "d_model": I, "n_head": I, "n_head_kv": I,
            "head_dim": I, "n_expert": I, "n_expert_used": I, "n_ff": I, "n_vocab": I,
            "placement": S, "weight_bytes_cpu": I, "weight_bytes_gpu0": I, "n_threads": I,
            "n_ubatch": I, "n_ctx": I, "kv_type": S, "reps": I, "warmup": I, "build_version": S,
            "build_git": S, "build_compiler": S, "build_backend": S, "cpu": S, "cores": I,
            "numa_nodes": I, "ram_bytes": I, "gpu": S, "gpu_mem_bytes": I, "mem_bw_gbps": N,
            "bytes_per_token": I, "load_avg_start": N}
test_keys = {"type": S, "name": S, "model": S, "n_prompt": I, "n_gen": I, "n_depth": I,
             "n_ubatch": I, "n_threads": I, "reps": I, "samples": list, "median_ts": N,
             "mean_ts": N, "stddev_ts": N, "min_ts": N, "max_ts": N}
tg_keys = {"bytes_per_token": I, "achieved_gbps": N, "bw_fraction": N}
def check(o, keys, what):
    for k, t in keys.items():
        assert k in o, f"{what}: no key {k}"
        assert isinstance(o[k], t) and not isinstance(o[k], bool), f"{what}: {k} = {o[k]!r}"
run = objs[0]
check(run, run_keys, "run")
assert run["type"] == "run" and run["n_layer"] == 4 and run["n_vocab"] == 300
assert run["mem_bw_gbps"] > 0 and run["bytes_per_token"] > 0 and run["n_ctx"] >= 36
assert run["weight_bytes_cpu"] == run["model_size"] and run["weight_bytes_gpu0"] == 0
tests = objs[1:]
assert [t["name"] for t in tests] == ["pp16", "tg4", "pp16 @ d32", "tg4 @ d32"], tests
for t in tests:
    check(t, test_keys, t["name"])
    assert t["type"] == "test" and len(t["samples"]) == 2 and t["reps"] == 2
    assert all(isinstance(x, (int, float)) and x > 0 for x in t["samples"])
    assert t["min_ts"] <= t["median_ts"] <= t["max_ts"]
    assert t["n_depth"] == (32 if "@ d32" in t["name"] else 0)
    if t["n_gen"]:
        check(t, tg_keys, t["name"])
        g = t["median_ts"] * t["bytes_per_token"] / 1e9
        assert abs(t["achieved_gbps"] - g) <= 1e-6 * g + 1e-9, t
        assert abs(t["bw_fraction"] - g / run["mem_bw_gbps"]) <= 1e-6, t
    else:
        assert "bw_fraction" not in t
PY
expect "bench-compare of a file with itself" 0 '4 compared, 0 only in one file, 0 regressions' \
    "$ferry" bench-compare "$tmp/out.jsonl" "$tmp/out.jsonl"

# lists, ranges and flag errors
"$ferry" bench -m "$m" -p 8,16 -n 0 -d 0-8+8 -r 1 --no-warmup -o jsonl 2> /dev/null |
    "$py" -c 'import json,sys; n=[json.loads(l).get("name") for l in sys.stdin][1:]
assert n == ["pp8", "pp16", "pp8 @ d8", "pp16 @ d8"], n' && ok "lists and ranges" || bad "lists and ranges"
expect "-h" 0 'usage: ferry bench -m MODEL' "$ferry" bench -h
expect "unknown flag" 2 'bench: unknown flag --bogus' "$ferry" bench -m "$m" --bogus
expect "no -m" 2 'bench: -m MODEL is required' "$ferry" bench -p 4
expect "bad -p" 2 'flag -p: "x" is not a list of integers' "$ferry" bench -m "$m" -p x
expect "bad -d range" 2 'flag -d: bad range in "8-4"' "$ferry" bench -m "$m" -d 8-4
expect "bad -n" 2 'flag -n: "4,"' "$ferry" bench -m "$m" -n 4,
expect "bad -r" 2 'flag -r: "0" is not an integer' "$ferry" bench -m "$m" -r 0
expect "bad -o" 2 'flag -o: "xml" is not one of md, csv, json, jsonl' "$ferry" bench -m "$m" -o xml
expect "no test" 1 'no test to run' "$ferry" bench -m "$m" -p 0 -n 0
expect "-c too small" 1 'flag -c: 8 positions, the tests need 48' \
    "$ferry" bench -m "$m" -p 16 -n 4 -d 32 -c 8
exit $fail
