# Shared by the shell tests: sourced after `tmp` is set up. Results accumulate in $fail.
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
# expect NAME RC PATTERN cmd...: exit status RC and combined output matching PATTERN (grep -E)
expect() {
    local name=$1 rc=$2 pat=$3
    shift 3
    local out got
    out=$("$@" 2>&1)
    got=$?
    if [ "$got" = "$rc" ] && grep -Eq -- "$pat" <<< "$out"; then ok "$name"; else
        bad "$name (exit $got, want $rc; output: $(head -c 600 <<< "$out"))"; fi
}
