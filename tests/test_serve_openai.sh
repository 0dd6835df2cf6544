#!/usr/bin/env bash
# ferry serve through OpenAI's own client, the `openai` npm package (installed once into
# BUILDDIR/npm-openai): a non-streamed and a streamed chat with the same seed and temperature 0
# give the same text, the API key is sent as the client sends it, a bad request comes back as
# the client's APIError with status 400; tools: a scripted answer (FY_SERVE_SCRIPT) that calls two
# functions comes back as message.tool_calls and as streamed tool_calls deltas (index 0 and 1).
# Skipped (77) without node/npm, offline, or without serve.
# usage: test_serve_openai.sh FERRY VOCAB BUILDDIR       exit 0 pass, 77 skip, 1 fail
set -uo pipefail
ferry=$1 vocab=$2 builddir=$3
[ -f "$vocab" ] || { echo "skip: vocabulary $vocab absent"; exit 77; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "skip: node/npm absent"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 absent"; exit 77; }
command -v curl >/dev/null || { echo "skip: curl absent"; exit 77; }
if "$ferry" serve -h 2>&1 | grep -q "lacks libmicrohttpd"; then
    echo "skip: ferry was built without libmicrohttpd/libcjson (no ferry serve)"
    exit 77
fi
npmdir=$builddir/npm-openai
if [ ! -f "$npmdir/node_modules/openai/package.json" ]; then
    mkdir -p "$npmdir"
    if ! timeout 180 npm install --prefix "$npmdir" --no-audit --no-fund --loglevel=error \
            --cache "$npmdir/.npm-cache" openai >"$npmdir/install.log" 2>&1; then
        echo "skip: npm install openai failed (offline?):"
        tail -3 "$npmdir/install.log"
        exit 77
    fi
fi
tmp=$(mktemp -d /tmp/ferry-serve-openai.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
"$ferry" synth --preset tiny --seed 5 --vocab "$vocab" -q -o "$tmp/m.gguf" || exit 1
# start_serve NAME [ENV=VALUE...]: a server on a free port with the key sk-ferry, logs in
# $tmp/NAME.out and .err; waits for /health; sets $port and $pid
start_serve() {
    local name=$1
    shift
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    env "$@" "$ferry" serve -m "$tmp/m.gguf" -c 512 --port "$port" --api-key sk-ferry \
        >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pid=$!
    for _ in $(seq 1 150); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
        sleep 0.2
    done
}
# what both node scripts begin with: the client (argv: the npm folder, the port) and check()
cat >"$tmp/head.js" <<'JS'
const path = require("path");
const mod = require(path.join(process.argv[2], "node_modules", "openai"));
const OpenAI = mod.OpenAI || mod.default || mod;
const client = new OpenAI({ baseURL: `http://127.0.0.1:${process.argv[3]}/v1`, apiKey: "sk-ferry" });
let failed = 0;
function check(name, cond, detail) {
  console.log((cond ? "ok: " : "FAIL: ") + name + (cond ? "" : " " + JSON.stringify(detail)));
  if (!cond) failed++;
}
JS

start_serve plain

cat "$tmp/head.js" - >"$tmp/t.js" <<'JS'
(async () => {
  const models = await client.models.list();
  check("models.list", models.data.length === 1 && models.data[0].id === "m.gguf", models.data);
  const req = { model: "m.gguf", messages: [{ role: "user", content: "Hello" }],
                max_tokens: 20, temperature: 0, seed: 3 };
  const r = await client.chat.completions.create(req);
  const text = r.choices[0].message.content;
  check("chat.completions.create", typeof text === "string" && text.length > 0 &&
        r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens, r);
  const stream = await client.chat.completions.create({ ...req, stream: true,
                                                        stream_options: { include_usage: true } });
  let streamed = "", usage = null, finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      streamed += c.delta.content || "";
      finish = c.finish_reason || finish;
    }
  }
  check("streamed text == non-streamed text", streamed === text, [streamed, text]);
  check("streamed usage and finish_reason", usage && usage.completion_tokens === r.usage.completion_tokens
        && (finish === "stop" || finish === "length"), [usage, finish]);
  try {
    await client.chat.completions.create({ ...req, messages: [] });
    check("empty messages -> APIError 400", false, "no error");
  } catch (e) {
    check("empty messages -> APIError 400", e.status === 400, String(e));
  }
  const bad = new OpenAI({ baseURL: `http://127.0.0.1:${process.argv[3]}/v1`, apiKey: "wrong",
                           maxRetries: 0 });
  try {
    await bad.models.list();
    check("wrong key -> 401", false, "no error");
  } catch (e) {
    check("wrong key -> 401", e.status === 401, String(e));
  }
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.log("FAIL: " + e); process.exit(1); });
JS
node "$tmp/t.js" "$(cd "$npmdir" && pwd)" "$port"
rc=$?
kill -TERM "$pid"
wait "$pid" || { echo "FAIL: serve exited $? on SIGTERM"; rc=1; }
pid=

# tools round trip: the answer is scripted (FY_SERVE_SCRIPT: two harmony function calls, the
# first ended by <|end|>, the second by <|call|>), the client gets message.tool_calls (and the
# streamed tool_calls deltas, index 0 and 1), then sends both calls and their results back
printf '%s' '<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|end|><|start|>assistant<|channel|>commentary to=functions.get_time <|constrain|>json<|message|>{"zone":"CET"}<|call|>' >"$tmp/script"
start_serve scripted FY_SERVE_SCRIPT="$tmp/script"
cat "$tmp/head.js" - >"$tmp/t2.js" <<'JS'
(async () => {
  const tools = [{ type: "function", function: { name: "get_weather", description: "Weather.",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } },
    { type: "function", function: { name: "get_time", description: "Time.",
    parameters: { type: "object", properties: { zone: { type: "string" } } } } }];
  const messages = [{ role: "user", content: "Weather and time in Paris?" }];
  const r = await client.chat.completions.create({ model: "m.gguf", messages, tools,
                                                   max_tokens: 100 });
  const m = r.choices[0].message, tc = m.tool_calls || [];
  check("tools: message.tool_calls (two)", r.choices[0].finish_reason === "tool_calls" &&
        m.content === null && tc.length === 2 && tc.every((c) => c.type === "function" &&
        c.id.startsWith("call_")) && tc[0].id !== tc[1].id &&
        tc[0].function.name === "get_weather" && tc[1].function.name === "get_time" &&
        JSON.parse(tc[0].function.arguments).city === "Paris" &&
        JSON.parse(tc[1].function.arguments).zone === "CET", r);
  const stream = await client.chat.completions.create({ model: "m.gguf", messages, tools,
                                                        max_tokens: 100, stream: true });
  const calls = [];
  let finish = null;
  for await (const chunk of stream)
    for (const c of chunk.choices) {
      for (const d of c.delta.tool_calls || []) {
        const e = calls[d.index] || (calls[d.index] = { id: "", name: "", args: "" });
        e.id = d.id || e.id;
        e.name += (d.function && d.function.name) || "";
        e.args += (d.function && d.function.arguments) || "";
      }
      finish = c.finish_reason || finish;
    }
  check("tools, streamed: tool_calls deltas, index 0 and 1", finish === "tool_calls" &&
        calls.length === 2 && calls[0].name === "get_weather" && calls[1].name === "get_time" &&
        calls[0].id.startsWith("call_") && calls[0].id !== calls[1].id &&
        calls[0].args === tc[0].function.arguments && calls[1].args === tc[1].function.arguments,
        [finish, calls]);
  const r2 = await client.chat.completions.create({ model: "m.gguf", tools, max_tokens: 100,
    messages: [...messages, m, { role: "tool", tool_call_id: tc[1].id, content: "12:00" },
               { role: "tool", tool_call_id: tc[0].id, content: '{"temp":21}' }] });
  check("tools: both calls and their results sent back", r2.choices.length === 1, r2);
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.log("FAIL: " + e); process.exit(1); });
JS
node "$tmp/t2.js" "$(cd "$npmdir" && pwd)" "$port" || rc=1
kill -TERM "$pid"
wait "$pid" || { echo "FAIL: serve (scripted) exited $? on SIGTERM"; rc=1; }
pid=
[ "$rc" = 0 ] && echo "test_serve_openai: all passed"
exit "$rc"
