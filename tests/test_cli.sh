#!/usr/bin/env bash
# The command line as a user meets it: -h everywhere, errors that name the flag and the accepted
# values, tokenize output, run -p determinism and streaming, logits/run on token ids.
# usage: test_cli.sh FERRY VOCAB       exit 0 pass, 77 skip, 1 fail
set -uo pipefail
ferry=$1 vocab=$2
[ -f "$vocab" ] || { echo "skip: vocabulary $vocab absent"; exit 77; }
tmp=$(mktemp -d /tmp/ferry-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=testlib.sh
source "$(dirname "$0")/testlib.sh"

"$ferry" synth --preset tiny --seed 5 --vocab "$vocab" -q -o "$tmp/m.gguf" || exit 1
m=$tmp/m.gguf

for c in synth logits run chat tokenize; do
    expect "$c -h" 0 "usage: ferry $c" "$ferry" $c -h
    expect "$c unknown flag" 2 "unknown flag --bogus" "$ferry" $c --bogus
done
expect "no command" 2 "usage" "$ferry"

# exit status of every command: a usage error (a bad value) 2, a runtime error (a model file
# that does not exist) 1, and each -h says so
nope=$tmp/nope.gguf
usage_err=(
    "synth|synth --preset huge -o $tmp/x.gguf"
    "logits|logits -m $m --tokens 1 -o $tmp/x.bin -ub 0"
    "run|run -m $m -p hi -n x"
    "chat|chat -m $m --reasoning max"
    "tokenize|tokenize -m $m"
    "plan|plan -m $m -c 0"
    "bench|bench -m $m -r 0"
    "sweep-bench|sweep-bench -m $m -ub 0"
    "bench-compare|bench-compare $tmp/a.jsonl"
)
run_err=(
    "synth|synth --preset tiny -q -o $tmp/no/such/dir/x.gguf"
    "logits|logits -m $nope --tokens 1 -o $tmp/x.bin"
    "run|run -m $nope -p hi"
    "chat|chat -m $nope"
    "tokenize|tokenize -m $nope -p hi"
    "plan|plan -m $nope"
    "bench|bench -m $nope -p 4 -n 0"
    "sweep-bench|sweep-bench -m $nope -c 64"
)
for c in "${usage_err[@]}"; do
    # shellcheck disable=SC2086
    expect "${c%%|*}: usage error exits 2" 2 'error' "$ferry" ${c#*|}
done
for c in "${run_err[@]}"; do
    # shellcheck disable=SC2086
    expect "${c%%|*}: runtime error exits 1" 1 'error' "$ferry" ${c#*|}
done
# bench-compare is diff-like: 1 means a regression, so a file it cannot read is 2 (its -h)
expect "bench-compare: unreadable file exits 2" 2 'cannot open' \
    "$ferry" bench-compare "$tmp/nope1.jsonl" "$tmp/nope2.jsonl"
for c in synth logits run chat tokenize plan bench sweep-bench bench-compare; do
    "$ferry" $c -h 2>&1 | grep "exit status" >/dev/null && ok "$c -h: exit status" || bad "$c -h: no exit status"
done
expect "unknown command" 2 'unknown command "frobnicate"' "$ferry" frobnicate
expect "bad -n" 2 'flag -n: "x" is not an integer' "$ferry" run -m "$m" -p hi -n x
expect "bad --temp" 2 'flag --temp: "hot" is not a number in \[0, 100\]' \
    "$ferry" run -m "$m" -p hi --temp hot
expect "bad --kv-type" 2 'flag --kv-type: "q4" is not one of f16, f32, q8_0' \
    "$ferry" run -m "$m" -p hi --kv-type q4
expect "bad -ctk" 2 'flag -ctk: "q4_0" is not one of f16, f32, q8_0' \
    "$ferry" run -m "$m" -p hi -ctk q4_0
expect "-ctk and -ctv differ" 2 'flags -ctk q8_0 and -ctv f16 differ: ferry keeps one cache type' \
    "$ferry" logits -m "$m" --tokens 1,2 -o "$tmp/kv.f32" -ctk q8_0 -ctv f16
expect "--cache-type-v and --cache-type-k differ" 2 'flags --cache-type-k q8_0 and --cache-type-v f32 differ' \
    "$ferry" run -m "$m" --tokens 1,2 -n 1 --cache-type-v f32 --cache-type-k q8_0
expect "-ctk and -ctv agree" 0 '' "$ferry" logits -m "$m" --tokens 1,2 -o "$tmp/kv.f32" -ctk q8_0 -ctv q8_0
expect "-ctv alone" 0 '' "$ferry" run -m "$m" --tokens 1,2 -n 2 -ctv q8_0
expect "bad --reasoning" 2 'flag --reasoning: "max" is not one of low, medium, high' \
    "$ferry" chat -m "$m" --reasoning max
expect "missing value" 2 'flag -p needs a value' "$ferry" run -m "$m" -p
expect "missing model file" 1 'nope.gguf: open: No such file' "$ferry" run -m "$tmp/nope.gguf" -p hi
expect "prompt and tokens" 2 'exactly one of' "$ferry" run -m "$m" -p hi --tokens 1

# --poll: how idle OpenMP threads wait (src/cli/omp_wait.c): ferry sets GOMP_SPINCOUNT and runs
# itself again, unless the environment already says; a bad level names the flag
expect "--poll default" 0 'threads wait: --poll 0 \(GOMP_SPINCOUNT=0\)' \
    env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY "$ferry" --version
expect "--poll 7" 0 'threads wait: --poll 7 \(GOMP_SPINCOUNT=21000\)' \
    env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY "$ferry" --version --poll 7
expect "--poll: the environment wins" 0 'threads wait: from the environment \(OMP_WAIT_POLICY=active\)' \
    env OMP_WAIT_POLICY=active "$ferry" --version --poll 7
expect "bad --poll" 2 'flag --poll: "101" is not an integer in \[0, 100\]' \
    "$ferry" run -m "$m" -p hi --poll 101
expect "--poll in bench JSON" 0 '"omp_wait": "--poll 3 \(GOMP_SPINCOUNT=9000\)"' \
    env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY "$ferry" bench -m "$m" -p 8 -n 0 -r 1 --poll 3 -o jsonl

# tokenize (ids from tiktoken: tokenizer.md)
expect "tokenize --ids" 0 '^24912,2375$' "$ferry" tokenize -m "$m" -p "hello world" --ids
expect "specials are text by default" 0 '^27,91,419,1440,919,91,29$' \
    "$ferry" tokenize -m "$m" -p "<|endoftext|>" --ids
expect "tokenize --special" 0 '^199998,200006,200008,13225,5922,200007,199999$' \
    "$ferry" tokenize -m "$m" --ids --special \
    -p "<|startoftext|><|start|><|message|>Hello World<|end|><|endoftext|>"
expect "tokenize --special: reserved names" 0 "201087 -> '<\|reserved_201087\|>'" \
    "$ferry" tokenize -m "$m" --special -p "a<|reserved_200019|><|reserved_201087|>"
printf 'def f(x):\n    return x**2\n' > "$tmp/code.txt"
expect "tokenize -f" 0 '^1314,285,4061,1883,271,622,1215,410,17,198$' \
    "$ferry" tokenize -m "$m" -f "$tmp/code.txt" --ids
expect "tokenize pieces" 0 "13225 -> 'Hello'" "$ferry" tokenize -m "$m" -p "Hello"

# run -p: echoes the prompt, streams text, same seed same text, other seed other text
a=$("$ferry" run -m "$m" -p "The capital of France is" -n 12 -s 42 2>/dev/null)
b=$("$ferry" run -m "$m" -p "The capital of France is" -n 12 -s 42 2>/dev/null)
c=$("$ferry" run -m "$m" -p "The capital of France is" -n 12 -s 43 2>/dev/null)
[[ "$a" == "The capital of France is"* ]] && ok "run -p echoes the prompt" || bad "run -p echo: $a"
[ "$a" = "$b" ] && ok "run -p same seed, same text" || bad "run -p seed: '$a' vs '$b'"
[ "$a" != "$c" ] && ok "run -p other seed, other text" || bad "run -p seeds 42 and 43 agree"
[ ${#a} -gt 26 ] && ok "run -p generated text" || bad "run -p generated nothing: '$a'"
ids=$("$ferry" run -m "$m" -p "The capital of France is" -n 12 -s 42 --ids 2>/dev/null)
[[ "$ids" =~ ^[0-9]+(,[0-9]+){11}$ ]] && ok "run --ids prints 12 ids" || bad "run --ids: $ids"

# token ids in, greedy ids out; logits file of the right size
g1=$("$ferry" run -m "$m" --tokens 1,2,3 -n 5 --ignore-eos 2>/dev/null)
g2=$("$ferry" run -m "$m" --tokens 1,2,3 -n 5 --ignore-eos -t 1 -ub 1 2>/dev/null)
[[ "$g1" =~ ^[0-9]+(,[0-9]+){4}$ ]] && [ "$g1" = "$g2" ] && ok "run --tokens greedy, stable" \
    || bad "run --tokens: '$g1' vs '$g2'"
"$ferry" logits -m "$m" --tokens 1,2,3 -o "$tmp/l.bin" 2>/dev/null
[ "$(stat -c %s "$tmp/l.bin" 2>/dev/null)" = $((3 * 201088 * 4)) ] && ok "logits file size" \
    || bad "logits file size"
expect "logits bad id" 1 'id 201088 is outside the vocabulary' \
    "$ferry" logits -m "$m" --tokens 1,201088 -o "$tmp/l2.bin"
[ -z "$(find "$tmp" -maxdepth 1 -name 'l2.bin*')" ] && ok "no file left on error" \
    || bad "a file was left after an error"
# an -o that cannot be written fails before the model loads: exit 1, -o and the path named,
# fast, nothing left behind
for o in "$tmp/nodir/l.bin" "$tmp" "$m/l.bin"; do
    start=$(date +%s%N)
    out=$("$ferry" logits -m "$m" --tokens "$(seq -s, 1 64)" -o "$o" 2>&1)
    rc=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    if [ $rc = 1 ] &&
        grep -Eq -- "-o $o: (cannot create|is a directory|cannot use as output)" <<< "$out" &&
        [ $ms -lt 3000 ] && [ -z "$(find "$tmp" -maxdepth 1 -name '*.tmp*')" ]; then
        ok "logits -o $o fails fast ($ms ms)"
    else
        bad "logits -o $o (exit $rc, $ms ms; output: $(head -c 300 <<< "$out"))"
    fi
done

# -tb (threads for micro-batches of more than one token): accepted, checked, and the logits do
# not depend on the thread counts (rows are split over threads, each row computed the same way)
"$ferry" logits -m "$m" --tokens 1,2,3,4,5,6 -ub 4 -t 2 -o "$tmp/t2.bin" 2>/dev/null
"$ferry" logits -m "$m" --tokens 1,2,3,4,5,6 -ub 4 -t 1 -tb 2 -o "$tmp/tb.bin" 2>/dev/null
cmp -s "$tmp/t2.bin" "$tmp/tb.bin" && ok "logits with -t 1 -tb 2 equal -t 2" \
    || bad "logits differ with -t 1 -tb 2"
expect "bad -tb" 2 'flag -tb: "0" is not an integer in \[1, 4096\]' \
    "$ferry" run -m "$m" --tokens 1,2 -n 1 -tb 0

# placement flags: without a GPU they need --test-gpu; with it the logits are the CPU's, exactly
"$ferry" logits -m "$m" --tokens 1,2,3,4,5,6,7,8,9,10 -ub 4 -o "$tmp/cpu.bin" 2>/dev/null
for recipe in "-ngl 99" "-ngl 99 -ot exps=CPU --offload-threshold 4" "--n-cpu-moe 2 -ngl 3"; do
    # shellcheck disable=SC2086
    "$ferry" logits -m "$m" --tokens 1,2,3,4,5,6,7,8,9,10 -ub 4 $recipe --test-gpu \
        -o "$tmp/gpu.bin" 2>/dev/null
    cmp -s "$tmp/cpu.bin" "$tmp/gpu.bin" && ok "logits with $recipe --test-gpu equal the CPU's" \
        || bad "logits with $recipe --test-gpu differ"
done
# --no-mmap (the file read into memory) and --mlock give the same logits
"$ferry" logits -m "$m" --tokens 1,2,3,4,5,6,7,8,9,10 -ub 4 --no-mmap --mlock -o "$tmp/nommap.bin" \
    2>/dev/null && cmp -s "$tmp/cpu.bin" "$tmp/nommap.bin" && ok "--no-mmap --mlock: same logits" \
    || bad "--no-mmap --mlock: logits differ or failed"
# without a GPU, placement flags run on the CPU with one warning, and give the CPU's logits
"$ferry" logits -m "$m" --tokens 1,2,3 -o "$tmp/cpu3.bin" 2>/dev/null
expect "placement without a GPU: the CPU" 0 'no GPU (found|support in this build).*running everything on the CPU; the placement would put [0-9.]+ GiB on GPU0' \
    "$ferry" logits -m "$m" --tokens 1,2,3 -ngl 99 -ot exps=CPU -o "$tmp/x.bin"
cmp -s "$tmp/cpu3.bin" "$tmp/x.bin" && ok "placement without a GPU: the CPU's logits" \
    || bad "placement without a GPU: logits differ from the CPU's"
expect "-dev none" 0 '-dev none: running everything on the CPU' \
    "$ferry" logits -m "$m" --tokens 1,2,3 -ngl 99 -dev none -o "$tmp/x.bin"
expect "bad -dev" 2 'flag -dev: "TPU0" is not a device' \
    "$ferry" run -m "$m" -p hi -dev TPU0
expect "bad -ot device" 2 'CUDA7' "$ferry" run -m "$m" -p hi -ot "exps=CUDA7" --test-gpu

# the GPU code through the command line, on the CPU emulator (ferry-emu: the same program linked
# with the emulator): per-row relative error < 1e-2 and the same arg-max as the CPU
emu=$(dirname "$ferry")/ferry-emu
if [ -x "$emu" ]; then
    for recipe in "-ngl 99" "-ngl 99 -ot exps=CPU --offload-threshold 4" "--n-cpu-moe 2 -ngl 3" \
        "-ngl 99 -nkvo" "-ngl 2 -ot exps=CPU -nkvo"; do
        # shellcheck disable=SC2086
        "$emu" logits -m "$m" --tokens 1,2,3,4,5,6,7,8,9,10 -ub 4 $recipe -o "$tmp/emu.bin" \
            2>"$tmp/emu.log" &&
        /usr/bin/python3 - "$tmp/cpu.bin" "$tmp/emu.bin" <<'PY' && ok "ferry-emu logits $recipe match the CPU's" || bad "ferry-emu logits $recipe (log: $(tail -3 "$tmp/emu.log"))"
import sys, numpy as np
a, b = (np.fromfile(p, dtype=np.float32) for p in sys.argv[1:3])
assert a.shape == b.shape and a.size > 0, (a.shape, b.shape)
rows_a = a.reshape(-1, a.size // 10) if a.size % 10 == 0 else a.reshape(1, -1)
rows_b = b.reshape(rows_a.shape)
rel = np.linalg.norm(rows_a - rows_b, axis=1) / np.linalg.norm(rows_a, axis=1)
assert rel.max() < 1e-2, rel.max()
assert (rows_a.argmax(1) == rows_b.argmax(1)).all()
PY
    done
fi

# --fit (default on with a GPU): no placement flags -> the fastest placement that fits the
# GPU's free memory (the emulator's capacity, FY_EMU_MEM_MB), said on one line, right logits
if [ -x "$emu" ]; then
    for c in "64|-ngl 99 -c 10" "48|-ngl 3 --cpu-moe -c 10"; do
        mb=${c%%|*} want=${c#*|}
        FY_EMU_MEM_MB=$mb "$emu" logits -m "$m" --tokens 1,2,3,4,5,6,7,8,9,10 -ub 4 --fit-target 0 \
            -o "$tmp/fit.bin" 2>"$tmp/fit.log"
        grep -q -- "--fit: $want (GPU0" "$tmp/fit.log" && grep -q "MoE layer runs" "$tmp/fit.log" \
            && ok "--fit in $mb MiB: $want" || bad "--fit in $mb MiB: $(grep -- --fit "$tmp/fit.log")"
        /usr/bin/python3 - "$tmp/cpu.bin" "$tmp/fit.bin" <<'PY' \
            && ok "--fit in $mb MiB: logits match the CPU's" || bad "--fit in $mb MiB: logits differ"
import sys, numpy as np
a, b = (np.fromfile(p, dtype=np.float32).reshape(10, -1) for p in sys.argv[1:3])
rel = np.linalg.norm(a - b, axis=1) / np.linalg.norm(a, axis=1)
assert rel.max() < 1e-2 and (a.argmax(1) == b.argmax(1)).all(), rel.max()
PY
    done
    "$emu" run -m "$m" -p hi -n 2 --fit off 2>"$tmp/fit.log" >/dev/null
    ! grep -q "GPU0" "$tmp/fit.log" && ok "--fit off: the CPU only" || bad "--fit off used GPU0"
fi

# synth --sparse-experts: same file size and bytes except the expert weights, which are holes
"$ferry" synth --preset tiny --toy-vocab 2000 -q -o "$tmp/full.gguf" &&
"$ferry" synth --preset tiny --toy-vocab 2000 --sparse-experts -q -o "$tmp/se.gguf" &&
/usr/bin/python3 - "$tmp/full.gguf" "$tmp/se.gguf" <<'PY' && ok "synth --sparse-experts: holes for *_exps.weight only" || bad "synth --sparse-experts"
import os, struct, sys
full, se = (open(p, "rb").read() for p in sys.argv[1:3])
assert len(full) == len(se), "sizes differ"
# walk the GGUF header for the tensor table (v3: counts are u64)
def rd(fmt, o): return struct.unpack_from("<" + fmt, full, o), o + struct.calcsize("<" + fmt)
(magic, ver, nt, nkv), o = rd("IIQQ", 0)
def skip_val(t, o):
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    if t in sizes: return o + sizes[t]
    if t == 8: (n,), o = rd("Q", o); return o + n
    (et, n), o = rd("IQ", o)
    for _ in range(n): o = skip_val(et, o)
    return o
align = 32
for _ in range(nkv):
    (n,), o = rd("Q", o); o += n
    (t,), o = rd("I", o); o = skip_val(t, o)
tensors = []
for _ in range(nt):
    (n,), o = rd("Q", o); name = full[o:o + n].decode(); o += n
    (nd,), o = rd("I", o); o += 8 * nd
    (ty, off), o = rd("IQ", o)
    tensors.append((off, name))
data = (o + align - 1) // align * align
tensors.sort()
bounds = [t[0] for t in tensors[1:]] + [len(full) - data]
nexp = 0
for (off, name), end in zip(tensors, bounds):
    a, b = full[data + off:data + end], se[data + off:data + end]
    if "_exps.weight" in name:
        nexp += 1
        assert b.count(0) == len(b) and a.count(0) < len(a), name
    else:
        assert a == b, name
assert nexp > 0 and se[:data] == full[:data]
blocks = lambda p: os.stat(p).st_blocks
assert blocks(sys.argv[2]) < blocks(sys.argv[1]), "no hole on disk"
PY

[ $fail = 0 ] && echo "cli: all checks passed"
exit $fail
