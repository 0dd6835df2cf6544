#!/usr/bin/env bash
# ferry serve's web chat (GET /) in Debian's headless Chromium, driven by the `puppeteer-core` npm
# package (installed once into BUILDDIR/npm-puppeteer). On a tiny synthetic model: the page loads
# with no request outside the server, a typed message is answered by a stream (the answer's text
# grows over several updates), the request carries the reasoning effort and max tokens chosen,
# speeds are shown under each answer, Stop during a long answer frees the server (/metrics: none
# in flight) and the next message is answered, a reload restores the conversation from
# localStorage, New chat clears it. On a second server with --api-key and a scripted harmony
# answer (FY_SERVE_SCRIPT): the 401 is shown and the key field appears, and with the key the
# reasoning comes in a collapsed <details> apart from the answer. Writes BUILDDIR/serve_browser.png.
# Skipped (77) without node/npm, offline, without /usr/bin/chromium (CHROMIUM=PATH: another), or
# without serve.
# usage: test_serve_browser.sh FERRY VOCAB BUILDDIR       exit 0 pass, 77 skip, 1 fail
set -uo pipefail
ferry=$1 vocab=$2 builddir=$(cd "$3" && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -f "$vocab" ] || { echo "skip: vocabulary $vocab absent"; exit 77; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "skip: node/npm absent"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 absent"; exit 77; }
command -v curl >/dev/null || { echo "skip: curl absent"; exit 77; }
[ -x "$chromium" ] || { echo "skip: $chromium absent (apt-get install chromium)"; exit 77; }
if "$ferry" serve -h 2>&1 | grep -q "lacks libmicrohttpd"; then
    echo "skip: ferry was built without libmicrohttpd/libcjson (no ferry serve)"
    exit 77
fi
# puppeteer-core 24 is the last major that runs on Debian 12's node 18/20 (25 needs node 22)
npmdir=$builddir/npm-puppeteer
if [ ! -f "$npmdir/node_modules/puppeteer-core/package.json" ]; then
    mkdir -p "$npmdir"
    if ! timeout 300 npm install --prefix "$npmdir" --no-audit --no-fund --loglevel=error \
            --cache "$npmdir/.npm-cache" puppeteer-core@24 >"$npmdir/install.log" 2>&1; then
        echo "skip: npm install puppeteer-core failed (offline?):"
        tail -3 "$npmdir/install.log"
        exit 77
    fi
fi
t_start=$(date +%s)
tmp=$(mktemp -d "$builddir/serve-browser.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
"$ferry" synth --preset tiny --seed 5 --vocab "$vocab" -q -o "$tmp/m.gguf" || exit 1

# start NAME ARGS...: a server on a free port, logs in $tmp/NAME.err; waits for /health; sets $port
start() {
    local name=$1
    shift
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$ferry" serve -m "$tmp/m.gguf" --port "$port" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pids+=($!)
    for _ in $(seq 1 150); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.2
    done
    echo "FAIL: $name: the server did not come up"
    cat "$tmp/$name.err"
    exit 1
}
start plain -c 8192
port_plain=$port
# the scripted answer: reasoning (analysis), then the final answer
printf '%s' '<|channel|>analysis<|message|>The user greets; answer briefly.<|end|><|start|>assistant<|channel|>final<|message|>Hello from the script.<|return|>' >"$tmp/script"
FY_SERVE_SCRIPT="$tmp/script" start keyed -c 2048 --api-key sk-web
port_keyed=$port

cat >"$tmp/t.js" <<'JS'
const path = require("path");
const puppeteer = require(path.join(process.argv[2], "node_modules", "puppeteer-core"));
const [chromium, portPlain, portKeyed, shot, profile] = process.argv.slice(3);
const plain = `http://127.0.0.1:${portPlain}`, keyed = `http://127.0.0.1:${portKeyed}`;
let failed = 0;
function check(name, cond, detail) {
  console.log((cond ? "ok: " : "FAIL: ") + name + (cond ? "" : " " + JSON.stringify(detail)));
  if (!cond) failed++;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// what the page shows: every message's role, answer, reasoning, stats
const view = (page) => page.$$eval(".msg", (ms) => ms.map((m) => ({
  role: m.classList.contains("user") ? "user" : "assistant",
  content: m.querySelector(".content").textContent,
  reasoning: m.querySelector(".reasoning-text") ? m.querySelector(".reasoning-text").textContent : "",
  reasoningShown: !!m.querySelector(".reasoning") && !m.querySelector(".reasoning").hidden,
  open: !!m.querySelector(".reasoning") && m.querySelector(".reasoning").open,
  stats: m.querySelector(".stats") ? m.querySelector(".stats").textContent : "" })));
const idle = (page, ms) => page.waitForFunction(() => document.body.dataset.busy === "",
                                                { timeout: ms, polling: 50 });
async function setValue(page, sel, v) {
  await page.$eval(sel, (e, v) => { e.value = v; e.dispatchEvent(new Event("change")); }, v);
}
// types a message and sends it (Enter or the Send button); returns once it is in the page
async function type(page, text, enter) {
  const n = await page.$$eval(".msg.user", (ms) => ms.length);
  await page.type("#input", text);
  if (enter) await page.keyboard.press("Enter");
  else await page.click("#send");
  await page.waitForFunction((n) => document.querySelectorAll(".msg.user").length === n + 1,
                             { timeout: 5000 }, n);
}
async function inFlight() {
  const m = (await (await fetch(plain + "/metrics")).text()).match(/^ferry_requests_processing (\d+)/m);
  return m ? +m[1] : -1;
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: chromium, headless: true, userDataDir: profile,
    args: [...(process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : []),
           "--disable-gpu", "--no-first-run", "--window-size=1100,850"] });
  const page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 850 });
  const outside = [], errors = [], bodies = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("request", (r) => {
    if (!r.url().startsWith(plain) && !r.url().startsWith(keyed) && !r.url().startsWith("data:"))
      outside.push(r.url());
    if (r.url().endsWith("/v1/chat/completions")) bodies.push(JSON.parse(r.postData() || "{}"));
  });

  // ---- the page ----
  const res = await page.goto(plain + "/", { waitUntil: "load" });
  check("GET / is text/html", res.status() === 200 &&
        res.headers()["content-type"] === "text/html; charset=utf-8", res.headers());
  await page.evaluate(() => localStorage.clear());
  await page.reload({ waitUntil: "load" });
  check("title", (await page.title()) === "ferry chat", await page.title());
  await page.waitForFunction(() => document.getElementById("model").textContent === "m.gguf",
                             { timeout: 10000 });
  check("the model's name shown", true);

  // ---- a streamed answer: the text grows over several updates ----
  await page.select("#effort", "high");
  await setValue(page, "#max-tokens", "300");
  await page.evaluate(() => {
    window.__lens = [];
    new MutationObserver(() => {
      const c = document.querySelectorAll(".msg.assistant .content");
      if (c.length) window.__lens.push([performance.now(), c[c.length - 1].textContent.length]);
    }).observe(document.getElementById("messages"), { childList: true, subtree: true,
                                                      characterData: true });
  });
  await type(page, "Hello there, who are you?", false);
  await idle(page, 60000);
  let v = await view(page);
  const lens = await page.evaluate(() => window.__lens);
  const grew = lens.filter(([, n], i) => n > 0 && (i === 0 || n > lens[i - 1][1]));
  const last = v[v.length - 1];
  check("user message shown", v.length === 2 && v[0].role === "user" &&
        v[0].content === "Hello there, who are you?", v);
  check("answer streamed: the text grew over several updates", grew.length >= 2 &&
        grew[grew.length - 1][1] === last.content.length && last.content.length > 0,
        { updates: grew.length, lens: lens.slice(0, 5) });
  console.log(`info: ${grew.length} updates over ${(grew[grew.length - 1][0] - grew[0][0]).toFixed(0)} ms, ` +
              `${last.content.length} characters`);
  check("request: stream, include_usage, reasoning_effort high, max_tokens 300",
        bodies.length === 1 && bodies[0].stream === true && bodies[0].stream_options.include_usage &&
        bodies[0].reasoning_effort === "high" && bodies[0].max_tokens === 300, bodies);
  check("speeds under the answer (server timings)",
        /^prompt \d+ tokens, [\d.]+ t\/s · generation \d+ tokens, [\d.]+ t\/s · [\d.]+ s$/.test(last.stats),
        last.stats);
  check("no error shown", (await page.$eval("#error", (e) => e.hidden)), await page.$eval("#error", (e) => e.textContent));

  // ---- Stop during a long answer: the server is freed, the next message is answered ----
  await setValue(page, "#max-tokens", "4000");
  await type(page, "Tell me a long story.", true);
  await page.waitForFunction(() => {
    const c = document.querySelectorAll(".msg.assistant .content");
    return c.length === 2 && c[1].textContent.length > 20;
  }, { timeout: 30000, polling: 20 });
  await sleep(300);
  const busyBefore = await page.evaluate(() => document.body.dataset.busy);
  check("in flight before Stop", busyBefore === "1" && (await inFlight()) === 1, busyBefore);
  const tStop = Date.now();
  await page.click("#stop");
  await idle(page, 5000);
  let free = -1;
  while (Date.now() - tStop < 10000 && (free = await inFlight()) !== 0) await sleep(50);
  check("Stop frees the server (/metrics: ferry_requests_processing 0)", free === 0, free);
  console.log(`info: the server was free ${Date.now() - tStop} ms after Stop`);
  v = await view(page);
  check("the stopped answer is kept and says stopped", v.length === 4 && v[3].content.length > 0 &&
        / stopped$/.test(v[3].stats) && /t\/s/.test(v[3].stats), v[3]);
  await setValue(page, "#max-tokens", "24");
  await type(page, "And now a short one.", false);
  await idle(page, 60000);
  v = await view(page);
  check("the next message is answered", v.length === 6 && v[5].content.length > 0 &&
        /generation \d+ tokens/.test(v[5].stats) && !/stopped/.test(v[5].stats), v[5]);
  check("it carried the conversation (stopped answer included)", bodies.length === 3 &&
        bodies[2].messages.length === 5 && bodies[2].messages[3].content === v[3].content,
        bodies[2] && bodies[2].messages.map((m) => m.role));

  // ---- reload restores the conversation and the settings ----
  await page.reload({ waitUntil: "load" });
  const v2 = await view(page);
  check("reload restores the conversation", JSON.stringify(v2) === JSON.stringify(v), [v2.length, v.length]);
  check("reload restores the settings", (await page.$eval("#effort", (e) => e.value)) === "high" &&
        (await page.$eval("#max-tokens", (e) => e.value)) === "24");
  await page.screenshot({ path: shot });

  // ---- New chat ----
  await page.click("#new-chat");
  check("New chat clears the page", (await view(page)).length === 0);
  check("New chat clears localStorage", (await page.evaluate(() => localStorage.getItem("ferry.chat"))) === null);
  await page.reload({ waitUntil: "load" });
  check("still empty after a reload", (await view(page)).length === 0);

  // ---- a server with --api-key: the 401 is shown; with the key, reasoning apart ----
  await page.goto(keyed + "/", { waitUntil: "load" });
  await page.waitForFunction(() => !document.getElementById("error").hidden, { timeout: 10000 });
  check("401: the key field appears and a message says so",
        await page.evaluate(() => !document.getElementById("key-row").hidden &&
                            /API key/.test(document.getElementById("error").textContent)));
  await type(page, "Hi", false);
  await idle(page, 10000);
  v = await view(page);
  check("a message without the key: the 401 shown", /401/.test(await page.$eval("#error", (e) => e.textContent)) &&
        v.length === 2 && v[1].content === "", v);
  await page.type("#api-key", "sk-web");
  await page.keyboard.press("Tab");
  await page.waitForFunction(() => document.getElementById("model").textContent === "m.gguf",
                             { timeout: 10000 });
  await type(page, "Hi again", false);
  await idle(page, 30000);
  v = await view(page);
  const a = v[v.length - 1];
  check("with the key: the answer", a.content === "Hello from the script.", a);
  check("reasoning in a collapsed <details>", a.reasoningShown && !a.open &&
        a.reasoning === "The user greets; answer briefly.", a);
  check("the failed answer is left out of the next request",
        bodies[bodies.length - 1].messages.map((m) => m.role).join() === "user,user",
        bodies[bodies.length - 1].messages);

  check("no request outside the server", outside.length === 0, outside);
  check("no script error", errors.length === 0, errors);
  await browser.close();
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.log("FAIL: " + (e && e.stack || e)); process.exit(1); });
JS
node "$tmp/t.js" "$npmdir" "$chromium" "$port_plain" "$port_keyed" "$builddir/serve_browser.png" \
    "$tmp/profile"
rc=$?
if [ "$rc" != 0 ]; then
    echo "--- server logs (tail)"
    tail -n 5 "$tmp/plain.err" "$tmp/keyed.err"
fi
[ -f "$builddir/serve_browser.png" ] && echo "screenshot: $builddir/serve_browser.png"
[ "$rc" = 0 ] && echo "test_serve_browser: all passed in $(( $(date +%s) - t_start )) s"
exit "$rc"
