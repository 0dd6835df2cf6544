#!/usr/bin/env bash
# The house layout (README "Where things are"): every #include of src/ points along the arrows
# (cli -> text, model, graph, placement -> gguf, cpu, hip -> core, plus the few sideways arrows
# listed below), no source file in src/ is over 850 lines, at most 8 .c files sit at the top of
# src/, and every folder of src/ is one the README names.
# usage: test_layout.sh SRCDIR       exit 0 pass, 1 fail
set -uo pipefail
exec /usr/bin/python3 - "$1" <<'PY'
import os, re, sys
src = os.path.join(sys.argv[1], "src")
# tiers: core 0 (src/ itself), 1 below the model, 2 the engine's parts, 3 the command line
tier = {"": 0, "gguf": 1, "cpu": 1, "hip": 1, "text": 2, "model": 2, "graph": 2, "placement": 2,
        "cli": 3}
# arrows inside a tier, one way each
side = {("hip", "cpu"), ("model", "text"), ("graph", "model"), ("graph", "placement")}
fail = []
top_c = 0
for dp, dn, fn in os.walk(src):
    for f in sorted(fn):
        p = os.path.join(dp, f)
        rel = os.path.relpath(p, src)
        folder = rel.split("/")[0] if "/" in rel else ""
        if folder not in tier:
            fail.append("%s: folder %s/ is not in the layout" % (rel, folder))
            continue
        if folder == "" and f.endswith(".c"):
            top_c += 1
        if not f.endswith((".c", ".h", ".hip", ".cc")):
            continue
        text = open(p, errors="replace").read()
        n = text.count("\n")
        if n > 850:
            fail.append("%s: %d lines (over 850)" % (rel, n))
        for m in re.finditer(r'^\s*#\s*include\s+"([^"]+)"', text, re.M):
            inc = m.group(1)
            cands = [os.path.normpath(os.path.join(dp, inc)), os.path.normpath(os.path.join(src, inc))]
            t = next((c for c in cands if os.path.isfile(c)), None)
            if not t:
                continue  # generated (fy_config.h, fy_git.h) or a system header
            trel = os.path.relpath(t, src)
            tf = trel.split("/")[0] if "/" in trel else ""
            if tf == folder or (folder, tf) in side or tier.get(tf, 9) < tier[folder]:
                continue
            fail.append("%s includes %s: against the arrows" % (rel, trel))
if top_c > 8:
    fail.append("%d .c files at the top of src/ (at most 8)" % top_c)
for f in fail:
    print("FAIL", f)
print("layout: %d .c files at the top of src/; %s" % (top_c, "FAILED" if fail else "ok"))
sys.exit(1 if fail else 0)
PY
