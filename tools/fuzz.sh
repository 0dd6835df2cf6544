#!/usr/bin/env bash
# Runs one libFuzzer harness of tests/fuzz/ (or all of them) with its corpus and dictionary.
#   bash tools/fuzz.sh NAME [SECONDS]     NAME: gguf tokenize detok harmony placement
#   bash tools/fuzz.sh all [SECONDS]            bench_compare serve, or all; SECONDS: 60
#   bash tools/fuzz.sh build              builds them all, runs nothing
# SECONDS 0 runs each input of the corpus once (the regression inputs) and stops.
# Builds what it needs first: build-fuzz/ (clang, -Dfuzz=true, ASan + UBSan; $FUZZ_BUILD names
# another folder). The corpus of NAME is build-fuzz/fuzz/NAME/corpus (its seeds are written by the
# harness itself and from tests/data, then it grows from run to run) plus the committed inputs of
# tests/fuzz/corpus/NAME/ (small seeds and the regression inputs of fixed bugs), and the
# dictionary tests/fuzz/NAME.dict. A crash, a leak, undefined behaviour, a timeout or running out
# of memory: the input is kept in build-fuzz/fuzz/NAME/, its path, size and base64 printed with
# the command that reproduces it, and the exit status is 1. Each harness ends with a line
#   fuzz NAME: ok, N runs, cov: C ft: F, corpus: K inputs in S s
# (FAIL instead of ok, or "skipped" where this build has no such harness: serve needs cJSON).
set -uo pipefail
cd "$(dirname "$0")/.."
all=(gguf tokenize detok harmony placement bench_compare serve)
name=${1:-}
secs=${2:-60}
if [ -z "$name" ] || [ "$name" = -h ] || [ "$name" = --help ]; then
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
if [ "$name" = all ] || [ "$name" = build ]; then
    names=("${all[@]}")
elif [[ " ${all[*]} " == *" $name "* ]]; then
    names=("$name")
else
    echo "fuzz.sh: no harness \"$name\" (${all[*]}, all)" >&2
    exit 2
fi
case $secs in '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number" >&2; exit 2 ;; esac

b=${FUZZ_BUILD:-build-fuzz}
if [ ! -f "$b/build.ninja" ]; then
    command -v clang > /dev/null || { echo "fuzz.sh: clang is needed (apt-get install clang)" >&2; exit 1; }
    CC=clang CXX=clang++ meson setup "$b" -Dfuzz=true -Dgpu=none -Db_sanitize=address,undefined \
        -Db_lundef=false > "$b.setup.log" 2>&1 || { cat "$b.setup.log"; exit 1; }
    mv "$b.setup.log" "$b/meson-logs/fuzz-setup.log"
fi
# the harnesses this build has (serve only with cJSON); FUZZ_NO_BUILD=1: built already (several
# fuzz.sh at once must not run ninja in the same folder together: tools/sanitize.sh)
targets=()
known=$(ninja -C "$b" -t targets all 2> /dev/null) # not piped into grep -q: SIGPIPE + pipefail
for n in "${names[@]}"; do
    grep -q "^tests/fuzz/fuzz_$n:" <<< "$known" && targets+=("tests/fuzz/fuzz_$n")
done
if [ ${#targets[@]} -gt 0 ] && [ -z "${FUZZ_NO_BUILD:-}" ]; then
    ninja -C "$b" "${targets[@]}" > "$b/meson-logs/fuzz-build.log" 2>&1 ||
        { tail -40 "$b/meson-logs/fuzz-build.log"; echo "fuzz.sh: the build failed" >&2; exit 1; }
fi
root=$(pwd)
[ "$name" = build ] && exit 0

# seeds NAME DIR: the inputs the project makes for NAME, into DIR
seeds() {
    local n=$1 d=$2
    FY_FUZZ_SEEDS=$d "$b/tests/fuzz/fuzz_$n" > /dev/null 2>&1 || return 1
    case $n in
    tokenize) # the strings of the tokenizer's test vectors, with and without specials
        /usr/bin/python3 - "$d" tests/data/tok_o200k_divergent.json tests/data/tok_o200k_harmony_all.json \
            tests/data/tok_o200k_reserved.json tests/data/tok_o200k_ordinary.json <<'PY' ;;
import base64, hashlib, json, os, sys
d = sys.argv[1]
for path in sys.argv[2:]:
    cases = json.load(open(path))["cases"]
    special = b"\x01" if "harmony" in path or "reserved" in path else b"\x00"
    for c in cases[::10] if "ordinary" in path else cases:
        t = base64.b64decode(c["utf8_b64"])
        if len(t) <= 4096:
            x = special + t
            open(os.path.join(d, hashlib.sha1(x).hexdigest()), "wb").write(x)
PY
    bench_compare) # pairs of the bench-compare fixtures: BASE, a NUL byte, NEW
        local f g
        for f in tests/data/bench_*.jsonl; do
            for g in tests/data/bench_*.jsonl; do
                { cat "$f"; printf '\0'; cat "$g"; } > "$d/$(basename "$f" .jsonl)-$(basename "$g" .jsonl)"
            done
        done ;;
    esac
}

# the line libFuzzer's last stats give: "N runs in S s (X/s), cov: C ft: F, corpus: K inputs"
stats() {
    local log=$1 runs cov ft corp
    runs=$(grep -Eo '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')
    ft=$(grep -Eo 'ft: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')
    corp=$(grep -Eo 'corp: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')
    echo "${runs:-?} runs, cov: ${cov:-?} ft: ${ft:-?}, corpus: ${corp:-?} inputs"
}

rc=0
for n in "${names[@]}"; do
    exe=$b/tests/fuzz/fuzz_$n
    if [[ " ${targets[*]} " != *" tests/fuzz/fuzz_$n "* ]]; then
        echo "fuzz $n: skipped (not in this build: serve needs libcjson-dev)"
        continue
    fi
    if [ ! -x "$exe" ]; then
        echo "fuzz $n: FAIL ($exe was not built)"
        rc=1
        continue
    fi
    w=$b/fuzz/$n
    mkdir -p "$w/corpus" "$w/tmp" "tests/fuzz/corpus/$n"
    if [ -z "$(ls -A "$w/corpus")" ] && ! seeds "$n" "$w/corpus"; then
        echo "fuzz $n: FAIL (writing the seeds failed)"
        rc=1
        continue
    fi
    dict=()
    [ -f "tests/fuzz/$n.dict" ] && dict=(-dict="tests/fuzz/$n.dict")
    rm -f "$w"/crash-* "$w"/leak-* "$w"/timeout-* "$w"/oom-* "$w"/slow-unit-*
    log=$w/last.log
    start=$(date +%s)
    how=(-max_total_time="$secs")
    [ "$secs" = 0 ] && how=(-runs=0)
    TMPDIR=$root/$w/tmp UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$exe" "${how[@]}" -timeout=10 -rss_limit_mb=2560 \
        -print_final_stats=1 -artifact_prefix="$w/" "${dict[@]}" \
        "$w/corpus" "tests/fuzz/corpus/$n" > "$log" 2>&1
    frc=$?
    t=$(($(date +%s) - start))
    art=$(ls "$w"/crash-* "$w"/leak-* "$w"/timeout-* "$w"/oom-* 2> /dev/null | head -1)
    if [ $frc = 0 ] && [ -z "$art" ]; then
        echo "fuzz $n: ok, $(stats "$log") in $t s"
        continue
    fi
    rc=1
    echo "fuzz $n: FAIL (libFuzzer exit $frc) after $t s, $(stats "$log")"
    grep -E -A40 '^==[0-9]+==ERROR|^fuzz harness:|runtime error:|^SUMMARY' "$log" | head -80
    if [ -n "$art" ]; then
        echo "reproducer: $art ($(wc -c < "$art") bytes); run it again with"
        echo "  FY_FUZZ_LOG=1 $exe $art"
        echo "base64 (first 64 KiB; base64 -d > input to recreate it):"
        head -c 65536 "$art" | base64 -w 100
        echo "(copy it into tests/fuzz/corpus/$n/ with the fix, as its regression input)"
    else
        tail -20 "$log"
    fi
done
exit $rc
