#!/usr/bin/env bash
# The sanitizer part of CI (.ci/run runs it after tools/test.sh); ends with
# "N passed, N failed, N skipped" like tools/test.sh.
#   bash tools/sanitize.sh [FUZZ_SECONDS]     (default 45 s per fuzzer; 0: no fuzzing)
# 1. build-asan/ (gcc, -Db_sanitize=address,undefined, no GPU): the unit suite under
#    AddressSanitizer (leaks included) and UndefinedBehaviorSanitizer, which stop at the first
#    error. Left out as too slow there (10x and more): the CPU kernels' repeats with a forced
#    kernel set (*_c, *_avx2, *_avx512), the attention and sampler statistics, the ops benchmark.
# 2. every libFuzzer harness of tests/fuzz/ for FUZZ_SECONDS with its corpus (tools/fuzz.sh,
#    build-fuzz/, clang), $FUZZ_JOBS (2) at a time. A crash prints its reproducer (base64).
#    Without clang and libFuzzer the fuzzers count as skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-45}
jobs=${FUZZ_JOBS:-2}
b=build-asan
pass=0 failn=0 skip=0
t0=$(date +%s)

if [ ! -f $b/build.ninja ]; then
    meson setup $b -Db_sanitize=address,undefined -Dgpu=none > $b.setup.log 2>&1 ||
        { cat $b.setup.log; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
    mv $b.setup.log $b/meson-logs/sanitize-setup.log
fi
# the unit tests to run, and the programs they need (nothing else is built)
sel=$(meson introspect --tests $b | /usr/bin/python3 -c '
import json, os, re, sys
slow = re.compile(r"_(c|avx2|avx512)$|^test_attention|^test_sampler$|^bench_cpu_ops")
t = [x for x in json.load(sys.stdin) if "ferry:unit" in x["suite"] and not slow.search(x["name"])]
print(" ".join(sorted({os.path.relpath(x["cmd"][0], sys.argv[1]) for x in t})))
print(" ".join(x["name"] for x in t))' $b)
exes=$(sed -n 1p <<< "$sel")
names=$(sed -n 2p <<< "$sel")
if ! ninja -C $b $exes > $b/meson-logs/sanitize-build.log 2>&1; then
    tail -40 $b/meson-logs/sanitize-build.log
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi
t1=$(date +%s)
echo "sanitize: build-asan built in $((t1 - t0)) s"
rm -f $b/meson-logs/testlog.json
# shellcheck disable=SC2086
meson test -C $b --no-rebuild --print-errorlogs $names
read -r p f s < <(/usr/bin/python3 - $b/meson-logs/testlog.json <<'PY'
import json, sys
c = {"OK": 0, "FAIL": 0, "SKIP": 0}
try:
    for line in open(sys.argv[1]):
        r = json.loads(line)["result"]
        c[{"OK": "OK", "EXPECTEDFAIL": "OK", "SKIP": "SKIP"}.get(r, "FAIL")] += 1
except OSError:
    c["FAIL"] += 1
print(c["OK"], c["FAIL"], c["SKIP"])
PY
)
pass=$((pass + p)) failn=$((failn + f)) skip=$((skip + s))
t2=$(date +%s)
echo "sanitize: the unit suite under ASan + UBSan: $p passed, $f failed, $s skipped in $((t2 - t1)) s"

all=(gguf tokenize detok harmony placement bench_compare serve)
probe=$(mktemp -d)
if [ "$secs" = 0 ]; then
    echo "sanitize: no fuzzing (FUZZ_SECONDS 0)"
    skip=$((skip + ${#all[@]}))
elif ! command -v clang > /dev/null || ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
    clang -fsanitize=fuzzer -x c - -o "$probe/f" 2> /dev/null; then
    echo "sanitize: no clang with libFuzzer (apt-get install clang libclang-rt-14-dev): fuzzers skipped"
    skip=$((skip + ${#all[@]}))
elif ! bash tools/fuzz.sh build > "$probe/build.txt" 2>&1; then
    cat "$probe/build.txt"
    echo "sanitize: building the fuzzers failed"
    failn=$((failn + ${#all[@]}))
else
    echo "sanitize: build-fuzz built in $(($(date +%s) - t2)) s"
    # FUZZ_JOBS at a time; each prints its block when it ends
    running=0
    for n in "${all[@]}"; do
        FUZZ_NO_BUILD=1 bash tools/fuzz.sh "$n" "$secs" > "$probe/$n.txt" 2>&1 &
        running=$((running + 1))
        if [ $running -ge "$jobs" ]; then
            wait -n
            running=$((running - 1))
        fi
    done
    wait
    for n in "${all[@]}"; do
        cat "$probe/$n.txt"
        case $(grep "^fuzz $n: " "$probe/$n.txt" | tail -1) in
        "fuzz $n: ok"*) pass=$((pass + 1)) ;;
        "fuzz $n: skipped"*) skip=$((skip + 1)) ;;
        *) failn=$((failn + 1)) ;;
        esac
    done
fi
rm -rf "$probe"
echo "sanitize: fuzzing done in $(($(date +%s) - t2)) s; $(($(date +%s) - t0)) s in all"
echo "$pass passed, $failn failed, $skip skipped"
[ $failn = 0 ]
