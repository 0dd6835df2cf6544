#!/usr/bin/env bash
# ferry serve -np (slots: requests generating together in one session of N sequences) on a tiny
# synthetic model, through python3:
#   - 4 concurrent streamed chats with -np 4 all complete, the 4 slots busy at once, and their
#     texts at temperature 0 equal the same requests sent one at a time (the reference kernel
#     set, FY_CPU=c: the sequences do not disturb each other, bit for bit);
#   - a second turn goes to the slot that holds its conversation (the longest common prefix,
#     not the empty slot beside it) and reuses its cache (cached_tokens > 0, only the new tokens
#     evaluated) while two other slots are busy with long streams;
#   - those streaming clients hang up: their slots are freed at once, generation stops (logged
#     499), /metrics says 0 of 4 slots busy;
#   - 8 concurrent requests with -np 4 --queue 8 all complete (200, /metrics agreeing);
#   - -c is shared: each slot holds c/N positions (a prompt over that is a 400), and a context
#     too small for the slots is an error.
# usage: test_serve_np.sh FERRY VOCAB       exit 0 pass, 77 skip, 1 fail
set -uo pipefail
ferry=$1 vocab=$2
[ -f "$vocab" ] || { echo "skip: vocabulary $vocab absent"; exit 77; }
command -v curl >/dev/null || { echo "skip: curl is not installed"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 is not installed"; exit 77; }
if "$ferry" serve -h 2>&1 | grep -q "lacks libmicrohttpd"; then
    echo "skip: ferry was built without libmicrohttpd/libcjson (no ferry serve)"
    exit 77
fi
tmp=$(mktemp -d /tmp/ferry-serve-np.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail=0

"$ferry" synth --preset tiny --seed 5 --vocab "$vocab" -q -o "$tmp/m.gguf" || exit 1

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start NAME ARGS...: starts a server, waits for /health; sets $port and $pid
start() {
    local name=$1
    shift
    port=$(free_port)
    "$ferry" serve -m "$tmp/m.gguf" --port "$port" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 150); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    echo "FAIL: $name: the server did not come up"
    cat "$tmp/$name.err"
    exit 1
}

stop() {
    kill -TERM "$pid"
    wait "$pid"
    local rc=$?
    [ "$rc" = 0 ] && echo "ok: $1: SIGTERM -> exit 0" || {
        echo "FAIL: $1: SIGTERM exited $rc (want 0)"
        tail -5 "$tmp/$1.err"
        fail=1
    }
}

cat >"$tmp/serve_np_lib.py" <<'PY'
import json, socket, sys, threading, time, urllib.request, urllib.error
base = "http://127.0.0.1:%s" % sys.argv[1]
port = int(sys.argv[1])
bad = []

def req(path, body=None, timeout=120):
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(base + path, data=data,
                               headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(r, timeout=timeout) as f:
            return f.status, f.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()

def check(name, cond, detail=""):
    print(("ok: " if cond else "FAIL: ") + name + ("" if cond else " " + str(detail)[:600]))
    if not cond:
        bad.append(name)

def metric(name):
    s, b = req("/metrics")
    for l in b.split("\n"):
        if l.startswith(name + " "):
            return float(l.split()[1])
    return None

def stream_text(b):
    """(content, finish_reason, usage, ends with [DONE]) of an SSE body"""
    text, finish, usage = "", None, None
    for l in b.split("\n"):
        if not l.startswith("data: {"):
            continue
        c = json.loads(l[6:])
        usage = c.get("usage") or usage
        for ch in c["choices"]:
            d = ch.get("delta", {})
            text += d.get("content") or ch.get("text") or ""
            finish = ch.get("finish_reason") or finish
    return text, finish, usage, b.endswith("data: [DONE]\n\n")

def concurrently(fn, n):
    res = [None] * n
    go = threading.Barrier(n)
    def run(i):
        go.wait()
        res[i] = fn(i)
    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return res

class Poll:
    """the highest value of a metric while it runs (every 20 ms)"""
    def __init__(self, name):
        self.name, self.top, self.on = name, 0, True
        self.t = threading.Thread(target=self.run)
        self.t.start()
    def run(self):
        while self.on:
            self.top = max(self.top, metric(self.name) or 0)
            time.sleep(0.02)
    def stop(self):
        self.on = False
        self.t.join()
        return self.top
PY

# ---- 4 concurrent streams == one at a time (the reference kernel set: bit for bit) ----
FY_CPU=c start eq -c 2048 -np 4
grep -q "context 512 per slot, 4 slots" "$tmp/eq.out" || { echo "FAIL: the slots line: $(cat "$tmp/eq.out")"; fail=1; }
python3 - "$port" "$tmp" <<'PY' || fail=1
import sys
sys.path.insert(0, sys.argv[2])
from serve_np_lib import *

users = ["Hello there", "Tell me about rivers and stones", "What is seven plus two?",
         "Write a line about the quiet north garden and its music"]
def body(i):
    return {"messages": [{"role": "user", "content": users[i]}], "max_tokens": 32,
            "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
poll = Poll("ferry_slots_busy")
together = concurrently(lambda i: req("/v1/chat/completions", body(i)), 4)
busy = poll.stop()
alone = [req("/v1/chat/completions", body(i)) for i in range(4)]
check("4 concurrent streams: each 200, ends with [DONE], with usage",
      all(s == 200 and stream_text(b)[3] and stream_text(b)[2] for s, b in together),
      [b[-200:] for s, b in together])
check("the 4 slots were busy at once (ferry_slots_busy reached %d)" % busy, busy == 4, busy)
for i in range(4):
    a, b = stream_text(together[i][1]), stream_text(alone[i][1])
    check("stream %d: together == alone (%d tokens, %r...)" % (i, a[2]["completion_tokens"],
                                                               a[0][:24]),
          a[0] == b[0] and a[1] == b[1] and a[2]["completion_tokens"] == b[2]["completion_tokens"],
          (a, b))
check("/metrics: 4 slots, none busy after", metric("ferry_slots_total") == 4 and
      metric("ferry_slots_busy") == 0)
# each slot holds 2048 / 4 positions: a prompt of more is refused
s, b = req("/v1/completions", {"prompt": " ".join("w%d" % i for i in range(600))})
check("a prompt over c/N -> 400 context_length_exceeded",
      s == 400 and json.loads(b)["error"]["code"] == "context_length_exceeded", (s, b))
sys.exit(1 if bad else 0)
PY
stop eq

# ---- a slot's cache reused while others are busy; clients that hang up free their slots ----
start cache -c 16384 -np 4
python3 - "$port" "$tmp" <<'PY' || fail=1
import sys
sys.path.insert(0, sys.argv[2])
from serve_np_lib import *

msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
s, b = req("/v1/chat/completions", {"messages": msgs, "max_tokens": 12, "temperature": 0})
check("turn 1 -> 200", s == 200, b)
first = json.loads(b)

# two long raw streams take two other slots (no common prefix with the chat)
socks = []
body = json.dumps({"prompt": "Once", "max_tokens": 3500, "temperature": 0,
                   "stream": True}).encode()
for _ in range(2):
    sk = socket.create_connection(("127.0.0.1", port))
    sk.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
    socks.append(sk)
for sk in socks:
    got = sk.recv(4096)
    check("long stream started", b" 200 " in got.split(b"\r\n")[0], got[:100])
check("two slots busy", metric("ferry_slots_busy") == 2, metric("ferry_slots_busy"))

msgs2 = msgs + [{"role": "assistant", "content": first["choices"][0]["message"]["content"]},
                {"role": "user", "content": "More"}]
p0 = metric("ferry_prompt_tokens_total")
s, b = req("/v1/chat/completions", {"messages": msgs2, "max_tokens": 8, "temperature": 0})
p1 = metric("ferry_prompt_tokens_total")
busy = metric("ferry_slots_busy")
j = json.loads(b)
ct = j["usage"]["prompt_tokens_details"]["cached_tokens"]
print("info: turn 2: %d prompt tokens, %d cached (turn 1: %d prompt + %d generated)" %
      (j["usage"]["prompt_tokens"], ct, first["usage"]["prompt_tokens"],
       first["usage"]["completion_tokens"]))
check("turn 2 went to its conversation's slot: cached_tokens >= turn 1's prompt",
      s == 200 and ct >= first["usage"]["prompt_tokens"] - 1, b)
check("turn 2 evaluated only the new tokens", p1 - p0 == j["usage"]["prompt_tokens"] - ct,
      (p0, p1, j["usage"]))
check("the two long streams still ran meanwhile", busy == 2, busy)

# the streaming clients hang up: their slots are freed, generation stops
g0 = metric("ferry_tokens_predicted_total")
t0 = time.time()
for sk in socks:
    sk.close()
while metric("ferry_slots_busy") != 0 and time.time() - t0 < 5:
    time.sleep(0.05)
t_free = time.time() - t0
check("hung-up streams free their slots (%.2f s)" % t_free,
      metric("ferry_slots_busy") == 0 and t_free < 5, t_free)
g1 = metric("ferry_tokens_predicted_total")
time.sleep(0.3)
check("generation stopped well before max_tokens",
      g1 == metric("ferry_tokens_predicted_total") and g1 - g0 < 2 * 3500, (g0, g1))
s, b = req("/v1/completions", {"prompt": "Hi", "max_tokens": 4, "temperature": 0})
check("a request after the hang-ups -> 200", s == 200, b)
sys.exit(1 if bad else 0)
PY
n499=$(grep -c "POST /v1/completions 499" "$tmp/cache.err")
[ "$n499" = 2 ] && echo "ok: the two hung-up streams are logged 499" ||
    { echo "FAIL: $n499 lines of 499 (want 2)"; fail=1; }
stop cache

# ---- 8 concurrent requests through 4 slots and a queue of 8 ----
start queue -c 4096 -np 4 --queue 8
python3 - "$port" "$tmp" <<'PY' || fail=1
import sys
sys.path.insert(0, sys.argv[2])
from serve_np_lib import *

r0 = metric("ferry_requests_total")
poll = Poll("ferry_requests_deferred")
def one(i):
    return req("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi %d" % i}],
                                        "max_tokens": 24, "temperature": 0.8, "seed": i,
                                        "stream": i % 2 == 0})
res = concurrently(one, 8)
waited = poll.stop()
ok = [r for r in res if r[0] == 200]
check("8 requests, -np 4 --queue 8: all 200", len(ok) == 8, [r[0] for r in res])
check("each has its answer",
      all((stream_text(b)[3] if i % 2 == 0 else
           json.loads(b)["usage"]["completion_tokens"] > 0) for i, (s, b) in enumerate(res)),
      [b[-200:] for s, b in res])
check("/metrics: requests +8, nothing busy or waiting after",
      metric("ferry_requests_total") - r0 == 8 and metric("ferry_slots_busy") == 0 and
      metric("ferry_requests_deferred") == 0)
print("info: at most %d requests waited for a slot" % waited)
sys.exit(1 if bad else 0)
PY
stop queue

# -c too small for the slots: an error that says so
"$ferry" serve -m "$tmp/m.gguf" --port "$(free_port)" -c 6 -np 4 >/dev/null 2>"$tmp/small.err"
rc=$?
[ "$rc" = 1 ] && grep -q "fewer than 2 positions" "$tmp/small.err" && echo "ok: -c 6 -np 4 -> exit 1" ||
    { echo "FAIL: -c 6 -np 4: exit $rc, $(cat "$tmp/small.err")"; fail=1; }
"$ferry" serve -m "$tmp/m.gguf" -np 0 >/dev/null 2>&1
[ $? = 2 ] && echo "ok: -np 0 -> exit 2" || { echo "FAIL: -np 0 should exit 2"; fail=1; }

[ "$fail" = 0 ] && echo "test_serve_np: all passed"
exit "$fail"
