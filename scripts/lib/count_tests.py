# SPDX-License-Identifier: Apache-2.0
"""Counts test results from meson's testlog.json for scripts/test.sh.

A Check binary prints "NN%: Checks: N, Failures: F, Errors: E"; each of its
checks counts once.  Any other test counts as one.  A binary that failed
without a Check summary (a crash, a sanitizer report) counts as one failure.
Prints "passed failed skipped".  With a second argument, writes one line
per failed test to that file (its name and the first Check failure or the
last line it printed), so the closing summary can say what failed even when
the log above it is cut.
"""
import json
import re
import sys

CHECK = re.compile(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)")
CHECK_FAILURE = re.compile(r"^.*:[EF]:.*$", re.MULTILINE)
passed = failed = skipped = 0
failures = []


def why(out):
    """The Check failure lines, else an e2e spec's FAIL lines, else the
    last non-empty line printed."""
    found = CHECK_FAILURE.findall(out) or re.findall(r"^FAIL .*$", out, re.MULTILINE)
    if found:
        return " | ".join(found[:3])
    lines = [l for l in out.splitlines() if l.strip()]
    return lines[-1] if lines else "no output"

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
        if not ok:
            failures.append(f"{t.get('name')} ({result}): {why(out)}")
print(passed, failed, skipped)
if len(sys.argv) > 2:
    with open(sys.argv[2], "w", encoding="utf-8") as report:
        for line in failures:
            report.write(line[:600] + "\n")
