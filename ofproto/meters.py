"""The meter table of one bridge (OFPT_METER_MOD semantics, OF1.3+).

Theory of operation
-------------------
:class:`MeterTable` keeps :class:`Meter` entries by id.  ``apply(msg, now,
flows=None)`` executes one METER_MOD and returns a :class:`MeterModResult`;
refusals raise :class:`~.ofp.OFPError` before anything changes.  Flows use
meters through the ``meter:N`` instruction; :class:`~.flowtable.FlowTables`
indexes those, so a meter's ``flow_count`` is the number of flows using it,
deleting a meter deletes them (reason OFPRR_METER_DELETE), and a flow naming
a missing meter is refused (OFPMMFC_INVALID_METER) once the table is attached
(``flows.meters = meter_table``).

Errors, as ovs-vswitchd 3.1 with the userspace datapath answers them
(observed with raw METER_MODs): meter id 0 is OFPMMFC_INVALID_METER (ids up
to 0xffffffff are otherwise accepted, including ones above ``max_meter``);
flags must hold exactly one of KBPS/PKTPS and no unknown bit
(OFPMMFC_BAD_FLAGS); no band or more than 8 bands is OFPMMFC_OUT_OF_BANDS; a
band other than DROP is OFPMMFC_BAD_BAND; a zero rate OFPMMFC_BAD_RATE; ADD
of an existing meter OFPMMFC_METER_EXISTS; MODIFY of a missing one
OFPMMFC_UNKNOWN_METER; DELETE of a missing one is accepted, OFPM_ALL deletes
all; a command above 2 is OFPMMFC_BAD_COMMAND.

Replies: :meth:`MeterTable.config_reply`, :meth:`stats_reply`,
:meth:`features_reply` (max_meter 262144, band types DROP, capabilities
kbps|pktps|burst|stats, 8 bands, max_color 0: what ovs-vswitchd reports).
"""

from __future__ import annotations

import dataclasses

from .ofp import OFPError
from .ofp.groups import OFPMBT_DROP, MeterConfig, MeterStats
from .ofp.multipart import MeterConfigStatsReply, MeterFeaturesReply, MeterStatsReply
from .ofputil import OFPRR_METER_DELETE, duration

OFPMC_ADD, OFPMC_MODIFY, OFPMC_DELETE = 0, 1, 2
OFPMF_KBPS, OFPMF_PKTPS, OFPMF_BURST, OFPMF_STATS = 1, 2, 4, 8
OFPM_ALL = 0xFFFFFFFF
MAX_METER = 262144
MAX_BANDS = 8
BAND_TYPES = 1 << OFPMBT_DROP
CAPABILITIES = OFPMF_KBPS | OFPMF_PKTPS | OFPMF_BURST | OFPMF_STATS


@dataclasses.dataclass
class Meter:
    meter_id: int
    flags: int
    bands: tuple
    created: float
    packet_in: int = 0
    byte_in: int = 0
    band_stats: list = dataclasses.field(default_factory=list)

    def __post_init__(self):
        if not self.band_stats:
            self.band_stats = [[0, 0] for _ in self.bands]


@dataclasses.dataclass
class MeterModResult:
    added: Meter | None = None
    modified: Meter | None = None
    deleted: list = dataclasses.field(default_factory=list)
    deleted_flows: list = dataclasses.field(default_factory=list)


def _validate(msg):
    if msg.command > 2:
        raise OFPError("OFPMMFC_BAD_COMMAND", detail=f"meter_mod command {msg.command}")
    if msg.meter_id == 0:
        raise OFPError("OFPMMFC_INVALID_METER", detail="meter id 0")
    if msg.command == OFPMC_DELETE:
        return
    fl = msg.flags
    if fl & ~CAPABILITIES or bin(fl & (OFPMF_KBPS | OFPMF_PKTPS)).count("1") != 1:
        raise OFPError("OFPMMFC_BAD_FLAGS", detail=f"meter flags {fl:#x}")
    if not msg.bands or len(msg.bands) > MAX_BANDS:
        raise OFPError("OFPMMFC_OUT_OF_BANDS", detail=f"{len(msg.bands)} bands")
    for b in msg.bands:
        if b.type != OFPMBT_DROP:
            raise OFPError("OFPMMFC_BAD_BAND", detail=f"band type {b.type}")
        if not b.rate:
            raise OFPError("OFPMMFC_BAD_RATE", detail="band rate 0")


class MeterTable:
    def __init__(self):
        self.meters: dict[int, Meter] = {}

    def __contains__(self, mid) -> bool:
        return mid in self.meters

    def __len__(self):
        return len(self.meters)

    def get(self, mid):
        return self.meters.get(mid)

    def apply(self, msg, now: float, flows=None) -> MeterModResult:
        """Execute one MeterMod message."""
        _validate(msg)
        res = MeterModResult()
        mid = msg.meter_id
        if msg.command == OFPMC_ADD:
            if mid in self.meters:
                raise OFPError("OFPMMFC_METER_EXISTS", detail=f"meter {mid}")
            res.added = self.meters[mid] = Meter(mid, msg.flags, tuple(msg.bands), now)
        elif msg.command == OFPMC_MODIFY:
            old = self.meters.get(mid)
            if old is None:
                raise OFPError("OFPMMFC_UNKNOWN_METER", detail=f"meter {mid}")
            res.modified = self.meters[mid] = Meter(mid, msg.flags, tuple(msg.bands),
                                                    old.created)
        else:
            ids = list(self.meters) if mid == OFPM_ALL else [mid]
            for i in ids:
                m = self.meters.pop(i, None)
                if m is None:
                    continue
                res.deleted.append(m)
                if flows is not None:
                    res.deleted_flows += flows.remove_rules(flows.rules_with_meter(i), now,
                                                            OFPRR_METER_DELETE)
        return res

    def credit(self, mid: int, packets: int, bytes_: int, band: int | None = None):
        m = self.meters.get(mid)
        if m is None:
            return
        m.packet_in += packets
        m.byte_in += bytes_
        if band is not None and 0 <= band < len(m.band_stats):
            m.band_stats[band][0] += packets
            m.band_stats[band][1] += bytes_

    def _select(self, mid):
        if mid == OFPM_ALL:
            return sorted(self.meters.values(), key=lambda m: m.meter_id)
        m = self.meters.get(mid)
        return [m] if m else []

    def config_reply(self, request):
        out = tuple(MeterConfig(flags=m.flags, meter_id=m.meter_id, bands=m.bands)
                    for m in self._select(request.meter_id))
        return MeterConfigStatsReply(version=request.version, xid=request.xid, stats=out)

    def stats_reply(self, request, now: float, flows=None):
        out = []
        for m in self._select(request.meter_id):
            sec, nsec = duration(m.created, now)
            out.append(MeterStats(meter_id=m.meter_id,
                                  flow_count=flows.meter_flow_count(m.meter_id) if flows else 0,
                                  packet_in_count=m.packet_in, byte_in_count=m.byte_in,
                                  duration_sec=sec, duration_nsec=nsec,
                                  band_stats=tuple(tuple(x) for x in m.band_stats)))
        return MeterStatsReply(version=request.version, xid=request.xid, stats=tuple(out))

    def features_reply(self, request):
        return MeterFeaturesReply(version=request.version, xid=request.xid,
                                  max_meter=MAX_METER, band_types=BAND_TYPES,
                                  capabilities=CAPABILITIES, max_bands=MAX_BANDS, max_color=0)
