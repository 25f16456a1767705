"""The seed lecture's VLAN experiment on real packets, through a ``datapath_type=netdev`` bridge.

Topology (root only; every namespace and link is named ``pyvs*`` and removed afterwards)::

    ns pyvsvm0  192.168.100.100  pyvsvm0 ─ veth ─ pyvsvnet0    tag=101   ┐
    ns pyvsvm1  192.168.100.101  pyvsvm1 ─ veth ─ pyvsvnet1    tag=102   │
    ns pyvsvm2  192.168.100.102  pyvsvm2 ─ veth ─ pyvsvnet2    tag=103   │  bridge pyvsbr0
    ns pyvsif1  192.168.100.103  pyvsfirst_if ─ pyvsfirst_br   tag=103   │  (netdev datapath,
    ns pyvsif2  192.168.100.104  pyvssecond_if ─ pyvssecond_br (trunk)   │   flood-vlans=
    ns pyvsif3  192.168.100.105  pyvsthird_if ─ pyvsthird_br   trunks=101,102 ┘  101,102,103)

The outer veth ends stay in this namespace and are the bridge's ``system`` ports (AF_PACKET in
the switch).  Each ping runs with an AF_PACKET capture (`datapath.netdev_linux.SystemNetdev`,
which puts back the 802.1Q tag the kernel moved into PACKET_AUXDATA) on first_if, second_if and
third_if; the capture keeps the ARP and IPv4 frames between the ping's two addresses and reports
their VLAN (``0`` = untagged).  What the lecture says:

* .102 → .103 succeeds; second_if sees the frames tagged 103, third_if none;
* .100 → .105 fails, while second_if and third_if both see VLAN 101 frames;
* .101 → .104 fails; second_if and third_if see VLAN 102 frames, first_if nothing.

The same topology then runs on Open vSwitch's ovs-vswitchd (netdev datapath) and the captures,
interface by interface, must be the same.  IPv6 is off in the namespaces, so no router or
neighbour solicitation adds frames of its own.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
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

BRIDGE = "pyvsbr0"
NET = "192.168.100."
# (namespace, inner interface, outer interface = bridge port, address, Port settings)
HOSTS = [
    ("pyvsvm0", "pyvsvm0", "pyvsvnet0", 100, ["tag=101"]),
    ("pyvsvm1", "pyvsvm1", "pyvsvnet1", 101, ["tag=102"]),
    ("pyvsvm2", "pyvsvm2", "pyvsvnet2", 102, ["tag=103"]),
    ("pyvsif1", "pyvsfirst_if", "pyvsfirst_br", 103, ["tag=103"]),
    ("pyvsif2", "pyvssecond_if", "pyvssecond_br", 104, []),
    ("pyvsif3", "pyvsthird_if", "pyvsthird_br", 105, ["trunks=101,102"]),
]
WATCHED = {"first_if": HOSTS[3], "second_if": HOSTS[4], "third_if": HOSTS[5]}
PINGS = [("pyvsvm2", 102, 103), ("pyvsvm0", 100, 105), ("pyvsvm1", 101, 104)]

CAPTURE = r"""
import json, select, signal, socket, sys
from datapath.netdev_linux import SystemNetdev
ifname, a, b = sys.argv[1], sys.argv[2], sys.argv[3]
want = {socket.inet_aton(a), socket.inet_aton(b)}
port = SystemNetdev(ifname)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("ready", flush=True)
while True:
    select.select([port.fileno()], [], [], 0.2)
    for f in port.recv_batch(64):
        vlan, off = 0, 12
        if f[12:14] == b"\x81\x00":
            vlan, off = int.from_bytes(f[14:16], "big") & 0xfff, 16
        etype, l3 = f[off:off + 2], off + 2
        if etype == b"\x08\x06":                       # ARP: sender and target protocol addresses
            addrs = {f[l3 + 14:l3 + 18], f[l3 + 24:l3 + 28]}
            kind = "arp"
        elif etype == b"\x08\x00":
            addrs = {f[l3 + 12:l3 + 16], f[l3 + 16:l3 + 20]}
            kind = "ip"
        else:
            continue
        if addrs == want:
            print(json.dumps([vlan, kind]), flush=True)
"""


def sh(*argv, check=True, timeout=20):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout)


def in_ns(ns, *argv, check=True, timeout=20):
    return sh("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout)


def py_env():
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


def tx_checksum_off(ns, ifname):
    """ethtool -K IF tx off through `set_tx_checksum`, in namespace ns (None: here)."""
    code = f"from datapath.netdev_linux import set_tx_checksum; set_tx_checksum({ifname!r}, False)"
    argv = [sys.executable, "-W", "ignore", "-c", code]
    if ns is not None:
        argv = ["ip", "netns", "exec", ns] + argv
    subprocess.run(argv, check=True, env=py_env(), timeout=20)


def teardown():
    for ns, _inner, outer, _addr, _cfg in HOSTS:
        sh("ip", "link", "del", outer, check=False)
        sh("ip", "netns", "del", ns, check=False)
    sh("ip", "link", "del", BRIDGE, check=False)


def build():
    """Namespaces and veth pairs, addresses up, IPv6 and tx checksum offload off."""
    teardown()                                  # leftovers of an interrupted run
    for ns, inner, outer, addr, _cfg in HOSTS:
        sh("ip", "netns", "add", ns)
        in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns)
        sh("sysctl", "-qw", f"net.ipv6.conf.{outer}.disable_ipv6=1")
        sh("ip", "link", "set", outer, "up")
        in_ns(ns, "ip", "link", "set", "lo", "up")
        in_ns(ns, "ip", "link", "set", inner, "up")
        in_ns(ns, "ip", "addr", "add", f"{NET}{addr}/24", "dev", inner)
        tx_checksum_off(None, outer)
        tx_checksum_off(ns, inner)


def configure(server):
    steps = [["add-br", BRIDGE, "--", "set", "bridge", BRIDGE, "datapath_type=netdev"]]
    for _ns, _inner, outer, _addr, cfg in HOSTS:
        steps.append(["add-port", BRIDGE, outer] + (["--", "set", "Port", outer] + cfg if cfg else []))
    steps.append(["set", "bridge", BRIDGE, "flood-vlans=101,102,103"])
    for step in steps:
        r = server.vsctl("--timeout=15", *step)
        assert r.returncode == 0, (step, r.stderr)
    errors = server.vsctl("--columns=name,ofport,error", "list", "Interface", check=True).stdout
    assert '"could not' not in errors and "ofport              : -1" not in errors, errors


def ping_and_capture(src_ns, src, dst):
    """Pings NET.src -> NET.dst while first/second/third_if capture: (ping ok, {if: [[vlan, kind]]})."""
    caps = {}
    try:
        for name, (ns, inner, *_rest) in WATCHED.items():
            p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-W", "ignore", "-c", CAPTURE,
                                  inner, f"{NET}{src}", f"{NET}{dst}"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=py_env())
            caps[name] = p
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        r = in_ns(src_ns, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", f"{NET}{dst}", check=False)
        time.sleep(0.3)
    finally:
        for p in caps.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
    seen = {}
    for name, p in caps.items():
        out, _err = p.communicate(timeout=10)
        seen[name] = sorted({tuple(json.loads(line)) for line in out.splitlines() if line.strip()})
    return r.returncode == 0, seen


def run_experiment(impl, folder):
    """The three pings on `impl` ("ours" or "ref"): {"src->dst": (ok, {if: [(vlan, kind)]})}."""
    build()
    server = OvsdbServer(impl, os.path.join(folder, impl))
    switch = Switchd(impl, server)
    try:
        server.start()
        server.vsctl("--no-wait", "init", check=True)
        switch.start()
        configure(server)
        time.sleep(0.5)                          # ports opened, carrier seen
        return {f".{src}->.{dst}": ping_and_capture(ns, src, dst) for ns, src, dst in PINGS}
    finally:
        switch.stop()
        server.stop()
        teardown()


def vlans(seen):
    return {name: sorted({vlan for vlan, _kind in frames}) for name, frames in seen.items()}


def check_lecture(result):
    ok, seen = result[".102->.103"]
    assert ok, result
    assert vlans(seen) == {"first_if": [0], "second_if": [103], "third_if": []}, seen
    assert (103, "ip") in seen["second_if"]          # the echo requests and replies, tagged
    ok, seen = result[".100->.105"]
    assert not ok
    assert vlans(seen) == {"first_if": [], "second_if": [101], "third_if": [101]}, seen
    ok, seen = result[".101->.104"]
    assert not ok
    assert vlans(seen) == {"first_if": [], "second_if": [102], "third_if": [102]}, seen


@pytest.fixture(scope="module")
def results():
    import tempfile
    folder = tempfile.mkdtemp(prefix="pyvs-", dir="/tmp")
    cache = {}

    def get(impl):
        if impl not in cache:
            started = time.monotonic()
            cache[impl] = run_experiment(impl, folder)
            cache[impl + "_seconds"] = time.monotonic() - started
        return cache[impl]
    yield get
    shutil.rmtree(folder, ignore_errors=True)


def test_seed_vlan_experiment_ours(results):
    check_lecture(results("ours"))


def test_seed_vlan_experiment_same_captures_as_ovs(results):
    ref = results("ref")
    check_lecture(ref)
    assert results("ours") == ref
