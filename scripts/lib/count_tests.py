# SPDX-License-Identifier: Apache-2.0
"""Counts test results from meson's testlog.json for scripts/test.sh.

A Check binary prints "NN%: Checks: N, Failures: F, Errors: E"; each of its
checks counts once.  Any other test counts as one.  A binary that failed
without a Check summary (a crash, a sanitizer report) counts as one failure.
Prints "passed failed skipped".
"""
import json
import re
import sys

CHECK = re.compile(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)")
passed = failed = skipped = 0
with open(sys.argv[1], encoding="utf-8", errors="replace") as log:
    for line in log:
        try:
            t = json.loads(line)
        except json.JSONDecodeError:
            # An unreadable record cannot prove a pass.
            print("count_tests: unreadable line in testlog.json", file=sys.stderr)
            failed += 1
            continue
        result = t.get("result")
        if result == "SKIP":
            skipped += 1
            continue
        out = (t.get("stdout") or "") + (t.get("stderr") or "")
        checks = CHECK.findall(out)
        ok = result in ("OK", "EXPECTEDFAIL")
        if checks:
            n = sum(int(c[0]) for c in checks)
            bad = sum(int(c[1]) + int(c[2]) for c in checks)
            passed += n - bad
            failed += bad
            if not ok and bad == 0:
                failed += 1
        elif ok:
            passed += 1
        else:
            failed += 1
print(passed, failed, skipped)
