#!/usr/bin/env bash
# ferry batch on a tiny synthetic model (the real vocabulary): 32 prompts (plain text and JSON
# lines of different lengths, one chat) with -np 8 give, at temperature 0, the tokens and text
# that 32 single `ferry run --temp 0` give; outputs in input order with their ids; the sampler
# seeded per prompt reproduces; errors name the file and line (exit 1), flags (exit 2); and
# ferry batched-bench's table and JSON lines (weights per generated token fall as B grows).
# usage: test_batch.sh FERRY VOCAB       exit 0 pass, 1 fail
set -uo pipefail
ferry=$1 vocab=$2
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/ferry-batch.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=testlib.sh
source "$(dirname "$0")/testlib.sh"

"$ferry" batch -h 2>&1 | grep -q "no cJSON\|without cJSON" && { echo "skipped: no cJSON"; exit 77; }
"$ferry" synth --preset tiny --seed 11 --vocab "$vocab" -q -o "$tmp/m.gguf" || exit 1
m=$tmp/m.gguf

# 32 prompts: words of varying count, every third one as JSON with its own max_tokens
"$py" - "$tmp" <<'PY'
import json, random, sys
r = random.Random(5)
words = "the a river stone light quiet north garden seven blue over under music paper".split()
with open(sys.argv[1] + "/p.jsonl", "w") as f, open(sys.argv[1] + "/plain.txt", "w") as g:
    for i in range(32):
        text = " ".join(r.choice(words) for _ in range(1 + r.randrange(40))).capitalize()
        g.write(text + "\n")
        if i % 3 == 1:
            f.write(json.dumps({"prompt": text, "max_tokens": 4 + i % 7, "id": "p%d" % i}) + "\n")
        else:
            f.write(text + "\n")
        if i == 7:
            f.write("\n")  # empty lines are no prompts
PY
if "$ferry" batch -m "$m" -f "$tmp/p.jsonl" -o "$tmp/out.jsonl" -np 8 -n 12 -t 2 2> "$tmp/err"; then
    ok "batch of 32 with -np 8 runs"
else
    bad "batch of 32 with -np 8 runs: $(tail -3 "$tmp/err")"
fi
grep -q "32 prompts .* with 8 sequences together" "$tmp/err" && ok "summary line" ||
    bad "summary line: $(tail -2 "$tmp/err")"
# the same prompts one at a time
i=0
while IFS= read -r line; do
    n=12
    [ $((i % 3)) = 1 ] && n=$((4 + i % 7))
    "$ferry" run -m "$m" -p "$line" -n "$n" --temp 0 --ids -t 2 2>/dev/null > "$tmp/single.$i" ||
        bad "single run $i"
    i=$((i + 1))
done < "$tmp/plain.txt"
"$py" - "$tmp" <<'PY' && ok "32 outputs equal 32 single runs (tokens, order, ids, counts)" || bad "batch vs single runs"
import json, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(d + "/out.jsonl")]
assert len(rows) == 32, len(rows)
for i, r in enumerate(rows):
    assert r["index"] == i, (i, r["index"])
    single = [int(x) for x in open("%s/single.%d" % (d, i)).read().split(",") if x.strip()]
    assert r["tokens"] == single, (i, r["tokens"], single)
    assert r["completion_tokens"] == len(single)
    assert r["finish_reason"] in ("stop", "length"), r["finish_reason"]
    if i % 3 == 1:
        assert r["id"] == "p%d" % i and len(single) <= 4 + i % 7, r
    else:
        assert "id" not in r
    assert isinstance(r["text"], str) and r["prompt_tokens"] > 0 and 0 <= r["seq"] < 8
PY
# the text of the batch equals the text of a single run (one prompt)
first=$(head -1 "$tmp/plain.txt")
"$ferry" run -m "$m" -p "$first" -n 12 --temp 0 --no-display-prompt -t 2 2>/dev/null > "$tmp/text0"
"$py" - "$tmp" <<'PY' && ok "text equals run's text" || bad "text equals run's text"
import json, sys
d = sys.argv[1]
r = json.loads(open(d + "/out.jsonl").readline())
assert r["text"] == open(d + "/text0").read().rstrip("\n"), (r["text"], open(d + "/text0").read())
PY
# a chat line, sampling with a seed: the same twice, and -np 1 gives the same as -np 4
printf '{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], "reasoning_effort": "low"}\nTell me a story\nWhy is the sky blue\n' > "$tmp/c.jsonl"
for np in 1 4; do
    "$ferry" batch -m "$m" -f "$tmp/c.jsonl" -o "$tmp/s$np.jsonl" -np $np -n 8 --temp 0.8 -s 42 \
        -t 2 2>/dev/null || bad "sampled batch -np $np"
done
"$py" - "$tmp" <<'PY' && ok "seeded sampling: -np 1 and -np 4 give the same tokens" || bad "seeded sampling"
import json, sys
d = sys.argv[1]
a = [json.loads(l)["tokens"] for l in open(d + "/s1.jsonl")]
b = [json.loads(l)["tokens"] for l in open(d + "/s4.jsonl")]
assert a == b and len(a) == 3, (a, b)
PY

# batched-bench: the md table's rows, and in JSON lines the weights read per generated token
# falling as the batch grows
"$ferry" batched-bench -m "$m" -npp 8 -ntg 4 -npl 1,4 -t 2 > "$tmp/bb.md" 2>/dev/null &&
    [ "$(grep -c '^| *8 | *4 | ' "$tmp/bb.md")" = 2 ] && ok "batched-bench table" ||
    bad "batched-bench table: $(cat "$tmp/bb.md")"
"$ferry" batched-bench -m "$m" -npp 8 -ntg 4 -npl 1,4 -t 2 -o jsonl > "$tmp/bb.jsonl" 2>/dev/null
"$py" - "$tmp/bb.jsonl" <<'PY' && ok "batched-bench jsonl: weights per token fall with B" || bad "batched-bench jsonl"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows[0]["bench"] == "batched-bench", rows[0]
b1, b4 = rows[1], rows[2]
assert (b1["pl"], b4["pl"]) == (1, 4) and b1["speed_tg"] > 0 and b4["speed_tg"] > 0
assert b4["weight_bytes_per_token"] < b1["weight_bytes_per_token"], (b1, b4)
assert b1["experts_per_layer_step"] <= b4["experts_per_layer_step"]
PY

# errors
printf 'fine\n{"prompt": 3}\n' > "$tmp/bad1.jsonl"
expect "a bad JSON line names file:line" 1 "bad1.jsonl:2: .prompt. must be a non-empty string" \
    "$ferry" batch -m "$m" -f "$tmp/bad1.jsonl" -o "$tmp/o.jsonl"
printf '{"messages": [{"role": "robot", "content": "x"}]}\n' > "$tmp/bad2.jsonl"
expect "an unknown role" 1 "bad2.jsonl:1: messages\[0\]: unknown role .robot." \
    "$ferry" batch -m "$m" -f "$tmp/bad2.jsonl" -o "$tmp/o.jsonl"
printf '{"prompt": "x"\n' > "$tmp/bad3.jsonl"
expect "broken JSON" 1 "bad3.jsonl:1: not a JSON object" \
    "$ferry" batch -m "$m" -f "$tmp/bad3.jsonl" -o "$tmp/o.jsonl"
printf '\n\n' > "$tmp/empty.txt"
expect "no prompts" 1 "empty.txt: no prompts" "$ferry" batch -m "$m" -f "$tmp/empty.txt"
expect "missing -f" 2 "-f PROMPTS are required" "$ferry" batch -m "$m"
expect "bad -np" 2 "np" "$ferry" batch -m "$m" -f "$tmp/p.jsonl" -np 0
expect "too small -c" 1 "fewer than 2 positions" "$ferry" batch -m "$m" -f "$tmp/p.jsonl" -np 8 -c 8
[ ! -e "$tmp/o.jsonl" ] && ok "no output file after an error" || bad "output file after an error"
exit $fail
