#!/usr/bin/env bash
# Command lines as llama.cpp / ik_llama.cpp users type them (their READMEs and the gpt-oss hybrid
# recipes, hybrid.md), run on a machine without a GPU (CUDA/HIP devices hidden): each must exit
# 0, and those with placement flags must say once that everything runs on the CPU.
# usage: test_llama_flags.sh FERRY VOCAB       exit 0 pass, 77 skip, 1 fail
set -uo pipefail
ferry=$1 vocab=$2
[ -f "$vocab" ] || { echo "skip: vocabulary $vocab absent"; exit 77; }
tmp=$(mktemp -d /tmp/ferry-llama.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=testlib.sh
source "$(dirname "$0")/testlib.sh"
export CUDA_VISIBLE_DEVICES="" HIP_VISIBLE_DEVICES="" ROCR_VISIBLE_DEVICES=""

"$ferry" synth --preset tiny --seed 5 --vocab "$vocab" -q -o "$tmp/m.gguf" || exit 1
m=$tmp/m.gguf
cpu='running everything on the CPU'

# NAME | PATTERN the output must match | the arguments after `ferry`
cases=(
"hybrid recipe, q8_0 KV|$cpu|run -m $m -ngl 99 -ot exps=CPU -fa on -ctk q8_0 -ctv q8_0 -c 8192 -p hello -n 8"
"--n-cpu-moe with a big -ub|$cpu|run -m $m -ngl 99 --n-cpu-moe 10 -ub 2048 -b 2048 -p hello -n 8"
"--cpu-moe, gpt-oss sampling|$cpu|run -m $m --cpu-moe -ngl 99 -c 4096 --temp 1.0 --top-p 1.0 --top-k 0 -p hello -n 8"
"ik's -fmoe style flags we share|$cpu|run -m $m -ngl 999 -ot exps=CPU -fa -t 2 -tb 2 --no-mmap -p hello -n 4"
"--mlock|hello|run -m $m --mlock -p hello -n 4"
"-dev none|-dev none: $cpu|run -m $m -dev none -ngl 99 -p hello -n 4"
"-nkvo|$cpu|run -m $m -ngl 99 -nkvo -p hello -n 4"
"-ts on one GPU|hello|run -m $m -ts 1 --color -p hello -n 4"
"--predict, -no-cnv, -r|hello|run -m $m --predict 4 -no-cnv -r zzzz -p hello"
"--jinja --chat-template|harmony renderer|run -m $m --jinja --chat-template chatml -p hello -n 4"
"-v|debug: session: context [0-9]+|run -m $m -v -p hello -n 2"
"-cnv -sys -p -st (conversation)|generation [0-9]+ tokens|run -m $m -cnv -sys \"Answer briefly.\" -p hello -st -n 6"
"chat -sys -fa --jinja|generation [0-9]+ tokens|chat -m $m -ngl 99 -fa on --jinja -sys \"Be terse.\" -p hello -st -n 6"
"chat -i -ctk q8_0|generation [0-9]+ tokens|chat -m $m -i -ctk q8_0 -ctv q8_0 -p hello -st -n 6"
"-n past the context|the context is full \\(-c 16\\)|run -m $m -c 16 -n 64 -p hello"
"--context-shift|context shifts: [1-9]|run -m $m -c 16 -n 40 --context-shift --keep 1 -p hello"
"llama-bench style|pp16|bench -m $m -ngl 99 -ot exps=CPU -fa 1 -p 16 -n 4 -r 1"
"llama-sweep-bench style|N_KV|sweep-bench -m $m -c 256 -ub 128 -ngl 99 --n-cpu-moe 2 -fa on"
"logits with placement|$cpu|logits -m $m --tokens 1,2,3 -ngl 99 -ot exps=CPU -nkvo -o $tmp/l.bin"
"plan: the flags that fit|fit: this fits: .* -ngl [0-9]+ --cpu-moe|plan -m $m -ngl 99 --vram 80M --fit-target 0"
)
for c in "${cases[@]}"; do
    name=${c%%|*} rest=${c#*|}
    pat=${rest%%|*} args=${rest#*|}
    out=$(eval "\"\$ferry\" $args" 2>&1 < /dev/null)
    rc=$?
    want=0
    [ "${args%% *}" = plan ] && want=$rc # plan: 0 or 3 by the size of the tiny model
    if [ $rc = "$want" ] && grep -Eq -- "$pat" <<< "$out"; then ok "$name"
    else bad "$name: exit $rc; wanted /$pat/ in: $(head -c 500 <<< "$out")"; fi
    n=$(grep -c "$cpu" <<< "$out")
    [ "$n" -le 1 ] || bad "$name: the CPU warning came $n times"
done

# unknown flags still fail, naming the flag
expect "unknown flag" 2 'unknown flag --frobnicate' "$ferry" run -m "$m" -p hi --frobnicate
expect "-ctk and -ctv differ" 2 '-ctk.*-ctv|-ctv.*-ctk' "$ferry" run -m "$m" -p hi -ctk q8_0 -ctv f16
expect "bad -fa value is not taken" 0 'hello' "$ferry" run -m "$m" -fa on -p hello -n 2

[ $fail = 0 ] && echo "llama.cpp command lines: all passed"
exit $fail
