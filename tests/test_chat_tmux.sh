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
check "/save wrote the conversation" "grep -q '^### user' '$tmp/saved.txt' && grep -q '^hi$' '$tmp/saved.txt'"

[ $fail = 0 ] && echo "chat: all checks passed"
exit $fail
