"""``ovs-ofctl snoop br0`` against our switch and ovs-vswitchd: the copy of a controller's traffic.

Each scenario runs on our OVSDB server with our switch and with ovs-vswitchd
(dummy datapath, br0 with OpenFlow 1.3 only), and what the clients see is
compared:

* with a controller (a small OpenFlow 1.3 controller here, over TCP), two
  ``ovs-ofctl snoop br0`` (one with ``-O OpenFlow10``: the copies keep the
  controller's version) print the same lines: each request the controller
  sends, then the switch's reply (echo, flow_mod and barrier in one write,
  features, role, a packet-out and the packet-in it makes), but not what
  vconn answers itself (a request in another version and its
  OFPBRC_BAD_VERSION), nor ``ovs-ofctl dump-flows`` on ``br0.mgmt``;
* without a controller, or with only a passive one, ``ovs-ofctl snoop``
  fails at once ("Connection reset by peer" or "Broken pipe", depending on
  whether its HELLO came before the close; ovs-vswitchd does either);
* with two controllers, a snooper watches the one with the highest role,
  ties going to OVS's hash order (not the configuration's); a target takes 8
  snoopers, the 9th is closed; a snooper that does not read never slows the
  controller (its copies are dropped, whole messages only); removing the
  controller closes its snoopers.
"""
from __future__ import annotations

import os
import queue
import re
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from interop.conftest import requires_ovs
from interop.harness import OvsdbServer
from interop.test_vswitchd_config import Switchd
from ovsdb_server.ovsjson import hash_string

needs_vswitchd = pytest.mark.skipif(not shutil.which("ovs-vswitchd"),
                                    reason="ovs-vswitchd not installed")
pytestmark = [pytest.mark.slow, pytest.mark.needs_ovs, requires_ovs, needs_vswitchd]

DPID = 0xB2
WAIT = 10.0
OFPT_HELLO, OFPT_ERROR, OFPT_ECHO_REQUEST, OFPT_ECHO_REPLY = 0, 1, 2, 3
OFPT_FEATURES_REQUEST, OFPT_PACKET_IN, OFPT_PACKET_OUT, OFPT_FLOW_MOD = 5, 10, 13, 14
OFPT_BARRIER_REQUEST, OFPT_ROLE_REQUEST = 20, 24
OFPP_CONTROLLER = 0xFFFFFFFD
ROLE_MASTER = 2
FRAME = bytes.fromhex("ffffffffffff00000000000108060001080006040001000000000001"
                      "0a000001000000000000 0a000002".replace(" ", "")) + bytes(18)


def msg(version: int, type_: int, xid: int, body: bytes = b"") -> bytes:
    return struct.pack("!BBHI", version, type_, 8 + len(body), xid) + body


def split(buf: bytes) -> tuple[list[bytes], bytes]:
    out = []
    while len(buf) >= 8 and len(buf) >= struct.unpack_from("!H", buf, 2)[0] >= 8:
        n = struct.unpack_from("!H", buf, 2)[0]
        out.append(buf[:n])
        buf = buf[n:]
    return out, buf


def flow_mod(xid: int) -> bytes:
    """OF1.3 ADD priority=100,in_port=1 actions=output:2."""
    match = struct.pack("!HHIIxxxx", 1, 12, 0x80000004, 1)
    inst = struct.pack("!HHxxxx", 4, 24) + struct.pack("!HHIH6x", 0, 16, 2, 0)
    fixed = struct.pack("!QQBBHHHIIIHxx", 0, 0, 0, 0, 0, 0, 100, 0xFFFFFFFF, 0xFFFFFFFF,
                        0xFFFFFFFF, 0)
    return msg(4, OFPT_FLOW_MOD, xid, fixed + match + inst)


def packet_out(xid: int) -> bytes:
    """OF1.3 packet-out of FRAME with actions=CONTROLLER: a packet-in comes back."""
    action = struct.pack("!HHIH6x", 0, 16, OFPP_CONTROLLER, 0xFFFF)
    return msg(4, OFPT_PACKET_OUT, xid,
               struct.pack("!IIH6x", 0xFFFFFFFF, OFPP_CONTROLLER, len(action)) + action + FRAME)


def role_request(xid: int, role: int, gen: int) -> bytes:
    return msg(4, OFPT_ROLE_REQUEST, xid, struct.pack("!I4xQ", role, gen))


class Controller:
    """An OpenFlow 1.3 controller on 127.0.0.1: HELLO, echo replies, and what it received."""

    def __init__(self, listener: socket.socket | None = None):
        self.listener = listener or socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.target = f"tcp:127.0.0.1:{self.port}"
        self.sock: socket.socket | None = None
        self.msgs: queue.Queue = queue.Queue()
        self.connected = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        try:
            s, _ = self.listener.accept()
        except OSError:
            return
        self.sock = s
        s.sendall(msg(4, OFPT_HELLO, 1))
        buf = b""
        while True:
            try:
                data = s.recv(1 << 20)
            except OSError:
                return
            if not data:
                return
            msgs, buf = split(buf + data)
            for m in msgs:
                if m[1] == OFPT_ECHO_REQUEST:
                    s.sendall(bytes((m[0], OFPT_ECHO_REPLY)) + m[2:])
                if m[1] == OFPT_HELLO:
                    self.connected.set()
                self.msgs.put(m)

    def wait(self, type_: int, xid: int | None = None) -> bytes:
        deadline = time.monotonic() + WAIT
        while True:
            m = self.msgs.get(timeout=max(0.01, deadline - time.monotonic()))
            if m[1] == type_ and (xid is None or struct.unpack_from("!I", m, 4)[0] == xid):
                return m

    def request(self, data: bytes, type_: int, xid: int | None = None) -> bytes:
        self.sock.sendall(data)
        return self.wait(type_, xid)

    def up(self) -> "Controller":
        assert self.connected.wait(WAIT), "the switch did not connect"
        self.request(msg(4, OFPT_ECHO_REQUEST, 0x99), OFPT_ECHO_REPLY, 0x99)   # handshake done
        return self

    def close(self):
        for s in (self.sock, self.listener):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


class RawSnooper:
    """A snooper on br0.snoop speaking OpenFlow itself (HELLO 1.5)."""

    def __init__(self, server: OvsdbServer):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(os.path.join(server.folder, "br0.snoop"))
        self.sock.settimeout(0.1)
        self.buf = b""
        try:
            self.sock.sendall(msg(6, OFPT_HELLO, 1))
        except OSError:
            pass

    def read(self, wait: float = 0.5) -> tuple[list[bytes], str | None]:
        """Messages received within `wait` seconds, and how the stream ended (or None)."""
        end, out = time.monotonic() + wait, []
        while time.monotonic() < end:
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError as e:
                return out, os.strerror(e.errno)
            if not data:
                return out, "EOF"
            msgs, self.buf = split(self.buf + data)
            out += msgs
        return out, None

    def close(self):
        self.sock.close()


class Stack:
    """Our OVSDB server, a switch daemon (ours or ovs-vswitchd), br0 in OpenFlow 1.3."""

    def __init__(self, impl: str, folder: str):
        self.server = OvsdbServer("ours", folder)
        self.things = [self.server]
        self.server.start()
        self.server.vsctl("--no-wait", "init", check=True)
        self.things.append(Switchd(impl, self.server).start())
        self.server.vsctl("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=dummy",
                          "fail-mode=secure", "protocols=OpenFlow13",
                          f"other-config:datapath-id={DPID:016x}",
                          "--", "add-port", "br0", "p1", "--", "set", "Interface", "p1",
                          "type=dummy", "ofport_request=1",
                          "--", "add-port", "br0", "p2", "--", "set", "Interface", "p2",
                          "type=dummy", "ofport_request=2", check=True)

    def set_controllers(self, *targets: str) -> None:
        """Controllers without inactivity probes (no echo of the switch's own in the copies)."""
        args = []
        for i, t in enumerate(targets):
            args += ["--", f"--id=@c{i}", "create", "Controller", f"target=\"{t}\"",
                     "inactivity_probe=0"]
        refs = "[" + ",".join(f"@c{i}" for i in range(len(targets))) + "]"
        self.server.vsctl(*args, "--", "set", "Bridge", "br0", f"controller={refs}", check=True)

    def log(self) -> str:
        return open(os.path.join(self.server.folder, "ovs-vswitchd.log")).read()

    def stop(self):
        for thing in reversed(self.things):
            thing.stop()


@pytest.fixture
def stacks(short_tmp):
    started = []

    def start(impl: str) -> Stack:
        st = Stack(impl, os.path.join(short_tmp, f"{impl}{len(started)}"))
        started.append(st)
        return st

    yield start
    for st in reversed(started):
        st.stop()


class OfctlSnoop:
    """``ovs-ofctl [-O VERSION] snoop br0``; what it printed comes back from ``stop()``."""

    def __init__(self, server: OvsdbServer, name: str, *opts: str):
        self.server = server
        self.ctl = os.path.join(server.folder, f"{name}.ctl")
        self.err = open(os.path.join(server.folder, f"{name}.err"), "w+")
        self.proc = subprocess.Popen(["ovs-ofctl", *opts, f"--unixctl={self.ctl}", "snoop", "br0"],
                                     env=server.env, cwd=server.folder, stdout=subprocess.DEVNULL,
                                     stderr=self.err)
        deadline = time.monotonic() + WAIT
        while server.run("ovs-appctl", "-t", self.ctl, "version").returncode != 0:
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, "ovs-ofctl snoop did not start"
            time.sleep(0.05)

    def output(self) -> str:
        self.err.seek(0)
        return self.err.read()

    def stop(self) -> list[str]:
        if self.proc.poll() is None:
            self.server.run("ovs-appctl", "-t", self.ctl, "exit")
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.output().splitlines()


XID = re.compile(r"xid=0x[0-9a-f]+")


def snoop_session(st: Stack) -> dict[str, list[str]]:
    ctl = Controller()
    st.set_controllers(ctl.target)
    ctl.up()
    snoops = {"default": OfctlSnoop(st.server, "snoop1"),
              "of10": OfctlSnoop(st.server, "snoop2", "-O", "OpenFlow10")}
    time.sleep(0.5)                        # our side has their HELLOs too
    try:
        ctl.request(msg(4, OFPT_ECHO_REQUEST, 0x11, b"abcd") + flow_mod(0x12)
                    + msg(4, OFPT_BARRIER_REQUEST, 0x13), OFPT_BARRIER_REQUEST + 1, 0x13)
        ctl.request(msg(4, OFPT_FEATURES_REQUEST, 0x14), OFPT_FEATURES_REQUEST + 1, 0x14)
        # vconn's own business: another version, answered OFPBRC_BAD_VERSION, not copied.
        ctl.request(msg(1, OFPT_FEATURES_REQUEST, 0x15), OFPT_ERROR, 0x15)
        ctl.request(role_request(0x16, ROLE_MASTER, 1), OFPT_ROLE_REQUEST + 1, 0x16)
        # A service connection: not copied.
        r = st.server.run("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br0", check=True)
        assert "in_port=1" in r.stdout
        ctl.request(packet_out(0x17), OFPT_PACKET_IN)
        ctl.request(msg(4, OFPT_BARRIER_REQUEST, 0x18), OFPT_BARRIER_REQUEST + 1, 0x18)
        time.sleep(0.3)
    finally:
        out = {k: s.stop() for k, s in snoops.items()}
        ctl.close()
    return out


def test_snoop_shows_the_controller_traffic_as_ovs_vswitchd(stacks):
    got = {}
    for impl in ("ours", "ref"):
        st = stacks(impl)
        got[impl] = snoop_session(st)
        st.stop()
    for impl, outs in got.items():
        # Two snoopers, whatever version they negotiated, print the same.
        assert outs["default"] == outs["of10"], impl
        lines = outs["default"]
        heads = [XID.sub("xid=X", line) for line in lines if line.startswith("OFPT_")]
        assert heads[:5] == [
            "OFPT_ECHO_REQUEST (OF1.3) (xid=X): 4 bytes of payload",
            "OFPT_ECHO_REPLY (OF1.3) (xid=X): 4 bytes of payload",
            "OFPT_FLOW_MOD (OF1.3) (xid=X): ADD priority=100,in_port=1 actions=output:2",
            "OFPT_BARRIER_REQUEST (OF1.3) (xid=X):",
            "OFPT_BARRIER_REPLY (OF1.3) (xid=X):"], (impl, lines)
        assert [h.split(" ")[0] for h in heads[5:]] == [
            "OFPT_FEATURES_REQUEST", "OFPT_FEATURES_REPLY", "OFPT_ROLE_REQUEST", "OFPT_ROLE_REPLY",
            "OFPT_PACKET_OUT", "OFPT_PACKET_IN", "OFPT_BARRIER_REQUEST", "OFPT_BARRIER_REPLY"], \
            (impl, lines)
    assert [XID.sub("xid=X", line) for line in got["ours"]["default"]] == \
        [XID.sub("xid=X", line) for line in got["ref"]["default"]]


# The switch closes the snooper at once: ovs-ofctl notices while opening (vconn_open's
# first try at the handshake) or while connecting, on sending its HELLO or on reading.
NO_SNOOP = re.compile(r"ovs-ofctl: (br0: failed to connect to socket|<dir>/br0\.snoop: failed to "
                      r"open socket) \((Broken pipe|Connection reset by peer)\)")


def test_snoop_without_a_controller_fails_as_with_ovs_vswitchd(stacks):
    for impl in ("ours", "ref"):
        st = stacks(impl)
        for targets in ((), ("ptcp:0:127.0.0.1",)):      # passive controllers have no rconn
            if targets:
                st.set_controllers(*targets)
            for _ in range(3):
                r = st.server.run("ovs-ofctl", "snoop", "br0", timeout=10)
                err = r.stderr.replace(st.server.folder, "<dir>").strip()
                assert (r.returncode, r.stdout) == (1, ""), (impl, r)
                assert NO_SNOOP.fullmatch(err), (impl, err)
        assert "no controller connection to snoop" in st.log(), impl
        st.stop()


def _ports_in_hash_order() -> tuple[socket.socket, socket.socket]:
    """Two listeners A, B: A's target sorts after B's but comes first in OVS's hmap of
    services (a lower bucket of 4), so only OVS's order makes A the snooped one."""
    socks = []
    try:
        while True:
            s = socket.create_server(("127.0.0.1", 0))
            socks.append(s)
            for a in socks:
                for b in socks:
                    ta, tb = (f"tcp:127.0.0.1:{x.getsockname()[1]}" for x in (a, b))
                    if ta > tb and hash_string(ta) & 3 < hash_string(tb) & 3:
                        socks.remove(a)
                        socks.remove(b)
                        return a, b
    finally:
        for s in socks:
            s.close()


def several(st: Stack) -> dict:
    seen = {}
    a, b = (Controller(s) for s in _ports_in_hash_order())
    st.set_controllers(b.target, a.target)
    a.up(), b.up()
    snoopers = []
    try:
        # Equal roles: OVS's hash order.
        s1 = RawSnooper(st.server)
        snoopers.append(s1)
        seen["hello"] = [m.hex() for m in s1.read()[0]]
        a.request(msg(4, OFPT_ECHO_REQUEST, 0xA1), OFPT_ECHO_REPLY, 0xA1)
        b.request(msg(4, OFPT_ECHO_REQUEST, 0xB1), OFPT_ECHO_REPLY, 0xB1)
        # B becomes master: the next snooper watches B; the first stays with A.
        b.request(role_request(0xB2, ROLE_MASTER, 1), OFPT_ROLE_REQUEST + 1, 0xB2)
        s2 = RawSnooper(st.server)
        snoopers.append(s2)
        s2.read()
        a.request(msg(4, OFPT_ECHO_REQUEST, 0xA3), OFPT_ECHO_REPLY, 0xA3)
        b.request(msg(4, OFPT_ECHO_REQUEST, 0xB3), OFPT_ECHO_REPLY, 0xB3)
        for name, s in (("s1", s1), ("s2", s2)):
            msgs, end = s.read()
            seen[name] = [(m[1], struct.unpack_from("!I", m, 4)[0]) for m in msgs], end
        # Eight snoopers per controller: B has one, seven more are taken, then no more.
        more = [RawSnooper(st.server) for _ in range(8)]
        snoopers += more
        seen["more"] = [(len(m), end and "closed") for m, end in (s.read(0.3) for s in more)]
        # A snooper that does not read (s2 and the seven) never holds B back.
        big = msg(4, OFPT_ECHO_REQUEST, 0, bytes(60000))
        t0 = time.monotonic()
        for i in range(300):
            b.request(big, OFPT_ECHO_REPLY)
        seen["fast"] = time.monotonic() - t0 < WAIT
        msgs, end = s2.read(1.0)                   # whole messages, some copies dropped
        seen["slow"] = (s2.buf, 2 <= len(msgs) < 600, {m[1] for m in msgs}, end)
        # A removed controller closes its snoopers; the others go on.
        st.set_controllers(b.target)
        seen["s1 after removal"] = s1.read()[1]
        more[0].read()
        b.request(msg(4, OFPT_ECHO_REQUEST, 0xB4), OFPT_ECHO_REPLY, 0xB4)
        msgs, end = more[0].read()
        seen["more[0] after removal"] = [struct.unpack_from("!I", m, 4)[0] for m in msgs][-2:], end
    finally:
        for s in snoopers:
            s.close()
        a.close(), b.close()
    return seen


def test_snoopers_and_several_controllers_as_ovs_vswitchd(stacks):
    got = {}
    for impl in ("ours", "ref"):
        st = stacks(impl)
        got[impl] = several(st)
        st.stop()
    for impl, seen in got.items():
        assert [h[:8] for h in seen["hello"]] == ["06000008"], seen   # 1.0-1.5: no bitmap
        assert seen["s1"] == ([(2, 0xA1), (3, 0xA1), (2, 0xA3), (3, 0xA3)], None), (impl, seen)
        assert seen["s2"] == ([(2, 0xB3), (3, 0xB3)], None), (impl, seen)
        assert seen["more"] == [(1, None)] * 7 + [(0, "closed")], (impl, seen)
        assert seen["fast"] and seen["slow"] == (b"", True, {2, 3}, None), (impl, seen)
        assert seen["s1 after removal"] == "EOF", (impl, seen)
        assert seen["more[0] after removal"] == ([0xB4, 0xB4], None), (impl, seen)
    got["ours"]["hello"] = got["ref"]["hello"]                       # the HELLO's xid
    assert got["ours"] == got["ref"]
