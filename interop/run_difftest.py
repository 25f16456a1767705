#!/usr/bin/env python3
"""Run the shared differential scenarios (../shared/difftest) against our daemons.

Scenarios that need a daemon we do not ship yet are listed as not run, never
counted as passed.  Prints difftest's own `N passed, M failed` line; exits
non-zero if any scenario failed or the runner is missing.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("PYVSWITCH_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
RUNNER = os.path.join(SHARED, "difftest", "difftest")
SCENARIOS = os.path.join(SHARED, "difftest", "scenarios")
# Which daemons we ship; a scenario's "# needs:" names must all be here.
PROVIDED = {"root", "vswitchd"}
# Scenarios whose feature has not landed yet: listed as not run, never as passed.
PENDING: dict[str, str] = {}


def needs(path):
    out = set()
    with open(path) as f:
        for line in f:
            m = re.match(r"#\s*needs:\s*(.*)", line)
            if m:
                out.update(m.group(1).split())
    return out


def main():
    if not os.path.exists(RUNNER):
        print(f"run_difftest: {RUNNER} not found", file=sys.stderr)
        return 1
    run, skipped = [], []
    for name in sorted(os.listdir(SCENARIOS)):
        path = os.path.join(SCENARIOS, name)
        if name in PENDING and not os.environ.get("PYVSWITCH_RUN_PENDING"):
            skipped.append((name, PENDING[name]))
        elif needs(path) <= PROVIDED:
            run.append(path)
        else:
            skipped.append((name, "needs " + " ".join(sorted(needs(path) - PROVIDED))))
    for name, why in skipped:
        print(f"NOT RUN {name} ({why})")
    env = dict(os.environ)
    venv_bin = os.path.join(ROOT, ".venv", "bin")
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    return subprocess.call([sys.executable, RUNNER, *run], env=env, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
