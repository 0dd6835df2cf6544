#!/usr/bin/python3
"""Compare two logits files (float32 little-endian, [rows][vocab]).

    /usr/bin/python3 compare.py A.bin B.bin --vocab N [--tol 1e-3]
        [--margins M.bin --min-margin 1e-3] [--label TEXT] [--centered]

A is the engine under test, B the reference. Per row: relative error ||a - b|| / ||b|| and
arg-max agreement. Fails (exit 1) if any row has rel err >= tol or a different arg-max, except
rows whose router margin (from --margins, float32 [rows]) is below --min-margin: those are
reported and excluded from both gates, and more than 5% of rows excluded is itself a failure.
--centered subtracts each row's mean first (gpt-oss.md §8 uses that form against llama.cpp).
--fast-gates: the gates of issue 11 for kernel sets with int8 activations, instead of the
per-row ones: rel err median <= 0.015 and p90 <= 0.02 over all rows, the same arg-max on at
least 95% of the rows whose reference top-2 margin is >= 1e-3, every logit finite.
"""

import argparse
import os
import sys

import numpy as np

MAX_EXCLUDED_FRACTION = 0.05


def fail(msg):
    print("compare: FAIL: " + msg)
    return 1


FAST_MEDIAN, FAST_P90, FAST_ARGMAX, FAST_MARGIN = 0.015, 0.02, 0.95, 1e-3


def fast_gates(label, a, b, rel, agree):
    status = 0
    top2 = np.sort(b, axis=1)[:, -2:]
    decided = (top2[:, 1] - top2[:, 0]) >= FAST_MARGIN
    med, p90 = float(np.median(rel)), float(np.percentile(rel, 90))
    frac = float(agree[decided].mean()) if decided.any() else 1.0
    print("%s: fast gates: median %.3e (<= %g), p90 %.3e (<= %g), arg-max agree %.3f of %d rows "
          "with top-2 margin >= %g (>= %g)"
          % (label, med, FAST_MEDIAN, p90, FAST_P90, frac, int(decided.sum()), FAST_MARGIN,
             FAST_ARGMAX))
    if not np.isfinite(a).all():
        status = fail("%s: non-finite logits" % label)
    if not med <= FAST_MEDIAN:
        status = fail("%s: median rel err %.3e > %g" % (label, med, FAST_MEDIAN))
    if not p90 <= FAST_P90:
        status = fail("%s: p90 rel err %.3e > %g" % (label, p90, FAST_P90))
    if not frac >= FAST_ARGMAX:
        status = fail("%s: arg-max agrees on %.3f of the decided rows (< %g)"
                      % (label, frac, FAST_ARGMAX))
    if status == 0:
        print("%s: PASS (fast gates)" % label)
    return status


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", help="logits under test")
    ap.add_argument("b", help="reference logits")
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--margins", help="per-row router margins, float32")
    ap.add_argument("--min-margin", type=float, default=1e-3)
    ap.add_argument("--label", default="compare")
    ap.add_argument("--centered", action="store_true",
                    help="relative error of the row-centered logits (a - mean a vs b - mean b)")
    ap.add_argument("--fast-gates", action="store_true",
                    help="median/p90/arg-max-fraction gates (int8 activations)")
    args = ap.parse_args(argv)
    label = args.label

    if args.vocab <= 0:
        return fail("%s: --vocab must be positive" % label)
    for path in (args.a, args.b):
        if not os.path.isfile(path):
            return fail("%s: no such file %s" % (label, path))
    size_a, size_b = os.path.getsize(args.a), os.path.getsize(args.b)
    row_bytes = 4 * args.vocab
    if size_a != size_b:
        return fail("%s: sizes differ: %s is %d bytes, %s is %d bytes (%.3f vs %.3f rows)"
                    % (label, args.a, size_a, args.b, size_b, size_a / row_bytes,
                       size_b / row_bytes))
    if size_a == 0 or size_a % row_bytes:
        return fail("%s: size %d bytes is not a positive multiple of 4 * vocab = %d"
                    % (label, size_a, row_bytes))
    rows = size_a // row_bytes
    a = np.fromfile(args.a, dtype="<f4").astype(np.float64).reshape(rows, args.vocab)
    b = np.fromfile(args.b, dtype="<f4").astype(np.float64).reshape(rows, args.vocab)

    excluded = np.zeros(rows, dtype=bool)
    if args.margins:
        if not os.path.isfile(args.margins):
            return fail("%s: no such margins file %s" % (label, args.margins))
        if os.path.getsize(args.margins) != 4 * rows:
            return fail("%s: margins file has %d bytes, expected 4 * %d rows"
                        % (label, os.path.getsize(args.margins), rows))
        margins = np.fromfile(args.margins, dtype="<f4").astype(np.float64)
        excluded = margins < args.min_margin

    arg_a, arg_b = a.argmax(axis=1), b.argmax(axis=1)
    agree = arg_a == arg_b
    if args.centered:
        a = a - a.mean(axis=1, keepdims=True)
        b = b - b.mean(axis=1, keepdims=True)
    diff = np.linalg.norm(a - b, axis=1)
    norm_b = np.linalg.norm(b, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(norm_b > 0, diff / norm_b, np.where(diff == 0, 0.0, np.inf))
    rel = np.where(np.isfinite(a).all(axis=1), rel, np.inf)        # NaN/inf in A: bad row

    worst = int(np.argmax(rel))
    print("%s: rows=%d %srel_err median=%.3e p90=%.3e max=%.3e (row %d) argmax_agree=%d/%d "
          "excluded=%d tol=%.1e"
          % (label, rows, "centered " if args.centered else "", np.median(rel),
             np.percentile(rel, 90), rel[worst], worst,
             int(agree.sum()), rows, int(excluded.sum()), args.tol))

    if args.fast_gates:
        return fast_gates(label, a, b, rel, agree)

    status = 0
    if excluded.any():
        idx = np.nonzero(excluded)[0]
        print("%s: %d row(s) excluded for router margin < %g: %s%s"
              % (label, idx.size, args.min_margin, ", ".join(map(str, idx[:20])),
                 " ..." if idx.size > 20 else ""))
        if idx.size > MAX_EXCLUDED_FRACTION * rows:
            status = fail("%s: %d of %d rows excluded (more than %d%%)"
                          % (label, idx.size, rows, int(MAX_EXCLUDED_FRACTION * 100)))
    strict = ~excluded
    bad_err = np.nonzero(strict & ~(rel < args.tol))[0]
    bad_arg = np.nonzero(strict & ~agree)[0]
    for i in bad_err[:10]:
        print("%s: row %d rel err %.3e >= tol %.1e" % (label, i, rel[i], args.tol))
    for i in bad_arg[:10]:
        print("%s: row %d argmax %d != reference %d (logits %.6g vs %.6g)"
              % (label, i, arg_a[i], arg_b[i], b[i, arg_a[i]], b[i, arg_b[i]]))
    if bad_err.size:
        status = fail("%s: %d row(s) with rel err >= %.1e" % (label, bad_err.size, args.tol))
    if bad_arg.size:
        status = fail("%s: %d row(s) with a different argmax" % (label, bad_arg.size))
    if status == 0:
        print("%s: PASS" % label)
    return status


if __name__ == "__main__":
    sys.exit(main())
