#!/usr/bin/env bash
# `ferry chat` driven as a person would, in a tmux terminal, on a tiny synthetic model: two
# messages, one answer interrupted with Ctrl-C, the prompt comes back, /stats answers, /exit
# leaves with status 0. Also the non-interactive mode with a pipe. With libedit (EDIT=libedit):
# the line editor (an edit in the middle of a recalled message, Ctrl-C clearing a line, Tab, a
# """ message as one history entry, the history file read again by a second run, Ctrl-R, a
# resize while typing, Ctrl-D, --no-history); without it (EDIT=plain), its notice, once.
# usage: test_chat_tmux.sh FERRY VOCAB [EDIT]       exit 0 pass, 77 skip, 1 fail
set -uo pipefail
ferry=$1 vocab=$2 edit=${3:-libedit}
command -v tmux >/dev/null || { echo "skip: tmux absent"; exit 77; }
[ -f "$vocab" ] || { echo "skip: vocabulary $vocab absent"; exit 77; }
tmp=$(mktemp -d /tmp/ferry-chat.XXXXXX)
sock=$tmp/tmux.sock
T() { tmux -S "$sock" "$@"; }
cleanup() { T kill-server 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
# the history file and anything else a chat would keep in the home folder stay in $tmp
export HOME=$tmp/home XDG_STATE_HOME=$tmp/state
mkdir -p "$HOME"
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
# wait_count PATTERN N [SECONDS]: until N lines of the screen match
wait_count() {
    local end=$((SECONDS + ${3:-60}))
    while [ $SECONDS -lt $end ]; do
        [ "$(count "$1")" -ge "$2" ] && return 0
        sleep 0.2
    done
    echo "timed out waiting for $2 lines of: $1"; screen | tail -15
    return 1
}
# wait_line PATTERN [SECONDS]: until the last prompt line (the one being edited), less the spaces
# the editor wrote at its end, matches (an empty one: '^>$')
wait_line() {
    local end=$((SECONDS + ${2:-10}))
    while [ $SECONDS -lt $end ]; do
        screen | grep -E '^> ' | tail -1 | sed 's/ *$//' | grep -Eq -- "$1" && return 0
        sleep 0.2
    done
    echo "timed out waiting for the line: $1"; screen | tail -8
    return 1
}

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
if [ "$edit" = libedit ]; then
    # the default history file: one entry a message (the two lines of the second are one)
    dh=$XDG_STATE_HOME/ferry/chat_history
    check "history in \$XDG_STATE_HOME/ferry/chat_history" \
        "grep -q '^Hello.040there$' '$dh' && [ \$(grep -c 'second' '$dh') = 1 ] &&
         grep -q 'second.*on.040two.040lines$' '$dh'"
else
    check "without libedit: said once" "[ \$(count 'built without libedit') = 1 ]"
fi
T kill-session -t chat
hist_sum=$(cat "$XDG_STATE_HOME/ferry/chat_history" 2>/dev/null | cksum)

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

check "piped input: no history written" \
    "[ \"\$(cat '$XDG_STATE_HOME/ferry/chat_history' 2>/dev/null | cksum)\" = '$hist_sum' ]"

# ---- the line editor (libedit) ----
# edit_chat FLAGS: a new chat in the tmux window, its history in $tmp/hist
edit_chat() {
    T new-session -d -s chat -x 160 -y 50 \
        "$ferry chat -m $tmp/tiny.gguf -n 4 -s 7 -c 2048 $*; echo EXIT=\$?; sleep 30"
}
answers='generation [0-9]+ tokens'
if [ "$edit" != libedit ]; then
    echo "skip: the line editor checks (built without libedit)"
else
    h=$tmp/hist
    edit_chat --history-file "$h"
    check "editor: prompt" "wait_for '^> ' 60"
    T send-keys -t chat "hello world" Enter
    check "editor: first answer" "wait_count '$answers' 1"
    T send-keys -t chat Up
    check "Up recalls the message" "wait_line '^> hello world$'"
    T send-keys -t chat Left Left Left Left Left "big "
    check "edited in the middle" "wait_line '^> hello big world$'"
    T send-keys -t chat Enter
    check "edited message answered" "wait_count '$answers' 2"
    T send-keys -t chat "junk"
    wait_line '^> junk$' >/dev/null
    T send-keys -t chat C-c
    check "Ctrl-C clears a line being typed" \
        "wait_for '^> junk\^C$' 10 && wait_line '^>$' && [ \$(count 'Ctrl-C again') = 0 ]"
    T send-keys -t chat "/st" Tab
    check "Tab completes /st to /stats" "wait_line '^> /stats$'"
    T send-keys -t chat Enter
    check "/stats after Tab" "wait_for '^turns 2 \|' 10"
    T send-keys -t chat '"""' Enter "line one" Enter "line two" Enter '"""' Enter
    check "a \"\"\" message answered" "wait_count '$answers' 3"
    T send-keys -t chat "/save $tmp/e1.jsonl" Enter
    wait_for "^saved .* to $tmp/e1.jsonl" 10 >/dev/null
    check "the edited text reached the model" \
        "grep -qx '{\"role\":\"user\",\"content\":\"hello big world\"}' $tmp/e1.jsonl &&
         grep -qx '{\"role\":\"user\",\"content\":\"line one\\\\nline two\"}' $tmp/e1.jsonl"
    T send-keys -t chat "/exit" Enter
    check "editor: /exit leaves cleanly" "wait_for 'EXIT=0' 20"
    T kill-session -t chat
    check "history file: the messages, /exit not among them" \
        "grep -qx 'hello.040world' $h && grep -qx 'hello.040big.040world' $h &&
         grep -qx '/stats' $h && ! grep -q '^/exit' $h && ! grep -q junk $h"
    check "history file: a \"\"\" message is one entry" \
        "[ \$(grep -c 'line.040' $h) = 1 ] &&
         grep -qx '\"\"\".012line.040one.012line.040two.012\"\"\"' $h"
    check "history file: mode 0600" "[ \$(stat -c %a $h) = 600 ]"

    # a second run reads the history: Up, Up is the """ message (the /save line is the last)
    edit_chat --history-file "$h"
    check "second run: prompt" "wait_for '^> ' 60"
    T send-keys -t chat Up Up
    check "second run: Up recalls the last run's \"\"\" message" \
        "wait_line '^> \"\"\"$' && wait_for '^line two$' 5"
    T send-keys -t chat Enter
    check "recalled message answered" "wait_count '$answers' 1"
    T send-keys -t chat C-r
    T send-keys -t chat "big"
    check "Ctrl-R finds an older message" "wait_line '^> hello big world$'"
    T send-keys -t chat Enter
    check "found message answered" "wait_count '$answers' 2"
    T send-keys -t chat "resize me"
    wait_line '^> resize me$' >/dev/null
    T resize-window -t chat -x 100
    sleep 0.5
    T send-keys -t chat " now" Enter
    check "a resize while typing keeps the line" "wait_count '$answers' 3"
    T send-keys -t chat "/save $tmp/e2.jsonl" Enter
    wait_for "^saved .* to $tmp/e2.jsonl" 10 >/dev/null
    check "second run: the recalled, found and resized messages reached the model" \
        "[ \"\$(grep -o '\"content\":\"[^\"]*\"' $tmp/e2.jsonl | sed -n '1p;3p;5p')\" = \
           \"\$(printf '%s\\n' '\"content\":\"line one\\nline two\"' \
                  '\"content\":\"hello big world\"' '\"content\":\"resize me now\"')\" ]"
    T send-keys -t chat C-d
    check "Ctrl-D at an empty prompt leaves cleanly" "wait_for 'EXIT=0' 20"
    T kill-session -t chat

    # --no-history: the file is neither read nor written; Ctrl-C drops a message of two lines;
    # Ctrl-C twice at an empty prompt exits
    sum=$(cksum < "$h")
    edit_chat --history-file "$h" --no-history
    check "--no-history: prompt" "wait_for '^> ' 60"
    T send-keys -t chat Up
    sleep 0.5
    check "--no-history: nothing to recall" "wait_line '^>$'"
    T send-keys -t chat "part one \\" Enter "part two"
    wait_for '^\. part two$' 10 >/dev/null
    T send-keys -t chat C-c
    check "Ctrl-C drops a message of two lines" "wait_line '^>$'"
    T send-keys -t chat "/stats" Enter
    check "... unsent" "wait_for '^turns 0 \|' 10"
    T send-keys -t chat C-c
    check "Ctrl-C at an empty prompt: the hint" "wait_for 'Ctrl-C again' 10"
    T send-keys -t chat C-c
    check "Ctrl-C twice exits cleanly" "wait_for 'EXIT=0' 20"
    check "--no-history: the file unchanged" "[ \"\$(cksum < $h)\" = \"$sum\" ]"
    T kill-session -t chat
fi

[ $fail = 0 ] && echo "chat: all checks passed"
exit $fail
