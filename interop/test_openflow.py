"""pyovs-vswitchd's OpenFlow side against real clients (our servers, stock ovs-ofctl).

Each test starts our OVSDB server and our switch in a short temp folder
(OVS_RUNDIR = the folder, so ``ovs-ofctl br0`` finds ``br0.mgmt``), adds a
dummy bridge with ovs-vsctl, and talks OpenFlow: stock ovs-ofctl for the
ordinary commands, a raw socket for the error cases (each must get Open
vSwitch's OFPT_ERROR type/code, after which echo and barrier still work).
"""
from __future__ import annotations

import os
import socket
import struct
import time

import pytest

from interop.conftest import requires_ovs
from interop.harness import OvsdbServer
from interop.test_vswitchd_config import Switchd
from ofproto import ofp
from ofproto.ofp import actions as A
from ofproto.ofp import instructions as I
from ofproto.ofp import messages as M
from ofproto.ofp.errors import error_name
from ofproto.ofp.match import FlowMatch, OxmMatch

pytestmark = [pytest.mark.slow, pytest.mark.needs_ovs, requires_ovs]


@pytest.fixture
def switch(short_tmp):
    server = OvsdbServer("ours", os.path.join(short_tmp, "s"))
    server.start()
    sw = None
    try:
        server.vsctl("--no-wait", "init", check=True)
        sw = Switchd("ours", server).start()
        server.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=dummy",
                     "fail-mode=secure", "--", "add-port", "br0", "p1", "--", "set",
                     "Interface", "p1", "type=dummy", "ofport_request=1", check=True)
        mgmt = os.path.join(server.folder, "br0.mgmt")
        deadline = time.monotonic() + 10
        while not os.path.exists(mgmt) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield server, mgmt
    finally:
        if sw is not None:
            sw.stop()
        server.stop()


class Raw:
    def __init__(self, path, version):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        for _ in range(100):                   # the file exists a moment before listen()
            try:
                self.s.connect(path)
                break
            except ConnectionRefusedError:
                time.sleep(0.05)
        self.buf = b""
        self.version = version
        self.s.sendall(M.make_hello(version, xid=1).encode())
        assert isinstance(self.recv(), M.Hello)

    def recv(self):
        while True:
            if len(self.buf) >= 8:
                n = struct.unpack_from("!H", self.buf, 2)[0]
                if len(self.buf) >= n:
                    msg, self.buf = self.buf[:n], self.buf[n:]
                    return ofp.decode(msg)
            data = self.s.recv(65536)
            if not data:
                return None
            self.buf += data

    def ask(self, msg):
        self.s.sendall(msg if isinstance(msg, bytes) else msg.encode())
        return self.recv()

    def still_works(self):
        v = self.version
        assert isinstance(self.ask(M.EchoRequest(version=v, xid=90)), M.EchoReply)
        assert isinstance(self.ask(M.BarrierRequest(version=v, xid=91)), M.BarrierReply)


def name(e):
    assert isinstance(e, M.Error), e
    if e.type == 0xFFFF:
        return error_name(e.version, e.type, e.code, struct.unpack_from("!I", e.data)[0])
    return error_name(e.version, e.type, e.code)


def test_ofctl_show_and_flows(switch):
    server, _ = switch
    r = server.run("ovs-ofctl", "show", "br0", check=True)
    assert "n_tables:254, n_buffers:0" in r.stdout and "1(p1)" in r.stdout
    server.run("ovs-ofctl", "add-flow", "br0", "priority=5,in_port=1,actions=output:LOCAL",
               check=True)
    r = server.run("ovs-ofctl", "dump-flows", "br0", check=True)
    assert "priority=5,in_port=1 actions=LOCAL" in r.stdout
    r = server.run("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br0", check=True)
    assert "reset_counts" in r.stdout


def test_errors_keep_the_session(switch):
    server, mgmt = switch
    c = Raw(mgmt, 4)
    e = c.ask(M.FeaturesRequest(version=1, xid=2))
    assert name(e) == "OFPBRC_BAD_VERSION"
    c.still_works()
    assert name(c.ask(bytes.fromhex("04ee000800000003"))) == "OFPBRC_BAD_TYPE"
    c.still_works()
    assert name(c.ask(bytes.fromhex("0405000c00000004") + bytes(4))) == "OFPBRC_BAD_LEN"
    c.still_works()
    # tcp_dst without ip/tcp: bad prerequisite.
    fm = M.FlowMod(version=4, xid=5, command=0, priority=1,
                   match=OxmMatch.from_flow(FlowMatch.exact(in_port=1))).encode()
    fm = fm.replace(bytes.fromhex("0001000c800000040000000100000000"),
                    bytes.fromhex("0001000a80001a020050000000000000"))   # in_port -> tcp_dst
    assert name(c.ask(fm)) == "OFPBMC_BAD_PREREQ"
    c.still_works()
    bad_out = M.FlowMod(version=4, xid=6, command=0, priority=1, match=OxmMatch(),
                        instructions=(I.ApplyActions(actions=(A.Output(port=0xFF10,
                                                                       max_len=0),)),))
    assert name(c.ask(bad_out)) == "OFPBAC_BAD_OUT_PORT"
    c.still_works()
    over = M.FlowMod(version=4, xid=7, command=0, priority=9, match=OxmMatch(), flags=2)
    c.s.sendall(M.FlowMod(version=4, xid=8, command=0, priority=9,
                          match=OxmMatch.from_flow(FlowMatch.exact(in_port=1))).encode())
    assert name(c.ask(over)) == "OFPFMFC_OVERLAP"
    c.still_works()


def test_table_full_and_roles(switch):
    server, mgmt = switch
    server.vsctl("--", "--id=@ft", "create", "Flow_Table", "flow_limit=1", "--", "set",
                 "Bridge", "br0", "flow_tables:0=@ft", check=True)
    c = Raw(mgmt, 4)
    add = lambda xid, port: M.FlowMod(version=4, xid=xid, command=0, priority=1,
                                      match=OxmMatch.from_flow(FlowMatch.exact(in_port=port)))
    c.s.sendall(add(1, 1).encode())
    assert name(c.ask(add(2, 2))) == "OFPFMFC_TABLE_FULL"
    c.still_works()
    d = Raw(mgmt, 4)
    r = c.ask(M.RoleRequest(version=4, xid=3, role=0, generation_id=0))
    assert isinstance(r, M.RoleReply)
    r = c.ask(M.RoleRequest(version=4, xid=4, role=2, generation_id=10))
    assert r.role == 2
    assert name(d.ask(M.RoleRequest(version=4, xid=5, role=2, generation_id=9))) == \
        "OFPRRFC_STALE"
    d.ask(M.RoleRequest(version=4, xid=6, role=3, generation_id=11))
    assert name(d.ask(add(7, 3))) == "OFPBRC_IS_SECONDARY"
    d.still_works()


def test_short_header_closes(switch):
    _, mgmt = switch
    c = Raw(mgmt, 1)
    c.s.sendall(bytes.fromhex("0102000400000009"))
    assert c.recv() is None
