"""GroupTable: errors and replies as ovs-vswitchd 3.1 gives them (observed with
ovs-ofctl -O OpenFlow13 and raw GROUP_MODs against a dummy bridge)."""
import dataclasses

import pytest

from ofproto import ofp
from ofproto import ofputil as U
from ofproto.flowtable import FlowTables
from ofproto.groups import GroupTable
from ofproto.ofp import actions as A
from ofproto.ofp.groups import Bucket, GroupMod, NxGroupMod
from ofproto.ofp.multipart import GroupDescRequest, GroupFeaturesRequest, GroupStatsRequest
from ofproto.ofp.nicira import NxGroupDescRequest, NxGroupFeaturesRequest, NxGroupStatsRequest
from ofproto.ofp.parse import parse_flow

OUT2 = (A.Output(port=2, max_len=0),)


def gm(cmd, gtype, gid, *buckets, v=4):
    return ofp.decode(GroupMod(version=v, command=cmd, type=gtype, group_id=gid,
                               buckets=buckets).encode())


def err(fn):
    with pytest.raises(ofp.OFPError) as e:
        fn()
    return e.value.name


@pytest.mark.parametrize("msg,name", [
    (gm(0, 0, 50, Bucket(weight=5, actions=OUT2)), "OFPGMFC_INVALID_GROUP"),
    (gm(0, 3, 51, Bucket(actions=OUT2)), "OFPGMFC_INVALID_GROUP"),
    (gm(0, 2, 52, Bucket(actions=OUT2), Bucket(actions=OUT2)), "OFPGMFC_INVALID_GROUP"),
    (gm(0, 2, 53), "OFPGMFC_INVALID_GROUP"),
    (gm(0, 0, 0xFFFFFF01, Bucket(actions=OUT2)), "OFPGMFC_INVALID_GROUP"),
    (gm(3, 0, 54, Bucket(actions=OUT2)), "OFPGMFC_UNKNOWN_GROUP"),
    (gm(1, 0, 99, Bucket(actions=OUT2)), "OFPGMFC_UNKNOWN_GROUP"),
])
def test_errors_as_ovs(msg, name):
    assert err(lambda: GroupTable().apply(msg, 0)) == name


def test_bad_out_port_in_bucket():
    msg = GroupMod(command=0, type=0, group_id=55,
                   buckets=(Bucket(actions=(A.Output(port=0xFF05, max_len=0),)),))
    assert err(lambda: GroupTable().apply(ofp.decode(msg.encode()), 0)) == \
        "OFPBAC_BAD_OUT_PORT"


def _setup():
    gt, ft = GroupTable(), FlowTables()
    ft.groups = gt
    gt.apply(gm(0, 1, 1, Bucket(weight=50, actions=(
        A.SetField(tlv=ofp.match.Tlv(ofp.fields.field_for("eth_dst", True), 2, None)),) + OUT2),
        Bucket(weight=50, actions=(A.Output(port=3, max_len=0),))), 0)
    gt.apply(gm(0, 0, 2, Bucket(actions=OUT2), Bucket(actions=(A.Output(port=3, max_len=0),))),
             0)
    gt.apply(gm(0, 3, 3, Bucket(watch_port=2, actions=OUT2)), 0)
    gt.apply(gm(0, 0, 7, Bucket(actions=(A.Group(group_id=77),))), 0)   # chaining: accepted
    for t in ("priority=10,ip,actions=group:1", "priority=11,ip,actions=group:1,group:2"):
        ft.apply(U.decode_flow_mod(parse_flow(t, 4).to_flow_mod(0)), 0)
    return gt, ft


def test_exists_refcount_stats_and_delete_cascades():
    gt, ft = _setup()
    assert err(lambda: gt.apply(gm(0, 0, 1, Bucket(actions=OUT2)), 0)) == \
        "OFPGMFC_GROUP_EXISTS"
    gt.credit(1, 3, 300, bucket=1)
    st = ofp.decode(gt.stats_reply(GroupStatsRequest(version=4, xid=6, group_id=0xFFFFFFFC),
                                   1.5, ft).encode())
    by = {g.group_id: g for g in st.stats}
    assert (by[1].ref_count, by[2].ref_count, by[3].ref_count) == (2, 1, 0)
    assert by[1].bucket_stats == ((0, 0), (3, 300)) and by[1].packet_count == 3
    assert (by[1].duration_sec, by[1].duration_nsec) == (1, 500000000)
    # modify keeps the flows referring to it
    gt.apply(gm(1, 0, 1, Bucket(actions=(A.Output(port=1, max_len=0),))), 2)
    assert ft.n_rules == 2
    # deleting group 1 deletes both flows (OVS), and group 2 loses its reference
    res = gt.apply(gm(2, 0, 1), 3, flows=ft)
    assert ft.n_rules == 0 and {w for _, w in res.deleted_flows} == {U.OFPRR_GROUP_DELETE}
    assert ft.group_ref_count(2) == 0
    gt.apply(gm(2, 0, 99), 3, flows=ft)                       # missing: accepted
    gt.apply(gm(2, 0, 0xFFFFFFFC), 3, flows=ft)               # OFPG_ALL
    assert len(gt) == 0


def test_desc_reply_of13_and_nx():
    gt, _ = _setup()
    d = ofp.decode(gt.desc_reply(GroupDescRequest(version=4, xid=2)).encode())
    g1 = next(g for g in d.stats if g.group_id == 1)
    assert g1.type == 1 and [b.weight for b in g1.buckets] == [50, 50]
    assert isinstance(g1.buckets[0].actions[0], A.SetField)
    g3 = next(g for g in d.stats if g.group_id == 3)
    assert g3.buckets[0].watch_port == 2
    nx = ofp.decode(gt.desc_reply(NxGroupDescRequest(version=1, xid=2,
                                                     group_id=0xFFFFFFFC)).encode())
    g1 = next(g for g in nx.stats if g.group_id == 1)
    # OF1.0 spelling: mod_dl_dst, bucket ids 0 and 1
    assert isinstance(g1.buckets[0].actions[0], A.SetDlDst10)
    assert [b.bucket_id for b in g1.buckets] == [0, 1]
    nxs = ofp.decode(gt.stats_reply(NxGroupStatsRequest(version=1, group_id=0xFFFFFFFC),
                                    1).encode())
    assert len(nxs.stats) == 4


def test_nx_group_mod_of10():
    gt = GroupTable()
    msg = NxGroupMod(version=1, command=0, type=0, group_id=4,
                     buckets=(Bucket(actions=(A.Output10(port=2, max_len=0),)),))
    gt.apply(ofp.decode(msg.encode()), 0)
    assert gt.get(4).buckets[0].actions == (A.Output10(port=2, max_len=0),)


def test_features_as_ovs():
    gt = GroupTable()
    f = ofp.decode(gt.features_reply(GroupFeaturesRequest(version=4, xid=2)).encode())
    # Captured from ovs-vswitchd 3.1 (dummy datapath).
    assert (f.types, f.capabilities, f.max_groups0, f.actions0) == \
        (15, 7, 0xFFFFFF00, 67076097)
    nx = gt.features_reply(NxGroupFeaturesRequest(version=1, xid=2))
    assert len(ofp.decode(nx.encode()).body) == 40
