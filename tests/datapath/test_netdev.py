"""Dummy ports (as ovs-vswitchd 3.1's netdev-dummy), the port factory and the trio driver.

The differential test at the end runs a real ovs-vswitchd (dummy datapath) where Open vSwitch is
installed and compares the pcap files, unixctl replies and MACs with ours.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import trio
import trio.testing

from datapath import netdev_dummy, pcap
from datapath.ioloop import PortDriver
from datapath.netdev import Netdev, NetdevError, NetdevStats, format_mac, netdev_class_for, open_netdev
from datapath.netdev_dummy import DummyNetdev, parse_receive_args, receive_command, set_admin_state_command

FRAME = bytes.fromhex("ffffffffffff0000000000010800450000140000400040010000000000000000000000000000")
VLAN_FRAME = bytes.fromhex("0000000000020000000000018100006408004500001400004000400100000000000000000000")


def relay(ports):
    """A tiny datapath: everything from p1 goes out of every other port."""
    def on_frames(port, frames):
        for other in ports:
            if other is not port:
                other.send_batch(frames)
    return on_frames


# --- dummy ports ---------------------------------------------------------------------------

def test_defaults_as_ovs():
    netdev_dummy.reset_dummy_macs()
    devs = [DummyNetdev(n) for n in ("ovs-dummy", "br0", "p1")]
    # ovs-vswitchd: the datapath port takes :00, br0 :01, the first added port :02.
    assert [format_mac(d.hw_addr) for d in devs] == ["aa:55:aa:55:00:00", "aa:55:aa:55:00:01",
                                                     "aa:55:aa:55:00:02"]
    p1 = devs[2]
    assert (p1.type, p1.mtu, p1.ifindex, p1.admin_state, p1.link_state) == ("dummy", 1500, 0, "up", "up")
    assert p1.fileno() is None and not p1.pollable
    assert DummyNetdev("x", hw_addr=b"\x02" * 6).hw_addr == b"\x02" * 6


def test_statistics_keys_as_ovs():
    p = DummyNetdev("p1")
    p.receive(FRAME)
    assert p.recv_batch() == [FRAME]
    p.send_batch([FRAME, FRAME])
    assert p.statistics() == {
        "rx_bytes": 38, "rx_custom_packets_1": 1, "rx_custom_packets_2": 1, "rx_packets": 1,
        "rx_q0_bytes": 38, "rx_q0_packets": 1, "tx_bytes": 76, "tx_packets": 2, "tx_q0_bytes": 76,
        "tx_q0_packets": 2}
    s = p.get_stats()
    assert (s.rx_packets, s.tx_packets, s.rx_dropped, s.tx_errors) == (1, 2, None, None)


def test_queue_then_listener():
    p = DummyNetdev("p1")
    for i in range(netdev_dummy.MAX_QUEUE + 5):
        p.receive(FRAME[:-1] + bytes([i]))
    got = []
    p.set_listener(got.append)
    assert len(got) == 1 and len(got[0]) == netdev_dummy.MAX_QUEUE   # OVS drops beyond 100 queued
    p.receive(FRAME)
    assert got[1] == [FRAME]
    assert p.rx_packets == netdev_dummy.MAX_QUEUE + 1


def test_send_refuses_oversize_and_runt():
    p = DummyNetdev("p1")
    p.set_mtu(100)
    ok, tagged_ok = FRAME + bytes(114 - 38), VLAN_FRAME + bytes(118 - 38)
    assert p.send_batch([ok, tagged_ok]) == 2
    assert p.send_batch([ok + b"x", ok, ok]) == 0             # EMSGSIZE drops the rest of the batch
    assert p.send_batch([b"short"]) == 0
    assert (p.tx_packets, p.tx_refused) == (2, 4)
    with pytest.raises(NetdevError):
        p.set_mtu(67)


def test_tx_and_rxq_pcap(tmp_path):
    p = DummyNetdev("p1")
    p.set_config({"tx_pcap": "tx.pcap", "rxq_pcap": "rx.pcap"}, cwd=str(tmp_path))
    p.receive(FRAME)
    p.send_batch([VLAN_FRAME])
    assert pcap.read_frames(str(tmp_path / "tx.pcap")) == [VLAN_FRAME]    # flushed: readable now
    assert pcap.read_frames(str(tmp_path / "rx.pcap")) == [FRAME]
    p.set_config({"pcap": "both.pcap"}, cwd=str(tmp_path))
    p.receive(FRAME)
    p.send_batch([VLAN_FRAME])
    assert pcap.read_frames(str(tmp_path / "both.pcap")) == [FRAME, VLAN_FRAME]
    p.set_config({}, cwd=str(tmp_path))
    p.send_batch([FRAME])
    assert pcap.read_frames(str(tmp_path / "both.pcap")) == [FRAME, VLAN_FRAME]
    p.close()


def test_relative_pcap_follows_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = DummyNetdev("p1")
    p.set_config({"tx_pcap": "p1.pcap"})
    p.send_batch([FRAME])
    assert pcap.read_frames(str(tmp_path / "p1.pcap")) == [FRAME]
    p.close()


def test_rx_pcap_extension(tmp_path):
    pcap.write_frames(str(tmp_path / "in.pcap"), [FRAME, VLAN_FRAME])
    p = DummyNetdev("p1")
    got = []
    p.set_listener(got.extend)
    p.set_config({"rx_pcap": "in.pcap"}, cwd=str(tmp_path))
    assert got == [FRAME, VLAN_FRAME]
    p.set_config({"rx_pcap": "in.pcap"}, cwd=str(tmp_path))    # unchanged option: not read again
    assert len(got) == 2
    with pytest.raises(NetdevError):
        p.set_config({"rx_pcap": "missing.pcap"}, cwd=str(tmp_path))


def test_admin_state_command():
    ports = {"p1": DummyNetdev("p1"), "p2": DummyNetdev("p2")}
    assert set_admin_state_command(ports, ["p1", "down"]) == "OK"
    assert (ports["p1"].admin_state, ports["p1"].link_state, ports["p2"].link_state) == ("down", "down", "up")
    seq = ports["p2"].change_seq
    assert set_admin_state_command(ports, ["DOWN"]) == "OK"
    assert ports["p2"].link_state == "down" and ports["p2"].change_seq == seq + 1
    assert set_admin_state_command(ports, ["up"]) == "OK"
    assert all(p.admin_up for p in ports.values())
    for args, text in ((["p1", "sideways"], "Invalid Admin State"), (["nosuch", "down"], "Unknown Dummy Interface")):
        with pytest.raises(NetdevError, match=f"^{text}$"):
            set_admin_state_command(ports, args)


def test_admin_down_still_receives():
    # ovs-vswitchd 3.1 forwards frames injected into a dummy port that is administratively down.
    p = DummyNetdev("p1")
    got = []
    p.set_listener(got.extend)
    p.set_admin_state(False)
    p.receive(FRAME)
    assert got == [FRAME]


def test_receive_arguments():
    assert parse_receive_args([FRAME.hex()]) == [FRAME]
    assert parse_receive_args(["--qid", "0", FRAME.hex(), " ".join(f"{b:02x}" for b in VLAN_FRAME)]) == \
        [FRAME, VLAN_FRAME]
    calls = []

    def from_key(text, length):
        calls.append((text, length))
        if text.startswith("bad"):
            raise ValueError("syntax error at bad")
        return FRAME

    assert parse_receive_args(["in_port(1),eth()", "--len", "64", FRAME.hex()], from_key) == [FRAME, FRAME]
    assert calls == [("in_port(1),eth()", 64)]
    for args, text in ((["--qid", "1", FRAME.hex()], "bad rx queue id."),
                       (["eth()", "--len", "10"], "too small packet len"),
                       (["bad"], "syntax error at bad")):
        with pytest.raises(NetdevError, match=f"^{text}$"):
            parse_receive_args(args, from_key)
    with pytest.raises(NetdevError, match="^syntax error at 0000$"):      # too short for Ethernet
        parse_receive_args(["0000"], lambda t, n: (_ for _ in ()).throw(ValueError(f"syntax error at {t}")))
    with pytest.raises(NetdevError, match="^no such dummy netdev$"):
        receive_command({}, ["p9", FRAME.hex()])


def test_factory():
    assert netdev_class_for("internal", "dummy") == "dummy-internal"
    assert netdev_class_for("internal", "netdev") == "tap"
    assert netdev_class_for("", "netdev") == "system"
    br = open_netdev("br0", "internal", datapath_type="dummy", hw_addr=b"\x0a" * 6)
    assert isinstance(br, DummyNetdev) and br.type == "internal" and br.hw_addr == b"\x0a" * 6
    with pytest.raises(NetdevError):
        netdev_class_for("vxlan", "netdev")
    with pytest.raises(NetdevError, match="No such device"):
        open_netdev("pyvsnosuch0", "system")


def test_core_modules_do_not_import_trio():
    code = ("import sys, datapath.netdev, datapath.netdev_dummy, datapath.netdev_linux, datapath.pcap; "
            "sys.exit('trio' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# --- the trio driver -------------------------------------------------------------------------

class DgramPort(Netdev):
    """A pollable port over one end of a socketpair: the driver contract without root."""
    type = "test"
    pollable = True

    def __init__(self, name, sock):
        super().__init__(name)
        self.sock = sock
        sock.setblocking(False)
        self.sent = []

    def fileno(self):
        return self.sock.fileno()

    def recv_batch(self, max_n=256):
        out = []
        while len(out) < max_n:
            try:
                out.append(self.sock.recv(65536))
            except BlockingIOError:
                break
        return out

    def send_batch(self, frames):
        self.sent.extend(frames)
        return len(frames)

    def get_stats(self):
        return NetdevStats()

    def close(self):
        self.sock.close()
        super().close()


async def test_driver_batches_pollable_port():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    port = DgramPort("t0", a)
    batches = []
    driver = PortDriver(lambda p, frames: batches.append((p, list(frames))), batch=4)
    async with trio.open_nursery() as nursery:
        driver.add_port(port)
        await nursery.start(driver.run)
        for i in range(10):
            b.send(bytes([i]) * 14)
        await trio.testing.wait_all_tasks_blocked()
        assert [len(f) for _, f in batches] == [4, 4, 2]          # one wakeup, drained in batches
        assert driver.wakeups == 1 and all(p is port for p, _ in batches)
        driver.close_port(port)
        await trio.testing.wait_all_tasks_blocked()
        assert port.closed and driver.ports == []
        nursery.cancel_scope.cancel()
    b.close()


async def test_driver_dummy_ports_are_pushed():
    p1, p2 = DummyNetdev("p1"), DummyNetdev("p2")
    seen = []

    def on_frames(port, frames):
        seen.append(port.name)
        relay([p1, p2])(port, frames)

    driver = PortDriver(on_frames)
    driver.add_port(p1)
    driver.add_port(p2)
    p1.receive(FRAME)                      # delivered synchronously, no task, no await
    assert seen == ["p1"] and p2.tx_packets == 1
    driver.remove_port(p1)
    p1.receive(FRAME)
    assert seen == ["p1"] and p1.recv_batch() == [FRAME]


async def test_driver_adds_port_while_running():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    port = DgramPort("t1", a)
    got = []
    driver = PortDriver(lambda p, frames: got.extend(frames))
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.run)
        driver.add_port(port)
        await trio.testing.wait_all_tasks_blocked()
        b.send(FRAME)
        await trio.testing.wait_all_tasks_blocked()
        assert got == [FRAME]
        nursery.cancel_scope.cancel()
    a.close()
    b.close()


# --- against a real ovs-vswitchd ------------------------------------------------------------

def have_ovs_vswitchd():
    return all(shutil.which(p) for p in ("ovsdb-server", "ovsdb-tool", "ovs-vswitchd", "ovs-vsctl",
                                         "ovs-appctl", "ovs-ofctl", "ovs-pcap"))


class RealSwitch:
    """ovsdb-server + ovs-vswitchd --enable-dummy, foreground, in a short folder (its cwd)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pyvs-", dir="/tmp")
        self.env = dict(os.environ, OVS_RUNDIR=self.dir, OVS_DBDIR=self.dir, OVS_LOGDIR=self.dir,
                        OVS_SYSCONFDIR=self.dir)
        self.procs = []

    def run(self, *argv, check=True):
        return subprocess.run(argv, env=self.env, cwd=self.dir, capture_output=True, text=True,
                              check=check, timeout=20)

    def start(self):
        schema = "/usr/share/openvswitch/vswitch.ovsschema"
        self.run("ovsdb-tool", "create", f"{self.dir}/conf.db", schema)
        sock = f"{self.dir}/db.sock"
        for argv in (["ovsdb-server", f"--remote=punix:{sock}", "--pidfile", "--log-file", f"{self.dir}/conf.db"],
                     ["ovs-vswitchd", "--enable-dummy", "--disable-system", "--pidfile", "--log-file",
                      f"unix:{sock}"]):
            self.procs.append(subprocess.Popen(argv, env=self.env, cwd=self.dir, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
            deadline = time.monotonic() + 10
            target = sock if argv[0] == "ovsdb-server" else f"{self.dir}/ovs-vswitchd.pid"
            while not os.path.exists(target):
                assert time.monotonic() < deadline, f"{argv[0]} did not start"
                time.sleep(0.02)
        self.run("ovs-vsctl", "--no-wait", "init")
        return self

    def stop(self):
        for proc in reversed(self.procs):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.needs_ovs
@pytest.mark.skipif(not have_ovs_vswitchd(), reason="Open vSwitch binaries not installed")
def test_against_ovs_vswitchd(tmp_path):
    from tests.datapath.test_pcap import strip_timestamps
    frames = [FRAME, VLAN_FRAME, bytes.fromhex("0000000000990000000000018" "8cc0000")]
    real = RealSwitch().start()
    try:
        real.run("ovs-vsctl", "add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=dummy",
                 "fail-mode=secure")
        real.run("ovs-vsctl", "add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=dummy",
                 "ofport_request=1", "options:rxq_pcap=p1-rx.pcap")
        real.run("ovs-vsctl", "add-port", "br0", "p2", "--", "set", "Interface", "p2", "type=dummy",
                 "ofport_request=2", "options:tx_pcap=p2.pcap")
        real.run("ovs-vsctl", "add-port", "br0", "p3", "--", "set", "Interface", "p3", "type=dummy",
                 "ofport_request=3", "options:pcap=p3.pcap")
        real.run("ovs-ofctl", "add-flow", "br0", "in_port=1,actions=output:2,output:3")
        for f in frames:
            real.run("ovs-appctl", "netdev-dummy/receive", "p1", f.hex())
        replies = [real.run("ovs-appctl", "netdev-dummy/set-admin-state", *args, check=False)
                   for args in (["p1", "down"], ["up"], ["p1", "sideways"], ["nosuch", "down"])]
        bad_receive = real.run("ovs-appctl", "netdev-dummy/receive", "nosuch", FRAME.hex(), check=False)
        macs = [real.run("ovs-vsctl", "get", "interface", p, "mac_in_use").stdout.strip().strip('"')
                for p in ("p1", "p2", "p3")]
        deadline = time.monotonic() + 5
        while True:
            theirs = {n: open(os.path.join(real.dir, n), "rb").read() if os.path.exists(os.path.join(real.dir, n))
                      else b"" for n in ("p1-rx.pcap", "p2.pcap", "p3.pcap")}
            if all(len(list(pcap.parse(v))) == len(frames) for v in theirs.values() if v) and all(theirs.values()):
                break
            assert time.monotonic() < deadline, "ovs-vswitchd did not write its pcap files"
            time.sleep(0.05)
        ovs_pcap_theirs = {n: real.run("ovs-pcap", n).stdout for n in theirs}
    finally:
        real.stop()

    # Ours: the same three ports and the same forwarding, in-process.
    netdev_dummy.reset_dummy_macs()
    DummyNetdev("ovs-dummy"), DummyNetdev("br0", iface_type="internal")
    ours = {"p1": DummyNetdev("p1"), "p2": DummyNetdev("p2"), "p3": DummyNetdev("p3")}
    ours["p1"].set_config({"rxq_pcap": "p1-rx.pcap"}, cwd=str(tmp_path))
    ours["p2"].set_config({"tx_pcap": "p2.pcap"}, cwd=str(tmp_path))
    ours["p3"].set_config({"pcap": "p3.pcap"}, cwd=str(tmp_path))
    ours["p1"].set_listener(lambda fs: (ours["p2"].send_batch(fs), ours["p3"].send_batch(fs)))
    for f in frames:
        receive_command(ours, ["p1", f.hex()])
    for name, data in theirs.items():
        mine = (tmp_path / name).read_bytes()
        assert strip_timestamps(mine) == strip_timestamps(data), name
        out = subprocess.run(["ovs-pcap", str(tmp_path / name)], capture_output=True, text=True).stdout
        assert out == ovs_pcap_theirs[name]

    def ours_reply(args):
        try:
            return set_admin_state_command(ours, args), 0
        except NetdevError as e:
            return str(e), 2
    for args, r in zip((["p1", "down"], ["up"], ["p1", "sideways"], ["nosuch", "down"]), replies):
        text, rc = ours_reply(args)
        assert (r.stdout if r.returncode == 0 else r.stderr.splitlines()[0]).strip() == text
        assert r.returncode == rc
    assert bad_receive.stderr.splitlines()[0] == "no such dummy netdev"
    assert macs == [format_mac(ours[p].hw_addr) for p in ("p1", "p2", "p3")]
