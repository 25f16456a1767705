"""The seed lecture's bonding experiment on real packets, and LACP against Open vSwitch.

Topology (root only; every namespace and link is named ``pyvs*`` and removed afterwards)::

    ns pyvsvm0 192.168.100.100 ─ pyvsvnet0 ┐                 ┌ pyvsvnet2 ─ ns pyvsvm2 .102
    ns pyvsvm1 192.168.100.101 ─ pyvsvnet1 ┤ br0      br1    ├ pyvsvnet3 ─ ns pyvsvm3 .103
                                           │  bond0   bond1  │
                               pyvsfirst_br ─── veth ─── pyvsfirst_if
                               pyvssecond_br ── veth ─── pyvssecond_if

Both bonds have ``lacp=active`` (netdev datapath, the veth ends are ``system`` ports).

* ``test_bond_experiment``: br0 and br1 on one pyovs-vswitchd.  Once LACP has negotiated,
  pings .100→.102 and .101→.103 succeed.  In active-backup the captures on both links
  (AF_PACKET on the br0 ends, both directions) see all ICMP on one link; setting that link's
  carrier down (``ip link set pyvsfirst_if down``) moves it to the other with the pings going
  on (every 50 ms), and the lost replies are counted and bounded.  In balance-slb the two
  flows (two source MACs, two hash buckets) use both links.
* ``test_bond_lacp_with_ovs``: br0 on pyovs-vswitchd, br1 on Open vSwitch's ovs-vswitchd
  (its own ovsdb-server and OVS_RUNDIR).  Both ``lacp/show`` report the other as partner
  (``negotiated``, partner sys_id = the other's sys_id), the pings succeed, and failover works
  in both directions: first link down (traffic on the second), then first up and second
  down (traffic back on the first).

Each side picks its active member on its own (OVS: the first enabled member in a hash order
of pointers), so after negotiation the test makes the first link active on both sides with
``bond/set-active-slave`` before looking at the captures.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from interop.conftest import requires_ovs
from interop.harness import ROOT, OvsdbServer
from interop.test_vswitchd_config import Switchd

pytestmark = [
    pytest.mark.slow, pytest.mark.needs_ovs, requires_ovs,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("ping")
                       or not shutil.which("ovs-vswitchd"),
                       reason="needs root, iproute2, ping and ovs-vswitchd"),
]

NET = "192.168.100."
BR0, BR1 = "pyvsbr0", "pyvsbr1"
VMS = [("pyvsvm0", "pyvsvnet0", 100, BR0), ("pyvsvm1", "pyvsvnet1", 101, BR0),
       ("pyvsvm2", "pyvsvnet2", 102, BR1), ("pyvsvm3", "pyvsvnet3", 103, BR1)]
LINKS = [("pyvsfirst_br", "pyvsfirst_if"), ("pyvssecond_br", "pyvssecond_if")]
FLOWS = [("pyvsvm0", 100, 102), ("pyvsvm1", 101, 103)]
MAX_LOST = 5              # replies lost to one failover (pings every 50 ms)

# Counts ICMP frames per (src, dst) pair on one interface, both directions, until SIGTERM.
CAPTURE = r"""
import json, select, signal, socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
counts = {}
def done(*_):
    print(json.dumps(counts), flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
print("ready", flush=True)
while True:
    r, _, _ = select.select([s], [], [], 0.2)
    if not r:
        continue
    f = s.recv(2048)
    off = 16 if f[12:14] == b"\x81\x00" else 12
    if f[off:off + 2] != b"\x08\x00" or f[off + 11] != 1:
        continue
    key = socket.inet_ntoa(f[off + 14:off + 18]) + ">" + socket.inet_ntoa(f[off + 18:off + 22])
    counts[key] = counts.get(key, 0) + 1
"""


def sh(*argv, check=True, timeout=20):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout)


def in_ns(ns, *argv, check=True, timeout=20):
    return sh("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout)


def teardown():
    for ns, outer, _addr, _br in VMS:
        sh("ip", "link", "del", outer, check=False)
        sh("ip", "netns", "del", ns, check=False)
    for a, _b in LINKS:
        sh("ip", "link", "del", a, check=False)
    for br in (BR0, BR1):
        sh("ip", "link", "del", br, check=False)


def build():
    teardown()
    for ns, outer, addr, _br in VMS:
        sh("ip", "netns", "add", ns)
        in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
              "net.ipv6.conf.default.disable_ipv6=1")
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", ns, "netns", ns)
        sh("sysctl", "-qw", f"net.ipv6.conf.{outer}.disable_ipv6=1")
        sh("ip", "link", "set", outer, "up")
        in_ns(ns, "ip", "link", "set", "lo", "up")
        in_ns(ns, "ip", "link", "set", ns, "up")
        in_ns(ns, "ip", "addr", "add", f"{NET}{addr}/24", "dev", ns)
    for a, b in LINKS:
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        for end in (a, b):
            sh("sysctl", "-qw", f"net.ipv6.conf.{end}.disable_ipv6=1")
            sh("ip", "link", "set", end, "up")


def vsctl(server, *args):
    r = server.vsctl("--timeout=15", *args)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def add_bridge(server, br, bond, members, vms):
    vsctl(server, "add-br", br, "--", "set", "bridge", br, "datapath_type=netdev")
    for n, (_ns, outer, _addr, _br) in enumerate(vms):
        vsctl(server, "add-port", br, outer, "--", "set", "Interface", outer,
              f"ofport_request={10 + n}")
    vsctl(server, "add-bond", br, bond, *members, "lacp=active", "--",
          "set", "Interface", members[0], "ofport_request=1", "--",
          "set", "Interface", members[1], "ofport_request=2")


def appctl(server, *args, check=True):
    r = server.run("ovs-appctl", "-t", "ovs-vswitchd", *args)
    assert r.returncode == 0 or not check, (args, r.stdout, r.stderr)
    return r.stdout


def wait_negotiated(server, bond, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = appctl(server, "bond/show", bond)
        if "lacp_status: negotiated" in text and text.count(": enabled") == 2:
            return text
        time.sleep(0.2)
    raise AssertionError(appctl(server, "bond/show", bond) + appctl(server, "lacp/show", bond))


def start_captures():
    caps = {}
    for a, _b in LINKS:
        p = subprocess.Popen([sys.executable, "-c", CAPTURE, a], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
        caps[a] = p
    return caps


def stop_captures(caps):
    out = {}
    for name, p in caps.items():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        text, _ = p.communicate(timeout=10)
        out[name] = json.loads(text.strip().splitlines()[-1]) if text.strip() else {}
    return out


def start_pings(count, interval="0.05"):
    procs = []
    for ns, src, dst in FLOWS:
        procs.append(subprocess.Popen(["ip", "netns", "exec", ns, "ping", "-n", "-q", "-c",
                                       str(count), "-i", interval, "-W", "1", f"{NET}{dst}"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        time.sleep(0.05)
    return procs


def ping_results(procs):
    """[(transmitted, received)] per flow."""
    out = []
    for p in procs:
        text, _ = p.communicate(timeout=30)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", text)
        assert m, text
        out.append((int(m.group(1)), int(m.group(2))))
    return out


def links_used(seen, minimum=3):
    """The links that carried ICMP, per flow: {flow: {link, ...}}."""
    used = {}
    for _ns, src, dst in FLOWS:
        fwd, back = f"{NET}{src}>{NET}{dst}", f"{NET}{dst}>{NET}{src}"
        used[(src, dst)] = {link for link, counts in seen.items()
                            if counts.get(fwd, 0) + counts.get(back, 0) >= minimum}
    return used


def failover(down_if, servers, bonds, count=60):
    """Pings while ``down_if`` goes down 1 s in: (lost per flow, links used afterwards)."""
    procs = start_pings(count)
    time.sleep(1.0)
    sh("ip", "link", "set", down_if, "down")
    time.sleep(0.6)                     # the failover itself is not measured by the captures
    caps = start_captures()
    res = ping_results(procs)
    seen = stop_captures(caps)
    lost = [tx - rx for tx, rx in res]
    print(f"failover ({down_if} down): lost replies per flow {lost} of {[tx for tx, _ in res]}")
    return lost, seen


@pytest.fixture
def folder():
    path = tempfile.mkdtemp(prefix="pyvs-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_bond_experiment(folder):
    build()
    server = OvsdbServer("ours", os.path.join(folder, "ours"))
    switch = Switchd("ours", server)
    try:
        server.start()
        server.vsctl("--no-wait", "init", check=True)
        switch.start()
        add_bridge(server, BR0, "bond0", [a for a, _ in LINKS], VMS[:2])
        add_bridge(server, BR1, "bond1", [b for _, b in LINKS], VMS[2:])
        for bond in ("bond0", "bond1"):
            wait_negotiated(server, bond)
        lacp = appctl(server, "lacp/show", "bond0")
        assert "status: active negotiated" in lacp, lacp
        appctl(server, "bond/set-active-slave", "bond0", LINKS[0][0])
        appctl(server, "bond/set-active-slave", "bond1", LINKS[0][1])

        # Active-backup: everything on the first link.
        caps = start_captures()
        res = ping_results(start_pings(10))
        seen = stop_captures(caps)
        assert all(rx == tx for tx, rx in res), res
        assert links_used(seen) == {(100, 102): {"pyvsfirst_br"}, (101, 103): {"pyvsfirst_br"}}, seen
        assert not seen["pyvssecond_br"], seen

        # Carrier loss on the first link: the traffic moves to the second.
        lost, seen = failover("pyvsfirst_if", [server], ["bond0", "bond1"])
        assert max(lost) <= MAX_LOST, lost
        assert links_used(seen) == {(100, 102): {"pyvssecond_br"},
                                    (101, 103): {"pyvssecond_br"}}, seen
        assert "member pyvsfirst_br: disabled" in appctl(server, "bond/show", "bond0")
        active = server.vsctl("get", "Port", "bond0", "bond_active_slave").stdout.strip()
        mac = open("/sys/class/net/pyvssecond_br/address").read().strip()
        assert active == f'"{mac}"', (active, mac)

        # Balance-slb, both links up again: the two flows take different links.
        # (Hash buckets keep their member until a rebalance, as in OVS: change the mode once
        # both members are enabled again, so the buckets are spread over both.)
        sh("ip", "link", "set", "pyvsfirst_if", "up")
        for bond in ("bond0", "bond1"):
            wait_negotiated(server, bond)
        vsctl(server, "set", "Port", "bond0", "bond_mode=balance-slb")
        vsctl(server, "set", "Port", "bond1", "bond_mode=balance-slb")
        for bond in ("bond0", "bond1"):
            wait_negotiated(server, bond)
        appctl(server, "fdb/flush")
        caps = start_captures()
        res = ping_results(start_pings(10))
        seen = stop_captures(caps)
        assert all(rx == tx for tx, rx in res), res
        # Each direction of each flow stays on one link (the sending bond hashes its source
        # MAC); the two flows' requests, and their replies, are spread over both links.
        print("balance-slb:", seen)
        by_dir = {}
        for link, counts in seen.items():
            for pair, n in counts.items():
                if n >= 3:
                    by_dir.setdefault(pair, set()).add(link)
        assert len(by_dir) == 4 and all(len(v) == 1 for v in by_dir.values()), seen
        both = {"pyvsfirst_br", "pyvssecond_br"}
        assert by_dir[f"{NET}100>{NET}102"] | by_dir[f"{NET}101>{NET}103"] == both, seen
        assert by_dir[f"{NET}102>{NET}100"] | by_dir[f"{NET}103>{NET}101"] == both, seen
    finally:
        switch.stop()
        server.stop()
        teardown()


def test_bond_lacp_with_ovs(folder):
    build()
    ours = OvsdbServer("ours", os.path.join(folder, "ours"))
    ref = OvsdbServer("ref", os.path.join(folder, "ref"))
    started = []
    try:
        for server, impl in ((ours, "ours"), (ref, "ref")):
            server.start()
            started.append(server)
            server.vsctl("--no-wait", "init", check=True)
            sw = Switchd(impl, server)
            started.append(sw)
            sw.start()
        add_bridge(ours, BR0, "bond0", [a for a, _ in LINKS], VMS[:2])
        add_bridge(ref, BR1, "bond1", [b for _, b in LINKS], VMS[2:])
        wait_negotiated(ours, "bond0")
        wait_negotiated(ref, "bond1")
        mine, theirs = appctl(ours, "lacp/show", "bond0"), appctl(ref, "lacp/show", "bond1")
        print(mine, theirs, sep="\n")
        my_id = re.search(r"  sys_id: (\S+)", mine).group(1)
        their_id = re.search(r"  sys_id: (\S+)", theirs).group(1)
        for text, partner in ((mine, their_id), (theirs, my_id)):
            assert "status: active negotiated" in text, text
            assert text.count(f"partner sys_id: {partner}") == 2, text
            assert text.count("current attached") == 2, text
        appctl(ours, "bond/set-active-slave", "bond0", LINKS[0][0])
        appctl(ref, "bond/set-active-slave", "bond1", LINKS[0][1])

        caps = start_captures()
        res = ping_results(start_pings(10))
        seen = stop_captures(caps)
        assert all(rx == tx for tx, rx in res), res
        assert links_used(seen) == {(100, 102): {"pyvsfirst_br"}, (101, 103): {"pyvsfirst_br"}}, seen

        lost1, seen = failover("pyvsfirst_if", [ours, ref], ["bond0", "bond1"])
        assert max(lost1) <= MAX_LOST, lost1
        assert links_used(seen) == {(100, 102): {"pyvssecond_br"},
                                    (101, 103): {"pyvssecond_br"}}, seen

        sh("ip", "link", "set", "pyvsfirst_if", "up")
        wait_negotiated(ours, "bond0")
        wait_negotiated(ref, "bond1")
        lost2, seen = failover("pyvssecond_br", [ours, ref], ["bond0", "bond1"])
        assert max(lost2) <= MAX_LOST, lost2
        assert links_used(seen) == {(100, 102): {"pyvsfirst_br"}, (101, 103): {"pyvsfirst_br"}}, seen
        print(f"LACP with ovs-vswitchd: lost replies {lost1} (first down), {lost2} (second down)")
    finally:
        for thing in reversed(started):
            thing.stop()
        teardown()
