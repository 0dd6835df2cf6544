#!/usr/bin/env bash
# Runs the whole test suite (builds first) and ends with "N passed, N failed, N skipped".
#   bash tools/test.sh [extra meson test args]
set -uo pipefail
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build >/dev/null || exit 1
ninja -C build >/dev/null || { ninja -C build; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
log=build/meson-logs/testlog-gpu.json  # --setup NAME writes testlog-NAME.json
rm -f "$log"
# --setup gpu: every suite, the GPU one included (its tests exit 77, skipped, without a GPU)
meson test -C build --setup gpu --print-errorlogs "$@"
rc=$?
if [ -f "$log" ]; then
    /usr/bin/python3 - "$log" <<'PY'
import json, sys
c = {"OK": 0, "FAIL": 0, "SKIP": 0}
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    key = {"OK": "OK", "EXPECTEDFAIL": "OK", "SKIP": "SKIP"}.get(r, "FAIL")
    c[key] += 1
print(f"{c['OK']} passed, {c['FAIL']} failed, {c['SKIP']} skipped")
PY
else
    echo "0 passed, 1 failed, 0 skipped"
    rc=1
fi
exit $rc
