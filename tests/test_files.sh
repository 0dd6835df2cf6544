#!/usr/bin/env bash
# The files a user names are safe (src/outfile.c, src/infile.c).
# Outputs (synth -o, logits -o, sweep-bench --plot, chat's /save) to a FIFO, a symlink to a
# regular file, a symlink to a FIFO, a dangling symlink, a full device, a directory, an existing
# file with its own mode, "-": a FIFO stays a FIFO and receives the bytes, a link stays a link
# and its target gets the content, the full device gives ENOSPC and exit 1, and nothing is left
# behind. Never names /dev/null or /dev/full as an output: private device nodes are made in a
# temporary folder (mknod DIR/full c 1 7; skipped where mknod is not allowed).
# Standard output on a full device: every command that writes there says so and exits 1.
# Inputs: /dev/zero through every input flag and chat's standard input, and regular files over
# the limit: exit 1 within seconds (bench-compare: 2, its file-error status), the limit in the
# message, peak RSS under 512 MiB. Inputs that cannot be read (a directory, a missing file, a
# path through a file; tests run as root, so no chmod 000): the path and the reason, the
# command's exit status. Ctrl-C during synth leaves no temporary file.
# usage: test_files.sh FERRY       exit 0 pass, 1 fail
set -uo pipefail
ferry=$1
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/ferry-files.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=testlib.sh
source "$(dirname "$0")/testlib.sh"

"$ferry" synth --preset tiny --toy-vocab 1024 --seed 3 -q -o "$tmp/m.gguf" > /dev/null || exit 1
m=$tmp/m.gguf
printf '{"type":"test","name":"pp8","n_depth":0,"median_ts":10}\n' > "$tmp/b.jsonl"
have_mknod=1
mknod "$tmp/probe" c 1 7 2> /dev/null || have_mknod=0
rm -f "$tmp/probe"
[ $have_mknod = 1 ] || echo "note: mknod not allowed here: the full-device cases are skipped"

# write KIND PATH: runs the command of KIND with PATH as its output; its output on stdout/stderr
write() {
    local kind=$1 path=$2
    case $kind in
    synth) "$ferry" synth --preset tiny --toy-vocab 1024 --seed 4 -q -o "$path" ;;
    logits) "$ferry" logits -m "$m" --tokens 1,2,3,4 -t 2 -o "$path" ;;
    plot) "$ferry" sweep-bench -m "$m" -c 128 -ub 64 -n 2 -t 2 --plot "$path" ;;
    save) printf 'hello\n/save %s\n/exit\n' "$path" |
        "$ferry" chat -m "$m" -n 4 --temp 0 --date 2026-01-01 -t 2 ;;
    esac
}
# same KIND FILE: FILE holds what KIND writes (byte for byte; the plot, whose numbers are
# timings, must be a whole SVG)
same() {
    case $1 in
    plot) head -c 200 "$2" | grep -q '<svg' && tail -c 10 "$2" | grep -q '</svg>' ;;
    *) cmp -s "$tmp/ref.$1" "$2" ;;
    esac
}
# leftovers DIR: lists temporary files left in DIR
leftovers() { find "$1" -maxdepth 1 -name '*.tmp*' -printf '%f '; }

for kind in synth logits plot save; do
    d=$tmp/$kind
    mkdir -p "$d"
    # the reference: a new regular file
    if write $kind "$tmp/ref.$kind" > "$d/out.txt" 2>&1 && [ -f "$tmp/ref.$kind" ] &&
        same $kind "$tmp/ref.$kind"; then ok "$kind: new regular file"; else
        bad "$kind: new regular file ($(head -c 400 "$d/out.txt"))"; fi

    # a FIFO stays a FIFO and receives the bytes
    mkfifo "$d/fifo"
    cat "$d/fifo" > "$d/fifo.got" &
    reader=$!
    write $kind "$d/fifo" > "$d/out.txt" 2>&1
    rc=$?
    wait $reader
    if [ $rc = 0 ] && [ -p "$d/fifo" ] && same $kind "$d/fifo.got"; then ok "$kind: FIFO"; else
        bad "$kind: FIFO (exit $rc, $(stat -c %F "$d/fifo"), $(wc -c < "$d/fifo.got") bytes)"; fi

    # a symlink to a regular file (relative): the link stays, its target gets the content
    echo old > "$d/target"
    chmod 640 "$d/target"
    ln -s target "$d/link"
    write $kind "$d/link" > "$d/out.txt" 2>&1
    rc=$?
    if [ $rc = 0 ] && [ -L "$d/link" ] && [ "$(readlink "$d/link")" = target ] &&
        same $kind "$d/target" && [ "$(stat -c %a "$d/target")" = 640 ]; then
        ok "$kind: symlink to a regular file (mode kept)"; else
        bad "$kind: symlink to a regular file (exit $rc, $(stat -c '%F %a' "$d/target"))"; fi

    # a symlink to a FIFO, through a second link in another folder
    mkfifo "$d/fifo2"
    mkdir "$d/sub"
    ln -s ../fifo2 "$d/sub/l1"
    ln -s "$d/sub/l1" "$d/l2"
    cat "$d/fifo2" > "$d/fifo2.got" &
    reader=$!
    write $kind "$d/l2" > "$d/out.txt" 2>&1
    rc=$?
    wait $reader
    if [ $rc = 0 ] && [ -L "$d/l2" ] && [ -L "$d/sub/l1" ] && [ -p "$d/fifo2" ] &&
        same $kind "$d/fifo2.got"; then ok "$kind: symlinks to a FIFO"; else
        bad "$kind: symlinks to a FIFO (exit $rc)"; fi

    # a dangling symlink: the file it names is created
    ln -s made "$d/dangling"
    write $kind "$d/dangling" > "$d/out.txt" 2>&1
    rc=$?
    if [ $rc = 0 ] && [ -L "$d/dangling" ] && [ -f "$d/made" ] && same $kind "$d/made"; then
        ok "$kind: dangling symlink"; else bad "$kind: dangling symlink (exit $rc)"; fi

    # a full device: ENOSPC reported with the path, exit 1 (chat: the chat goes on), the device
    # stays a device
    if [ $have_mknod = 1 ]; then
        mknod "$d/full" c 1 7
        write $kind "$d/full" > "$d/out.txt" 2>&1
        rc=$?
        want=1
        [ $kind = save ] && want=0
        if [ $rc = $want ] && [ -c "$d/full" ] &&
            grep -q "$d/full: write failed: No space left on device" "$d/out.txt"; then
            ok "$kind: full device gives ENOSPC"; else
            bad "$kind: full device (exit $rc, want $want: $(head -c 400 "$d/out.txt"))"; fi
    fi

    # a directory: refused, untouched
    mkdir "$d/dir"
    write $kind "$d/dir" > "$d/out.txt" 2>&1
    rc=$?
    want=1
    [ $kind = save ] && want=0
    if [ $rc = $want ] && [ -d "$d/dir" ] && [ -z "$(ls -A "$d/dir")" ] &&
        grep -q "$d/dir: is a directory" "$d/out.txt"; then ok "$kind: directory refused"; else
        bad "$kind: directory (exit $rc: $(head -c 400 "$d/out.txt"))"; fi

    # a folder that does not exist: the message says so (not a stale errno)
    write $kind "$d/nodir/x" > "$d/out.txt" 2>&1
    rc=$?
    if [ $rc = $want ] && grep -q "nodir/x: cannot create: No such file or directory" \
        "$d/out.txt" && ! grep -q "ioctl" "$d/out.txt"; then ok "$kind: missing folder"; else
        bad "$kind: missing folder (exit $rc: $(head -c 400 "$d/out.txt"))"; fi

    left=$(leftovers "$d")
    [ -z "$left" ] && ok "$kind: no temporary file left" || bad "$kind: left behind: $left"
done

# "-" is standard output
"$ferry" logits -m "$m" --tokens 1,2,3,4 -t 2 -o - > "$tmp/stdout.logits" 2> /dev/null
cmp -s "$tmp/ref.logits" "$tmp/stdout.logits" && ok "logits -o - writes standard output" ||
    bad "logits -o -"
"$ferry" synth --preset tiny --toy-vocab 1024 --seed 4 -q -o - > "$tmp/stdout.synth" 2> /dev/null
cmp -s "$tmp/ref.synth" "$tmp/stdout.synth" && ok "synth -o - writes standard output" ||
    bad "synth -o -"

# sweep-bench --plot to a path that cannot be written fails before the benchmark
start=$(date +%s%N)
expect "sweep-bench --plot unwritable fails first" 1 "nodir/p.svg: cannot create" \
    "$ferry" sweep-bench -m "$m" -c 4096 -ub 64 -n 32 -t 2 --plot "$tmp/nodir/p.svg"
ms=$((($(date +%s%N) - start) / 1000000))
[ $ms -lt 3000 ] && ok "  ... in $ms ms" || bad "sweep-bench --plot failed only after $ms ms"

# Ctrl-C (and SIGTERM) while synth writes: the temporary file goes too. Started from python3 with
# the default SIGINT action (a shell's background job would ignore SIGINT).
for sig in INT TERM; do
    rm -rf "$tmp/int"
    mkdir "$tmp/int"
    res=$("$py" - "$sig" "$tmp/int" "$ferry" <<'PY'
import os, signal, subprocess, sys, time
sig, d, ferry = getattr(signal, "SIG" + sys.argv[1]), sys.argv[2], sys.argv[3]
p = subprocess.Popen([ferry, "synth", "--preset", "tiny", "--toy-vocab", "1024", "--layers", "24",
                      "--d-model", "1024", "--ff", "1024", "-q", "-o", os.path.join(d, "big.gguf")],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
seen = []
for _ in range(500):
    seen = [f for f in os.listdir(d) if ".tmp" in f]
    if seen: break
    time.sleep(0.005)
p.send_signal(sig)
rc = p.wait()
left = os.listdir(d)
ok = seen and rc == -sig and not left
print("%s seen %s, exit %d, left %s" % ("ok" if ok else "bad", seen, rc, left))
PY
)
    case $res in ok*) ok "SIG$sig during synth: $res" ;; *) bad "SIG$sig during synth: $res" ;; esac
done

# ---- standard output on a full device: the error said, exit 1 ----
if [ $have_mknod = 1 ]; then
    mknod "$tmp/full" c 1 7
    # fullout NAME PATTERN cmd...: stdout on the full device, exit 1, PATTERN in stderr
    fullout() {
        local name=$1 pat=$2 out rc
        shift 2
        out=$("$@" 2>&1 > "$tmp/full" < /dev/null)
        rc=$?
        if [ $rc = 1 ] && grep -Eq -- "$pat" <<< "$out"; then ok "stdout full: $name"; else
            bad "stdout full: $name (exit $rc: $(head -c 300 <<< "$out"))"; fi
    }
    enospc="writing standard output failed: No space left on device"
    fullout "ferry -h" "$enospc" "$ferry" -h
    fullout "ferry --version" "$enospc" "$ferry" --version
    fullout "run -h" "$enospc" "$ferry" run -h
    fullout "tokenize" "$enospc" "$ferry" tokenize -m "$m" -p "hello world"
    fullout "tokenize --ids" "$enospc" "$ferry" tokenize -m "$m" -p "hello world" --ids
    fullout "run -p (stops at the first token)" "run: $enospc" \
        "$ferry" run -m "$m" -p hi -n 400 -t 2
    fullout "run --tokens" "run: $enospc" "$ferry" run -m "$m" --tokens 1,2,3 -n 4 -t 2
    fullout "plan" "plan: writing the report failed" "$ferry" plan -m "$m"
    fullout "bench -o jsonl" "bench: writing the results to stdout failed" \
        "$ferry" bench -m "$m" -p 8 -n 4 -r 1 -t 2 -o jsonl
    fullout "sweep-bench" "writing standard output failed" \
        "$ferry" sweep-bench -m "$m" -c 128 -ub 64 -n 2 -t 2
    fullout "bench-compare" "$enospc" "$ferry" bench-compare "$tmp/b.jsonl" "$tmp/b.jsonl"
    fullout "logits -o -" "-: write failed: No space left on device" \
        "$ferry" logits -m "$m" --tokens 1,2 -t 2 -o -
    fullout "synth -o -" "-: write failed: No space left on device" \
        "$ferry" synth --preset tiny --toy-vocab 300 --layers 1 -q -o -
    out=$(printf 'hello\n/exit\n' | "$ferry" chat -m "$m" -n 2 -t 2 2>&1 > "$tmp/full")
    rc=$?
    [ $rc = 1 ] && grep -q "writing standard output failed" <<< "$out" && ok "stdout full: chat" ||
        bad "stdout full: chat (exit $rc: $(head -c 300 <<< "$out"))"
fi

# ---- inputs that cannot be read: the path and why, the command's exit status ----
mkdir -p "$tmp/adir"
for c in run tokenize plan chat bench sweep-bench; do
    p=()
    [ $c = run ] || [ $c = tokenize ] && p=(-p hi)
    expect "$c -m DIR" 1 "$tmp/adir: not a regular file" "$ferry" $c -m "$tmp/adir" "${p[@]}"
done
expect "logits -m DIR" 1 "$tmp/adir: not a regular file" \
    "$ferry" logits -m "$tmp/adir" --tokens 1 -o "$tmp/never.bin"
expect "run -m FILE/x" 1 "m.gguf/x: open: Not a directory" "$ferry" run -m "$m/x" -p hi
for c in run tokenize; do
    expect "$c -f DIR" 1 "-f $tmp/adir: is a directory, not a file" \
        "$ferry" $c -m "$m" -f "$tmp/adir"
    expect "$c -f missing" 1 "-f $tmp/nope.txt: cannot open: No such file or directory" \
        "$ferry" $c -m "$m" -f "$tmp/nope.txt"
done
expect "run --tokens-file DIR (a usage error)" 2 "--tokens-file $tmp/adir: is a directory" \
    "$ferry" run -m "$m" --tokens-file "$tmp/adir"
expect "bench-compare DIR" 2 "bench-compare $tmp/adir: is a directory, not a file" \
    "$ferry" bench-compare "$tmp/adir" "$tmp/b.jsonl"
expect "bench-compare missing" 2 "bench-compare $tmp/nope.jsonl: cannot open: No such file" \
    "$ferry" bench-compare "$tmp/b.jsonl" "$tmp/nope.jsonl"
expect "synth --vocab DIR" 1 "vocabulary $tmp/adir: is a directory, not a file" \
    "$ferry" synth --preset tiny --vocab "$tmp/adir" -o "$tmp/v.gguf"
out=$(printf '/load %s\n/load %s\n/exit\n' "$tmp/adir" "$tmp/nope.jsonl" |
    "$ferry" chat -m "$m" -n 2 -t 2 2>&1)
grep -q "/load $tmp/adir: is a directory, not a file" <<< "$out" &&
    grep -q "/load $tmp/nope.jsonl: cannot open: No such file or directory" <<< "$out" &&
    ok "chat /load DIR, /load missing: said, the chat goes on" || bad "chat /load ($out)"
[ ! -e "$tmp/never.bin" ] && [ ! -e "$tmp/v.gguf" ] && ok "no output after an input error" ||
    bad "an output was left after an input error"

# ---- inputs: limits ----
# limited RC PATTERN STDIN cmd...: exit RC within 10 s, PATTERN in stderr, peak RSS < 512 MiB
limited() {
    local rc=$1 pat=$2 in=$3
    shift 3
    local res
    res=$("$py" - "$rc" "$pat" "$in" "$@" <<'PY'
import re, resource, subprocess, sys, time
rc, pat, stdin = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cmd = sys.argv[4:]
t = time.monotonic()
try:
    p = subprocess.run(cmd, stdin=open(stdin, "rb"), stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=60)
except subprocess.TimeoutExpired:
    print("timed out after 60 s"); sys.exit(0)
dt = time.monotonic() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
err = p.stderr.decode(errors="replace")
why = []
if p.returncode != rc: why.append("exit %d, want %d" % (p.returncode, rc))
if not re.search(pat, err): why.append("no /%s/ in: %s" % (pat, err[-300:].strip()))
if dt > 10: why.append("took %.1f s" % dt)
if rss >= 512: why.append("peak RSS %d MiB" % rss)
print("; ".join(why) if why else "ok (%.2f s, peak RSS %d MiB)" % (dt, rss))
PY
)
    case $res in ok*) ok "$* $res" ;; *) bad "$*: $res" ;; esac
}
z=/dev/zero
printf '%s\n' "$(seq -s, 1 10)" > "$tmp/ids.txt"
truncate -s 65M "$tmp/big.txt"
for c in run chat logits bench; do
    extra=()
    [ $c = logits ] && extra=(-o "$tmp/never.bin")
    limited 2 "--tokens-file $z: more than 64 MiB" "$tmp/ids.txt" \
        "$ferry" $c -m "$m" --tokens-file $z "${extra[@]}"
    limited 2 "--tokens-file $tmp/big.txt: 68157440 bytes, more than 64 MiB" "$tmp/ids.txt" \
        "$ferry" $c -m "$m" --tokens-file "$tmp/big.txt" "${extra[@]}"
done
[ ! -e "$tmp/never.bin" ] && [ -z "$(leftovers "$tmp")" ] && ok "logits: no output on an input error" ||
    bad "logits left an output after an input error"
for c in run tokenize; do
    limited 1 "-f $z: more than 64 MiB" "$tmp/ids.txt" "$ferry" $c -m "$m" -f $z
    limited 1 "-f $tmp/big.txt: 68157440 bytes, more than 64 MiB" "$tmp/ids.txt" \
        "$ferry" $c -m "$m" -f "$tmp/big.txt"
done
limited 2 "bench-compare $z: more than 64 MiB" "$tmp/ids.txt" "$ferry" bench-compare $z $z
limited 2 "bench-compare $tmp/big.txt: 68157440 bytes, more than 64 MiB" "$tmp/ids.txt" \
    "$ferry" bench-compare "$tmp/big.txt" "$tmp/big.txt"
limited 1 "vocabulary $z: more than 64 MiB" "$tmp/ids.txt" \
    "$ferry" synth --preset tiny --vocab $z -o "$tmp/v.gguf"
[ ! -e "$tmp/v.gguf" ] && ok "synth: no output on a vocabulary error" || bad "synth left v.gguf"
limited 1 "line of standard input is longer than 16 MiB" $z "$ferry" chat -m "$m" -n 2

# chat: invalid messages on a pipe (invalid UTF-8, NUL bytes) end it after 8 in a row, exit 1;
# valid input after a few of them goes on; an invalid one at the very end gives exit 1
for i in $(seq 12); do printf 'bad \xff\xfe message\n'; done > "$tmp/bad.txt"
limited 1 "8 invalid messages in a row" "$tmp/bad.txt" "$ferry" chat -m "$m" -n 2
{ printf 'a\0b\n'; printf 'bad \xff\n'; printf 'fine\n/exit\n'; } > "$tmp/mixed.txt"
limited 0 "" "$tmp/mixed.txt" "$ferry" chat -m "$m" -n 2 --temp 0
printf 'fine\nbad \xff\n' > "$tmp/tail.txt"
limited 1 "input ended with 1 invalid message" "$tmp/tail.txt" "$ferry" chat -m "$m" -n 2 --temp 0
out=$({ printf 'a\0b\n'; printf '/exit\n'; } | "$ferry" chat -m "$m" -n 2 2>&1)
grep -q "not sent: it contains a NUL byte" <<< "$out" && ok "chat: NUL byte refused" ||
    bad "chat: NUL byte ($out)"
# a message over 1 MiB is refused (the rest of its line skipped), the chat goes on
{ head -c 1100000 < /dev/zero | tr '\0' x; printf '\n/stats\n/exit\n'; } > "$tmp/long.txt"
out=$("$ferry" chat -m "$m" -n 2 < "$tmp/long.txt" 2>&1)
rc=$?
if [ $rc = 0 ] && grep -q "longer than the limit of 1 MiB" <<< "$out" && grep -q "^turns 0" <<< "$out"; then
    ok "chat: 1.1 MB message refused, /stats still read"; else
    bad "chat: long message (exit $rc: $(head -c 400 <<< "$out"))"; fi

exit $fail
