#!/usr/bin/env bash
# Peak resident memory of `ferry logits` on the 20b preset (real shapes, ~12 GB file), against
# the file size. The weights are mmap'd, so the peak must stay under file size + 2 GB.
#   bash bench/mem_20b.sh [BUILD_DIR] [WORK_DIR] [N_TOKENS]
set -euo pipefail
build=${1:-build} work=${2:-models} n=${3:-32}
model=$work/synth-20b.gguf
mkdir -p "$work"
[ -f "$model" ] || "$build/ferry" synth --preset 20b --seed 1 -o "$model"
size=$(stat -L -c %s "$model") # -L: the model may be a link
tokens=$(/usr/bin/python3 -c "import random; r=random.Random(3); print(','.join(str(r.randrange(199998)) for _ in range($n)))")
out=$(mktemp /tmp/ferry-mem.XXXXXX)
/usr/bin/time -v "$build/ferry" logits -m "$model" --tokens "$tokens" -o "$out.f32" 2> "$out.time"
rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$out.time")
wall=$(awk '/Elapsed \(wall clock\)/ {print $NF}' "$out.time")
rm -f "$out" "$out.f32" "$out.time"
/usr/bin/python3 - "$size" "$rss_kb" "$n" "$wall" <<'PY'
import sys
size, rss_kb, n, wall = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rss = rss_kb * 1024
limit = size + 2 * 2**30
print(f"20b preset: file {size/2**30:.2f} GiB, ferry logits on {n} tokens: peak RSS "
      f"{rss/2**30:.2f} GiB (limit file + 2 GiB = {limit/2**30:.2f} GiB), wall {wall}")
sys.exit(0 if rss < limit else 1)
PY
