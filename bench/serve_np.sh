#!/usr/bin/env bash
# ferry serve -np: 8 concurrent streamed requests against one request alone and against the same
# 8 requests one after another, on one server with -np 8 (a benchmark, not a timed test).
# Prints the three wall times, the generated tokens and the ratios; each phase sends prompts
# no other phase sent (raw completions that start differently: no slot's cache helps).
#   bash bench/serve_np.sh [-m MODEL] [-n MAX_TOKENS] [-np N] [-c CTX] [-o OUT_DIR]
#                          [--ferry FERRY] [-- SERVE_FLAGS...]
# MODEL defaults to a tiny synthetic model made here (ferry synth --preset tiny); -n 16,
# -np 8, -c 512 x N; OUT_DIR (optional) receives cmd.txt (the command, git describe, the CPU)
# and output.txt. SERVE_FLAGS go to ferry serve as they are (-t 2, -ngl 99 ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ferry=$root/build/ferry model= n=16 np=8 ctx= out=
while [ $# -gt 0 ]; do
    case $1 in
    -m) model=$2; shift 2 ;;
    -n) n=$2; shift 2 ;;
    -np) np=$2; shift 2 ;;
    -c) ctx=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    --ferry) ferry=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "serve_np.sh: unknown argument $1 (see -h)" >&2; exit 2 ;;
    esac
done
ctx=${ctx:-$((512 * np))}
work=$(mktemp -d "$root/build/serve-np.XXXXXX") # build/: /tmp may be noexec, and it is big
trap 'if [ -n "$pid" ]; then kill "$pid"; wait "$pid"; fi 2>/dev/null; rm -rf "$work"' EXIT
pid=
label=$model
if [ -z "$model" ]; then
    label="tiny synthetic (ferry synth --preset tiny --seed 5)"
    model=$work/tiny.gguf
    "$ferry" synth --preset tiny --seed 5 --vocab "$root/data/o200k_base.tiktoken" -q -o "$model"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
serve=("$ferry" serve -m "$model" --port "$port" -np "$np" -c "$ctx" --queue "$np" "$@")
"${serve[@]}" >"$work/serve.out" 2>"$work/serve.err" &
pid=$!
for _ in $(seq 1 600); do # a large model takes a while to map
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/serve.err"; exit 1; }
    sleep 0.5
done
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
report=$(python3 - "$port" "$n" "$np" "$label" "$cpu" "$(nproc)" <<'PY'
import json, sys, threading, time, urllib.request
port, n, np_, model, cpu, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:]
base = "http://127.0.0.1:%s/v1/completions" % port
words = ["Once", "The", "In", "A", "Seven", "Under", "North", "Quiet", "Blue", "Paper", "River",
         "Stone", "Music", "Garden", "Light", "Over", "After", "Before", "Every", "Some", "When",
         "Where", "Many", "Few", "Long", "Short"]
used = iter(words)

def one(prompt):
    """one streamed completion: (seconds to the end, tokens generated)"""
    body = {"prompt": prompt + " upon a time there was", "max_tokens": n, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}}
    r = urllib.request.Request(base, data=json.dumps(body).encode(),
                               headers={"Content-Type": "application/json"})
    t0 = time.time()
    toks = 0
    with urllib.request.urlopen(r, timeout=3600) as f:
        for line in f:
            line = line.decode().strip()
            if line.startswith("data: {"):
                c = json.loads(line[6:])
                if c.get("usage"):
                    toks = c["usage"]["completion_tokens"]
    return time.time() - t0, toks

one(next(used))                      # warm-up (pages the weights in)
t1, k1 = one(next(used))             # one alone
t0 = time.time()                     # np in a row
ks = [one(next(used))[1] for _ in range(np_)]
tseq, kseq = time.time() - t0, sum(ks)
prompts = [next(used) for _ in range(np_)]
res = [None] * np_
go = threading.Barrier(np_)
def run(i):
    go.wait()
    res[i] = one(prompts[i])
ts = [threading.Thread(target=run, args=(i,)) for i in range(np_)]
t0 = time.time()
for t in ts:
    t.start()
for t in ts:
    t.join()
tcon, kcon = time.time() - t0, sum(r[1] for r in res)
print("model %s, -np %d, max_tokens %d; CPU %s (%s cores seen; shared with other work: the "
      "times are noisy)" % (model, np_, n, cpu, cores))
print("| run | wall s | tokens | t/s |")
print("|---|---|---|---|")
for name, t, k in (("1 request alone", t1, k1), ("%d requests in a row" % np_, tseq, kseq),
                   ("%d requests together" % np_, tcon, kcon)):
    print("| %s | %.2f | %d | %.2f |" % (name, t, k, k / t if t > 0 else 0))
print("together / alone: %.2fx the time (%d x the work)" % (tcon / t1, np_))
print("together / in a row: %.2f (%.2fx faster)" % (tcon / tseq, tseq / tcon))
PY
)
echo "$report"
if [ -n "$out" ]; then
    mkdir -p "$out"
    { echo "bash bench/serve_np.sh -m $label -n $n -np $np -c $ctx $*"
      echo "server: ${serve[*]}"
      git -C "$root" describe --always --dirty
      echo "CPU: $cpu ($(nproc) cores seen)"; } >>"$out/cmd.txt"
    echo "$report" >>"$out/output.txt"
fi
