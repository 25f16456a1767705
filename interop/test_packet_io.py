"""PACKET_IN and PACKET_OUT with the stock clients, ours vs ovs-vswitchd (difftest).

``ovs-ofctl monitor br0 65534`` in every packet-in format and version
(NXT_PACKET_IN2 by default, ``--packet-in-format=nxt_packet_in|standard``,
``-O OpenFlow13``; one monitor without MISSLEN that must get nothing) while
frames hit ``controller`` actions (with a rewrite before it, after a
resubmit with a cookie, with userdata) and a table miss; ``ovs-ofctl
packet-out`` in the old and the new syntax, including ``actions=table``;
then the tx pcaps, the megaflows (packets:N-1) and the rule counters.  The
ARP megaflow is left out: ours is revalidated when the OF1.0 monitors leave
(misses stop going to the controller), OVS keeps the unused one.
A second scenario checks Interface.statistics on the stats timer.
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

pytestmark = [pytest.mark.slow, pytest.mark.needs_ovs,
              pytest.mark.skipif(not shutil.which("ovs-vswitchd") or not os.path.exists(RUNNER),
                                 reason="needs Open vSwitch and the difftest runner")]

PACKET_IO = r"""# needs: vswitchd
t ovs-vsctl add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure
for i in 1 2 3; do
  t ovs-vsctl add-port br0 p$i -- set Interface p$i type=dummy ofport_request=$i options:tx_pcap=p$i.pcap
done
t ovs-ofctl add-flow br0 "priority=10,in_port=1,ip actions=mod_nw_dst:10.0.0.9,controller:20,output:2"
t ovs-ofctl add-flow br0 "priority=5,in_port=1 actions=load:0x5->NXM_NX_REG3[],write_metadata:0x77,resubmit(,3)"
t ovs-ofctl add-flow br0 "table=3,cookie=0x1234,priority=1 actions=controller(reason=no_match,id=0),output:3"
t ovs-ofctl add-flow br0 "priority=10,in_port=2 actions=controller(userdata=01.02.03),output:3"
ovs-ofctl monitor br0 65534 > mon1.txt 2>&1 &
M1=$!
ovs-ofctl -O OpenFlow13 monitor br0 65534 > mon13.txt 2>&1 &
M2=$!
ovs-ofctl --packet-in-format=nxt_packet_in monitor br0 65534 > monnx.txt 2>&1 &
M3=$!
ovs-ofctl --packet-in-format=standard monitor br0 65534 > mon10.txt 2>&1 &
M4=$!
ovs-ofctl -O OpenFlow13 --packet-in-format=standard monitor br0 65534 > mon13s.txt 2>&1 &
M5=$!
ovs-ofctl monitor br0 > mon0.txt 2>&1 &
M6=$!
sleep 1
t ovs-appctl netdev-dummy/receive p1 000000000002000000000001080045000014000040000101000000000a0000010a000002
t ovs-appctl netdev-dummy/receive p1 000000000002000000000001080045000014000040000101000000000a0000010a000002
t ovs-appctl netdev-dummy/receive p1 0000000000020000000000010806000108000604000100000000000100000000000000000000000000000000
t ovs-appctl netdev-dummy/receive p2 000000000002000000000001080045000014000040000101000000000a0000010a000002
t ovs-ofctl packet-out br0 "in_port=controller packet=000000000002000000000001080045000014000040000101000000000a0000010a000002 actions=output:2,controller"
t ovs-ofctl packet-out br0 CONTROLLER "output:3" 000000000002000000000001080045000014000040000101000000000a0000010a000003
t ovs-ofctl -O OpenFlow13 packet-out br0 "in_port=1 packet=000000000002000000000001080045000014000040000101000000000a0000010a000004 actions=table"
sleep 1
kill $M1 $M2 $M3 $M4 $M5 $M6
wait $M1 $M2 $M3 $M4 $M5 $M6 2>/dev/null
# ovs-ofctl logs its own termination; that line is about the client, not the switch.
for f in mon1 mon13 monnx mon10 mon13s mon0; do t sh -c "grep -v fatal_signal $f.txt"; done
for i in 1 2 3; do t sh -c "ovs-pcap p$i.pcap"; done
t sh -c "ovs-appctl dpctl/dump-flows | grep -v 0x0806"
t sh -c "ovs-ofctl --sort dump-flows br0 | grep -o 'n_packets=[0-9]*, n_bytes=[0-9]*.*'"
"""

IFACE_STATS = r"""# needs: vswitchd
# timeout: 90
t ovs-vsctl add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure
for i in 1 2; do
  t ovs-vsctl add-port br0 p$i -- set Interface p$i type=dummy ofport_request=$i
done
t ovs-ofctl add-flow br0 "in_port=1 actions=output:2"
t ovs-vsctl get Interface p1 statistics
t ovs-appctl netdev-dummy/receive p1 000000000002000000000001080045000014000040000101000000000a0000010a000002
t ovs-appctl netdev-dummy/receive p1 000000000002000000000001080045000014000040000101000000000a0000010a000002
sleep 6
t ovs-vsctl get Interface p1 statistics
t ovs-vsctl get Interface p2 statistics
t ovs-vsctl set Open_vSwitch . other_config:stats-update-interval=7000
t ovs-appctl netdev-dummy/receive p1 000000000002000000000001080045000014000040000101000000000a0000010a000002
sleep 8
t ovs-vsctl get Interface p2 statistics
"""


def _run(text, tmp_path, name):
    path = tmp_path / name
    path.write_text(text)
    env = dict(os.environ)
    env.setdefault("OURS_OVSDB_SERVER", f"{sys.executable} -W ignore -m ovsdb_server.server")
    env.setdefault("OURS_VSWITCHD", f"{sys.executable} -W ignore -m ofproto.vswitchd")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, RUNNER, "--impl", "both", str(path)], env=env,
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-2000:]


def test_monitor_packet_in_and_packet_out(tmp_path):
    _run(PACKET_IO, tmp_path, "packet-io.sh")


def test_interface_statistics_timer(tmp_path):
    _run(IFACE_STATS, tmp_path, "iface-stats.sh")
