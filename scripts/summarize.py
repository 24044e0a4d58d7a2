#!/usr/bin/python3
"""Adds up the results of a test run into one line: N passed, N failed, N skipped.

Reads from RESULTS: units-*.json (meson's test log: cmocka tests report TAP,
and every "ok"/"not ok" line counts as one test; a test program that failed
without any TAP line counts as one failure), e2e-*.xml (pytest junit XML) and
fuzz.txt (one line per fuzz target). The second argument is the number of
builds that failed, each counted as one failure.
"""
import glob
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

TAP = re.compile(r"^(ok|not ok)\b(.*)$")


def count_units(path):
    passed = failed = skipped = 0
    with open(path) as f:
        for line in f:
            entry = json.loads(line)
            out = entry.get("stdout") or ""
            p = f_ = s = 0
            for tap in out.splitlines():
                m = TAP.match(tap)
                if not m:
                    continue
                if "# SKIP" in m.group(2):
                    s += 1
                elif m.group(1) == "ok":
                    p += 1
                else:
                    f_ += 1
            if entry.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL") and f_ == 0:
                f_ = 1
                print(f"unit test program failed: {entry.get('name')}: {entry.get('result')}")
            passed, failed, skipped = passed + p, failed + f_, skipped + s
    return passed, failed, skipped


def count_junit(path):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    passed = failed = skipped = 0
    for s in suites:
        total = int(s.get("tests", 0))
        fails = int(s.get("failures", 0)) + int(s.get("errors", 0))
        skips = int(s.get("skipped", 0))
        passed += total - fails - skips
        failed += fails
        skipped += skips
    return passed, failed, skipped


def main():
    results, failed_builds = sys.argv[1], int(sys.argv[2])
    totals = [0, failed_builds, 0]
    parts = []
    for path in sorted(glob.glob(os.path.join(results, "units-*.json"))):
        parts.append((os.path.basename(path), count_units(path)))
    for path in sorted(glob.glob(os.path.join(results, "e2e-*.xml"))):
        parts.append((os.path.basename(path), count_junit(path)))
    fuzz = os.path.join(results, "fuzz.txt")
    if os.path.exists(fuzz):
        with open(fuzz) as f:
            lines = [l for l in f if l.strip()]
        ok = sum(1 for l in lines if l.rstrip().endswith(": ok"))
        parts.append(("fuzz.txt", (ok, len(lines) - ok, 0)))
    for name, (p, f_, s) in parts:
        print(f"  {name}: {p} passed, {f_} failed, {s} skipped")
        totals[0] += p
        totals[1] += f_
        totals[2] += s
    print(f"{totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 0 if totals[1] == 0 and totals[0] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
