"""Typed multipart bodies, group/meter messages, learn specs and NAT ranges."""
import shutil
import struct
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

import ofproto.ofp as ofp
from ofproto.ofp import actions as A
from ofproto.ofp import bodies as B
from ofproto.ofp import groups as G
from ofproto.ofp import oxs
from ofproto.ofp.learn import LearnSpec, NatRange, learn_specs, make_learn, make_nat, nat_range
from ofproto.ofp.render_msgs import format_message

from .conftest import capture_messages

needs_ovs = pytest.mark.skipif(not shutil.which("ovs-ofctl"), reason="needs ovs-ofctl")
u8, u16, u32, u64 = (st.integers(0, (1 << n) - 1) for n in (8, 16, 32, 64))

TYPED = (B.PortStatsReply, B.TableStatsReply, B.QueueStatsReply, B.GroupStatsReply,
         B.GroupDescReply, B.MeterStatsReply, B.MeterConfigStatsReply, B.TableFeaturesReply,
         B.NxGroupStatsReply, B.NxGroupDescReply, G.GroupMod, G.NxGroupMod, G.MeterMod)


def test_captured_bodies_are_typed_and_round_trip():
    seen = set()
    for _, h in capture_messages():
        data = bytes.fromhex(h)
        m = ofp.decode(data)
        if isinstance(m, TYPED):
            seen.add(type(m).__name__)
            assert ofp.encode(m) == data
            body = getattr(m, "stats", None) or getattr(m, "buckets", None) or \
                getattr(m, "bands", None) or ()
            assert not any(isinstance(x, (bytes, bytearray)) for x in body)
    assert {"PortStatsReply", "TableStatsReply", "QueueStatsReply", "GroupDescReply",
            "MeterStatsReply", "MeterConfigStatsReply", "GroupMod", "MeterMod",
            "NxGroupDescReply"} <= seen


def test_captured_values():
    caps = {type(m).__name__ + str(m.version): m for m in
            (ofp.decode(bytes.fromhex(h)) for _, h in capture_messages())}
    ps = caps["PortStatsReply4"].stats
    assert {p.port_no for p in ps} == {1, 2, 3, 0xFFFFFFFE}
    mc = caps["MeterConfigStatsReply4"].stats[0]
    assert mc.meter_id == 1 and mc.bands[0] == G.MeterBand(type=1, rate=1000, burst_size=1000)
    gd = caps["GroupDescReply4"].stats[0]
    assert gd.group_id == 1 and gd.buckets[0].actions == (A.Output(port=1, max_len=0),)
    nx = caps["NxGroupDescReply1"].stats[0]
    assert nx.buckets[0].actions == (A.Output10(port=1, max_len=0),)


# ---------------------------------------------------------------- generated
counters = st.tuples(u64, u64)
buckets = st.builds(G.Bucket, bucket_id=u32, weight=u16, watch_port=u32, watch_group=u32,
                    actions=st.lists(st.builds(A.Output, port=st.integers(1, 0xFEFF),
                                               max_len=u16), max_size=2).map(tuple))
bands = st.one_of(st.builds(G.MeterBand, type=st.just(1), rate=u32, burst_size=u32),
                  st.builds(G.MeterBand, type=st.just(2), rate=u32, burst_size=u32,
                            prec_level=u8))


def _canon_bucket(b, version, gtype):
    """What survives a trip through ``version``'s bucket form."""
    if version < 6:
        return G.Bucket(weight=b.weight, watch_port=b.watch_port, watch_group=b.watch_group,
                        actions=b.actions)
    return G.Bucket(bucket_id=b.bucket_id, weight=b.weight if gtype == 1 else 0,
                    watch_port=b.watch_port, watch_group=b.watch_group, actions=b.actions)


@st.composite
def list_messages(draw):
    v = draw(st.sampled_from([1, 2, 3, 4, 5, 6]))
    kind = draw(st.integers(0, 7 if v >= 4 else 2))
    n = draw(st.integers(0, 3))
    if kind == 0:
        fields = dict(port_no=draw(st.integers(0, 0xFFFF if v == 1 else 0xFFFFFFFF)),
                      **{k: draw(u64) for k in B._CTRS + B._ETH})
        if v >= 4:
            fields.update(duration_sec=draw(u32), duration_nsec=draw(u32))
        return B.PortStatsReply(version=v, stats=(B.PortStats(**fields),) * n)
    if kind == 1:
        lay = B._TABLE.lays[v]
        vals = {nm: draw(st.binary(min_size=32, max_size=32)) if nm == "name" else
                draw(u8 if nm == "table_id" else u32) for nm in lay.names}
        return B.TableStatsReply(version=v, stats=(B.TableStats(**vals),) * n)
    if kind == 2:
        fields = dict(port_no=draw(u16), queue_id=draw(u32), tx_bytes=draw(u64))
        if v >= 4:
            fields["duration_sec"] = draw(u32)
        return B.QueueStatsReply(version=v, stats=(B.QueueStats(**fields),) * n)
    if kind == 3:
        gt = draw(st.integers(0, 3))
        bk = tuple(_canon_bucket(b, v, gt) for b in draw(st.lists(buckets, max_size=3)))
        return B.GroupDescReply(version=v, stats=(G.GroupDesc(type=gt, group_id=draw(u32),
                                                              buckets=bk),) * n)
    if kind == 4:
        return B.GroupStatsReply(version=v, stats=(G.GroupStats(
            group_id=draw(u32), ref_count=draw(u32), packet_count=draw(u64),
            duration_sec=draw(u32), bucket_stats=tuple(draw(st.lists(counters, max_size=3)))),))
    if kind == 5:
        return B.MeterConfigStatsReply(version=v, stats=(G.MeterConfig(
            flags=draw(u16), meter_id=draw(u32), bands=tuple(draw(st.lists(bands, max_size=3)))),))
    if kind == 6:
        return B.MeterStatsReply(version=v, stats=(G.MeterStats(
            meter_id=draw(u32), flow_count=draw(u32),
            band_stats=tuple(draw(st.lists(counters, max_size=3)))),))
    gt = draw(st.integers(0, 3))
    bk = tuple(_canon_bucket(b, v, gt) for b in draw(st.lists(buckets, max_size=3)))
    return draw(st.sampled_from([
        G.GroupMod(version=v, command=draw(st.integers(0, 2)), type=gt, group_id=draw(u32),
                   buckets=bk),
        G.MeterMod(version=v, command=1, flags=draw(u16), meter_id=draw(u32),
                   bands=tuple(draw(st.lists(bands, max_size=3))))]))


@settings(max_examples=300, deadline=None)
@given(list_messages(), u32)
def test_generated_bodies_round_trip(msg, xid):
    data = ofp.encode(msg)
    back = ofp.decode(data)
    assert back == msg
    assert ofp.encode(back) == data


# ---------------------------------------------------------------- OVS agrees
def ovs_features_reply():
    return B.TableFeaturesReply(version=4, stats=tuple(
        B.ovs_like_table_features(i, n_tables=3, oxm_headers=(0x80000004, 0x80000606))
        for i in range(3)))


def built_replies():
    out = [ovs_features_reply()]
    for v in (1, 4, 5):
        out.append(B.PortStatsReply(version=v, stats=(B.PortStats(port_no=1, rx_packets=5,
                                                                  tx_bytes=7, collisions=1),)))
        out.append(B.QueueStatsReply(version=v, stats=(B.QueueStats(port_no=1, queue_id=2,
                                                                    tx_bytes=9),)))
        out.append(B.TableStatsReply(version=v, stats=(B.TableStats(
            table_id=0, active_count=3, lookup_count=10, matched_count=4,
            name=b"classifier".ljust(32, b"\0"), wildcards=0x3FFFFF, max_entries=1000000),)))
    for v in (4, 6):
        bk = (G.Bucket(bucket_id=0, weight=1, actions=(A.Output(port=1, max_len=0),)),
              G.Bucket(bucket_id=1, weight=1, actions=(A.Output(port=2, max_len=0),)))
        out.append(B.GroupDescReply(version=v, stats=(G.GroupDesc(type=1, group_id=7,
                                                                  buckets=bk),)))
        out.append(G.GroupMod(version=v, type=1, group_id=7, buckets=bk))
        out.append(B.GroupStatsReply(version=v, stats=(G.GroupStats(
            group_id=7, ref_count=1, packet_count=3, byte_count=300,
            bucket_stats=((1, 100), (2, 200))),)))
        out.append(B.MeterConfigStatsReply(version=v, stats=(G.MeterConfig(
            flags=9, meter_id=1, bands=(G.MeterBand(type=1, rate=1000, burst_size=100),)),)))
        out.append(B.MeterStatsReply(version=v, stats=(G.MeterStats(
            meter_id=1, flow_count=2, packet_in_count=5, byte_in_count=50,
            band_stats=((1, 10),)),)))
        out.append(G.MeterMod(version=v, command=0, flags=9, meter_id=1, bands=(
            G.MeterBand(type=2, rate=10, burst_size=1, prec_level=1),)))
    return out


@needs_ovs
def test_ovs_decodes_built_replies():
    for m in built_replies():
        r = subprocess.run(["ovs-ofctl", "ofp-print", m.encode().hex()], capture_output=True,
                           text=True)
        assert "decode error" not in r.stdout and "***" not in r.stdout, (m, r.stdout)
        assert r.returncode == 0


def test_table_features_props_round_trip():
    m = ovs_features_reply()
    assert ofp.decode(m.encode()) == m
    exp = B.TableFeatureProp(type=8, items=((0xFFFF0008 << 32) | 0x4F4E4600,))
    t = B.TableFeaturesReply(version=4, stats=(B.TableFeatures(props=(exp,)),))
    assert ofp.decode(t.encode()) == t


def test_bad_bodies_raise_codec_errors():
    good = B.GroupDescReply(version=4, stats=(G.GroupDesc(group_id=1, buckets=(
        G.Bucket(actions=(A.Output(port=1, max_len=0),)),)),)).encode()
    bad = bytearray(good)
    bad[16 + 8 + 1] = 8                   # bucket length 8 < 16
    with pytest.raises(ofp.OFPError) as e:
        ofp.decode(bytes(bad))
    assert e.value.name == "OFPGMFC_BAD_BUCKET"
    mm = bytearray(G.MeterMod(version=4, bands=(G.MeterBand(type=1),)).encode())
    mm[17] = 7                            # unknown band type
    with pytest.raises(ofp.OFPError) as e:
        ofp.decode(bytes(mm))
    assert e.value.name == "OFPMMFC_BAD_BAND"


# ---------------------------------------------------------------- OF1.5 OXS statistics
def _agg15(entries: bytes, length=None) -> bytes:
    """An OF1.5 OFPST_AGGREGATE reply (xid 7) around OXS ``entries``."""
    body = struct.pack("!HH", 0, 4 + len(entries) if length is None else length) + entries
    body += bytes(-len(body) & 7)
    return struct.pack("!BBHIHH4x", 6, 19, 16 + len(body), 7, 2, 0) + body


# flow_count first, an unknown basic field, an experimenter entry and a duration of the
# wrong length (both skipped by OVS's oxs_pull_stat), then packet_count; no byte_count.
_ODD_OXS = (struct.pack("!II", 0x80020604, 3) + struct.pack("!IQ", 0x80020C08, 9)
            + struct.pack("!IIH", 0xFFFF0006, 0x2320, 1) + struct.pack("!IH", 0x80020002, 5)
            + struct.pack("!IQ", 0x80020808, 10))
_BAD_OXS = [_agg15(b"", length=2), _agg15(b"", length=100),
            _agg15(struct.pack("!I", 0x80020808) + bytes(4)),
            _agg15(struct.pack("!I", 0xFFFF0002) + bytes(4))]


def test_oxs_stats_decode_as_ovs_and_encode_in_its_order():
    m = ofp.decode(_agg15(_ODD_OXS))
    assert (m.packet_count, m.byte_count, m.flow_count) == (10, (1 << 64) - 1, 3)
    assert ofp.encode(m) == _agg15(struct.pack("!IQ", 0x80020808, 10)
                                   + struct.pack("!II", 0x80020604, 3))
    # Flow stats entries and FLOW_REMOVED share the parser (and OVS's order).
    assert oxs.unpack_stats(oxs.pack_stats(1, 2, 3, 4, 5, 6), 0) == (
        oxs.OxsStats(1, 2, 3, 4, 5, 6), 64)
    assert oxs.pack_stats() == bytes.fromhex("0000000400000000")
    for bad in _BAD_OXS:
        with pytest.raises(ofp.OFPError) as e:
            ofp.decode(bad)
        assert e.value.name == "OFPBMC_BAD_LEN"


@needs_ovs
def test_oxs_stats_as_ovs_ofctl_reads_them():
    out = subprocess.run(["ovs-ofctl", "ofp-print", _agg15(_ODD_OXS).hex()],
                         capture_output=True, text=True).stdout
    assert out == format_message(ofp.decode(_agg15(_ODD_OXS)))
    for bad in _BAD_OXS:
        out = subprocess.run(["ovs-ofctl", "ofp-print", bad.hex()], capture_output=True,
                             text=True).stdout
        assert "***decode error: OFPBMC_BAD_LEN***" in out


# ---------------------------------------------------------------- learn / nat
def test_learn_specs_round_trip():
    specs = (LearnSpec(n_bits=12, src_field=0x00000802, dst_field=0x00000802),
             LearnSpec(n_bits=48, src_field=0x00000406, dst_field=0x00000206),
             LearnSpec(n_bits=16, dst="output", src_field=0x00000002),
             LearnSpec(n_bits=32, dst="load", src_value=5, dst_field=0x00010004),
             LearnSpec(n_bits=3, src_value=5, dst_field=0x00010204, dst_ofs=4))
    a = make_learn(specs, table_id=2, hard_timeout=30)
    data = ofp.encode(ofp.NxFlowMod(version=1, actions=(a,)))
    back = ofp.decode(data).actions[0]
    assert learn_specs(back) == specs == back.specs


def test_learn_bad_spec():
    with pytest.raises(ofp.OFPError) as e:
        learn_specs(A.NxLearn(data=b"\x18\x00" + bytes(6)))
    assert e.value.name == "OFPBAC_BAD_ARGUMENT"


def test_nat_range():
    r = NatRange(ipv4_min=0x0A000001, ipv4_max=0x0A000002, proto_min=100, proto_max=200)
    a = make_nat(1, r)
    ct = A.NxCt(flags=1, zone=5, recirc_table=3, actions=(a,))
    back = ofp.decode(ofp.encode(ofp.NxFlowMod(version=1, actions=(ct,)))).actions[0]
    assert nat_range(back.actions[0]) == r == back.actions[0].range
