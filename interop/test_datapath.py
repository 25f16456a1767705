"""Packets through pyovs-vswitchd compared with ovs-vswitchd (difftest, both daemons).

Each case is a difftest scenario: our ovsdb-server + vswitchd and Open vSwitch's, the
same stock clients (ovs-vsctl, ovs-ofctl, ovs-appctl netdev-dummy/receive, ovs-pcap of
the tx_pcap files, ofproto/trace, dump-flows counters, dump-ports), outputs compared.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("PYVSWITCH_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
RUNNER = os.path.join(SHARED, "difftest", "difftest")
SCENARIOS = os.path.join(SHARED, "difftest", "scenarios")

pytestmark = [pytest.mark.slow, pytest.mark.needs_ovs,
              pytest.mark.skipif(not shutil.which("ovs-vswitchd") or not os.path.exists(RUNNER),
                                 reason="needs Open vSwitch and the difftest runner")]

# Our own extra scenario: traces through tables, NORMAL, learn; drop counters.
EXTRA = r"""# needs: vswitchd
t ovs-vsctl add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure
for i in 1 2 3; do
  t ovs-vsctl add-port br0 p$i -- set Interface p$i type=dummy ofport_request=$i options:tx_pcap=p$i.pcap
done
t ovs-ofctl add-flow br0 "priority=10,in_port=1,ip actions=mod_nw_dst:10.0.0.9,output:2"
t ovs-ofctl add-flow br0 "priority=5,in_port=1 actions=resubmit(,1)"
t ovs-ofctl add-flow br0 "table=1,priority=1 actions=output:3"
t ovs-appctl netdev-dummy/receive p1 000000000002000000000001080045000014000040000101000000000a0000010a000002
t ovs-appctl netdev-dummy/receive p1 0000000000020000000000010806000108000604000100000000000100000000000000000000000000000000
t ovs-appctl netdev-dummy/receive p1 000000000002000000000001080045000014000040000101000000000a0000010a000003
sleep 0.5
for i in 1 2 3; do t sh -c "ovs-pcap p$i.pcap"; done
t sh -c "ovs-ofctl --sort dump-flows br0 | grep -o 'n_packets=[0-9]*, n_bytes=[0-9]*'"
t sh -c "ovs-appctl ofproto/trace br0 in_port=1,arp | grep '^Datapath actions'"
t sh -c "ovs-appctl ofproto/trace br0 in_port=1,icmp,nw_dst=10.0.0.7 | grep '^Datapath actions'"
t sh -c "ovs-appctl ofproto/trace br0 in_port=2 | grep '^Datapath actions'"
t ovs-ofctl del-flows br0 "in_port=1,ip"
t ovs-appctl netdev-dummy/receive p1 000000000002000000000001080045000014000040000101000000000a0000010a000002
sleep 0.5
t sh -c "ovs-pcap p3.pcap | wc -l"
t ovs-appctl netdev-dummy/set-admin-state p3 down
t ovs-appctl fdb/flush br0
"""


def _run(path, tmp_path):
    env = dict(os.environ)
    env.setdefault("OURS_OVSDB_SERVER", f"{sys.executable} -W ignore -m ovsdb_server.server")
    env.setdefault("OURS_VSWITCHD", f"{sys.executable} -W ignore -m ofproto.vswitchd")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, RUNNER, "--impl", "both", path], env=env,
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]


@pytest.mark.parametrize("name", ["dp-flow-actions.sh", "dp-seed-vlan-forwarding.sh"])
def test_shared_dp_scenarios(name, tmp_path):
    _run(os.path.join(SCENARIOS, name), tmp_path)


def test_tables_resubmit_revalidation(tmp_path):
    path = tmp_path / "dp-extra.sh"
    path.write_text(EXTRA)
    _run(str(path), tmp_path)
