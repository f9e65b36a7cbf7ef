#!/usr/bin/python3
"""Counts the results of every test: each TAP line of each meson test log
given, plus extra results named on the command line as NAME=ok|fail.
Prints one line per failure and ends with 'N passed, N failed'."""

import json
import re
import sys

passed = failed = 0
failures = []
for arg in sys.argv[1:]:
    if "=" in arg and not arg.endswith(".json"):
        name, result = arg.split("=", 1)
        if result == "ok":
            passed += 1
        else:
            failed += 1
            failures.append(name)
        continue
    with open(arg) as f:
        for line in f:
            t = json.loads(line)
            tap = [l for l in (t.get("stdout") or "").splitlines()
                   if re.match(r"(not )?ok \d+", l)]
            if tap and t.get("result") not in ("TIMEOUT",):
                for l in tap:
                    if l.startswith("ok"):
                        passed += 1
                    else:
                        failed += 1
                        failures.append(f"{t['name']}: {l}")
                planned = re.search(r"^1\.\.(\d+)", t.get("stdout") or "", re.M)
                if planned and int(planned.group(1)) > len(tap):
                    missing = int(planned.group(1)) - len(tap)
                    failed += missing
                    failures.append(f"{t['name']}: {missing} planned test(s) "
                                    f"never ran ({t['result']})")
            elif t.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
                passed += 1
            else:
                failed += 1
                failures.append(f"{t['name']}: {t.get('result')}")
for f in failures:
    print(f"FAILED {f}")
print(f"{passed} passed, {failed} failed")
