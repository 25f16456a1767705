"""OFConn and OFProto without sockets: handshake, roles, errors, a few handlers.

Two ends meet in memory: bytes from a hand-made peer go into
``OFConn.receive_data`` and what comes out is decoded with the codec.
"""
import struct
import subprocess
import sys

import pytest

from ofproto import bridge as bridge_mod
from ofproto import ofconn as oc
from ofproto import ofp
from ofproto.ofp import actions as A
from ofproto.ofp import messages as M
from ofproto.ofp import nicira as NX
from ofproto.ofp.errors import error_name
from ofproto.ofp.match import FlowMatch, Match10
from ofproto.ofproto import OFProto


def make_bridge(protocols=(), flow_tables=()):
    br = bridge_mod.Bridge(bridge_mod.BridgeConfig(
        uuid="6e8b1c1e-0000-0000-0000-000000000001", name="br0", datapath_type="dummy",
        fail_mode="secure", protocols=tuple(protocols), flow_tables=tuple(flow_tables)))
    br.datapath_id = 0xAA
    for n, (name, mac) in enumerate((("p1", "aa:55:aa:55:00:01"), ("p2", "aa:55:aa:55:00:02")), 1):
        br.ports[n] = bridge_mod.PortInfo(name=name, ofport=n, hw_addr=mac, type="dummy")
    br.ports[0xFFFE] = bridge_mod.PortInfo(name="br0", ofport=0xFFFE, hw_addr="02:00:00:00:00:aa",
                                           type="internal")
    return br


class Peer:
    """The other end: sends messages, decodes what the switch answers."""

    def __init__(self, proto=None, version=1, bitmap=None, primary=False):
        self.proto = proto or OFProto(make_bridge())
        self.conn = self.proto.new_conn(primary=primary, now=0.0)
        self.hello = ofp.decode(self.conn.data_to_send())
        if version:
            self.send(M.make_hello(version, bitmap, xid=1))
            assert self.take() == []

    def send(self, msg, now=0.0):
        self.conn.receive_data(msg if isinstance(msg, bytes) else msg.encode(), now)

    def take(self):
        data = self.conn.data_to_send()
        out = []
        while data:
            n = struct.unpack_from("!H", data, 2)[0]
            out.append(ofp.decode(data[:n]))
            data = data[n:]
        return out

    def ask(self, msg, now=0.0):
        self.send(msg, now)
        return self.take()


def err(msg):
    assert isinstance(msg, M.Error), msg
    if msg.type == 0xFFFF:
        exp = struct.unpack_from("!I", msg.data)[0]
        return error_name(msg.version, msg.type, msg.code, exp)
    return error_name(msg.version, msg.type, msg.code)


# ------------------------------------------------------------ handshake
def test_our_hello_is_of15_without_bitmap():
    p = Peer(version=0)
    assert p.hello.version == 6 and p.hello.elements == b""


def test_hello_has_bitmap_when_versions_not_contiguous():
    p = Peer(OFProto(make_bridge(("OpenFlow10", "OpenFlow13"))), version=0)
    assert p.hello.version == 4 and M.hello_bitmap(p.hello) == 0x12


@pytest.mark.parametrize("version,bitmap,want", [(1, None, 1), (4, None, 4), (4, 0x10, 4),
                                                 (6, 0x12, 4), (5, None, 5)])
def test_negotiation(version, bitmap, want):
    p = Peer(OFProto(make_bridge(("OpenFlow10", "OpenFlow13", "OpenFlow14")
                                 if bitmap == 0x12 else ())), version, bitmap)
    assert p.conn.version == want and p.conn.state is oc.State.ACTIVE


def test_failed_negotiation_sends_hello_failed_and_closes():
    p = Peer(OFProto(make_bridge(("OpenFlow13",))), version=0)
    [e] = p.ask(M.make_hello(1, xid=7))
    assert (e.type, e.code) == (0, 0)
    assert e.data == b"We support version 0x04, you support version 0x01, no common versions."
    assert p.conn.closed


def test_short_header_closes():
    p = Peer()
    p.send(bytes.fromhex("0102000400000000"))
    assert p.conn.closed


# ------------------------------------------------------------ session messages and errors
def test_echo_and_barrier_keep_xid():
    p = Peer()
    [r] = p.ask(M.EchoRequest(version=1, xid=9, data=b"hi"))
    assert isinstance(r, M.EchoReply) and r.xid == 9 and r.data == b"hi"
    [b] = p.ask(M.BarrierRequest(version=1, xid=10))
    assert isinstance(b, M.BarrierReply) and b.xid == 10


def test_bad_version_mid_session_then_echo_still_answered():
    p = Peer(version=1)
    [e] = p.ask(M.FeaturesRequest(version=4, xid=3))
    assert err(e) == "OFPBRC_BAD_VERSION" and e.xid == 3
    [r] = p.ask(M.EchoRequest(version=1, xid=4))
    assert isinstance(r, M.EchoReply)


def test_unknown_type_and_bad_length():
    p = Peer(version=4)
    [e] = p.ask(bytes.fromhex("04ee000800000005"))
    assert err(e) == "OFPBRC_BAD_TYPE" and e.xid == 5
    [e] = p.ask(bytes.fromhex("0405000c00000006") + b"\0" * 4)   # FEATURES_REQUEST + 4 bytes
    assert err(e) == "OFPBRC_BAD_LEN"
    [b] = p.ask(M.BarrierRequest(version=4, xid=7))
    assert isinstance(b, M.BarrierReply)


def test_service_connection_gets_no_async_until_miss_send_len():
    p = Peer(version=4)
    p.proto.port_changed(None, p.proto.bridge.ports[1], 0.0)
    assert p.take() == []
    p.ask(M.SetConfig(version=4, xid=2, flags=0, miss_send_len=128))
    p.proto.port_changed(None, p.proto.bridge.ports[1], 0.0)
    [s] = p.take()
    assert isinstance(s, M.PortStatus) and s.reason == 2 and s.xid == 0


# ------------------------------------------------------------ roles
def test_roles_generation_ids_and_role_status():
    proto = OFProto(make_bridge())
    a = Peer(proto, version=5, primary=True)
    b = Peer(proto, version=4, primary=True)
    [r] = a.ask(M.RoleRequest(version=5, xid=1, role=oc.ROLE_NOCHANGE, generation_id=0))
    assert r.role == oc.ROLE_EQUAL and r.generation_id == 2**64 - 1
    [r] = a.ask(M.RoleRequest(version=5, xid=2, role=oc.ROLE_MASTER, generation_id=5))
    assert r.role == oc.ROLE_MASTER and r.generation_id == 5
    [e] = b.ask(M.RoleRequest(version=4, xid=3, role=oc.ROLE_MASTER, generation_id=4))
    assert err(e) == "OFPRRFC_STALE"
    [r] = b.ask(M.RoleRequest(version=4, xid=4, role=oc.ROLE_MASTER, generation_id=6))
    assert r.role == oc.ROLE_MASTER
    [st] = a.take()
    assert isinstance(st, M.RoleStatus) and st.role == oc.ROLE_SLAVE and st.generation_id == 6
    fm = M.FlowMod(version=5, xid=8, command=0, priority=1)
    [e] = a.ask(fm)
    assert err(e) == "OFPBRC_IS_SECONDARY" and e.xid == 8
    [r] = a.ask(M.EchoRequest(version=5, xid=9))
    assert isinstance(r, M.EchoReply)


def test_nx_role_request_in_of10():
    p = Peer(primary=True)
    [r] = p.ask(NX.NxRoleRequest(version=1, xid=2, role=2))
    assert isinstance(r, NX.NxRoleReply) and r.role == 2 and p.conn.role == oc.ROLE_SLAVE
    [e] = p.ask(M.FlowMod(version=1, xid=3, match=Match10()))
    assert (e.type, e.code) == (1, 5)          # IS_SECONDARY shares OF1.0's EPERM code


# ------------------------------------------------------------ bridge handlers
def test_features_of10_lists_ports():
    p = Peer()
    [f] = p.ask(M.FeaturesRequest(version=1, xid=2))
    assert (f.datapath_id, f.n_tables, f.n_buffers, f.capabilities) == (0xAA, 254, 0, 0xC7)
    assert [x.port_no for x in f.ports] == [1, 2, 0xFFFE]


def test_flow_add_dump_overlap_and_table_full():
    proto = OFProto(make_bridge(flow_tables=((0, {"flow_limit": 2}),)))
    p = Peer(proto)
    def add(prio, port, flags=0):
        match = Match10.from_flow(FlowMatch.exact(in_port=port)) if port else Match10()
        return M.FlowMod(version=1, xid=prio, command=0, priority=prio, flags=flags,
                         match=match, actions=(A.Output10(port=2, max_len=0),))
    assert p.ask(add(10, 1)) == []
    [e] = p.ask(add(10, None, flags=2))        # check_overlap: wildcard overlaps in_port=1
    assert err(e) == "OFPFMFC_OVERLAP"
    assert p.ask(add(11, 2)) == []
    [e] = p.ask(add(12, 3))
    assert err(e) == "OFPFMFC_TABLE_FULL"
    [r] = p.ask(NX.NxFlowStatsRequest(version=1, xid=20))
    assert sorted(s.priority for s in r.stats) == [10, 11]


def test_bundle_commit_is_atomic():
    p = Peer(version=5)
    fm_ok = M.FlowMod(version=5, xid=3, command=0, priority=5)
    fm_bad = M.FlowMod(version=5, xid=4, command=0, priority=6, table_id=0xFF)
    [r] = p.ask(M.BundleControl(version=5, xid=2, bundle_id=1, type=0, flags=1))
    assert r.type == 1
    assert p.ask(M.BundleAdd(version=5, xid=3, bundle_id=1, flags=1, message=fm_ok)) == []
    p.send(M.BundleAdd(version=5, xid=4, bundle_id=1, flags=1, message=fm_bad))
    p.take()                                   # refused at add time or at commit
    out = p.ask(M.BundleControl(version=5, xid=5, bundle_id=1, type=4, flags=1))
    assert out and isinstance(out[-1], M.BundleControl) and out[-1].type == 5
    assert p.proto.flows.tables.n_rules == 1


def test_core_does_not_import_trio():
    code = "import sys, ofproto.ofconn, ofproto.ofproto; assert 'trio' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_handler_bug_answers_eperm_and_the_connection_goes_on(monkeypatch, caplog):
    """Anything but an OFPError from a handler is our bug: the peer gets
    OFPBRC_EPERM, the bug is logged, later messages are still answered."""
    p = Peer(version=4)

    def broken(conn, msg, now):
        raise TypeError("a bug")
    handlers = dict(p.proto.handlers)
    h = handlers[M.FeaturesRequest]
    handlers[M.FeaturesRequest] = oc.Handler(broken, write=h.write)
    monkeypatch.setattr(type(p.proto), "handlers", property(lambda self: handlers))
    [e] = p.ask(M.FeaturesRequest(version=4, xid=5))
    assert err(e) == "OFPBRC_EPERM" and e.xid == 5
    assert "internal error" in caplog.text
    [r] = p.ask(M.EchoRequest(version=4, xid=6, data=b"x"))
    assert isinstance(r, M.EchoReply) and r.xid == 6
