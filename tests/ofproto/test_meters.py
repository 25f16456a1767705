"""MeterTable: errors and replies as ovs-vswitchd 3.1 (userspace datapath) gives
them (observed with raw METER_MODs and ovs-ofctl -O OpenFlow13)."""
import pytest

from ofproto import ofp
from ofproto import ofputil as U
from ofproto.flowtable import FlowTables
from ofproto.meters import MeterTable
from ofproto.ofp.groups import MeterBand, MeterMod
from ofproto.ofp.multipart import (MeterConfigStatsRequest, MeterFeaturesRequest,
                                   MeterStatsRequest)
from ofproto.ofp.parse import parse_flow

DROP = (MeterBand(type=1, rate=100),)


def mm(cmd, flags, mid, bands=DROP):
    return ofp.decode(MeterMod(command=cmd, flags=flags, meter_id=mid, bands=bands).encode())


def err(fn):
    with pytest.raises(ofp.OFPError) as e:
        fn()
    return e.value.name


@pytest.mark.parametrize("msg,name", [
    (mm(0, 0, 60), "OFPMMFC_BAD_FLAGS"),
    (mm(0, 3, 61), "OFPMMFC_BAD_FLAGS"),
    (mm(0, 17, 67), "OFPMMFC_BAD_FLAGS"),
    (mm(0, 1, 0), "OFPMMFC_INVALID_METER"),
    (mm(0, 1, 62, ()), "OFPMMFC_OUT_OF_BANDS"),
    (mm(0, 1, 65, DROP * 9), "OFPMMFC_OUT_OF_BANDS"),
    (mm(0, 1, 63, (MeterBand(type=1, rate=0),)), "OFPMMFC_BAD_RATE"),
    (mm(0, 1, 3, (MeterBand(type=2, rate=100, prec_level=1),)), "OFPMMFC_BAD_BAND"),
    (mm(5, 1, 68), "OFPMMFC_BAD_COMMAND"),
    (mm(1, 1, 7), "OFPMMFC_UNKNOWN_METER"),
])
def test_errors_as_ovs(msg, name):
    assert err(lambda: MeterTable().apply(msg, 0)) == name


def test_accepted_as_ovs():
    mt = MeterTable()
    for m in (mm(0, 1, 262145), mm(0, 1, 0xFFFFFFFD), mm(0, 1, 66, DROP * 2),
              mm(0, 1, 64, (MeterBand(type=1, rate=5, burst_size=10),)), mm(2, 0, 69)):
        mt.apply(m, 0)
    assert err(lambda: mt.apply(mm(0, 1, 66), 0)) == "OFPMMFC_METER_EXISTS"


def test_flows_stats_and_delete_cascade():
    mt, ft = MeterTable(), FlowTables()
    ft.meters = mt
    mt.apply(mm(0, 1, 1, (MeterBand(type=1, rate=1000),)), 0)
    mt.apply(mm(0, 2 | 4 | 8, 2, (MeterBand(type=1, rate=100, burst_size=10),)), 0)
    ft.apply(U.decode_flow_mod(parse_flow("priority=9,actions=meter:1,output:2", 4)
                               .to_flow_mod(0)), 0)
    mt.credit(1, 4, 400, band=0)
    st = ofp.decode(mt.stats_reply(MeterStatsRequest(version=4, meter_id=0xFFFFFFFF), 0.284,
                                   ft).encode())
    by = {m.meter_id: m for m in st.stats}
    assert by[1].flow_count == 1 and by[2].flow_count == 0
    assert (by[1].packet_in_count, by[1].band_stats) == (4, ((4, 400),))
    assert (by[1].duration_sec, by[1].duration_nsec) == (0, 284000000)
    cfg = ofp.decode(mt.config_reply(MeterConfigStatsRequest(version=4, meter_id=2)).encode())
    assert [(c.meter_id, c.flags, c.bands[0].burst_size) for c in cfg.stats] == [(2, 14, 10)]
    mt.apply(mm(1, 1, 1, (MeterBand(type=1, rate=5),)), 1)       # modify keeps flows
    assert ft.n_rules == 1
    res = mt.apply(mm(2, 0, 0xFFFFFFFF), 2, flows=ft)
    assert ft.n_rules == 0 and res.deleted_flows[0][1] == U.OFPRR_METER_DELETE
    assert len(mt) == 0


def test_features_as_ovs():
    f = ofp.decode(MeterTable().features_reply(MeterFeaturesRequest(version=4, xid=4)).encode())
    # Captured from ovs-vswitchd 3.1 (dummy datapath).
    assert (f.max_meter, f.band_types, f.capabilities, f.max_bands, f.max_color) == \
        (262144, 2, 15, 8, 0)
