"""The group table of one bridge (OFPT_GROUP_MOD / NXT_GROUP_MOD semantics).

Theory of operation
-------------------
:class:`GroupTable` keeps :class:`Group` entries by id.  ``apply(msg_or_spec,
now, flows=None)`` executes one group_mod and returns a :class:`GroupModResult`;
refusals raise :class:`~.ofp.OFPError` before anything changes.  Flows refer
to groups through ``group:N`` actions; the flow table (:class:`~.flowtable.FlowTables`)
indexes those references, so a group's ``ref_count`` is the number of flows
that use it, and deleting a group deletes those flows (reason
OFPRR_GROUP_DELETE), as ovs-vswitchd does.  Attach the table to the flow
tables (``flows.groups = group_table``) so that a flow_mod naming a missing
group is refused with OFPBAC_BAD_OUT_GROUP.

Semantics checked against ovs-vswitchd 3.1: ADD of an existing id is
OFPGMFC_GROUP_EXISTS; MODIFY of a missing id OFPGMFC_UNKNOWN_GROUP (the
modified group restarts its counters and keeps its creation time); DELETE of a missing id is silently
accepted, and OFPG_ALL deletes every group.  Ids above OFPG_MAX are
OFPGMFC_INVALID_GROUP for add/modify.  A bucket may chain to a group that
does not exist (accepted).  Indirect groups take exactly one bucket
(OFPGMFC_INVALID_GROUP), only select buckets may have a weight, fast-failover
buckets need a watch port or group -- all OFPGMFC_INVALID_GROUP, as OVS
answers (see :func:`_validate`).  OVS decodes the OF1.5 insert/remove bucket
commands (3, 4) in every version; above 4 is OFPGMFC_BAD_COMMAND.

Encoders: :meth:`GroupTable.desc_reply`, :meth:`stats_reply`,
:meth:`features_reply` answer OF1.1+ OFPMP_GROUP_DESC / GROUP /
GROUP_FEATURES and the OF1.0 NXST_GROUP_DESC / NXST_GROUP /
NXST_GROUP_FEATURES in the request's own family.
"""

from __future__ import annotations

import dataclasses
import struct

from .ofp import OFPError
from .ofp.groups import (OFPGT_ALL, OFPGT_FF, OFPGT_INDIRECT, OFPGT_SELECT, Bucket,
                         GroupDesc, GroupStats, GroupMod, NxGroupMod)
from .ofp.multipart import (GroupDescReply, GroupFeaturesReply, GroupStatsReply,
                            ofp12_group_features)
from .ofp.bodies import NxGroupDescReply, NxGroupStatsReply
from .ofp.nicira import (NxGroupDescRequest, NxGroupFeaturesReply, NxGroupFeaturesRequest,
                         NxGroupStatsRequest)
from .ofputil import (OFPG_ALL, OFPG_ANY, OFPG_MAX, OFPRR_GROUP_DELETE, OFPTT_ALL,
                      canonical_actions, check_ofpacts, duration, encode_ofpacts,
                      port_from_ofp11, port_to_ofp11)
from .ofp.match import FlowMatch

OFPGC_ADD, OFPGC_MODIFY, OFPGC_DELETE = 0, 1, 2
OFPGC15_INSERT_BUCKET, OFPGC15_REMOVE_BUCKET = 3, 4
GROUP_COMMANDS = ("add", "modify", "delete", "insert_bucket", "remove_bucket")
TYPE_NAMES = {OFPGT_ALL: "all", OFPGT_SELECT: "select", OFPGT_INDIRECT: "indirect",
              OFPGT_FF: "ff"}
# Group features as ovs-vswitchd (userspace datapath) reports them.
FEATURE_TYPES = 0xF
FEATURE_CAPABILITIES = 0x7          # select weight, select liveness, chaining
FEATURE_MAX_GROUPS = 0xFFFFFF00
# output group set_field strip_vlan push_vlan mod_nw_ttl dec_ttl set_mpls_ttl
# dec_mpls_ttl push_mpls pop_mpls set_queue (OF1.2+ OFPAT numbering).
FEATURE_ACTIONS = 67076097         # 0x3ff8001, captured from ovs-vswitchd 3.1


@dataclasses.dataclass(frozen=True, kw_only=True)
class GroupModSpec:
    command: str = "add"
    type: int = OFPGT_ALL
    group_id: int = 0
    buckets: tuple = ()         # Bucket with canonical actions and 16-bit watch_port
    command_bucket_id: int = 0xFFFFFFFF
    version: int = 4


@dataclasses.dataclass
class Group:
    group_id: int
    type: int
    buckets: tuple
    created: float
    n_packets: int = 0
    n_bytes: int = 0
    bucket_stats: list = dataclasses.field(default_factory=list)

    def __post_init__(self):
        if not self.bucket_stats:
            self.bucket_stats = [[0, 0] for _ in self.buckets]


@dataclasses.dataclass
class GroupModResult:
    added: Group | None = None
    modified: Group | None = None
    deleted: list = dataclasses.field(default_factory=list)          # groups
    deleted_flows: list = dataclasses.field(default_factory=list)    # (rule, reason)


def decode_group_mod(msg) -> GroupModSpec:
    """GroupMod (OF1.1+) or NxGroupMod -> GroupModSpec (ports 16-bit,
    actions canonical, bucket ids assigned 0.. for the OF1.1 form)."""
    fam15 = isinstance(msg, NxGroupMod) or msg.version >= 6
    if msg.command > 4:          # OVS accepts the OF1.5 bucket commands in every version
        raise OFPError("OFPGMFC_BAD_COMMAND", detail=f"group_mod command {msg.command}")
    buckets = []
    for i, b in enumerate(msg.buckets):
        wp = b.watch_port
        try:
            wp16 = port_from_ofp11(wp) if wp != 0xFFFFFFFF else 0xFFFF
        except OFPError:
            raise OFPError("OFPGMFC_BAD_WATCH", detail=f"watch_port {wp:#x}") from None
        buckets.append(dataclasses.replace(
            b, bucket_id=b.bucket_id if fam15 else i, watch_port=wp16,
            actions=tuple(canonical_actions(b.actions))))
    return GroupModSpec(command=GROUP_COMMANDS[msg.command], type=msg.type,
                        group_id=msg.group_id, buckets=tuple(buckets),
                        command_bucket_id=msg.command_bucket_id, version=msg.version)


def _validate(spec: GroupModSpec):
    if spec.command in ("add", "modify"):
        if spec.group_id > OFPG_MAX:
            raise OFPError("OFPGMFC_INVALID_GROUP", detail=f"group id {spec.group_id:#x}")
        if spec.type == OFPGT_INDIRECT and len(spec.buckets) != 1:
            raise OFPError("OFPGMFC_INVALID_GROUP", detail="indirect group needs one bucket")
    for b in spec.buckets:
        if b.weight and spec.type != OFPGT_SELECT:
            raise OFPError("OFPGMFC_INVALID_GROUP", detail="weight on a non-select bucket")
        if spec.type == OFPGT_FF and b.watch_port == 0xFFFF and b.watch_group == OFPG_ANY:
            raise OFPError("OFPGMFC_INVALID_GROUP", detail="fast failover bucket without watch")
        check_ofpacts(b.actions, FlowMatch(), spec.version, OFPTT_ALL)


class GroupTable:
    def __init__(self):
        self.groups: dict[int, Group] = {}

    def __contains__(self, gid) -> bool:
        return gid in self.groups

    def __len__(self):
        return len(self.groups)

    def get(self, gid):
        return self.groups.get(gid)

    def apply(self, mod, now: float, flows=None) -> GroupModResult:
        """Execute a GroupMod/NxGroupMod message or a GroupModSpec."""
        spec = mod if isinstance(mod, GroupModSpec) else decode_group_mod(mod)
        _validate(spec)
        res = GroupModResult()
        cmd, gid = spec.command, spec.group_id
        if cmd == "add":
            if gid in self.groups:
                raise OFPError("OFPGMFC_GROUP_EXISTS", detail=f"group {gid}")
            g = self.groups[gid] = Group(gid, spec.type, spec.buckets, now)
            res.added = g
        elif cmd == "modify":
            old = self.groups.get(gid)
            if old is None:
                raise OFPError("OFPGMFC_UNKNOWN_GROUP", detail=f"group {gid}")
            g = self.groups[gid] = Group(gid, spec.type, spec.buckets, old.created)
            res.modified = g
        elif cmd == "delete":
            ids = list(self.groups) if gid == OFPG_ALL else [gid]
            for i in ids:
                g = self.groups.pop(i, None)
                if g is None:
                    continue
                res.deleted.append(g)
                if flows is not None:
                    res.deleted_flows += flows.remove_rules(flows.rules_with_group(i), now,
                                                            OFPRR_GROUP_DELETE)
        elif cmd in ("insert_bucket", "remove_bucket"):
            old = self.groups.get(gid)
            if old is None:
                raise OFPError("OFPGMFC_UNKNOWN_GROUP", detail=f"group {gid}")
            if cmd == "insert_bucket":
                ids = {b.bucket_id for b in old.buckets}
                if any(b.bucket_id in ids for b in spec.buckets):
                    raise OFPError("OFPGMFC_BUCKET_EXISTS")
                buckets = old.buckets + spec.buckets
            else:
                cb = spec.command_bucket_id
                if cb == 0xFFFFFFFF:             # OFPG15_BUCKET_ALL
                    buckets = ()
                elif cb == 0xFFFFFFFD:           # FIRST
                    buckets = old.buckets[1:]
                elif cb == 0xFFFFFFFE:           # LAST
                    buckets = old.buckets[:-1]
                else:
                    if cb not in {b.bucket_id for b in old.buckets}:
                        raise OFPError("OFPGMFC_UNKNOWN_BUCKET")
                    buckets = tuple(b for b in old.buckets if b.bucket_id != cb)
            g = self.groups[gid] = Group(gid, old.type, tuple(buckets), old.created)
            res.modified = g
        return res

    def credit(self, gid: int, packets: int, bytes_: int, bucket: int | None = None):
        g = self.groups.get(gid)
        if g is None:
            return
        g.n_packets += packets
        g.n_bytes += bytes_
        if bucket is not None and 0 <= bucket < len(g.bucket_stats):
            g.bucket_stats[bucket][0] += packets
            g.bucket_stats[bucket][1] += bytes_

    # ------------------------------------------------------------ replies
    def _select(self, gid):
        if gid in (OFPG_ALL, OFPG_ANY):
            return sorted(self.groups.values(), key=lambda g: g.group_id)
        g = self.groups.get(gid)
        return [g] if g else []

    @staticmethod
    def _wire_bucket(b: Bucket, version: int) -> Bucket:
        acts = encode_ofpacts(b.actions, 1 if version == 1 else 4 if version == 2 else version)
        if version > 1:
            # OF1.1+ buckets hold plain action lists: flatten apply-actions.
            acts = tuple(a for i in acts for a in getattr(i, "actions", ()))
        wp = 0xFFFFFFFF if b.watch_port == 0xFFFF else port_to_ofp11(b.watch_port)
        return dataclasses.replace(b, watch_port=wp, actions=acts)

    def desc_reply(self, request) -> object:
        v = request.version
        gid = getattr(request, "group_id", OFPG_ALL)
        if not isinstance(request, NxGroupDescRequest) and v < 6:
            gid = OFPG_ALL
        entries = tuple(GroupDesc(type=g.type, group_id=g.group_id,
                                  buckets=tuple(self._wire_bucket(b, v) for b in g.buckets))
                        for g in self._select(gid))
        cls = NxGroupDescReply if isinstance(request, NxGroupDescRequest) else GroupDescReply
        return cls(version=v, xid=request.xid, stats=entries)

    def stats_reply(self, request, now: float, flows=None) -> object:
        v = request.version
        out = []
        for g in self._select(request.group_id):
            sec, nsec = duration(g.created, now)
            out.append(GroupStats(group_id=g.group_id,
                                  ref_count=flows.group_ref_count(g.group_id) if flows else 0,
                                  packet_count=g.n_packets, byte_count=g.n_bytes,
                                  duration_sec=sec, duration_nsec=nsec,
                                  bucket_stats=tuple(tuple(x) for x in g.bucket_stats)))
        cls = NxGroupStatsReply if isinstance(request, NxGroupStatsRequest) else GroupStatsReply
        return cls(version=v, xid=request.xid, stats=tuple(out))

    def features_reply(self, request) -> object:
        vals = (FEATURE_TYPES, FEATURE_CAPABILITIES) + (FEATURE_MAX_GROUPS,) * 4 + \
            (FEATURE_ACTIONS,) * 4
        if isinstance(request, NxGroupFeaturesRequest):
            return NxGroupFeaturesReply(version=request.version, xid=request.xid,
                                        body=ofp12_group_features.pack(*vals))
        names = ofp12_group_features.names
        return GroupFeaturesReply(version=request.version, xid=request.xid,
                                  **dict(zip(names, vals)))
