"""Table features/stats/desc, TABLE_MOD (eviction, vacancy, table-miss), queues,
IPFIX and memory/show as ovs-vswitchd 3.1 answers them (see ofproto.py; the
byte-level comparison with Open vSwitch is interop/scenarios/ofctl-tables-queues.sh)."""
import struct

import pytest

from ofproto import ofp
from ofproto import ofproto as O
from ofproto.ofp import bodies as B
from ofproto.ofp import fields as F
from ofproto.ofp import messages as M
from ofproto.ofp import metaflow as MF
from ofproto.ofp import multipart as MP
from ofproto.ofp import nicira as NX
from ofproto.ofp.errors import error_name
from ofproto.ofp.match import FlowMatch, OxmMatch
from ofproto.ofproto import OFProto
from ofproto.vswitchd import udpif_threads
from tests.ofproto.test_ofconn import Peer, make_bridge


def err(msg):
    """The OVS name of an OFPT_ERROR, whichever of the three encodings it uses."""
    assert isinstance(msg, M.Error), msg
    if msg.type == 0xB0C2:                        # OF1.0/1.1 nx_vendor_error
        vendor, t, c = struct.unpack_from("!IHH", msg.data)
        assert vendor == 0x2320
        return error_name(msg.version, t, c)
    if msg.type == 0xFFFF:
        return error_name(msg.version, msg.type, msg.code, struct.unpack_from("!I", msg.data)[0])
    return error_name(msg.version, msg.type, msg.code)


# ------------------------------------------------------------ the meta-flow table
def test_metaflow_rules():
    names = MF.matchable()
    assert len(names) == 178 and names[:4] == ("dp_hash", "recirc_id", "packet_type", "conj_id")
    assert names.index("tun_metadata63") < names.index("metadata") < names.index("reg0")
    assert MF.header("eth_src", 1) == 0x00000406          # NXM_OF_ETH_SRC before OF1.2
    assert MF.header("eth_src", 4) == 0x80000806          # OXM_OF_ETH_SRC from OF1.2
    assert MF.header("eth_src", 4, masked=True) == 0x8000090C
    assert MF.header("tcp_flags", 4) == 0xFFFF5406 << 32 | 0x4F4E4600   # ONF experimenter
    assert MF.header("tcp_flags", 4, masked=True) == 0xFFFF5508 << 32 | 0x4F4E4600
    assert MF.header("tcp_flags", 6) == 0x80005402
    assert MF.header("packet_type", 4) == 0x80005804      # the first encoding is always taken
    assert MF.header("tun_metadata0", 4, masked=True) == 0x000151F8
    assert "eth_type" not in MF.maskable() and "eth_type" not in MF.writable()
    assert "ct_state" in MF.maskable() and "ct_state" not in MF.writable()
    assert MF.oxm_bitmap(["tun_id", "metadata", "eth_src"], 3) == 1 << 2 | 1 << 4


def test_metaflow_agrees_with_fields():
    """Where fields.py knows a field, its code points and maskability are meta-flow's."""
    for name, n_bytes, maskable, _, headers in MF.FIELDS:
        for f in F.FIELDS_BY_NAME.get(name, ()):
            assert f.nbytes == n_bytes and f.maskable == maskable, name
            assert (f.oxm_class, f.code, f.experimenter or 0) in \
                {(h[1], h[2], h[3]) for h in headers}, (name, f.wire_name)


# ------------------------------------------------------------ table features and stats
def _props(f):
    return {p.type: p.items for p in f.props}


def test_table_features_properties():
    f = O.table_features(0, 4)
    assert [p.type for p in f.props] == [0, 2, 4, 12, 6, 14, 1, 3, 5, 13, 7, 15, 8, 10]
    p = _props(f)
    assert p[0] == (1, 2, 3, 4, 5, 6) and p[2] == tuple(range(1, 254))
    assert p[4] == (0, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25)
    assert len(p[12]) == len(MF.writable()) and len(p[8]) == len(p[10]) == 178
    assert MF.header("eth_src", 4, masked=True) in p[8] and MF.header("eth_src", 4) in p[10]
    assert MF.header("eth_type", 4) in p[8]
    assert all(p[t] == p[t + 1] for t in (0, 2, 4, 6, 12, 14))
    last = _props(O.table_features(253, 6, "last", 5))
    assert last[0] == (2, 3, 4, 5) and last[2] == ()        # OF1.5: no meter, no goto
    f = O.table_features(1, 5, "small", 3)
    assert (f.name.rstrip(b"\0"), f.max_entries, f.capabilities) == (b"small", 3, 0)


def test_table_features_reply_splits_like_ovs():
    proto = OFProto(make_bridge(flow_tables=((1, {"flow_limit": 3, "name": "small"}),)))
    p = Peer(proto, version=4)
    replies = p.ask(B.TableFeaturesRequest(version=4, xid=3))
    assert all(len(r.encode()) <= 65535 for r in replies)
    assert [r.flags for r in replies] == [1] * (len(replies) - 1) + [0]
    feats = [f for r in replies for f in r.stats]
    assert [f.table_id for f in feats] == list(range(254))
    assert feats[1].name.rstrip(b"\0") == b"small" and feats[1].max_entries == 3
    [e] = p.ask(B.TableFeaturesRequest(version=4, xid=4, stats=(feats[0],)))
    assert err(e) == "OFPTFFC_EPERM"


def test_table_stats_of11_of12_capabilities():
    c11 = O.table_stats_caps(0, 2)
    assert c11["wildcards"] == c11["match"] == 0xFBFF
    assert c11["instructions"] == 0x3E and O.table_stats_caps(253, 2)["instructions"] == 0x3C
    assert c11["write_actions"] == sum(1 << a for a in O._ACTIONS[2])
    c12 = O.table_stats_caps(0, 3)
    assert c12["match"] >> 2 & 1 and not c12["match"] >> 38 & 1   # metadata; no tun_id
    assert c12["write_setfields"] >> 4 & 1 and not c12["write_setfields"] >> 5 & 1
    assert c12["metadata_match"] == 2**64 - 1


def test_table_miss_config_round_trip_quirks():
    p = Peer(version=2)
    for table, config in ((3, 2), (4, 1), (5, 0), (6, 3)):   # drop, continue, controller, bad
        assert p.ask(M.TableMod(version=2, xid=table, table_id=table, config=config)) == []
    [r] = p.ask(MP.TableStatsRequest(version=2, xid=9))
    # OF1.1 carries OVS's enum ofputil_table_miss (DEFAULT, CONTROLLER, CONTINUE, DROP).
    assert [s.config for s in r.stats[2:8]] == [0, 3, 2, 1, 1, 0]
    p12 = Peer(p.proto, version=3)
    [r] = p12.ask(MP.TableStatsRequest(version=3, xid=10))
    assert [s.config for s in r.stats[2:8]] == [0, 2, 1, 0, 0, 0]


# ------------------------------------------------------------ table desc and TABLE_MOD
def _descs(p, version=5):
    return [d for r in p.ask(MP.TableDescRequest(version=version, xid=2))
            for d in B.unpack_table_descs(r.body)]


def _mod(table, config=0, props=b"", version=5):
    return M.TableMod(version=version, xid=7, table_id=table, config=config, properties=props)


def test_table_desc_defaults_and_table_mod():
    p = Peer(version=5)
    d = _descs(p)
    assert len(d) == 254 and d[0] == dict(table_id=0, eviction=False, vacancy_events=False,
                                          eviction_flags=7, vacancy=None)
    assert p.ask(_mod(0, 4)) == []                            # OFPTC14_EVICTION
    vac = struct.pack("!HHBBBx", 3, 8, 20, 80, 0)
    assert p.ask(_mod(1, 8, vac)) == []                       # vacancy events 20..80
    d = _descs(p)
    assert d[0]["eviction"] and not d[1]["eviction"]
    assert d[1]["vacancy_events"] and d[1]["vacancy"] == (20, 80, 100)
    # A flags "eviction" property sets the eviction *mode* (OVS's parsing): 7 is neither.
    assert p.ask(_mod(0, 0, struct.pack("!HHI", 2, 8, 7))) == []
    assert _descs(p)[0]["eviction"]
    assert p.ask(_mod(0xFF, 4)) == []
    assert all(x["eviction"] for x in _descs(p))
    assert p.ask(_mod(0xFF, 0)) == []
    assert not any(x["eviction"] for x in _descs(p))
    assert err(p.ask(_mod(254, 4))[0]) == "OFPTMFC_EPERM"
    assert err(p.ask(_mod(0, 8, struct.pack("!HHBBBx", 3, 8, 80, 20, 0)))[0]) == \
        "OFPBPC_BAD_VALUE"
    assert err(p.ask(_mod(0, 8, struct.pack("!HHBBBx", 3, 8, 20, 80, 5)))[0]) == \
        "OFPBPC_BAD_VALUE"
    assert err(p.ask(_mod(0, 0, struct.pack("!HHI", 9, 8, 0)))[0]) == "OFPBRC_BAD_TYPE"
    assert err(p.ask(_mod(0, 0, struct.pack("!HHHxx", 2, 6, 0)))[0]) == "OFPBPC_BAD_LEN"
    assert err(p.ask(_mod(0, 0, struct.pack("!HHI", 0xFFFF, 8, 0x2320)))[0]) == "OFPBPC_BAD_LEN"
    assert err(p.ask(_mod(0, 0, struct.pack("!HHII4x", 0xFFFF, 12, 0, 1)))[0]) == \
        "OFPBPC_BAD_EXPERIMENTER"
    assert err(p.ask(_mod(0, 0, struct.pack("!HHII4x", 0xFFFF, 12, 0x2320, 1)))[0]) == \
        "OFPBRC_BAD_TYPE"


def test_table_mod_is_refused_to_slaves():
    proto = OFProto(make_bridge())
    p = Peer(proto, version=5, primary=True)
    p.ask(M.RoleRequest(version=5, xid=1, role=3, generation_id=1))
    assert err(p.ask(_mod(0, 4))[0]) == "OFPBRC_IS_SECONDARY"


def _add(p, prio, hard=0, importance=0, table=1, version=5):
    return p.ask(M.FlowMod(version=version, xid=prio, table_id=table, command=0,
                           priority=prio, hard_timeout=hard, importance=importance,
                           match=OxmMatch.from_flow(FlowMatch.exact(in_port=prio))))


def _priorities(proto, table=1):
    return sorted(r.priority for r in proto.flows.tables.rules(table))


def test_table_mod_eviction_then_a_full_table_evicts():
    proto = OFProto(make_bridge(flow_tables=((1, {"flow_limit": 3}),)))
    p = Peer(proto, version=5)
    assert _add(p, 1, hard=100) == _add(p, 2, hard=50) == _add(p, 3, hard=200) == []
    assert err(_add(p, 4, hard=300)[0]) == "OFPFMFC_TABLE_FULL"
    assert p.ask(_mod(1, 4)) == []
    assert _add(p, 4, hard=300) == []                         # the earliest to expire goes
    assert _priorities(proto) == [1, 3, 4]
    assert _add(p, 5, hard=10, importance=9) == [] and _priorities(proto) == [3, 4, 5]
    assert _add(p, 6) == [] and _add(p, 7) == []              # importance before expiry
    assert _priorities(proto) == [5, 6, 7]
    assert _add(p, 8) == [] and _priorities(proto) == [6, 7, 8]
    assert err(_add(p, 9)[0]) == "OFPFMFC_TABLE_FULL"       # only timeouts are evictable
    assert p.ask(_mod(1, 0)) == []
    assert err(_add(p, 10, hard=5)[0]) == "OFPFMFC_TABLE_FULL"


def test_vacancy_events_need_the_async_config():
    proto = OFProto(make_bridge(flow_tables=((1, {"flow_limit": 10}),)))
    quiet = Peer(proto, version=5)
    p = Peer(proto, version=5)
    # OF1.4 SET_ASYNC: primary table-status mask VACANCY_DOWN|UP; on a service connection
    # this also gives it the default miss_send_len (async messages at all).
    assert p.ask(M.SetAsync(version=5, xid=2, properties=struct.pack("!HHI", 9, 8, 0x18))) == []
    assert p.ask(_mod(1, 8, struct.pack("!HHBBBx", 3, 8, 20, 80, 0))) == []
    for prio in range(1, 9):
        assert _add(p, prio) == []
    # The ninth flow takes the vacancy to 10% < 20%: one VACANCY_DOWN, then nothing more.
    [ts] = _add(p, 9)
    assert isinstance(ts, M.TableStatus) and ts.reason == O.OFPTR_VACANCY_DOWN
    [d] = B.unpack_table_descs(ts.table)
    assert d["table_id"] == 1 and d["vacancy"] == (20, 80, 10)
    assert _add(p, 10) == [] and p.take() == []
    [ts] = p.ask(M.FlowMod(version=5, xid=20, table_id=1, command=3, out_port=0xFFFFFFFF,
                           out_group=0xFFFFFFFF))
    assert ts.reason == O.OFPTR_VACANCY_UP and B.unpack_table_descs(ts.table)[0]["vacancy"] == \
        (20, 80, 100)
    assert quiet.take() == []


def test_vacancy_of_a_table_without_limit():
    proto = OFProto(make_bridge())
    p = Peer(proto, version=5)
    assert p.ask(_mod(0, 8, struct.pack("!HHBBBx", 3, 8, 10, 20, 0))) == []
    assert _descs(p)[0]["vacancy"] == (10, 20, 100)
    _add(p, 1, table=0)
    assert _descs(p)[0]["vacancy"] == (10, 20, 99)           # (UINT_MAX - 1) * 100 / UINT_MAX


# ------------------------------------------------------------ queues
U64 = 2**64 - 1


def test_queue_stats_default_queue():
    p = Peer(version=1)
    [r] = p.ask(MP.QueueStatsRequest(version=1, xid=2, port_no=0xFFFC, queue_id=0xFFFFFFFF))
    assert [(s.port_no, s.queue_id) for s in r.stats] == \
        [(q, 0) for q in p.proto.port_order if q in p.proto.bridge.ports]
    assert {(s.tx_bytes, s.tx_packets, s.tx_errors) for s in r.stats} == {(U64, U64, U64)}
    [r] = p.ask(MP.QueueStatsRequest(version=1, xid=3, port_no=1, queue_id=0))
    assert [(s.port_no, s.queue_id) for s in r.stats] == [(1, 0)]
    assert err(p.ask(MP.QueueStatsRequest(version=1, xid=4, port_no=1, queue_id=5))[0]) == \
        "OFPQOFC_BAD_QUEUE"
    assert err(p.ask(MP.QueueStatsRequest(version=1, xid=5, port_no=9,
                                          queue_id=0xFFFFFFFF))[0]) == "OFPQOFC_BAD_PORT"
    assert err(p.ask(MP.QueueStatsRequest(version=1, xid=6, port_no=0xFFFF, queue_id=5))[0]) \
        == "OFPQOFC_BAD_QUEUE"
    p13 = Peer(p.proto, version=4)
    [r] = p13.ask(MP.QueueStatsRequest(version=4, xid=7, port_no=0xFFFFFFFE, queue_id=0))
    [s] = r.stats
    assert (s.port_no, s.duration_sec, s.duration_nsec) == (0xFFFFFFFE, 2**32 - 1, 2**32 - 1)
    assert err(p13.ask(MP.QueueStatsRequest(version=4, xid=8, port_no=0xFF00,
                                            queue_id=0))[0]) == "OFPBAC_BAD_OUT_PORT"


def test_queue_get_config_and_desc():
    p = Peer(version=1)
    [r] = p.ask(M.QueueGetConfigRequest(version=1, xid=2, port=1))
    assert (r.port, r.queues) == (1, struct.pack("!IH2x", 0, 8))
    assert err(p.ask(M.QueueGetConfigRequest(version=1, xid=3, port=0xFFFE))[0]) == \
        "OFPQOFC_BAD_PORT"
    p11 = Peer(p.proto, version=2)
    [r] = p11.ask(M.QueueGetConfigRequest(version=2, xid=4, port=2))
    assert r.queues == struct.pack("!IH2x", 0, 8)            # OF1.1: ofp10_packet_queue
    p13 = Peer(p.proto, version=4)
    [r] = p13.ask(M.QueueGetConfigRequest(version=4, xid=5, port=0xFFFFFFFF))
    assert r.port == 0xFFFFFFFF and len(r.queues) == 3 * 16
    assert err(p13.ask(M.QueueGetConfigRequest(version=4, xid=6, port=0xFFFFFFFE))[0]) == \
        "OFPQOFC_BAD_PORT"
    p14 = Peer(p.proto, version=5)
    [r] = p14.ask(MP.QueueDescRequest(version=5, xid=7, port_no=0xFFFFFFFE, queue_id=0))
    assert r.body == struct.pack("!IIH6x", 0xFFFFFFFE, 0, 16)
    assert err(p14.ask(MP.QueueDescRequest(version=5, xid=8, port_no=1, queue_id=5))[0]) == \
        "OFPQOFC_BAD_QUEUE"
    assert err(p14.ask(MP.QueueDescRequest(version=5, xid=9, port_no=7,
                                           queue_id=0xFFFFFFFF))[0]) == "OFPQOFC_BAD_PORT"


def test_only_dummy_netdevs_have_queue_0():
    br = make_bridge()
    br.ports[3] = type(br.ports[1])(name="patch0", ofport=3, hw_addr="aa:55:aa:55:00:03",
                                    type="patch")
    p = Peer(OFProto(br), version=4)
    [r] = p.ask(MP.QueueStatsRequest(version=4, xid=2, port_no=0xFFFFFFFF,
                                     queue_id=0xFFFFFFFF))
    assert sorted(s.port_no for s in r.stats) == [1, 2, 0xFFFFFFFE]
    assert err(p.ask(MP.QueueStatsRequest(version=4, xid=3, port_no=3, queue_id=0))[0]) == \
        "OFPQOFC_BAD_QUEUE"


# ------------------------------------------------------------ IPFIX, errors, memory
@pytest.mark.parametrize("version", [1, 2, 4])
def test_ipfix_not_configured(version):
    p = Peer(version=version)
    [e] = p.ask(NX.NxIpfixBridgeRequest(version=version, xid=2))
    assert err(e) == "NXST_NOT_CONFIGURED"
    # OF1.0/1.1: NXET_VENDOR/NXVC_VENDOR_ERROR and an nx_vendor_error before the request.
    assert (e.type, e.code) == ((0xB0C2, 0) if version < 3 else (0xFFFF, 36))


def test_error_encodings():
    assert ofp.OFPError("OFPBRC_BAD_LEN").encode(1) == (1, 6, b"")
    assert ofp.OFPError("OFPBRC_BAD_PORT").encode(1) == (0xB0C2, 0,
                                                         struct.pack("!IHH", 0x2320, 1, 514))
    assert ofp.OFPError("OFPBRC_BAD_PORT").encode(4) == (1, 11, b"")
    assert ofp.OFPError("NXST_NOT_CONFIGURED").encode(4) == (0xFFFF, 36,
                                                             struct.pack("!I", 0x2320))
    # What a version cannot express goes as NXBRC_UNENCODABLE_ERROR (OFPTMFC_EPERM is 1.2+).
    assert ofp.OFPError("OFPTMFC_EPERM").encode(2) == (0xB0C2, 0,
                                                       struct.pack("!IHH", 0x2320, 1, 521))


def test_table_mod_lengths():
    p = Peer(version=2)
    assert err(p.ask(_mod(254, version=2))[0]) == "NXBRC_UNENCODABLE_ERROR"
    bad = M.TableMod(version=4, xid=3, table_id=0, config=0).encode() + bytes(8)
    bad = bad[:2] + struct.pack("!H", len(bad)) + bad[4:]
    p4 = Peer(p.proto, version=4)
    assert err(p4.ask(bad)[0]) == "OFPBRC_BAD_LEN"              # OF1.3: no properties
    p5 = Peer(p.proto, version=5)
    odd = M.TableMod(version=5, xid=4, table_id=0, config=0).encode() + \
        bytes.fromhex("000300061450")
    odd = odd[:2] + struct.pack("!H", len(odd)) + odd[4:]
    assert err(p5.ask(odd)[0]) == "OFPBRC_BAD_LEN"


def test_memory_counts():
    proto = OFProto(make_bridge())
    assert proto.n_rules() == 4                  # secure: no NORMAL flow; table 254's four
    p = Peer(proto, version=5)
    _add(p, 1, table=3)
    assert proto.n_rules() == 5
    assert udpif_threads({}) >= (1, 1)
    assert udpif_threads({"n-handler-threads": "3"})[0] == 3
    assert udpif_threads({"n-handler-threads": "3", "n-revalidator-threads": "2"}) == (3, 2)


def test_table_features_replies_are_encoded_once_and_carry_each_requests_xid():
    from .test_ofconn import Peer
    p = Peer(version=4)
    got = []
    for xid in (7, 8):
        p.send(B.TableFeaturesRequest(version=4, xid=xid))
        got.append(p.take())
    first, second = got
    assert len(first) == len(second) > 1
    assert {m.xid for m in first} == {7} and {m.xid for m in second} == {8}
    assert [m.stats for m in first] == [m.stats for m in second]
    assert p.proto._features_wire is not None            # the cache the second used
    p.proto.bridge.flow_tables = {0: {"name": "first"}}  # a table's name changes it
    p.proto.flows.sync_config()
    p.send(B.TableFeaturesRequest(version=4, xid=9))
    third = p.take()
    assert third[0].stats[0].name.rstrip(b"\0") == b"first" != first[0].stats[0].name.rstrip(b"\0")
