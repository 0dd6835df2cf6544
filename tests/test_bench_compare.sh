#!/usr/bin/env bash
# ferry bench-compare on hand-made JSONL files (tests/data/bench_*.jsonl): a clear regression is
# flagged (exit 1, the row named), noise within the recorded spread is not, rows present in one
# file only are listed, malformed input gives exit 2 with the file and line.
# usage: test_bench_compare.sh FERRY DATA_DIR       exit 0 pass, 1 fail
set -uo pipefail
ferry=$1 data=$2
tmp=$(mktemp -d /tmp/ferry-bcmp.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=testlib.sh
source "$(dirname "$0")/testlib.sh"
b=$data/bench_base.jsonl

expect "itself" 0 '4 compared, 0 only in one file, 0 regressions' "$ferry" bench-compare "$b" "$b"
expect "regression flagged" 1 '\| tg16 +\|.*-25\.00% .*\| REGRESSION' \
    "$ferry" bench-compare "$b" "$data/bench_regress.jsonl"
expect "regression counted" 1 '1 regression$' "$ferry" bench-compare "$b" "$data/bench_regress.jsonl"
expect "regression above a 30% threshold" 0 '0 regressions' \
    "$ferry" bench-compare "$b" "$data/bench_regress.jsonl" --threshold 30
expect "noise within spread" 0 'tg16 @ d256 .*-10\.53% .*noise \(slower, within spread\)' \
    "$ferry" bench-compare "$b" "$data/bench_noise.jsonl"
expect "noise: no regression" 0 '0 regressions' "$ferry" bench-compare "$b" "$data/bench_noise.jsonl"
expect "faster is not a regression" 0 'tg16 .*\+33\.[0-9]+% .*faster' \
    "$ferry" bench-compare "$data/bench_regress.jsonl" "$b"
expect "missing in new" 0 'only in base \(.*bench_base.jsonl:5\): bench-tiny.gguf tg16 @ d256' \
    "$ferry" bench-compare "$b" "$data/bench_missing.jsonl"
expect "extra in new" 0 'only in new \(.*bench_missing.jsonl:5\): bench-tiny.gguf pp128' \
    "$ferry" bench-compare "$b" "$data/bench_missing.jsonl"

# malformed files: exit 2, the file and the line named
head -2 "$b" > "$tmp/broken.jsonl"
echo '{"type": "test", "name": "tg16", "median_ts": 4x}' >> "$tmp/broken.jsonl"
expect "bad JSON" 2 'broken.jsonl:3: not a flat JSON object: column [0-9]+' \
    "$ferry" bench-compare "$b" "$tmp/broken.jsonl"
head -3 "$b" > "$tmp/nomedian.jsonl"
echo '{"type": "test", "name": "tg16", "n_depth": 0}' >> "$tmp/nomedian.jsonl"
expect "missing median_ts" 2 'nomedian.jsonl:4: test object without "median_ts"' \
    "$ferry" bench-compare "$tmp/nomedian.jsonl" "$b"
{ cat "$b"; sed -n 3p "$b"; } > "$tmp/dup.jsonl"
expect "duplicate row" 2 'dup.jsonl:6: test "tg16" repeats line 3' \
    "$ferry" bench-compare "$b" "$tmp/dup.jsonl"
echo '{"type": "other"}' > "$tmp/other.jsonl"
expect "unknown object" 2 'other.jsonl:1: neither a run object nor a test object' \
    "$ferry" bench-compare "$b" "$tmp/other.jsonl"
head -1 "$b" > "$tmp/norows.jsonl"
expect "no test rows" 2 'norows.jsonl:1: no test rows' "$ferry" bench-compare "$b" "$tmp/norows.jsonl"
expect "absent file" 2 "$tmp/none.jsonl: cannot open: No such file" "$ferry" bench-compare "$b" "$tmp/none.jsonl"

# usage
expect "-h" 0 'usage: ferry bench-compare.*' "$ferry" bench-compare -h
expect "-h states the rule" 0 'REGRESSION  drop > b x PCT/100  and  drop > sb \+ sn' \
    "$ferry" bench-compare -h
expect "one file" 2 'BASE.jsonl and NEW.jsonl are required' "$ferry" bench-compare "$b"
expect "three files" 2 'one BASE and one NEW file' "$ferry" bench-compare "$b" "$b" "$b"
expect "bad --threshold" 2 'flag --threshold: "x" is not a number' \
    "$ferry" bench-compare "$b" "$b" --threshold x
expect "unknown flag" 2 'unknown flag --bogus' "$ferry" bench-compare "$b" "$b" --bogus
exit $fail
