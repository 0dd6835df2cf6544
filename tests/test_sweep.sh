#!/usr/bin/env bash
# ferry sweep-bench on a tiny synthetic model (toy vocabulary, -c 256 -ub 64 -n 4): the markdown
# table against llama-sweep-bench's format (hybrid.md §9.1; goldens tests/data/sweep_header*.txt),
# the JSONL schema (tests/data/sweep_jsonl_schema.json), --sweep-memory, --plot through
# rsvg-convert, flag errors, and --plot paths that cannot be written failing before the model
# loads.
# usage: test_sweep.sh FERRY VOCAB SRCDIR       exit 0 pass, 1 fail (VOCAB unused: toy vocabulary)
set -uo pipefail
ferry=$1 src=$3
data=$src/tests/data
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/ferry-sweep.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=testlib.sh
source "$(dirname "$0")/testlib.sh"

"$ferry" synth --preset tiny --toy-vocab 1024 --seed 3 -q -o "$tmp/m.gguf" || exit 1
m=$tmp/m.gguf
args=(-m "$m" -c 256 -ub 64 -n 4 -t 2)

# check_md FILE GOLDEN N_ROWS LAST_PP MEMORY: header lines byte for byte, rows by the printf
check_md() {
    "$py" - "$@" <<'PY'
import re, sys
path, golden, n_rows, last_pp, memory = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    int(sys.argv[4]), sys.argv[5] == "1"
lines = open(path).read().split("\n")
want = open(golden).read().split("\n")[:4]
# the CPU kernel set depends on the machine: the golden says SET
lines[0] = re.sub(r"cpu_kernels = [a-z0-9]+$", "cpu_kernels = SET", lines[0])
assert lines[:4] == want, "header differs:\n%r\nwant\n%r" % (lines[:4], want)
rows = [l for l in lines[4:] if l]
assert len(rows) == n_rows, "%d rows, want %d" % (len(rows), n_rows)
d6, f83, f82 = r"([ \d]{5}\d)", r"([ \d]{3}\d\.\d{3})", r"([ \d]{4}\d\.\d{2})"
pat = r"^\|%s \| %s \| %s \| %s \| %s \| %s \| %s \|" % (d6, d6, d6, f83, f82, f83, f82)
if memory:
    pat += r" ([ \d.-]{10}) \| ([ \d.-]{10}) \|"
for i, row in enumerate(rows):
    mt = re.fullmatch(pat + "$", row)
    assert mt, "row %d does not match the printf: %r" % (i, row)
    g = mt.groups()
    pp, tg, n_kv = int(g[0]), int(g[1]), int(g[2])
    t_pp, s_pp, t_tg, s_tg = map(float, g[3:7])
    again = "|%6d | %6d | %6d | %8.3f | %8.2f | %8.3f | %8.2f |" % (pp, tg, n_kv, t_pp, s_pp,
                                                                      t_tg, s_tg)
    assert row.startswith(again), "row %d not as printf writes it: %r" % (i, row)
    assert n_kv == 64 * i, "row %d: N_KV %d" % (i, n_kv)
    assert pp == (last_pp if i == n_rows - 1 else 64) and tg == 4, "row %d: PP %d TG %d" % (
        i, pp, tg)
    assert t_pp > 0 and s_pp > 0 and t_tg >= 0 and s_tg > 0, "row %d: bad numbers" % i
    if memory:
        rss, vram = g[7].strip(), g[8].strip()
        assert float(rss) > 0, "row %d: RSS HWM %r" % (i, rss)
        assert vram == "-" or float(vram) >= 0, "row %d: VRAM delta %r" % (i, vram)
PY
}

# check_jsonl FILE MEMORY GPU: the run object's keys and types, then 4 rows with the §9.1 keys
check_jsonl() {
    "$py" - "$data/sweep_jsonl_schema.json" "$@" <<'PY'
import json, sys
schema = json.load(open(sys.argv[1]))
path, memory, gpu = sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
types = {"str": str, "int": int, "float": float, "bool": bool, "list": list}
def check(obj, sch, where):
    assert isinstance(obj, dict), where + ": not an object"
    assert list(obj.keys()) == list(sch.keys()), "%s: keys %s, want %s" % (
        where, list(obj.keys()), list(sch.keys()))
    for k, t in sch.items():
        if isinstance(t, dict):
            check(obj[k], t, where + "." + k)
        else:
            v = obj[k]
            ok = isinstance(v, types[t]) and not (t == "int" and isinstance(v, bool))
            assert ok, "%s.%s: %r is not %s" % (where, k, v, t)
lines = open(path).read().splitlines()
assert len(lines) == 5, "%d lines, want 5" % len(lines)
objs = [json.loads(l) for l in lines]
run = objs[0]
check(run, schema["run"], "run")
assert run["model"]["path"].endswith("m.gguf") and run["model"]["file_bytes"] > 0
assert run["model"]["n_vocab"] == 1024 and run["n_ubatch"] == 64 and run["n_ctx"] == 256
assert run["n_gen"] == 4 and run["n_threads"] == 2 and run["bytes_per_token"] > 0
wb = run["placement"]["weight_bytes"]
if gpu:
    assert run["placement"]["flags"] == ["--test-gpu", "-ngl", "2"], run["placement"]["flags"]
    assert wb["GPU0"] > 0 and wb["CPU"] > 0 and run["n_gpu_layers"] == 2
else:
    assert run["placement"]["flags"] == [] and wb["GPU0"] == 0 and wb["CPU"] > 0
assert run["machine"]["cores"] >= 1 and run["machine"]["ram_bytes"] > 0
keys = schema["row"] + (schema["row_memory"] if memory else [])
for i, r in enumerate(objs[1:]):
    assert [k for k, _ in keys] == list(r.keys()), "row %d keys %s" % (i, list(r.keys()))
    for k, t in keys:
        assert isinstance(r[k], types[t]), "row %d: %s = %r is not %s" % (i, k, r[k], t)
    assert r["n_kv"] == 64 * i and r["pp"] == 64 and r["tg"] == 4 and r["n_kv_max"] == 256
    assert r["n_ubatch"] == 64 and r["flash_attn"] == 1 and r["n_threads"] == 2
    assert abs(r["speed_pp"] - r["pp"] / r["t_pp"]) <= 1e-3 * r["speed_pp"] + 1e-6
    assert abs(r["speed_tg"] - r["tg"] / r["t_tg"]) <= 1e-3 * r["speed_tg"] + 1e-6
# the %f spelling of the floats (6 decimals), as llama-sweep-bench writes them
import re
assert re.search(r'"t_pp": \d+\.\d{6}, "speed_pp": \d+\.\d{6}', lines[1]), lines[1]
PY
}

# markdown
if "$ferry" sweep-bench "${args[@]}" > "$tmp/md.txt" 2> "$tmp/md.err" &&
   out=$(check_md "$tmp/md.txt" "$data/sweep_header.txt" 4 64 0 2>&1); then
    ok "md table"
else
    bad "md table: $(cat "$tmp/md.err" | tail -3) ${out:-}"
fi
if "$ferry" sweep-bench "${args[@]}" --sweep-memory --no-warmup -s 7 --plot "$tmp/s.svg" \
        > "$tmp/mem.txt" 2> "$tmp/mem.err" &&
   out=$(check_md "$tmp/mem.txt" "$data/sweep_header_memory.txt" 4 64 1 2>&1); then
    ok "md table --sweep-memory"
else
    bad "md table --sweep-memory: $(tail -3 "$tmp/mem.err") ${out:-}"
fi
# -c not a multiple of -ub: ceil(200 / 64) = 4 rows, the last one processes 200 - 192 tokens
if "$ferry" sweep-bench -m "$m" -c 200 -ub 64 -n 4 -t 2 > "$tmp/odd.txt" 2> "$tmp/odd.err" &&
   sed 's/n_kv_max = 256/n_kv_max = 200/' "$data/sweep_header.txt" > "$tmp/odd_golden.txt" &&
   out=$(check_md "$tmp/odd.txt" "$tmp/odd_golden.txt" 4 8 0 2>&1); then
    ok "md table -c 200 -ub 64"
else
    bad "md table -c 200 -ub 64: $(tail -3 "$tmp/odd.err") ${out:-}"
fi

# jsonl
if "$ferry" sweep-bench "${args[@]}" --output jsonl > "$tmp/a.jsonl" 2> "$tmp/a.err" &&
   out=$(check_jsonl "$tmp/a.jsonl" 0 0 2>&1); then
    ok "jsonl schema"
else
    bad "jsonl schema: $(tail -3 "$tmp/a.err") ${out:-}"
fi
if "$ferry" sweep-bench "${args[@]}" --output-format jsonl --sweep-memory --test-gpu -ngl 2 \
        > "$tmp/b.jsonl" 2> "$tmp/b.err" &&
   out=$(check_jsonl "$tmp/b.jsonl" 1 1 2>&1); then
    ok "jsonl schema --sweep-memory --test-gpu -ngl 2"
else
    bad "jsonl --sweep-memory: $(tail -3 "$tmp/b.err") ${out:-}"
fi

# --plot: a well-formed SVG that rsvg-convert renders at 800 x 500
if "$py" -c 'import sys, xml.dom.minidom as d; d.parse(sys.argv[1])' "$tmp/s.svg" 2>/dev/null &&
   grep -q '<polyline' "$tmp/s.svg" && grep -q 'S_TG t/s' "$tmp/s.svg"; then
    ok "plot: well-formed SVG with series and legend"
else
    bad "plot: $tmp/s.svg missing or malformed"
fi
if command -v rsvg-convert > /dev/null; then
    if rsvg-convert -o "$tmp/s.png" "$tmp/s.svg" 2> "$tmp/rsvg.err" &&
       out=$("$py" - "$tmp/s.png" <<'PY' 2>&1
import struct, sys
b = open(sys.argv[1], "rb").read()
assert len(b) > 1000, "PNG of %d bytes" % len(b)
assert b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR", "not a PNG"
w, h = struct.unpack(">II", b[16:24])
assert (w, h) == (800, 500), "PNG is %dx%d, want 800x500" % (w, h)
PY
       ); then
        ok "plot: rsvg-convert renders 800x500"
    else
        bad "plot: rsvg-convert: $(cat "$tmp/rsvg.err") ${out:-}"
    fi
else
    echo "skip plot rendering: rsvg-convert absent (apt-get install librsvg2-bin)"
fi

# flags
expect "-h" 0 "usage: ferry sweep-bench" "$ferry" sweep-bench -h
expect "unknown flag" 2 "unknown flag --bogus" "$ferry" sweep-bench -m "$m" --bogus
expect "no model" 2 "-m MODEL is required" "$ferry" sweep-bench -c 256
expect "bad --output" 2 'flag --output: "xml" is not one of md, jsonl' \
    "$ferry" sweep-bench "${args[@]}" --output xml
expect "bad -n" 2 'flag -n: "x" is not an integer' "$ferry" sweep-bench -m "$m" -n x
expect "bad -ub" 2 'flag -ub' "$ferry" sweep-bench -m "$m" -ub 0
expect "bad -s" 2 'flag -s' "$ferry" sweep-bench -m "$m" -s -1
expect "missing --plot value" 2 'flag --plot needs a value' "$ferry" sweep-bench -m "$m" --plot
expect "--tokens refused" 2 '--tokens is not used' "$ferry" sweep-bench -m "$m" --tokens 1
expect "unwritable --plot" 1 "$tmp/no/s.svg" \
    "$ferry" sweep-bench "${args[@]}" -c 64 --plot "$tmp/no/s.svg"

# an output that cannot be written fails at once, before the model loads: exit 1, the flag and
# the path named, no header or row printed, no temporary file left, in well under the time the
# benchmark takes (-c 4096 -n 32: seconds)
fails_fast() {
    local name=$1 pat=$2 dir=$3
    shift 3
    local start out rc ms
    start=$(date +%s%N)
    out=$("$@" 2>&1)
    rc=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    if [ $rc = 1 ] && grep -Eq -- "$pat" <<< "$out" &&
        ! grep -Eq 'n_kv_max|^\||"n_kv"' <<< "$out" && [ $ms -lt 3000 ] &&
        [ -z "$(find "$dir" -maxdepth 1 -name '*.tmp*')" ]; then
        ok "$name ($ms ms)"
    else
        bad "$name (exit $rc, $ms ms; output: $(head -c 400 <<< "$out"))"
    fi
}
long=(-m "$m" -c 4096 -ub 64 -n 32 -t 2)
fails_fast "--plot in a missing folder fails fast" \
    "--plot /nonexistent/dir/x.svg: cannot create: No such file" "$tmp" \
    "$ferry" sweep-bench "${long[@]}" --plot /nonexistent/dir/x.svg
mkdir -p "$tmp/adir"
fails_fast "--plot to a folder fails fast" "--plot $tmp/adir: is a directory" "$tmp/adir" \
    "$ferry" sweep-bench "${long[@]}" --plot "$tmp/adir"
fails_fast "--plot under a file fails fast" \
    "--plot $m/x.svg: cannot use as output: Not a directory" "$tmp" \
    "$ferry" sweep-bench "${long[@]}" --plot "$m/x.svg"
fails_fast "--plot unwritable with --output jsonl fails fast" "--plot $tmp/no/s.svg" "$tmp" \
    "$ferry" sweep-bench "${long[@]}" --output jsonl --plot "$tmp/no/s.svg"

exit $fail
