"""Our own differential scenarios (``interop/scenarios/*.sh``) against Open vSwitch.

Each runs through the shared differential runner (``difftest --impl both``), on Open
vSwitch and on ours, and must print the same:

* ``bond-show.sh``: bond/show, bond/list, lacp/show and the bond columns after the same
  configuration of a two-member bond on dummy ports (set-active-slave, admin-state
  failover, delays, a primary, balance-slb with LACP without partner, passive LACP with
  fallback, error texts, ``Interface:lacp_current`` / ``Port:bond_active_slave``);
* ``fail-mode.sh``: when flows are flushed (controllers come and go, fail mode changes),
  the standalone NORMAL flow, and the hidden fail-open rule in ``bridge/dump-flows``.
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
SCENARIOS = os.path.join(ROOT, "interop", "scenarios")

pytestmark = [
    pytest.mark.slow, pytest.mark.needs_ovs, requires_ovs,
    pytest.mark.skipif(not os.path.exists(RUNNER) or not shutil.which("ovs-vswitchd"),
                       reason="needs the shared difftest runner and ovs-vswitchd"),
]


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(SCENARIOS) if f.endswith(".sh")))
def test_scenario_matches_ovs(name):
    env = dict(os.environ)
    env["PATH"] = os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", "")
    r = subprocess.run([sys.executable, RUNNER, "--impl", "both", os.path.join(SCENARIOS, name)], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=85)
    assert r.returncode == 0 and "1 passed, 0 failed" in r.stdout, r.stdout + r.stderr
