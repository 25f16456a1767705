"""System (AF_PACKET) and tap ports on real Linux interfaces, in network namespaces (root only).

Topology (every name starts with "pyvs"; all removed afterwards)::

    ns pyvsA                      this process (root ns)                    ns pyvsB
    pyvsa0 10.77.0.1 ── veth ── pyvsa1 ⇄ in-test relay ⇄ pyvsb1 ── veth ── pyvsb0 10.77.0.2

The relay opens pyvsa1 and pyvsb1 as `SystemNetdev`s under `PortDriver` and copies every frame
to the other side.  VLAN-tagged frames (sent from ns A with a raw socket: this kernel has no
802.1Q module, so no VLAN subinterfaces) arrive tagged in ns B only if the tag, which the receive
path moves into packet metadata, is put back from PACKET_AUXDATA.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys

import pytest
import trio

from datapath.ioloop import PortDriver
from datapath.netdev import NetdevError, format_mac
from datapath.netdev_linux import SystemNetdev, TapNetdev, set_tx_checksum

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("ping"),
                       reason="needs root, iproute2 and ping (apt-get install iproute2 iputils-ping)"),
]


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=20)


def in_ns(ns, *argv, check=True):
    return sh("ip", "netns", "exec", ns, *argv, check=check)


def tx_checksum_off(ns, ifname):
    """ethtool -K IF tx off, in namespace ns (None: here), through our ioctl helper."""
    if ns is None:
        set_tx_checksum(ifname, False)
    else:
        code = f"from datapath.netdev_linux import set_tx_checksum; set_tx_checksum({ifname!r}, False)"
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code], check=True,
                       env=dict(os.environ, PYTHONPATH=ROOT), timeout=20)


def make_pair(ns, inner, outer, address):
    sh("ip", "netns", "add", ns)
    sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns)
    sh("ip", "link", "set", outer, "up")
    in_ns(ns, "ip", "link", "set", "lo", "up")
    in_ns(ns, "ip", "link", "set", inner, "up")
    in_ns(ns, "ip", "addr", "add", address, "dev", inner)
    tx_checksum_off(None, outer)
    tx_checksum_off(ns, inner)


def cleanup(namespaces, links):
    for link in links:
        sh("ip", "link", "del", link, check=False)
    for ns in namespaces:
        sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def veth_pairs():
    namespaces, links = ["pyvsA", "pyvsB"], ["pyvsa1", "pyvsb1"]
    cleanup(namespaces, links)            # leftovers of an interrupted run
    try:
        make_pair("pyvsA", "pyvsa0", "pyvsa1", "10.77.0.1/24")
        make_pair("pyvsB", "pyvsb0", "pyvsb1", "10.77.0.2/24")
        yield
    finally:
        cleanup(namespaces, links)


TAGGED = (bytes.fromhex("ffffffffffff02000077000a" "81000064" "88b5") + b"pyvswitch vlan 100").ljust(60, b"\0")
SEND_TAGGED = f"""
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("pyvsa0", 0))
for _ in range(3):
    s.send(bytes.fromhex("{TAGGED.hex()}"))
"""

CAPTURE = """
import sys, time
from datapath.netdev_linux import SystemNetdev
port = SystemNetdev("pyvsb0", promisc=False)
print("ready", flush=True)
deadline = time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline:
    for f in port.recv_batch(64):
        if f[12:14] == b"\\x81\\x00":
            print(f.hex(), flush=True)
            sys.exit(0)
    time.sleep(0.01)
"""


@pytest.mark.parametrize("rx_ring", [True, False], ids=["ring", "recvmsg"])
async def test_relay_ping_and_vlan(veth_pairs, rx_ring):
    a, b = SystemNetdev("pyvsa1", rx_ring=rx_ring), SystemNetdev("pyvsb1", rx_ring=rx_ring)
    assert (a._ring is not None) == rx_ring
    assert (a.type, a.mtu, a.admin_state, a.link_state) == ("system", 1500, "up", "up")
    with open("/sys/class/net/pyvsa1/address") as f:
        assert format_mac(a.hw_addr) == f.read().strip()
    assert a.ifindex == int(open("/sys/class/net/pyvsa1/ifindex").read())
    seen_tags = []

    def on_frames(port, frames):
        for f in frames:
            if f[12:14] == b"\x81\x00":
                seen_tags.append(struct.unpack_from("!H", f, 14)[0] & 0xFFF)
        (b if port is a else a).send_batch(frames)

    driver = PortDriver(on_frames)
    try:
        async with trio.open_nursery() as nursery:
            driver.add_port(a)
            driver.add_port(b)
            await nursery.start(driver.run)
            capture = await nursery.start(_run_capture)
            ping = await trio.run_process(["ip", "netns", "exec", "pyvsA", "ping", "-c", "3", "-i", "0.2",
                                           "-W", "2", "10.77.0.2"], capture_stdout=True, check=False)
            assert ping.returncode == 0, ping.stdout.decode()
            await trio.run_process(["ip", "netns", "exec", "pyvsA", sys.executable, "-c", SEND_TAGGED],
                                   env=dict(os.environ, PYTHONPATH=ROOT))
            await trio.sleep(0.3)
            captured = await capture()
            nursery.cancel_scope.cancel()
        # The relay saw VLAN 100 frames (tag re-inserted from auxdata on receipt) ...
        assert 100 in seen_tags
        # ... and ns B's wire carried them tagged (seen by a capture inside ns B).
        assert TAGGED.hex() in captured, captured
        sa, sb = a.get_stats(), b.get_stats()
        assert sa.rx_packets >= 6 and sb.tx_packets >= 6 and sa.tx_packets >= 6
        assert a.statistics().keys() >= {"rx_packets", "rx_bytes", "rx_dropped", "rx_errors", "tx_packets",
                                         "tx_bytes", "tx_dropped", "tx_errors", "collisions"}
    finally:
        driver.close_port(a)
        driver.close_port(b)


async def _run_capture(task_status=trio.TASK_STATUS_IGNORED):
    """Starts a capture on pyvsb0 inside ns B; reports a coroutine function returning its lines."""
    proc = await trio.lowlevel.open_process(
        ["ip", "netns", "exec", "pyvsB", sys.executable, "-c", CAPTURE, "4"],
        stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=ROOT))
    buf = b""
    while b"ready\n" not in buf:
        chunk = await proc.stdout.receive_some()
        assert chunk, "capture in ns B did not start"
        buf += chunk

    async def finish():
        nonlocal buf
        while True:
            chunk = await proc.stdout.receive_some()
            if not chunk:
                break
            buf += chunk
        await proc.wait()
        return buf.decode().split()[1:]

    task_status.started(finish)


def test_link_state_follows_peer(veth_pairs):
    a = SystemNetdev("pyvsa1")
    try:
        in_ns("pyvsA", "ip", "link", "set", "pyvsa0", "down")
        assert a.admin_state == "up" and a.link_state == "down"      # no carrier without the peer
        in_ns("pyvsA", "ip", "link", "set", "pyvsa0", "up")
        a.set_admin_state(False)
        assert a.link_state == "down" and "UP" not in sh("ip", "link", "show", "pyvsa1").stdout.split("<")[1].split(">")[0].split(",")
        a.set_admin_state(True)
    finally:
        a.close()
    with pytest.raises(NetdevError, match="No such device"):
        SystemNetdev("pyvsnosuch")


def test_tap_frames_both_ways():
    sh("ip", "netns", "del", "pyvsT", check=False)
    sh("ip", "netns", "add", "pyvsT")
    tap = None
    try:
        tap = TapNetdev("pyvstap0")
        assert tap.admin_state == "up" and tap.type == "internal" and tap.fileno() >= 0
        assert "pyvstap0" in sh("ip", "-o", "link", "show", "pyvstap0").stdout
        sh("ip", "link", "set", "pyvstap0", "netns", "pyvsT")       # our fd keeps serving it there
        in_ns("pyvsT", "ip", "link", "set", "pyvstap0", "address", "02:00:00:77:00:01", "up")
        in_ns("pyvsT", "ip", "addr", "add", "10.77.9.1/24", "dev", "pyvstap0")
        in_ns("pyvsT", "ping", "-c", "1", "-W", "1", "10.77.9.2", check=False)
        # kernel → us: the ARP request for 10.77.9.2
        frames = tap.recv_batch()
        requests = [f for f in frames if f[12:14] == b"\x08\x06" and f[38:42] == bytes([10, 77, 9, 2])]
        assert requests, [f.hex() for f in frames]
        # us → kernel: the ARP reply; the namespace learns the neighbour from it
        peer = bytes.fromhex("020000770002")
        reply = (bytes.fromhex("020000770001") + peer + b"\x08\x06" + bytes.fromhex("000108000604" "0002")
                 + peer + bytes([10, 77, 9, 2]) + bytes.fromhex("020000770001") + bytes([10, 77, 9, 1]))
        assert tap.send_batch([reply]) == 1
        neigh = in_ns("pyvsT", "ip", "neigh", "show", "10.77.9.2", "dev", "pyvstap0").stdout
        assert "02:00:00:77:00:02" in neigh, neigh
        assert tap.tx_packets == 1 and tap.rx_packets >= 1
    finally:
        if tap is not None:
            tap.close()
        sh("ip", "netns", "del", "pyvsT", check=False)
        sh("ip", "link", "del", "pyvstap0", check=False)
