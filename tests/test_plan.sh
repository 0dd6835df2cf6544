#!/usr/bin/env bash
# ferry plan on sparse 20b and 120b presets (real vocabulary, metadata only on disk):
#  - every recipe's JSON against the committed golden tests/data/plan_<model>_<recipe>.json
#    (model path normalized to "MODEL"); regenerate with: test_plan.sh FERRY VOCAB SRC --regen
#  - per-device totals add up to the sum of the tensor sizes, read from the GGUF by Python
#  - with --tensors, every tensor's size matches the file and the groups agree with the list
#  - the 120b plan takes well under a second; errors name the flag
#  - the sliding-window rings' KV figure at -c 131072 against --swa-full's
# usage: test_plan.sh FERRY VOCAB SRCDIR [--regen]     exit 0 pass, 77 skip, 1 fail
set -uo pipefail
ferry=$1 vocab=$2 src=$3 regen=${4:-}
py=/usr/bin/python3
[ -f "$vocab" ] || { echo "skip: vocabulary $vocab absent"; exit 77; }
[ -x "$py" ] || { echo "skip: $py absent"; exit 77; }
tmp=$(mktemp -d /tmp/ferry-plan.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=testlib.sh
source "$(dirname "$0")/testlib.sh"
# the goldens have no NUMA section: one (pretend) node whatever the machine (test_numa_cli.sh
# checks the section)
export FY_NUMA_FAKE=1

for m in 20b 120b; do
    "$ferry" synth --preset $m --sparse --vocab "$vocab" -q -o "$tmp/$m.gguf" >/dev/null || exit 1
done
du -k "$tmp/120b.gguf" | awk '$1 < 65536 { exit 0 } { exit 1 }' \
    && ok "sparse 120b is small on disk" \
    || bad "sparse 120b takes $(du -h "$tmp/120b.gguf" | cut -f1) on disk"

recipes=(
    "default|"
    "ngl99|-ngl 99"
    "cpumoe|-ngl 99 --cpu-moe"
    "otexps|-ngl 99 -ot exps=CPU"
    "ncmoe10|-ngl 99 --n-cpu-moe 10"
)

# check.py GGUF PLAN.json [MODE]: totals against the file's tensor sizes
cat > "$tmp/check.py" <<'EOF'
import json, mmap, struct, sys

def tensor_sizes(path):
    """name -> bytes, from the GGUF tensor-info table (gpt-oss.md §2)."""
    blocks = {0: (1, 4), 1: (1, 2), 8: (32, 34), 30: (1, 2), 39: (32, 17)}
    fixed = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    pos = 0
    def u(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, mm, pos)
        pos += struct.calcsize(fmt)
        return v[0]
    def skip_str():
        nonlocal pos
        n = struct.unpack_from("<Q", mm, pos)[0]
        pos += 8 + n
    def skip_val(t):
        nonlocal pos
        if t == 8:
            skip_str()
        elif t == 9:
            et, n = u("I"), u("Q")
            if et == 8:
                for _ in range(n):
                    skip_str()
            else:
                pos += fixed[et] * n
        else:
            pos += fixed[t]
    assert u("I") == 0x46554747 and u("I") == 3
    n_t, n_kv = u("Q"), u("Q")
    for _ in range(n_kv):
        skip_str()
        skip_val(u("I"))
    sizes = {}
    for _ in range(n_t):
        n = u("Q")
        name = mm[pos:pos + n].decode()
        pos += n
        nd = u("I")
        ne = [u("Q") for _ in range(nd)]
        typ = u("I")
        u("Q")
        el = 1
        for x in ne:
            el *= x
        be, bb = blocks[typ]
        sizes[name] = el // be * bb
    return sizes

sizes = tensor_sizes(sys.argv[1])
plan = json.load(open(sys.argv[2]))
errs = []
def want(cond, msg):
    if not cond:
        errs.append(msg)
total = sum(sizes.values())
want(plan["model"]["tensor_bytes"] == total, "tensor_bytes %d != file %d"
     % (plan["model"]["tensor_bytes"], total))
want(plan["model"]["n_tensors"] == len(sizes), "n_tensors")
devs = {d["device"]: d for d in plan["devices"]}
want(sum(d["weights"] for d in devs.values()) == total,
     "device weights sum %d != file %d" % (sum(d["weights"] for d in devs.values()), total))
for name, d in devs.items():
    g = [x for x in plan["groups"] if x["device"] == name]
    want(d["weights"] == sum(x["bytes"] for x in g if not x["copy"]), name + " weights vs groups")
    want(d["dup_bias"] == sum(x["bytes"] for x in g if x["copy"]), name + " dup vs groups")
    want(d["total"] == d["weights"] + d["dup_bias"] + d["kv_cache"] + d["compute"], name + " total")
want(sum(x["tensors"] for x in plan["groups"] if not x["copy"]) == len(sizes), "group counts")
want(plan["dup_bias"]["bytes"] == sum(d["dup_bias"] for d in devs.values()), "dup_bias")
n_layer, ctx = plan["model"]["n_layer"], plan["options"]["ctx"]
# full layers (odd) keep ctx slots, sliding-window layers (even) a ring of 128 + ub rounded up
ub = min(plan["options"]["ubatch"], ctx)
ring = min(ctx, (128 + ub + 31) // 32 * 32)
slots = (n_layer // 2) * ctx + ((n_layer + 1) // 2) * ring
want(sum(d["kv_cache"] for d in devs.values()) == 2 * slots * 512 * 2, "KV cache f16")
if "tensors" in plan:
    want(len(plan["tensors"]) == len(sizes), "tensor list length")
    for t in plan["tensors"]:
        want(sizes.get(t["name"]) == t["bytes"], "size of " + t["name"])
    for name, d in devs.items():
        want(d["weights"] == sum(t["bytes"] for t in plan["tensors"] if t["device"] == name),
             name + " weights vs tensor list")
        want(d["dup_bias"] == sum(t["bytes"] for t in plan["tensors"]
                                  if t["copy_device"] == name), name + " dup vs tensor list")
mode = sys.argv[3] if len(sys.argv) > 3 else ""
E = plan["model"]["n_expert"]
if mode == "cpumoe":  # hybrid.md §4: 3 x 2880 x E x 4 B per layer, on the CPU
    want(devs["CPU"]["dup_bias"] == n_layer * 3 * 2880 * E * 4, "cpumoe dup bytes")
if mode == "default":
    want(devs["GPU0"]["weights"] == 0, "default: nothing on GPU0")
print("\n".join(errs) if errs else "totals ok (%d tensors, %d bytes)" % (len(sizes), total))
sys.exit(1 if errs else 0)
EOF

# normalize: the model path field becomes "MODEL"
norm() { sed -e "s|\"path\": \"[^\"]*\"|\"path\": \"MODEL\"|" "$1"; }

for m in 20b 120b; do
    for r in "${recipes[@]}"; do
        name=${r%%|*} args=${r#*|}
        out=$tmp/plan_${m}_$name.json
        # shellcheck disable=SC2086
        "$ferry" plan -m "$tmp/$m.gguf" $args --vram 24G --json > "$out" 2> "$tmp/err"
        rc=$?
        fits=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["vram"]["fits"])' "$out" 2>/dev/null)
        if [ $rc != 0 ] && ! { [ $rc = 3 ] && [ "$fits" = False ]; }; then
            bad "$m $name: ferry plan failed (exit $rc, fits $fits): $(head -c 300 "$tmp/err")"
            continue
        fi
        res=$("$py" "$tmp/check.py" "$tmp/$m.gguf" "$out" "$name" 2>&1) \
            && ok "$m $name: $res" || bad "$m $name: $res"
        golden=$src/tests/data/plan_${m}_$name.json
        if [ "$regen" = "--regen" ]; then
            norm "$out" > "$golden" && echo "wrote $golden"
        elif [ ! -f "$golden" ]; then
            bad "$m $name: golden $golden missing (run with --regen)"
        elif diff -u "$golden" <(norm "$out") > "$tmp/diff"; then
            ok "$m $name: matches $(basename "$golden")"
        else
            bad "$m $name: differs from $(basename "$golden"):"
            head -40 "$tmp/diff"
        fi
    done
done

# sliding-window rings: on the 20b at -c 131072 the 12 sliding layers keep 128 + 512 slots each,
# KV <= 55% of the full caches (--swa-full: 24 layers x 131072 slots x 512 x 2 B x K and V)
kv_of() { "$py" -c 'import json, sys; print(sum(d["kv_cache"] for d in json.load(sys.stdin)["devices"]))'; }
ring=$("$ferry" plan -m "$tmp/20b.gguf" -ngl 99 -c 131072 --json 2>/dev/null | kv_of)
full=$("$ferry" plan -m "$tmp/20b.gguf" -ngl 99 -c 131072 --swa-full --json 2>/dev/null | kv_of)
if [ "$full" = 6442450944 ] && [ "$ring" = $((2 * 1024 * (12 * 131072 + 12 * 640))) ] &&
    [ $((ring * 100)) -le $((full * 55)) ]; then
    ok "20b -c 131072: KV $ring B with rings, $full B with --swa-full ($((ring * 1000 / full)) per mille)"
else
    bad "20b -c 131072: KV $ring B with rings, $full B with --swa-full"
fi

# the per-tensor list agrees with the file and the groups
"$ferry" plan -m "$tmp/120b.gguf" -ngl 20 --n-cpu-moe 4 -ot 'blk\.3[0-5]\.ffn_up=CPU' \
    --tensors --json > "$tmp/t.json" 2>/dev/null
res=$("$py" "$tmp/check.py" "$tmp/120b.gguf" "$tmp/t.json" 2>&1) && ok "--tensors: $res" \
    || bad "--tensors: $res"

# metadata only: well under a second for the 120b
t0=$(date +%s%N)
"$ferry" plan -m "$tmp/120b.gguf" -ngl 99 --cpu-moe > /dev/null || bad "plan 120b failed"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $ms -lt 500 ] && ok "plan on the 120b takes $ms ms" || bad "plan on the 120b takes $ms ms"

# --kv-type q8_0 (and llama.cpp's -ctk/-ctv): a row of 512 is 16 blocks of 34 bytes
for args in "--kv-type q8_0" "-ctk q8_0 -ctv q8_0" "--cache-type-v q8_0"; do
    # shellcheck disable=SC2086
    "$ferry" plan -m "$tmp/20b.gguf" -ngl 99 -c 8192 $args --json > "$tmp/q8.json" 2>&1
    res=$("$py" - "$tmp/q8.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
kv = sum(d["kv_cache"] for d in p["devices"])
n = p["model"]["n_layer"]   # full layers 8192 slots, sliding-window layers 128 + 512
want = 2 * ((n // 2) * 8192 + ((n + 1) // 2) * 640) * (512 // 32 * 34)
ok = p["options"]["kv_type"] == "q8_0" and kv == want
print("kv_type %s, KV %d bytes (want %d)" % (p["options"]["kv_type"], kv, want))
sys.exit(0 if ok else 1)
PY
) && ok "plan $args: $res" || bad "plan $args: $res"
done
expect "plan: -ctk and -ctv differ" 2 'flags -ctk q8_0 and --cache-type-v f16 differ' \
    "$ferry" plan -m "$tmp/20b.gguf" -ctk q8_0 --cache-type-v f16
expect "plan: bad --kv-type" 2 'flag --kv-type: "q4_0" is not one of f16, f32, q8_0' \
    "$ferry" plan -m "$tmp/20b.gguf" --kv-type q4_0
"$ferry" synth --preset tiny --heads 4 --kv-heads 1 --head-dim 40 --sparse --toy-vocab 300 -q \
    -o "$tmp/w40.gguf" || bad "synth head_dim 40"
expect "plan: q8_0 needs whole blocks" 1 'a Q8_0 KV cache needs a row width \(n_head_kv \* head_dim = 40\) that is a multiple of 32' \
    "$ferry" plan -m "$tmp/w40.gguf" --kv-type q8_0

# the text report and errors
out=$("$ferry" plan -m "$tmp/20b.gguf" -ngl 99 --cpu-moe --vram 8G 2>&1)
grep -q "duplicated expert biases: 72 tensors, 26.5 MB" <<< "$out" && ok "text: duplicated biases" \
    || bad "text report: $(head -c 400 <<< "$out")"
grep -Eq "blk\.0-23 +ffn_\*_exps\.weight +MXFP4 +72 +9\.46 GiB +CPU" <<< "$out" \
    && ok "text: expert group row" || bad "text: no expert group row"
grep -q "threshold 34 tokens: cost model" <<< "$out" && ok "text: threshold" \
    || bad "text: threshold line"
err=$("$ferry" plan -m "$tmp/20b.gguf" -ot 'blk.(=CPU' 2>&1)
[ $? = 2 ] && grep -q 'flag -ot: bad regular expression "blk.(" at offset 5: missing closing' \
    <<< "$err" && ok "bad regex" || bad "bad regex: $err"
err=$("$ferry" plan -m "$tmp/20b.gguf" -ot 'exps=CUDA1' 2>&1)
grep -q 'unknown device "CUDA1" in "exps=CUDA1"; valid devices: CPU, GPU0 (aliases CUDA0, ROCm0)' \
    <<< "$err" && ok "unknown device" || bad "unknown device: $err"
err=$("$ferry" plan -m "$tmp/20b.gguf" -ot 'nothing=CPU' 2>&1 >/dev/null)
grep -q 'warning: flag -ot: rule 1 "nothing=CPU" matches no tensor' <<< "$err" \
    && ok "rule without a match warns" || bad "no warning: $err"
err=$("$ferry" plan 2>&1)
[ $? = 2 ] && grep -q "plan: -m MODEL is required" <<< "$err" && ok "no -m" || bad "no -m: $err"
"$ferry" plan -h | grep -q "blk.0 .. blk.N-1" && ok "-h names the --n-cpu-moe layers" \
    || bad "-h does not say which layers --n-cpu-moe takes"

# --fit: the chosen flags of every preset and size against tests/data/plan_fit.txt; the chosen
# placement's GPU0 total within --vram less the 1 GiB margin; the next faster candidate not
# (--n-cpu-moe N: N - 1 does not fit; --cpu-moe: --n-cpu-moe n_layer - 1 does not)
gpu_total() { "$py" -c 'import json,sys; d=json.load(open(sys.argv[1]))
print([x["total"] for x in d["devices"] if x["device"] == "GPU0"][0])' "$1"; }
fit_out=$tmp/plan_fit.txt
: > "$fit_out"
for m in 20b 120b; do
    nl=$([ $m = 20b ] && echo 24 || echo 36)
    for v in 8 12 16 24 48 80; do
        line=$("$ferry" plan -m "$tmp/$m.gguf" --vram ${v}G --fit 2>&1 | grep '^fit:')
        flags=$(sed -n 's/.*ferry run -m [^ ]* //p' <<< "$line")
        echo "$m ${v}G: ${flags:-$line}" >> "$fit_out"
        [ -n "$flags" ] || { bad "$m ${v}G: no fit: $line"; continue; }
        # shellcheck disable=SC2086
        "$ferry" plan -m "$tmp/$m.gguf" $flags --vram ${v}G --json > "$tmp/f.json" 2>/dev/null             || { bad "$m ${v}G: the chosen flags do not fit: $flags"; continue; }
        tot=$(gpu_total "$tmp/f.json")
        [ "$tot" -le $(( (v - 1) << 30 )) ] && ok "$m ${v}G: $flags: GPU0 $tot B fits"             || bad "$m ${v}G: $flags: GPU0 $tot B over $(( (v - 1) << 30 ))"
        faster=
        if grep -q -- '--cpu-moe' <<< "$flags"; then faster="--n-cpu-moe $((nl - 1))"
        elif n=$(grep -o -- '--n-cpu-moe [0-9]*' <<< "$flags" | cut -d' ' -f2) && [ -n "$n" ]; then
            faster=$([ "$n" -gt 1 ] && echo "--n-cpu-moe $((n - 1))"); fi
        if grep -q -- '-ngl 99' <<< "$flags" && grep -q -- 'moe' <<< "$flags"; then
            # shellcheck disable=SC2086
            "$ferry" plan -m "$tmp/$m.gguf" -ngl 99 $faster --json > "$tmp/g.json" 2>/dev/null
            t2=$(gpu_total "$tmp/g.json")
            [ "$t2" -gt $(( (v - 1) << 30 )) ] && ok "$m ${v}G: -ngl 99 ${faster:-(all)} would not fit"                 || bad "$m ${v}G: -ngl 99 ${faster:-(all)} fits too ($t2 B): not the fastest"
        fi
    done
done
golden=$src/tests/data/plan_fit.txt
if [ "$regen" = "--regen" ]; then
    cp "$fit_out" "$golden" && echo "wrote $golden"
elif diff -u "$golden" "$fit_out" > "$tmp/diff"; then
    ok "--fit choices match plan_fit.txt"
else
    bad "--fit choices differ from plan_fit.txt:"; cat "$tmp/diff"
fi
# nothing fits: said, exit 3; a placement that does not fit: exit 3 and the fitting flags
out=$("$ferry" plan -m "$tmp/120b.gguf" --vram 1500M --fit 2>&1)
[ $? = 3 ] && grep -q "fit: nothing fits" <<< "$out" && ok "--fit: nothing fits 1.5G, exit 3" \
    || bad "--fit 1.5G: $(tail -2 <<< "$out")"
out=$("$ferry" plan -m "$tmp/20b.gguf" -ngl 99 --vram 8G 2>&1)
[ $? = 3 ] && grep -q "fit: this fits: .* -ngl 99 --n-cpu-moe 13 -c 4096" <<< "$out" \
    && ok "-ngl 99 in 8G: exit 3 and the fitting flags" || bad "no fit hint: $(tail -2 <<< "$out")"
err=$("$ferry" plan -m "$tmp/20b.gguf" --fit 2>&1)
[ $? = 2 ] && grep -q -- "--fit needs --vram" <<< "$err" && ok "--fit without --vram: exit 2" \
    || bad "--fit without --vram: $err"

[ $fail = 0 ] && echo "plan: all checks passed"
exit $fail
