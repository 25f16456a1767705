"""bond/show, bond/list, lacp/show and the bond columns against ovs-vswitchd (difftest).

Runs ``interop/scenarios/bond-show.sh`` through the shared differential runner
(``difftest --impl both``): the same configuration of a two-member bond on dummy ports,
with set-active-slave, admin-state failover, delays, a primary, balance-slb with LACP (no
partner: expired, then defaulted), passive LACP with fallback, the error texts and
``Interface:lacp_current`` / ``Port:bond_active_slave``, on Open vSwitch and on ours.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from interop.conftest import requires_ovs
from interop.harness import ROOT

SHARED = os.environ.get("PYVSWITCH_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
RUNNER = os.path.join(SHARED, "difftest", "difftest")
SCENARIO = os.path.join(ROOT, "interop", "scenarios", "bond-show.sh")

pytestmark = [
    pytest.mark.slow, pytest.mark.needs_ovs, requires_ovs,
    pytest.mark.skipif(not os.path.exists(RUNNER) or not shutil.which("ovs-vswitchd"),
                       reason="needs the shared difftest runner and ovs-vswitchd"),
]


def test_bond_show_matches_ovs():
    env = dict(os.environ)
    env["PATH"] = os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", "")
    r = subprocess.run([sys.executable, RUNNER, "--impl", "both", SCENARIO], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=85)
    assert r.returncode == 0 and "1 passed, 0 failed" in r.stdout, r.stdout + r.stderr
