#!/usr/bin/env bash
# `ferry chat` driven as a person would, in a tmux terminal, on a tiny synthetic model: two
# messages, one answer interrupted with Ctrl-C, the prompt comes back, /stats answers, /exit
# leaves with status 0. Also the non-interactive mode with a pipe.
# usage: test_chat_tmux.sh FERRY VOCAB       exit 0 pass, 77 skip, 1 fail
set -uo pipefail
ferry=$1 vocab=$2
command -v tmux >/dev/null || { echo "skip: tmux absent"; exit 77; }
[ -f "$vocab" ] || { echo "skip: vocabulary $vocab absent"; exit 77; }
tmp=$(mktemp -d /tmp/ferry-chat.XXXXXX)
sock=$tmp/tmux.sock
T() { tmux -S "$sock" "$@"; }
cleanup() { T kill-server 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

"$ferry" synth --preset tiny --seed 4 --vocab "$vocab" -q -o "$tmp/tiny.gguf" || exit 1

screen() { T capture-pane -p -J -S -200 -t chat; }
# wait_for PATTERN [SECONDS]: until the screen matches (grep -E), or fail
wait_for() {
    local end=$((SECONDS + ${2:-60}))
    while [ $SECONDS -lt $end ]; do
        screen | grep -Eq -- "$1" && return 0
        sleep 0.2
    done
    echo "timed out waiting for: $1"; screen | tail -15
    return 1
}
count() { screen | grep -Ec -- "$1"; }

T new-session -d -s chat -x 160 -y 50 \
    "$ferry chat -m $tmp/tiny.gguf -n 400 -s 7 -c 4096; echo EXIT=\$?; sleep 30"
check "banner and prompt" "wait_for '^> ' 60"

T send-keys -t chat "Hello there" Enter
sleep 0.8
T send-keys -t chat C-c
check "answer interrupted" "wait_for '\[interrupted\]' 30"
check "prompt back after Ctrl-C" "wait_for '^> $' 30"

T send-keys -t chat "A second message, \\" Enter
T send-keys -t chat "on two lines" Enter
check "second answer completes with speeds" "wait_for 'generation [0-9]+ tokens, [0-9.]+ t/s' 120"
check "prompt back after the answer" "[ \$(count '^> ') -ge 3 ] || wait_for '^> $' 10"

T send-keys -t chat "/stats" Enter
check "/stats answers" "wait_for '^turns 2 \| context [0-9]+ / 4096' 10"

T send-keys -t chat "/exit" Enter
check "/exit leaves cleanly" "wait_for 'EXIT=0' 20"

# a pipe instead of a terminal: no prompt, answers, then /stats, exit 0 at EOF
out=$(printf 'hi\n/stats\n' | "$ferry" chat -m "$tmp/tiny.gguf" -n 20 -s 1 2>&1)
rc=$?
check "pipe mode exits 0" "[ $rc = 0 ]"
check "pipe mode answers and /stats" "grep -q '^turns 1 |' <<< \"\$out\""

# a full context: the long message is refused with a clear message, the conversation so far is
# kept (/save writes it), and the next short message still gets an answer
long=$(printf 'word %.0s' $(seq 1 200))
out=$(printf 'hi\n%s\n/save %s\nok\n/stats\n' "$long" "$tmp/saved.txt" |
      "$ferry" chat -m "$tmp/tiny.gguf" -n 8 -s 1 -c 160 2>&1)
rc=$?
check "full context: exit 0" "[ $rc = 0 ]"
check "full context: clear message" "grep -q 'context full: the conversation needs' <<< \"\$out\""
check "full context: conversation kept" "grep -q '^turns 2 |' <<< \"\$out\""
check "/save wrote the conversation" \
    "grep -qx '{\"role\":\"user\",\"content\":\"hi\"}' '$tmp/saved.txt' &&
     grep -q '^{\"role\":\"assistant\",' '$tmp/saved.txt'"

# /save writes the whole conversation, the answers too (even short raw ones, here 5 tokens),
# one JSON line a message; /load restores it: after /reset and /load, saved again it is the
# same file; a conversation loaded over itself gives the next turn the same prompt (the same
# prompt token count, the same answer) as the chat without /load
chat() { "$ferry" chat -m "$tmp/tiny.gguf" -n 5 -s 3 --date 2026-01-01 -c 2048 2>&1; }
c=$tmp/conv
out=$(printf 'first\n/save %s.a\nsecond\n/save %s.a2\n' "$c" "$c" | chat)
out2=$(printf 'first\n/save %s.b\n/load %s.b\nsecond\n/save %s.b2\n' "$c" "$c" "$c" | chat)
out3=$(printf 'first\n/save %s.c\n/reset\n/load %s.c\n/stats\n/save %s.c2\n' "$c" "$c" "$c" |
       chat)
check "/save: user and assistant messages" \
    "[ \$(grep -c '\"role\":\"user\"' $c.a2) = 2 ] &&
     [ \$(grep -c '\"role\":\"assistant\"' $c.a2) = 2 ]"
check "short answers (5 tokens, not harmony) shown" \
    "[ \$(grep -c 'the raw output follows' <<< \"\$out\") = 2 ]"
check "/load: loaded message" "grep -q '^loaded 2 messages from $c.b' <<< \"\$out2\""
check "/reset, /load, /save: the same file" "cmp -s $c.c $c.c2"
check "/load: the next turn the same as without it" \
    "cmp -s $c.a2 $c.b2 && [ \"\$(grep -o 'prompt [0-9]* tokens' <<< \"\$out\")\" = \
     \"\$(grep -o 'prompt [0-9]* tokens' <<< \"\$out2\")\" ]"
check "/stats after /reset and /load" "grep -q '^turns 1 |' <<< \"\$out3\""

# bad files: the message names the file and the line, the conversation stays as it was (saved
# again it is the same), and whatever was typed after still works
printf '{"role":"user","content":"ok"}\n{"role":"bot","content":"x"}\n' > "$c.bad"
printf '{"role":"user","content":"ok"}\n{"role":"user" "content":"x"}\n' > "$c.badjson"
out=$( (printf 'first\n/save %s.d\n/load %s.bad\n/load %s.badjson\n/load %s.none\n/load\n' \
       "$c" "$c" "$c" "$c"; printf '/save %s.d2\n/help\nthird\n/stats\n' "$c") | chat)
rc=$?
check "/load bad role: file and line" \
    "grep -q '/load $c.bad: line 2: unknown role \"bot\"' <<< \"\$out\""
check "/load bad JSON: file, line, column" \
    "grep -q '/load $c.badjson: line 2: column 16: expected' <<< \"\$out\""
check "/load missing file: named" "grep -q '/load $c.none: cannot open' <<< \"\$out\""
check "/load without a file: usage" "grep -q '^usage: /load FILE' <<< \"\$out\""
check "/load errors: nothing loaded, said" \
    "[ \$(grep -c '^nothing loaded; the conversation is as it was' <<< \"\$out\") = 3 ]"
check "/load errors: the conversation unchanged" "cmp -s $c.d $c.d2"
check "/help lists /load" "grep -q '^/load FILE' <<< \"\$out\""
check "/load errors: the chat goes on" "[ $rc = 0 ] && grep -q '^turns 2 |' <<< \"\$out\""

[ $fail = 0 ] && echo "chat: all checks passed"
exit $fail
