"""Our own differential scenarios (``interop/scenarios/*.sh``) against Open vSwitch.

Each runs through the shared differential runner (``difftest --impl both``), on Open
vSwitch and on ours, and must print the same:

* ``bond-show.sh``: bond/show, bond/list, lacp/show and the bond columns after the same
  configuration of a two-member bond on dummy ports (set-active-slave, admin-state
  failover, delays, a primary, balance-slb with LACP without partner, passive LACP with
  fallback, error texts, ``Interface:lacp_current`` / ``Port:bond_active_slave``);
* ``fail-mode.sh``: when flows are flushed (controllers come and go, fail mode changes),
  the standalone NORMAL flow, and the hidden fail-open rule in ``bridge/dump-flows``;
* ``ofctl-tables-queues.sh``: queue statistics and configuration, table features and
  statistics per version, OF1.4 table descriptions, TABLE_MOD (eviction that evicts,
  vacancy events to a monitor, table-miss config), IPFIX statistics, memory/show;
* ``ofctl-of15-stats.sh``: OpenFlow 1.5 flow and aggregate statistics (OXS), printed
  with filters and compared byte for byte (hex dumps, times zeroed); no_*_counts flags;
  OF1.5 FLOW_REMOVED to a monitor;
* ``ofctl-meters-files.sh``: meters, add/diff/replace-flows from files, packet-out,
  strict mod/del, refusals (also inside a bundle);
* ``ofctl-cookies.sh``: OpenFlow 1.0 cookie filters (NXM_NX_COOKIE_W) in modify/delete;
* ``appctl-fdb-features.sh``: fdb/stats-show and -clear, dpif/show-dp-features, and the
  answers for mdb/stp/rstp/cfm/bfd when nothing enables them;
* ``ofctl-flow-monitor.sh``: ``ovs-ofctl monitor br0 watch:...`` (NX in OF1.0/1.2, ONF in
  1.3, OpenFlow 1.4/1.5): initial dumps, ADDED/DELETED (reasons)/MODIFIED updates from
  adds, replacements, mod-flows, deletes, an eviction, group and meter deletes, a bundle,
  timeouts and flushes, through table/out_port/match/!initial/!actions/!add... filters;
  a monitor's own flow_mods as ABBREV; cancels; a 7000-flow delete in multipart replies.
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
