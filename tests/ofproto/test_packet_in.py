"""Packet-ins in process: controller actions and table misses through DpGlue to OFConns.

Expected texts were printed by ``ovs-ofctl monitor br0 65534`` against
ovs-vswitchd 3.1 for the same flows and frames (``interop/test_packet_io.py``
runs the comparison live)."""
from __future__ import annotations

import struct

from ofproto import ofp
from ofproto import packet_in as P
from ofproto.ofp import messages as M
from ofproto.ofp import nicira as NX
from ofproto.ofp.render_msgs import format_message

from .test_dpglue import Rig

ICMP = bytes.fromhex("000000000002000000000001080045000014000040000101000000000a0000010a000002")
ARP = bytes.fromhex("0000000000020000000000010806000108000604000100000000000100000000000000000000"
                    "000000000000")


class Peer:
    """The controller end of one OFConn."""

    def __init__(self, rig, version=1, primary=False):
        self.conn = rig.ofp.new_conn(primary=primary, now=0.0)
        self.conn.data_to_send()
        self.send(M.make_hello(version, None, xid=1))

    def send(self, msg):
        self.conn.receive_data(msg.encode(), 0.0)

    def take(self):
        data, out = self.conn.data_to_send(), []
        while data:
            n = struct.unpack_from("!H", data, 2)[0]
            out.append(ofp.decode(data[:n]))
            data = data[n:]
        return out

    def monitor(self, miss_send_len=65534, fmt=None):
        """What ``ovs-ofctl monitor br0 MISSLEN`` sends."""
        v = self.conn.version
        if fmt is not None:
            self.send(NX.NxSetPacketInFormat(version=v, xid=2, format=fmt))
        self.send(M.SetConfig(version=v, xid=3, flags=0, miss_send_len=miss_send_len))
        self.take()
        return self


def _rig(tmp_path):
    rig = Rig(tmp_path, [("p1", 1, None, ()), ("p2", 2, None, ()), ("p3", 3, None, ())])
    rig.flow("priority=10,in_port=1,ip actions=mod_nw_dst:10.0.0.9,controller:20,output:2")
    rig.flow("table=3,cookie=0x1234,priority=1 actions=controller,output:3")
    rig.flow("priority=5,in_port=2 actions=load:0x5->NXM_NX_REG3[],resubmit(,3)")
    return rig


def test_controller_action_of10_every_packet_and_full_frame(tmp_path):
    rig = _rig(tmp_path)
    mon = Peer(rig).monitor(fmt=P.NXPIF_STANDARD)
    rig.rx("p1", ICMP)
    rig.rx("p1", ICMP)                    # a megaflow hit: the datapath's userspace action
    (a, b) = mon.take()
    assert a == b and isinstance(a, M.PacketIn) and a.buffer_id == P.NO_BUFFER
    # max_len 20 but the whole (rewritten) frame, as OVS with n_buffers 0
    assert format_message(a).splitlines()[0] == (
        "OFPT_PACKET_IN (xid=0x0): total_len=36 in_port=1 (via action) data_len=36 (unbuffered)")
    assert a.data[30:34] == bytes((10, 0, 0, 9))
    assert [len(f) for f in rig.tx("p2")] == [36, 36]
    (mf,) = rig.dp.flow_dump()
    assert mf.packets == 1                # OVS: the upcall's own packet is not counted
    rig.glue.push_stats()
    (rule,) = [r for r in rig.ofp.flows.tables.rules() if r.priority == 10]
    assert rule.n_packets == 2            # ... but the rule is credited with it


def test_of13_packet_in_has_table_cookie_and_metadata(tmp_path):
    rig = _rig(tmp_path)
    mon = Peer(rig, version=4).monitor(fmt=P.NXPIF_STANDARD)
    rig.rx("p2", ICMP)
    (m,) = mon.take()
    assert isinstance(m, M.PacketIn) and m.version == 4
    assert (m.reason, m.table_id, m.cookie, m.total_len) == (1, 3, 0x1234, 36)
    fm = m.match.to_flow()
    assert fm["in_port"][0] == 2 and fm["reg3"][0] == 5


def test_packet_in2_and_nx_packet_in(tmp_path):
    rig = _rig(tmp_path)
    m2 = Peer(rig).monitor(fmt=P.NXPIF_NXT_PACKET_IN2)
    m1 = Peer(rig).monitor(fmt=P.NXPIF_NXT_PACKET_IN)
    rig.rx("p1", ICMP)
    (a,) = m2.take()
    (b,) = m1.take()
    assert isinstance(a, NX.NxPacketIn2) and isinstance(b, NX.NxPacketIn)
    props = {}
    d = a.properties
    off = 0
    while off < len(d):
        t, n = struct.unpack_from("!HH", d, off)
        props[t] = d[off + 4:off + n]
        off += (n + 7) & ~7
    assert props[P.NXPINT_PACKET][30:34] == bytes((10, 0, 0, 9))
    assert props[P.NXPINT_REASON] == b"\x01" and props[P.NXPINT_TABLE_ID] == b"\x00"
    assert P.NXPINT_FULL_LEN not in props
    assert format_message(b).splitlines()[0] == (
        "NXT_PACKET_IN (xid=0x0): cookie=0x0 total_len=36 in_port=1 (via action) "
        "data_len=36 (unbuffered)")


def test_async_config_and_miss_send_len_gate(tmp_path):
    rig = _rig(tmp_path)
    silent = Peer(rig)                               # service, miss_send_len 0
    ctl = Peer(rig, version=4, primary=True)         # controller, defaults
    ctl.take()
    off = Peer(rig, version=4, primary=True)
    off.take()
    off.send(M.SetAsync(version=4, xid=5, packet_in_mask0=1, packet_in_mask1=0,
                        port_status_mask0=7, port_status_mask1=7, flow_removed_mask0=0,
                        flow_removed_mask1=0))    # no_match only: no "action" packet-ins
    rig.rx("p1", ICMP)
    assert silent.take() == [] and off.take() == []
    assert [type(m) for m in ctl.take()] == [M.PacketIn]


def test_table_miss_only_for_of10_sessions(tmp_path):
    rig = _rig(tmp_path)
    rig.rx("p3", ARP)                                # nobody: a drop megaflow
    assert rig.dp.flow_dump()[0].actions == ()
    m13 = Peer(rig, version=4).monitor()
    rig.rx("p3", ARP)
    assert m13.take() == []                          # OF1.3 drops misses
    m10 = Peer(rig).monitor(fmt=P.NXPIF_STANDARD)
    rig.rx("p3", ARP)                                # revalidated: misses go to OF1.0
    (m,) = m10.take()
    assert format_message(m).splitlines()[0] == (
        "OFPT_PACKET_IN (xid=0x0): total_len=44 in_port=3 (via no_match) data_len=44 "
        "(unbuffered)")
    assert m13.take() == []


def test_packet_out_outputs_and_packet_in(tmp_path):
    from ofproto.ofp import actions as A
    rig = _rig(tmp_path)
    mon = Peer(rig).monitor(fmt=P.NXPIF_STANDARD)
    po = M.PacketOut(version=1, xid=9, in_port=0xFFFD, data=ICMP,
                     actions=(A.Output10(port=2, max_len=0), A.Output10(port=0xFFFD, max_len=0xFFFF)))
    rig.glue.packet_out(rig.bg, po)
    assert rig.tx("p2") == [ICMP]
    (m,) = mon.take()
    assert format_message(m).splitlines()[0] == (
        "OFPT_PACKET_IN (xid=0x0): total_len=36 in_port=CONTROLLER (via action) data_len=36 "
        "(unbuffered)")


def test_wire_reasons():
    assert P.wire_reason(P.OFPR_PACKET_OUT, 4) == P.OFPR_ACTION
    assert P.wire_reason(P.OFPR_PACKET_OUT, 5) == P.OFPR_PACKET_OUT
    assert P.wire_reason(P.OFPR_EXPLICIT_MISS, 1) == P.OFPR_ACTION
    assert P.wire_reason(P.OFPR_EXPLICIT_MISS, 4) == P.OFPR_NO_MATCH
    assert P.wire_reason(P.OFPR_IMPLICIT_MISS, 1) == P.OFPR_NO_MATCH
