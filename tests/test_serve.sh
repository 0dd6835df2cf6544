#!/usr/bin/env bash
# ferry serve on a tiny synthetic model: /health, /v1/models, chat non-streamed and streamed (the
# same text with temperature 0), /v1/completions, the prompt cache on a second turn (usage's
# cached_tokens and the /metrics count of evaluated prompt tokens), stop strings, a streaming
# client that goes away, every bad input with its status and OpenAI error body, the API key, 50
# concurrent clients against --queue 8 (each a 200 with an answer or a 503 with Retry-After and
# an error body, /metrics agreeing, the server stays up), a non-streamed client that goes away
# (curl --max-time 1: generation stops at once, the next request is served), two function calls
# in one scripted answer (FY_SERVE_SCRIPT) -> two tool_calls, streamed and not, the web chat's
# page at / (GET only), and SIGTERM -> exit 0. curl and python3 do the talking. With NP (test
# serve_np4: 4) every server runs with -np NP and NP times each -c (each slot holds what the one
# slot held).
# usage: test_serve.sh FERRY VOCAB [NP]       exit 0 pass, 77 skip, 1 fail
set -uo pipefail
ferry=$1 vocab=$2 np=${3:-1}
[ -f "$vocab" ] || { echo "skip: vocabulary $vocab absent"; exit 77; }
command -v curl >/dev/null || { echo "skip: curl is not installed"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 is not installed"; exit 77; }
if "$ferry" serve -h 2>&1 | grep -q "lacks libmicrohttpd"; then
    echo "skip: ferry was built without libmicrohttpd/libcjson (no ferry serve)"
    exit 77
fi
tmp=$(mktemp -d /tmp/ferry-serve.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "${KEEP_TMP:-}" ] && cp "$tmp"/*.err .cache/ 2>/dev/null; rm -rf "$tmp"
}
trap cleanup EXIT
fail=0

"$ferry" synth --preset tiny --seed 5 --vocab "$vocab" -q -o "$tmp/m.gguf" || exit 1

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start NAME ARGS...: starts a server (-np $np, -c N times $np), waits for /health; sets $port
# and $pid
start() {
    local name=$1 args=() prev=
    shift
    for a in "$@"; do
        [ "$prev" = -c ] && a=$((a * np))
        args+=("$a")
        prev=$a
    done
    [ "$np" != 1 ] && args+=(-np "$np")
    port=$(free_port)
    "$ferry" serve -m "$tmp/m.gguf" --port "$port" "${args[@]}" >"$tmp/$name.out" 2>"$tmp/$name.err" &
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

# stop NAME: SIGTERM, expect exit status 0
stop() {
    kill -TERM "$pid"
    wait "$pid"
    local rc=$?
    if [ "$rc" != 0 ]; then
        echo "FAIL: $1: SIGTERM exited $rc (want 0)"
        cat "$tmp/$1.err"
        fail=1
    else
        echo "ok: $1: SIGTERM -> exit 0"
    fi
}

start a -c 512
grep -q "listening on http://127.0.0.1:$port" "$tmp/a.out" || { echo "FAIL: no URL printed"; fail=1; }

# the streamed chat, through curl
req='{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello there"}],
      "max_tokens":24,"temperature":0,"seed":7,"stream":true,"stream_options":{"include_usage":true}}'
curl -sN "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' \
    -d "$req" >"$tmp/stream.txt" || { echo "FAIL: curl stream"; fail=1; }

# what both python blocks use (argv: the port): req() -> (status, body, headers), check()
cat >"$tmp/serve_http.py" <<'PY'
import json, sys, urllib.request, urllib.error
base = "http://127.0.0.1:%s" % sys.argv[1]
bad = []
timeout_s = 120

def req(path, body=None, method=None, raw=None, headers=None, key=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    r = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    if data is not None:
        r.add_header("Content-Type", "application/json")
    if key:
        r.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(r, timeout=timeout_s) as f:
            return f.status, f.read().decode(), dict(f.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)

def check(name, cond, detail=""):
    print(("ok: " if cond else "FAIL: ") + name + ("" if cond else " " + str(detail)[:400]))
    if not cond:
        bad.append(name)

def metric(name, key=None):
    """A value of /metrics (None when absent)."""
    s, b, _ = req("/metrics", key=key)
    for l in b.split("\n"):
        if l.startswith(name + " "):
            return float(l.split()[1])
    return None

def error_body(b):
    """OpenAI's error body: {"error": {"message": str, "type": str, "code": str}}"""
    try:
        e = json.loads(b)["error"]
        return all(isinstance(e[k], str) and e[k] for k in ("message", "type", "code"))
    except Exception:
        return False
PY
python3 - "$port" "$tmp" <<'PY' || fail=1
import json, socket, sys, threading, time, urllib.request, urllib.error
port, tmp = sys.argv[1], sys.argv[2]
sys.path.insert(0, tmp)
from serve_http import base, bad, req, check, metric, error_body

s, b, _ = req("/v1/models")
check("models", s == 200 and json.loads(b)["data"][0]["id"] == "m.gguf", b)

msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
s, b, _ = req("/v1/chat/completions", {"messages": msgs, "max_tokens": 24, "temperature": 0,
                                       "seed": 7})
j = json.loads(b)
m = j["choices"][0]["message"]
u = j["usage"]
check("chat 200", s == 200, b)
check("chat content is a string", isinstance(m["content"], str) and len(m["content"]) > 0, b)
check("chat usage", 0 < u["completion_tokens"] <= 24 and
      u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] and
      j["choices"][0]["finish_reason"] in ("stop", "length"), u)
content1 = m["content"]

# the streamed one (curl, above): chunks concatenate to the same text, [DONE] last, usage chunk
lines = [l for l in open(tmp + "/stream.txt", encoding="utf-8").read().split("\n") if l]
check("stream ends with [DONE]", lines and lines[-1] == "data: [DONE]", lines[-3:])
text, usage, finish = "", None, None
for l in lines[:-1]:
    assert l.startswith("data: "), l
    c = json.loads(l[6:])
    if c.get("usage"):
        usage = c["usage"]
    for ch in c["choices"]:
        text += ch["delta"].get("content") or ""
        finish = ch.get("finish_reason") or finish
check("stream text == non-streamed text", text == content1, (text, content1))
check("stream finish_reason", finish in ("stop", "length"), finish)
check("stream usage chunk", usage and usage["completion_tokens"] == u["completion_tokens"] and
      usage["prompt_tokens"] == u["prompt_tokens"], usage)

# the second turn reuses the cached prefix: usage says how many, and the server's count of
# evaluated prompt tokens grows by the new ones only
msgs2 = msgs + [{"role": "assistant", "content": content1}, {"role": "user", "content": "More"}]
p0 = metric("ferry_prompt_tokens_total")
s, b, _ = req("/v1/chat/completions", {"messages": msgs2, "max_tokens": 8, "temperature": 0})
p1 = metric("ferry_prompt_tokens_total")
j = json.loads(b)
ct = j["usage"]["prompt_tokens_details"]["cached_tokens"]
check("second turn cached_tokens > 0", s == 200 and ct > 0, b)
check("second turn evaluates fewer tokens", j["timings"]["prompt_n"] < j["usage"]["prompt_tokens"]
      and j["timings"]["prompt_n"] == j["usage"]["prompt_tokens"] - ct, b)
check("/metrics: the second turn evaluated only the new tokens",
      p1 - p0 == j["usage"]["prompt_tokens"] - ct, (p0, p1, j["usage"]))
print("info: second turn: %d prompt tokens, %d cached, %d evaluated" %
      (j["usage"]["prompt_tokens"], ct, p1 - p0))

# /v1/completions: raw text
s, b, _ = req("/v1/completions", {"prompt": "Once upon a time", "max_tokens": 12,
                                  "temperature": 0})
j = json.loads(b)
check("completions", s == 200 and isinstance(j["choices"][0]["text"], str) and
      j["usage"]["completion_tokens"] <= 12 and j["object"] == "text_completion", b)
# a stop string cuts the text before it, finish_reason stop (streamed: the same)
t = j["choices"][0]["text"]
if len(t) > 6:
    stop = t[3:6]
    s, b, _ = req("/v1/completions", {"prompt": "Once upon a time", "max_tokens": 12,
                                      "temperature": 0, "stop": [stop]})
    j2 = json.loads(b)
    check("stop string", j2["choices"][0]["text"] == t[:t.find(stop)] and
          j2["choices"][0]["finish_reason"] == "stop", (b, stop))
    s, b, _ = req("/v1/completions", {"prompt": "Once upon a time", "max_tokens": 12,
                                      "temperature": 0, "stop": stop, "stream": True})
    chunks = [json.loads(l[6:]) for l in b.split("\n") if l.startswith("data: {")]
    st = "".join(c["choices"][0]["text"] for c in chunks if c["choices"])
    check("stop string, streamed", st == j2["choices"][0]["text"] and
          chunks[-1]["choices"][0]["finish_reason"] == "stop" and b.endswith("data: [DONE]\n\n"),
          (st, b[-300:]))

# a streaming client that goes away: the server frees the model and serves the next one
sk = socket.create_connection(("127.0.0.1", int(port)))
body = json.dumps({"prompt": "Once", "max_tokens": 400, "temperature": 0, "stream": True}).encode()
sk.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body) + body)
got = sk.recv(4096)
sk.close()
check("stream started", b"200" in got.split(b"\r\n")[0], got[:100])
t0 = time.time()
s, b, _ = req("/v1/completions", {"prompt": "Hi", "max_tokens": 4, "temperature": 0})
check("after a client went away", s == 200, b)

# bad input: status and OpenAI's error body
def err(name, status, path="/v1/chat/completions", body=None, raw=None, method=None, code=None):
    s, b, h = req(path, body, method=method, raw=raw)
    ok = error_body(b) and h.get("Content-Type") == "application/json"
    if ok and code:
        ok = json.loads(b)["error"]["code"] == code
    check("%s -> %d" % (name, status), s == status and ok, (s, b))
    return h

long_text = " ".join("word%d" % i for i in range(700))
err("malformed JSON", 400, raw=b'{"messages": [', code="invalid_json")
err("an empty body", 400, raw=b'', code="invalid_json")
err("body not an object", 400, raw=b'[1,2]', code="invalid_type")
err("messages not an array", 400, body={"messages": "hi"}, code="invalid_type")
err("missing messages", 400, body={"max_tokens": 3}, code="missing_field")
err("a message not an object", 400, body={"messages": ["hi"]}, code="invalid_type")
err("a message without a role", 400, body={"messages": [{"content": "hi"}]},
    code="missing_field")
err("temperature a string", 400, body={"messages": msgs, "temperature": "hot"},
    code="invalid_type")
err("top_p out of range", 400, body={"messages": msgs, "top_p": 2}, code="invalid_value")
err("max_tokens a float", 400, body={"messages": msgs, "max_tokens": 1.5}, code="invalid_value")
err("max_tokens 0", 400, body={"messages": msgs, "max_tokens": 0}, code="invalid_value")
err("n 2", 400, body={"messages": msgs, "n": 2}, code="invalid_value")
err("stream not a boolean", 400, body={"messages": msgs, "stream": "yes"}, code="invalid_type")
err("content a number", 400, body={"messages": [{"role": "user", "content": 5}]},
    code="invalid_type")
err("unknown role", 400, body={"messages": [{"role": "wizard", "content": "hi"}]},
    code="invalid_value")
err("empty messages", 400, body={"messages": []}, code="invalid_value")
err("completion without a prompt", 400, "/v1/completions", body={"max_tokens": 3},
    code="missing_field")
err("completion with an empty prompt", 400, "/v1/completions", body={"prompt": ""},
    code="invalid_value")
err("prompt longer than the context", 400,
    body={"messages": [{"role": "user", "content": long_text}]}, code="context_length_exceeded")
err("completion prompt longer than the context", 400, "/v1/completions",
    body={"prompt": long_text}, code="context_length_exceeded")
err("max_tokens beyond the context", 400, body={"messages": msgs, "max_tokens": 100000},
    code="invalid_value")
err("max_completion_tokens beyond the context", 400,
    body={"messages": msgs, "max_completion_tokens": 100000}, code="invalid_value")
# tools: a request with tools, an assistant tool call and its result is accepted (the tiny
# model's answer is not harmony, so no tool_calls come back: test_serve_answer covers that)
tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather.",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                         "required": ["city"]}}}]
tmsgs = msgs + [{"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_1", "type": "function",
     "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\":21}"}]
s, b, _ = req("/v1/chat/completions", {"messages": tmsgs, "tools": tools, "tool_choice": "auto",
                                       "max_tokens": 2, "temperature": 0})
check("tools, a tool call and its result -> 200", s == 200, b)
err("tools not an array", 400, body={"messages": msgs, "tools": {"name": "f"}})
err("a tool without a name", 400, body={"messages": msgs, "tools": [{"type": "function",
                                                                   "function": {}}]})
err("tool_choice required", 400, body={"messages": msgs, "tools": tools,
                                       "tool_choice": "required"})
err("tool_choice a named function", 400, body={"messages": msgs, "tools": tools, "tool_choice": {
    "type": "function", "function": {"name": "get_weather"}}})
err("a tool result without its call", 400, body={"messages": msgs + [
    {"role": "tool", "tool_call_id": "call_9", "content": "x"}]})
s, b, _ = req("/v1/chat/completions", {"messages": msgs, "response_format": {"type": "json_object"}})
check("response_format json_object -> 400 that says so", s == 400 and error_body(b) and
      json.loads(b)["error"]["code"] == "unsupported_parameter" and
      "response_format" in json.loads(b)["error"]["message"], (s, b))
err("response_format json_schema", 400, body={"messages": msgs, "response_format": {
    "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}},
    code="unsupported_parameter")
s, b, _ = req("/v1/chat/completions", {"messages": msgs, "max_tokens": 2,
                                       "response_format": {"type": "text"}})
check("response_format text is accepted", s == 200, (s, b))
err("reasoning_effort", 400, body={"messages": msgs, "reasoning_effort": "max"},
    code="invalid_value")
# a body over 1 MiB without a Content-Length (chunked): read, dropped, 413 (the announced case,
# refused before the body is read, is curl's below: a client has to take an early answer)
import http.client
hc = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
hc.request("POST", "/v1/chat/completions", body=iter([b"x" * 65536] * 32),
           headers={"Content-Type": "application/json"}, encode_chunked=True)
hr = hc.getresponse()
hb = hr.read().decode()
check("chunked body over 1 MiB -> 413", hr.status == 413 and
      json.loads(hb)["error"]["code"] == "request_too_large", (hr.status, hb))
hc.close()
err("unknown path", 404, path="/v1/nothing", code="not_found")
err("GET chat", 405, method="GET", code="method_not_allowed")
err("POST health", 405, path="/health", raw=b"{}", code="method_not_allowed")

s, b, h = req("/v1/chat/completions", method="OPTIONS")
check("CORS preflight", s == 204 and "POST" in h.get("Access-Control-Allow-Methods", ""), (s, h))
s, b, _ = req("/health")
check("health after the errors", s == 200 and json.loads(b) == {"status": "ok"}, b)
s, b, _ = req("/metrics")
check("metrics", s == 200 and "ferry_tokens_predicted_total" in b, b)
sys.exit(1 if bad else 0)
PY
# the web chat: GET / is the page (no key needed: server b below), any other method 405 JSON
out=$(curl -s -o "$tmp/page.html" -w '%{http_code} %{content_type}' "http://127.0.0.1:$port/")
if [ "$out" = "200 text/html; charset=utf-8" ] && grep -q '<title>ferry chat</title>' "$tmp/page.html"; then
    echo "ok: GET / -> the web chat page"
else
    echo "FAIL: GET /: $out $(head -c 200 "$tmp/page.html")"
    fail=1
fi
out=$(curl -s -o "$tmp/page.out" -w '%{http_code} %{content_type}' -X POST -d '{}' "http://127.0.0.1:$port/")
if [ "$out" = "405 application/json" ] && grep -q '"code":"method_not_allowed"' "$tmp/page.out"; then
    echo "ok: POST / -> 405 JSON error"
else
    echo "FAIL: POST /: $out $(head -c 200 "$tmp/page.out")"
    fail=1
fi
# a body announced over 1 MiB: 413 before it is read (curl sends Expect: 100-continue)
head -c $((2 << 20)) /dev/zero | tr '\0' x >"$tmp/big.json"
code=$(curl -s -o "$tmp/big.out" -w '%{http_code}' "http://127.0.0.1:$port/v1/chat/completions" \
    -H 'Content-Type: application/json' --data-binary @"$tmp/big.json")
if [ "$code" = 413 ] && python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]
assert e["code"] == "request_too_large" and e["message"] and e["type"]' "$tmp/big.out"; then
    echo "ok: body over 1 MiB -> 413"
else
    echo "FAIL: body over 1 MiB: $code $(head -c 200 "$tmp/big.out")"
    fail=1
fi
grep -q "POST /v1/chat/completions 200" "$tmp/a.err" || { echo "FAIL: no request log line"; fail=1; }
stop a

# the API key, and 50 concurrent clients against a queue of 8
start b -c 512 --api-key sekrit --queue 8
python3 - "$port" "$tmp" <<'PY' || fail=1
import json, sys, threading
sys.path.insert(0, sys.argv[2])
import serve_http
from serve_http import bad, req, check, metric, error_body
serve_http.timeout_s = 300 # 50 clients queue behind one another

chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 64, "temperature": 0.8}
s, b, _ = req("/v1/chat/completions", chat, key="wrong")
check("wrong key -> 401", s == 401 and error_body(b) and
      json.loads(b)["error"]["code"] == "invalid_api_key", b)
s, b, _ = req("/v1/models")
check("no key -> 401", s == 401 and error_body(b), b)
s, b, _ = req("/health")
check("health needs no key", s == 200, b)
s, b, _ = req("/")
check("the web chat page needs no key (it asks for one)", s == 200 and "<title>ferry chat" in b, s)
s, b, _ = req("/v1/chat/completions", chat, key="sekrit")
check("right key -> 200", s == 200, b)

names = ("ferry_requests_total", "ferry_requests_rejected_total", "ferry_tokens_predicted_total")
m0 = {k: metric(k, key="sekrit") for k in names}
n = 50
res = [None] * n
go = threading.Barrier(n)
def client(i):
    go.wait() # all at once
    res[i] = req("/v1/chat/completions", chat, key="sekrit")
ts = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in ts:
    t.start()
for t in ts:
    t.join()
codes = sorted(r[0] for r in res)
ok = [json.loads(r[1]) for r in res if r[0] == 200]
busy = [r for r in res if r[0] == 503]
print("info: %d clients against --queue 8: %d x 200, %d x 503" % (n, len(ok), len(busy)))
check("50 clients: each 200 or 503", set(codes) <= {200, 503}, codes)
check("50 clients: at least one 200 and one 503", ok and busy, codes)
check("each 200 has an answer", all(isinstance(j["choices"][0]["message"]["content"], str) and
                                     j["usage"]["completion_tokens"] > 0 for j in ok), ok[:1])
check("each 503 has Retry-After: 1 and an OpenAI error body",
      all(r[2].get("Retry-After") == "1" and error_body(r[1]) and
          json.loads(r[1])["error"]["code"] == "server_busy" for r in busy), busy[:1])
m1 = {k: metric(k, key="sekrit") for k in names}
gen = sum(j["usage"]["completion_tokens"] for j in ok)
check("/metrics: requests +%d, rejected +%d, tokens +%d" % (len(ok), len(busy), gen),
      m1["ferry_requests_total"] - m0["ferry_requests_total"] == len(ok) and
      m1["ferry_requests_rejected_total"] - m0["ferry_requests_rejected_total"] == len(busy) and
      m1["ferry_tokens_predicted_total"] - m0["ferry_tokens_predicted_total"] == gen, (m0, m1))
check("/metrics: nothing processing or waiting after",
      metric("ferry_requests_processing", key="sekrit") == 0 and
      metric("ferry_requests_deferred", key="sekrit") == 0)
s, b, _ = req("/health")
check("health after the clients", s == 200, b)
s, b, _ = req("/v1/chat/completions", chat, key="sekrit")
check("a request after the clients -> 200", s == 200, b)
sys.exit(1 if bad else 0)
PY
stop b

# a non-streamed client that goes away (curl --max-time 1 on an answer of 8000 tokens): the
# generation stops at its next token and frees the model, the next request is served at once
start c -c 8192
python3 - "$port" "$tmp" <<'PY' || fail=1
import json, subprocess, sys, time
sys.path.insert(0, sys.argv[2])
from serve_http import base, bad, req, check, metric

g0 = metric("ferry_tokens_predicted_total")
t0 = time.time()
rc = subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "1", base + "/v1/completions",
                     "-d", json.dumps({"prompt": "Once", "max_tokens": 8000,
                                       "temperature": 0})]).returncode
check("curl gave up after 1 s (exit 28)", rc == 28, rc)
while metric("ferry_requests_processing") != 0 and time.time() - t0 < 4:
    time.sleep(0.05)
t_free = time.time() - t0
check("the model is free soon after the client went away (%.1f s)" % t_free,
      metric("ferry_requests_processing") == 0 and t_free < 4, t_free)
g1 = metric("ferry_tokens_predicted_total")
time.sleep(0.5)
g2 = metric("ferry_tokens_predicted_total")
print("info: the abandoned answer generated %d of 8000 tokens" % (g1 - g0))
check("generation stopped well before max_tokens", g1 == g2 and g1 - g0 < 4000, (g0, g1, g2))
t = time.time()
s, b, _ = req("/v1/completions", {"prompt": "Hi", "max_tokens": 4, "temperature": 0})
check("the next request is served promptly", s == 200 and time.time() - t < 5,
      (s, time.time() - t))
sys.exit(1 if bad else 0)
PY
grep -q "POST /v1/completions 499" "$tmp/c.err" && echo "ok: the abandoned request is logged 499" \
    || { echo "FAIL: no 499 log line for the abandoned request"; fail=1; }

# SIGTERM while a long streamed answer is in flight: it is cancelled, exit 0 at once
curl -sN "http://127.0.0.1:$port/v1/completions" -d '{"prompt":"Once","max_tokens":500,"stream":true}' \
    >"$tmp/cancel.txt" 2>/dev/null &
cpid=$!
for _ in $(seq 1 50); do [ -s "$tmp/cancel.txt" ] && break; sleep 0.1; done
t0=$(date +%s)
stop c
wait "$cpid"
[ $(( $(date +%s) - t0 )) -le 10 ] || { echo "FAIL: SIGTERM took more than 10 s"; fail=1; }
tail -c 20 "$tmp/cancel.txt" | grep -q "data: \[DONE\]" && echo "ok: the cancelled stream ended with [DONE]" \
    || { echo "FAIL: the cancelled stream did not end properly"; tail -c 300 "$tmp/cancel.txt"; fail=1; }

# two function calls in one answer (scripted: FY_SERVE_SCRIPT, the first call ended by <|end|>,
# the second by <|call|>) -> two tool_calls, then the conversation with both results is accepted
printf '%s' '<|channel|>analysis<|message|>Two cities.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Oslo"}<|call|>' >"$tmp/script2"
export FY_SERVE_SCRIPT="$tmp/script2"
start d -c 512
unset FY_SERVE_SCRIPT
python3 - "$port" "$tmp" <<'PY' || fail=1
import json, sys
sys.path.insert(0, sys.argv[2])
from serve_http import bad, req, check

tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
msgs = [{"role": "user", "content": "Weather in Paris and Oslo?"}]
body = {"messages": msgs, "tools": tools, "max_tokens": 200}
s, b, _ = req("/v1/chat/completions", body)
j = json.loads(b)
c = j["choices"][0]
tc = c["message"].get("tool_calls") or []
check("two calls -> two tool_calls", s == 200 and c["finish_reason"] == "tool_calls" and
      c["message"]["content"] is None and len(tc) == 2 and
      [t["function"]["name"] for t in tc] == ["get_weather"] * 2 and
      [json.loads(t["function"]["arguments"])["city"] for t in tc] == ["Paris", "Oslo"] and
      tc[0]["id"] != tc[1]["id"] and all(t["id"].startswith("call_") for t in tc), b)
s, b, _ = req("/v1/chat/completions", dict(body, stream=True))
calls, finish = {}, None
for l in b.split("\n"):
    if not l.startswith("data: {"):
        continue
    for ch in json.loads(l[6:])["choices"]:
        for d in ch["delta"].get("tool_calls") or []:
            e = calls.setdefault(d["index"], {"id": "", "name": "", "args": ""})
            e["id"] += d.get("id", "")
            e["name"] += d.get("function", {}).get("name", "")
            e["args"] += d.get("function", {}).get("arguments", "")
        finish = ch.get("finish_reason") or finish
check("two calls, streamed: tool_calls deltas with index 0 and 1",
      s == 200 and finish == "tool_calls" and sorted(calls) == [0, 1] and
      calls[0]["id"] != calls[1]["id"] and calls[1]["name"] == "get_weather" and
      [json.loads(calls[i]["args"])["city"] for i in (0, 1)] == ["Paris", "Oslo"] and
      b.endswith("data: [DONE]\n\n"), (calls, finish, b[-200:]))
back = msgs + [c["message"]] + [{"role": "tool", "tool_call_id": t["id"], "content": "%d C" % k}
                                for k, t in enumerate(tc)]
s, b, _ = req("/v1/chat/completions", {"messages": back, "tools": tools, "max_tokens": 4})
check("the two calls and their two results sent back -> 200", s == 200, b)
sys.exit(1 if bad else 0)
PY
stop d

# a bad flag is a usage error; a port in use a runtime error
"$ferry" serve -m "$tmp/m.gguf" --port 0 >/dev/null 2>&1
[ $? = 2 ] || { echo "FAIL: --port 0 should exit 2"; fail=1; }
"$ferry" serve --port 8080 >/dev/null 2>&1
[ $? = 2 ] || { echo "FAIL: serve without -m should exit 2"; fail=1; }

[ "$fail" = 0 ] && echo "test_serve: all passed"
exit "$fail"
