"""Per-bridge OpenFlow state and the bridge's message handlers (sans-I/O).

Theory of operation
-------------------
An :class:`OFProto` is Open vSwitch's ``struct ofproto`` seen from
OpenFlow: one per bridge, made from a `bridge.Bridge` (ports, datapath id,
fail mode) and serving any number of :class:`~.ofconn.OFConn` connections.
``handlers`` is the dispatch table ``{MessageClass: Handler}`` the
connections consult after their own session handlers; it is built once per
class from :data:`HANDLERS` (this module: switch description, features,
config, ports, tables, queues) and :data:`.handlers_flow.HANDLERS` (flows,
groups, meters, packet-out, bundles' commit).

Handlers are ``fn(self, conn, msg, now) -> replies`` and raise
:class:`~.ofp.OFPError` for refusals; they never do I/O.  Events go out
through ``broadcast(kind, reason, make)`` to every active connection
subject to its async filter: PORT_STATUS on port add/delete/modify (from
the bridge hooks and PORT_MOD) and FLOW_REMOVED on expiry or deletion.
Flow monitor updates go to the connections' monitors instead
(:mod:`.handlers_flow`, "Flow monitors").
``timer()``/``run_timers(now)`` drive idle/hard expiry.

Fail mode and flushes (connmgr.c, fail-open.c): ``config_changed(now)``
flushes every flow when the bridge gets its first active controller
(``tcp:``/``ssl:``/``unix:``; passive targets do not count) or loses its
last, and when the fail mode changes while it has none; after a flush a
standalone bridge without controllers gets the ordinary, deletable
``priority=0 actions=NORMAL`` flow (connmgr_flushed; also at creation).
``set_fail_open(bool)`` is the other mechanism: with controllers but none
connected for a while (connmgr decides when), the flows are flushed and a
hidden table-0 rule above every OpenFlow priority sends everything to
NORMAL; no dump shows it but ``bridge/dump-flows``.

Replies follow OVS 3.1: DESC "Nicira, Inc." / "Open vSwitch" / "3.1.0" /
"None" / "None"; FEATURES with 254 tables, 0 buffers, per-version
capability bits and (before OF1.3) the port list; port stats with
UINT64_MAX for counters a dummy port lacks (so ovs-ofctl prints ``?``), in
the order of OVS's port hmap (:class:`HmapOrder`).

Tables (ofproto.c query_tables and friends): every table advertises the
same pipeline, built from the meta-flow field table (:mod:`.ofp.metaflow`):
TABLE_FEATURES carries every instruction (meter only in OF1.3/1.4, no
goto_table in table 253), every action, set_field on the writable fields,
matching on the OXM-encodable ones (HM where arbitrarily maskable), each in
the header that version uses, split into replies as ofpmp_postappend does;
table stats add the OF1.1/1.2 capability bitmaps derived from the same
lists.  A Flow_Table's ``name`` and ``flow_limit`` (as max_entries) show in
both.  TABLE_DESC (OF1.4+) gives eviction (the TABLE_MOD flag), the fixed
eviction flags and, with vacancy events on, the thresholds and current
vacancy (100 without a flow limit unless flows, then 99: UINT_MAX is the
limit).  TABLE_MOD sets OF1.1/1.2's table-miss config (kept as OVS's enum,
which OF1.1 table stats report raw), OF1.4's eviction (then a full table
evicts rules with a timeout, flowtable.py) and vacancy events; table 254 is
OFPTMFC_EPERM.  After each change of the flows, a table with vacancy
events whose vacancy fell below vacancy_down (or rose above vacancy_up)
sends TABLE_STATUS VACANCY_DOWN (UP) once, then waits for the other one
(send_table_status) - only to connections whose async config asks.

Queues: a netdev-dummy port (LOCAL of a dummy bridge too) has queue 0 with
unknown statistics; other ports none.  Port ANY needs one port with the
queue (OFPQOFC_BAD_QUEUE), an unknown port is OFPQOFC_BAD_PORT; OF1.0
QUEUE_GET_CONFIG takes no port >= OFPP_MAX (so not LOCAL), OF1.1+ ANY;
queues carry no rate properties.  IPFIX statistics are
NXST_NOT_CONFIGURED (no IPFIX exporter).
"""
from __future__ import annotations

import logging
import struct
from dataclasses import replace as dc_replace

from . import bridge as bridge_mod
from . import handlers_flow
from . import ofconn as oc
from .ofconn import Handler
from .xlate import _calc_mask, _hash_int
from .ofp import OFPError
from .ofputil import split_sized
from .ofp import bodies as B
from .ofp import messages as M
from .ofp import metaflow as MF
from .ofp import multipart as MP
from .ofp import nicira as NX
from .ofp.match import Match10

log = logging.getLogger("ofproto")

_ACTIVE_TARGETS = ("tcp:", "ssl:", "unix:")
N_TABLES = 254                      # visible tables 0..253 (254 is OVS's hidden table)
MAX_ENTRIES = 1_000_000
MFR_DESC, HW_DESC, SW_DESC = "Nicira, Inc.", "Open vSwitch", "3.1.0"
SERIAL_NUM, DP_DESC = "None", "None"
U64_MAX, U32_MAX = 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF
OFPP_ANY10, OFPP_ANY = 0xFFFF, 0xFFFFFFFF
OFPP_LOCAL, OFPP_ALL10, OFPP_MAX = 0xFFFE, 0xFFFC, 0xFF00
OFPQ_ALL = 0xFFFFFFFF
OFPTT_ALL = 0xFF
ALL_VERSIONS = (1, 2, 3, 4, 5, 6)
# TABLE_MOD (ofp-table.c): OF1.1/1.2 table-miss config, OF1.4 eviction and vacancy
# config bits and properties; the tri-states OFPUTIL_TABLE_EVICTION_*/VACANCY_*.
OFPTC11_TABLE_MISS_MASK, OFPTC14_EVICTION, OFPTC14_VACANCY_EVENTS = 3, 4, 8
# A table's miss config is kept as OVS's enum ofputil_table_miss: DEFAULT (0),
# CONTROLLER, CONTINUE, DROP; OF1.1/1.2 TABLE_MOD's OFPTC11_TABLE_MISS_* map to it.
# OF1.2 table stats carry it back as OFPTC11_*; OF1.1's carry the enum itself (so
# OVS reports "controller" as continue, "continue" as drop, "drop" as a bad 3).
MISS_FROM_OFPTC11 = {0: 1, 1: 2, 2: 3}
MISS_TO_OFPTC11 = {0: 0, 1: 0, 2: 1, 3: 2}
OFPTMPT14_EVICTION, OFPTMPT14_VACANCY = 2, 3
EVICTION_ON, EVICTION_OFF = 1, 2
VACANCY_ON, VACANCY_OFF = 1, 2
OFPTR_VACANCY_DOWN, OFPTR_VACANCY_UP = 3, 4
TABLE_STATUS = getattr(oc, "TABLE_STATUS", "table_status")
# netdev classes with netdev-dummy's queue 0 (an internal port of a dummy bridge is
# dummy-internal).
DUMMY_TYPES = frozenset(("dummy", "dummy-internal", "dummy-pmd"))
OFPPC_PORT_DOWN, OFPPC_NO_RECV, OFPPC_NO_FWD, OFPPC_NO_PACKET_IN = 1, 4, 32, 64
OFPPC10_NO_STP, OFPPC10_NO_RECV_STP, OFPPC10_NO_FLOOD = 2, 8, 16
OFPPS_LINK_DOWN, OFPPS_LIVE = 1, 4
OFPPR_ADD, OFPPR_DELETE, OFPPR_MODIFY = 0, 1, 2
OFPC_FRAG_MASK = 3
# FEATURES capabilities (FLOW|TABLE|PORT|QUEUE stats, ARP_MATCH_IP; GROUP_STATS from 1.1).
CAPABILITIES = {1: 0xC7, 2: 0xCF, 3: 0xCF, 4: 0x4F, 5: 0x4F, 6: 0x4F}
OF10_ACTIONS = 0xFFF                # OFPAT10 output..enqueue
OFPFW10_ALL = (1 << 22) - 1


def port_to_wire(info: bridge_mod.PortInfo, version: int) -> M.Port:
    """A PortInfo as ofp_port: OF1.0 has no LIVE state bit."""
    state = info.state & (~OFPPS_LIVE if version == 1 else ~0)
    name = info.name.encode()[:15]
    return M.Port(port_no=_port_out(info.ofport, version), hw_addr=bridge_mod.parse_mac(
        info.hw_addr) or bytes(6), name=name + bytes(16 - len(name)), config=info.config,
        state=state & 0xFFFFFFFF)


def _port_out(p: int, version: int) -> int:
    return p if version == 1 or p < 0xFF00 else p | 0xFFFF0000


def port_in(p: int, version: int) -> int:
    """A wire port number as OVS's 16-bit ofp_port."""
    if version > 1 and p >= 0xFFFFFF00:
        return p - 0xFFFF0000
    return p


def port_from_ofp11(p: int) -> int:
    """ofputil_port_from_ofp11: a 32-bit port below OFPP_MAX or in the reserved
    range 0xffffff00.., else OFPBAC_BAD_OUT_PORT."""
    if p < OFPP_MAX:
        return p
    if p >= 0xFFFFFF00:
        return p - 0xFFFF0000
    raise OFPError("OFPBAC_BAD_OUT_PORT", detail=f"port {p} out of range")


def _name32(text: str, n: int) -> bytes:
    b = text.encode()[:n - 1]
    return b + bytes(n - len(b))


class HmapOrder:
    """Iteration order of an OVS ``hmap`` keyed by ``hash_int(port, 0)``:
    buckets ``hash & mask`` in index order, newest first within a bucket,
    doubling as lib/hmap.c does.  Port stats come out in this order."""

    def __init__(self):
        self.mask = 0
        self.buckets: list[list[int]] = [[]]
        self.n = 0

    @staticmethod
    def hash_int(x: int, basis: int = 0) -> int:
        """lib/hash.h hash_int() as Debian's build computes it (the murmur
        variant, no SSE4.2): with 24 ports, real ovs-vswitchd's port-stats
        order falls into exactly these buckets."""
        return _hash_int(x, basis)

    def _resize(self, mask):
        old = self.buckets
        self.mask = mask
        self.buckets = [[] for _ in range(mask + 1)]
        for b in old:
            for p in b:                      # hmap_resize re-inserts at bucket heads
                self.buckets[self.hash_int(p) & mask].insert(0, p)

    @staticmethod
    def _calc_mask(capacity):
        return _calc_mask(capacity)

    def insert(self, p: int) -> None:
        self.buckets[self.hash_int(p) & self.mask].insert(0, p)
        self.n += 1
        if self.n // 2 > self.mask:
            self._resize(self._calc_mask(self.n))

    def remove(self, p: int) -> None:
        for b in self.buckets:
            if p in b:
                b.remove(p)
                self.n -= 1
                return

    def __iter__(self):
        for b in self.buckets:
            yield from b


class OFProto:
    """One bridge's OpenFlow side (see the module docstring)."""

    def __init__(self, br: bridge_mod.Bridge, now: float = 0.0):
        self.bridge = br
        self.name = br.name
        self.roles = oc.RoleGroup()
        self.conns: list[oc.OFConn] = []
        self.frag = 0                              # OFPC_FRAG_NORMAL
        self.created = now
        self.port_order = HmapOrder()
        self.port_since: dict[int, float] = {}
        self.on_port_state = bridge_mod.Hook()     # (ofproto, PortInfo) after PORT_MOD
        self.packet_out_hook = None                # (ofproto, PacketOut, now) -> None
        self.port_stats_hook = None                # (ofport) -> NetdevStats or None
        self.on_flows_changed = bridge_mod.Hook()  # (ofproto) after flows/groups change
        self.flows = handlers_flow.FlowState(self, now)
        self._features_wire = None                 # (key, encoded TABLE_FEATURES replies)
        # OF1.4 vacancy events per table: [vacancy_down, vacancy_up, next event or 0]
        self.vacancy: dict[int, list] = {}
        self.on_flows_changed.connect(self._vacancy_events)
        for p in br.ports:
            self._track_port(p, now)
        self._had_controllers = self.has_controllers()
        self._fail_mode = br.fail_mode
        self._flushed(now)

    # ------------------------------------------------------------ handler table
    @property
    def handlers(self):
        return _TABLE

    def commit_bundle(self, conn, msgs, now):
        return self.flows.commit_bundle(conn, msgs, now)

    def apply_flow_mod(self, conn, spec, now):
        """A flow_mod decoded by :mod:`.fastpath` (the FLOW_MOD handlers' work)."""
        return self.flows.apply_spec(conn, spec, now)

    def encode_ahead(self) -> bool:
        """Spare-time work for a connection waiting for input (one unit; False: none)."""
        return self.flows.encode_ahead()

    def validate_bundle_msg(self, conn, msg, now):
        return self.flows.validate_bundle_msg(conn, msg, now)

    # ------------------------------------------------------------ connections
    def new_conn(self, *, primary: bool, now: float, probe_interval=None,
                 name: str = "") -> oc.OFConn:
        conn = oc.OFConn(self, allowed=oc.versions_from_protocols(self.bridge.protocols),
                         primary=primary, now=now, probe_interval=probe_interval,
                         roles=self.roles, name=name or self.name)
        self.conns.append(conn)
        return conn

    def drop_conn(self, conn: oc.OFConn) -> None:
        conn.close(conn.close_reason or "closed")
        if conn in self.conns:
            self.conns.remove(conn)

    def broadcast(self, kind: str, reason: int, make) -> None:
        for c in list(self.conns):
            c.send_async(kind, reason, make)

    # ------------------------------------------------------------ timers
    def timer(self) -> float | None:
        return self.flows.next_expiry()

    def run_timers(self, now: float) -> None:
        self.flows.expire(now)

    def set_fail_open(self, on: bool, now: float = 0.0) -> None:
        on = bool(on) and self.bridge.fail_mode != "secure"
        if on and not self.fail_open:
            self.flows.flush(now)       # fail_open_run: failing open flushes every flow
        self.flows.set_fail_open_rule(on, now)

    def n_rules(self) -> int:
        """Flows in every table as ofproto_get_memory_usage counts them: the
        hidden table 254's internal rules and the fail-open rule too."""
        return (self.flows.tables.n_rules + len(handlers_flow._INTERNAL_RULES)
                + (1 if self.fail_open else 0))

    @property
    def fail_open(self) -> bool:
        return self.flows.tables.fail_open_rule is not None

    def has_controllers(self) -> bool:
        """connmgr_has_controllers: an active (rconn) target is configured."""
        return any(c.target.startswith(_ACTIVE_TARGETS) for c in self.bridge.controllers)

    def config_changed(self, now: float) -> None:
        """Controllers or fail mode changed: flush as connmgr_set_controllers
        and connmgr_set_fail_mode do (see module docstring)."""
        has = self.has_controllers()
        if has != self._had_controllers:
            self._had_controllers = has
            self._flush(now)
        if self.bridge.fail_mode != self._fail_mode:
            self._fail_mode = self.bridge.fail_mode
            if self.bridge.fail_mode == "secure":
                self.set_fail_open(False, now)
            if not has:
                self._flush(now)

    def _flush(self, now: float) -> None:
        self.flows.flush(now)
        self._flushed(now)

    def _flushed(self, now: float) -> None:
        if not self._had_controllers and self._fail_mode != "secure":
            self.flows.add_normal_flow(now)

    # ------------------------------------------------------------ bridge hooks
    def _track_port(self, ofport: int, now: float) -> None:
        self.port_order.insert(ofport)
        self.port_since[ofport] = now

    def port_added(self, info, now: float) -> None:
        self._track_port(info.ofport, now)
        self._port_status(OFPPR_ADD, info)

    def port_removed(self, info, now: float) -> None:
        self.port_order.remove(info.ofport)
        self.port_since.pop(info.ofport, None)
        self._port_status(OFPPR_DELETE, info)

    def port_changed(self, old, new, now: float) -> None:
        self._port_status(OFPPR_MODIFY, new)

    def _port_status(self, reason: int, info) -> None:
        self.broadcast(oc.PORT_STATUS, reason, lambda c: M.PortStatus(
            version=c.version, xid=0, reason=reason, port=port_to_wire(info, c.version)))

    # ------------------------------------------------------------ handlers
    def _ports(self, version):
        return tuple(port_to_wire(self.bridge.ports[p], version)
                     for p in sorted(self.bridge.ports))

    def h_features(self, conn, msg, now):
        v = msg.version
        return M.FeaturesReply(version=v, xid=msg.xid, datapath_id=self.bridge.datapath_id,
                               n_buffers=0, n_tables=N_TABLES, capabilities=CAPABILITIES[v],
                               actions=OF10_ACTIONS if v == 1 else 0,
                               ports=self._ports(v) if v < 4 else ())

    def h_get_config(self, conn, msg, now):
        return M.GetConfigReply(version=msg.version, xid=msg.xid, flags=self.frag,
                                miss_send_len=conn.miss_send_len)

    def h_set_config(self, conn, msg, now):
        if not (conn.primary and conn.role == oc.ROLE_SLAVE):
            frag = msg.flags & OFPC_FRAG_MASK
            if frag != 2:                        # OFPC_FRAG_REASM: unsupported, ignored
                self.frag = frag
        conn.miss_send_len = msg.miss_send_len

    def h_desc(self, conn, msg, now):
        return MP.DescStatsReply(version=msg.version, xid=msg.xid,
                                 mfr_desc=_name32(MFR_DESC, 256), hw_desc=_name32(HW_DESC, 256),
                                 sw_desc=_name32(SW_DESC, 256),
                                 serial_num=_name32(SERIAL_NUM, 32), dp_desc=_name32(DP_DESC, 256))

    def h_port_desc(self, conn, msg, now):
        v = msg.version
        ports = self._ports(v)
        want = getattr(msg, "port_no", OFPP_ANY)
        if v >= 6 and want != OFPP_ANY:
            ports = tuple(p for p in ports if p.port_no == want)
        return split_replies(lambda part, more: MP.PortDescReply(
            version=v, xid=msg.xid, flags=more, ports=part), ports, 64 if v > 1 else 48)

    def _port_stats(self, p: int, version: int, now: float):
        since = self.port_since.get(p, self.created)
        d = max(0.0, now - since)
        st = self.port_stats_hook(p) if self.port_stats_hook is not None else None
        if st is not None:
            return B.PortStats(port_no=_port_out(p, version), **{
                k: U64_MAX if v is None else v for k, v in vars(st).items()},
                rx_frame_err=U64_MAX, rx_over_err=U64_MAX, rx_crc_err=U64_MAX,
                duration_sec=int(d), duration_nsec=int((d % 1) * 1e9))
        return B.PortStats(port_no=_port_out(p, version), rx_dropped=U64_MAX,
                           tx_dropped=U64_MAX, rx_errors=U64_MAX, tx_errors=U64_MAX,
                           rx_frame_err=U64_MAX, rx_over_err=U64_MAX, rx_crc_err=U64_MAX,
                           collisions=U64_MAX, duration_sec=int(d),
                           duration_nsec=int((d % 1) * 1e9))

    def h_port_stats(self, conn, msg, now):
        v = msg.version
        want = port_in(msg.port_no, v)
        if want in (OFPP_ANY10,):
            ports = [p for p in self.port_order if p in self.bridge.ports]
        elif want in self.bridge.ports:
            ports = [want]
        else:
            ports = []
        stats = [self._port_stats(p, v, now) for p in ports]
        return split_replies(lambda part, more: B.PortStatsReply(
            version=v, xid=msg.xid, flags=more, stats=part), stats, 112 if v < 5 else 120)

    def h_port_mod(self, conn, msg, now):
        v = msg.version
        p = port_in(msg.port_no, v)
        info = self.bridge.ports.get(p)
        if info is None:
            raise OFPError("OFPPMFC_BAD_PORT")
        if msg.hw_addr != (bridge_mod.parse_mac(info.hw_addr) or bytes(6)):
            raise OFPError("OFPPMFC_BAD_HW_ADDR")
        config = (info.config & ~msg.mask) | (msg.config & msg.mask)
        if config == info.config:
            return None
        old = dc_replace(info)
        info.config = config
        down = bool(config & OFPPC_PORT_DOWN)
        info.admin_up = not down
        info.link_up = not down
        info.state = (OFPPS_LINK_DOWN if down else OFPPS_LIVE)
        self.port_changed(old, info, now)
        self.on_port_state(self, info)
        return None

    # ------------------------------------------------------------ tables
    def _table_cfg(self, t: int):
        return self.flows.tables.tables[t]

    def _table_info(self, t: int):
        """(name, max_entries) of table ``t``: Flow_Table ``name`` and the
        smaller of 1,000,000 and ``flow_limit`` (ofproto.c query_tables)."""
        cfg = self._table_cfg(t)
        limit = cfg.flow_limit
        return cfg.name, MAX_ENTRIES if limit is None else min(MAX_ENTRIES, limit)

    def h_table_stats(self, conn, msg, now):
        v = msg.version
        counts = self.flows.table_counts()
        stats = []
        for t in range(N_TABLES):
            active, lookup, matched = counts.get(t, (0, 0, 0))
            name, max_entries = self._table_info(t)
            caps = {"wildcards": OFPFW10_ALL if v == 1 else 0}
            if v in (2, 3):
                caps = table_stats_caps(t, v, self._table_cfg(t).miss_config)
            stats.append(B.TableStats(table_id=t, active_count=active, lookup_count=lookup,
                                      matched_count=matched, name=_name32(name, 32),
                                      max_entries=max_entries, **caps))
        size = {1: 64, 2: 88, 3: 128}.get(v, 24)
        return split_replies(lambda part, more: B.TableStatsReply(
            version=v, xid=msg.xid, flags=more, stats=part), stats, size)

    def h_table_features(self, conn, msg, now):
        if msg.stats:
            raise OFPError("OFPTFFC_EPERM")       # OVS refuses to reconfigure its pipeline
        v = msg.version
        infos = tuple(self._table_info(t) for t in range(N_TABLES))
        key = (v, infos)
        if self._features_wire is None or self._features_wire[0] != key:
            # ~1.2 MB of replies, the same until a table's name or limit changes: encoded
            # once (ovs-ofctl asks for them before an OpenFlow 1.3+ del-flows).
            feats = [table_features(t, v, *info) for t, info in enumerate(infos)]
            msgs = split_sized(lambda part, more: B.TableFeaturesReply(
                version=v, xid=0, flags=more, stats=part), feats,
                lambda f: len(B.pack_table_features(f, v)), limit=_MP_LIMIT)
            self._features_wire = (key, [m.encode() for m in msgs])
        xid = struct.pack("!I", msg.xid)
        return [m[:4] + xid + m[8:] for m in self._features_wire[1]]

    def h_table_mod(self, conn, msg, now):
        """ofproto.c handle_table_mod / ofp-table.c ofputil_decode_table_mod."""
        v = msg.version
        miss = None                             # OFPUTIL_TABLE_MISS_DEFAULT: no change
        if v in (2, 3):
            miss = msg.config & OFPTC11_TABLE_MISS_MASK
            if miss == OFPTC11_TABLE_MISS_MASK:
                log.warning("bad table miss config %d", msg.config)
                miss = 0
            miss = MISS_FROM_OFPTC11[miss]
        eviction = vacancy = None               # None: OFPUTIL_TABLE_*_DEFAULT
        thresholds = (0, 0)
        if v >= 5:
            eviction = EVICTION_ON if msg.config & OFPTC14_EVICTION else EVICTION_OFF
            vacancy = VACANCY_ON if msg.config & OFPTC14_VACANCY_EVENTS else VACANCY_OFF
            for ptype, body in B.iter_props(msg.properties):
                if ptype == OFPTMPT14_EVICTION:
                    if len(body) != 4:
                        raise OFPError("OFPBPC_BAD_LEN")
                    # OVS parses this property into the eviction *mode* (not the
                    # flags): ovs-ofctl's flags 7 thus leave eviction as it is.
                    eviction = struct.unpack("!I", body)[0]
                elif ptype == OFPTMPT14_VACANCY:
                    if len(body) != 4:
                        raise OFPError("OFPBPC_BAD_LEN")
                    down, up, cur = body[0], body[1], body[2]
                    if down > up or up > 100 or cur:
                        raise OFPError("OFPBPC_BAD_VALUE")
                    thresholds = (down, up)
                elif ptype == 0xFFFF and len(body) < 8:    # ofpprop_pull's checks first
                    raise OFPError("OFPBPC_BAD_LEN")
                elif ptype == 0xFFFF and not body[:4].strip(b"\0"):
                    raise OFPError("OFPBPC_BAD_EXPERIMENTER")
                else:
                    raise OFPError("OFPBRC_BAD_TYPE")
        t = msg.table_id                        # 0..254 or ALL: no OFPTMFC_BAD_TABLE
        if t == OFPTT_ALL:
            targets = range(N_TABLES)
        elif t == N_TABLES:                     # the hidden, read-only table 254
            raise OFPError("OFPTMFC_EPERM")
        else:
            targets = (t,)
        for tid in targets:
            self._table_mod(tid, miss, eviction, vacancy, thresholds)
        return None

    def _table_mod(self, t, miss, eviction, vacancy, thresholds) -> None:
        """ofproto.c table_mod__."""
        cfg = self._table_cfg(t)
        if miss is not None:
            cfg.miss_config = miss
        if eviction == EVICTION_ON:
            cfg.eviction = True
        elif eviction == EVICTION_OFF:
            cfg.eviction = False
        if vacancy is not None:
            vac = self.vacancy.setdefault(t, [0, 0, 0])
            vac[0], vac[1] = thresholds
            if vacancy == VACANCY_OFF:
                vac[2] = 0
            elif not vac[2]:
                vac[2] = OFPTR_VACANCY_UP if self._vacancy(t) < vac[1] else OFPTR_VACANCY_DOWN

    def _vacancy(self, t: int) -> int:
        """oftable_vacancy: 0 (full) to 100 (empty); no flow_limit is UINT_MAX."""
        limit = self._table_cfg(t).flow_limit
        max_flows = 0xFFFFFFFF if limit is None else limit
        n = len(self.flows.tables.classifier(t))
        if t == 0 and self.fail_open:
            n += 1                              # the hidden fail-open rule is a table-0 flow
        if not max_flows:
            return 100
        if n >= max_flows:
            return 0
        return int((max_flows - n) * 100.0 / max_flows)

    def _table_desc(self, t: int) -> bytes:
        vac = self.vacancy.get(t)
        vacancy = None
        if vac is not None and vac[2]:
            vacancy = (vac[0], vac[1], self._vacancy(t))
        return B.pack_table_desc(t, self._table_cfg(t).eviction, vacancy)

    def h_table_desc(self, conn, msg, now):
        v = msg.version
        descs = [self._table_desc(t) for t in range(N_TABLES)]
        return split_sized(lambda part, more: MP.TableDescReply(
            version=v, xid=msg.xid, flags=more, body=b"".join(part)), descs, len,
            limit=_MP_LIMIT)

    def _vacancy_events(self, ofproto=None) -> None:
        """ofproto.c send_table_status, after each change of the flow tables,
        for the tables with vacancy events on: VACANCY_DOWN once the vacancy
        falls below vacancy_down, then VACANCY_UP once it rises above
        vacancy_up, and so on (TABLE_STATUS goes to connections whose async
        config asks for it, none by default)."""
        for t, vac in self.vacancy.items():
            if not vac[2]:
                continue
            cur = self._vacancy(t)
            event = (OFPTR_VACANCY_DOWN if cur < vac[0] else OFPTR_VACANCY_UP if cur > vac[1]
                     else None)
            if event is None or event != vac[2]:
                continue
            desc = self._table_desc(t)
            self.broadcast(TABLE_STATUS, event, lambda c, d=desc, e=event: M.TableStatus(
                version=c.version, xid=0, reason=e, table=d) if c.version >= 5 else None)
            vac[2] = OFPTR_VACANCY_UP if event == OFPTR_VACANCY_DOWN else OFPTR_VACANCY_DOWN

    # ------------------------------------------------------------ queues
    def _has_default_queue(self, p: int) -> bool:
        """netdev-dummy's one queue, 0 (stats all unknown); other netdevs here
        have none (no QoS: netdev-linux without tc classes, vports)."""
        info = self.bridge.ports.get(p)
        if info is None:
            return False
        return info.type in DUMMY_TYPES or (info.type == "internal"
                                             and self.bridge.datapath_type == "dummy")

    def _queues(self, p: int, queue: int):
        """The queue ids of port ``p`` a request for ``queue`` covers, or None
        when ``queue`` is one the port does not have (OFPQOFC_BAD_QUEUE)."""
        have = (0,) if self._has_default_queue(p) else ()
        if queue == OFPQ_ALL:
            return have
        return (queue,) if queue in have else None

    def _ports_for_queue_request(self, p: int, queue: int) -> list:
        """[(port, queue ids)] for a queue request (port ANY: every port, in
        the ports hmap's order; at least one must have the queue)."""
        if p == OFPP_ANY10:
            out = [(port, self._queues(port, queue)) for port in self.port_order
                   if port in self.bridge.ports]
            out = [(port, qs) for port, qs in out if qs is not None]
            if not out:
                raise OFPError("OFPQOFC_BAD_QUEUE")
            return out
        if p not in self.bridge.ports:
            raise OFPError("OFPQOFC_BAD_PORT")
        qs = self._queues(p, queue)
        if qs is None:
            raise OFPError("OFPQOFC_BAD_QUEUE")
        return [(p, qs)]

    def h_queue_stats(self, conn, msg, now):
        """ofproto.c handle_queue_stats_request (OF1.0's ALL means ANY)."""
        v = msg.version
        if v == 1:
            p = OFPP_ANY10 if msg.port_no == OFPP_ALL10 else msg.port_no
        else:
            p = port_from_ofp11(msg.port_no)
        stats = [B.QueueStats(port_no=_port_out(port, v), queue_id=q, tx_bytes=U64_MAX,
                              tx_packets=U64_MAX, tx_errors=U64_MAX, duration_sec=U32_MAX,
                              duration_nsec=U32_MAX)
                 for port, qs in self._ports_for_queue_request(p, msg.queue_id) for q in qs]
        size = {1: 32, 2: 32, 3: 32, 4: 40}.get(v, 48)
        return split_replies(lambda part, more: B.QueueStatsReply(
            version=v, xid=msg.xid, flags=more, stats=part), stats, size)

    def h_queue_get_config(self, conn, msg, now):
        """OFPT_QUEUE_GET_CONFIG (OF1.0-1.3): every queue of the port, or of
        every port for OF1.1+'s ANY; queues without rate properties (OVS
        reports none of the existing queues' rates)."""
        v = msg.version
        if v == 1:
            p = msg.port
            if p >= OFPP_MAX:
                raise OFPError("OFPQOFC_BAD_PORT")
        else:
            p = port_from_ofp11(msg.port)
            if p != OFPP_ANY10 and p >= OFPP_MAX:
                raise OFPError("OFPQOFC_BAD_PORT")
        queues = b"".join(B.pack_packet_queue(v, _port_out(port, v), q)
                          for port, qs in self._ports_for_queue_request(p, OFPQ_ALL)
                          for q in qs)
        return M.QueueGetConfigReply(version=v, xid=msg.xid, port=msg.port, queues=queues)

    def h_queue_desc(self, conn, msg, now):
        """OFPMP_QUEUE_DESC (OF1.4+), as QUEUE_GET_CONFIG with a queue id."""
        v = msg.version
        p = port_from_ofp11(msg.port_no)
        descs = [B.pack_queue_desc(_port_out(port, v), q)
                 for port, qs in self._ports_for_queue_request(p, msg.queue_id) for q in qs]
        return split_sized(lambda part, more: MP.QueueDescReply(
            version=v, xid=msg.xid, flags=more, body=b"".join(part)), descs, len,
            limit=_MP_LIMIT)

    def h_ipfix(self, conn, msg, now):
        """NXST_IPFIX_BRIDGE / NXST_IPFIX_FLOW: no IPFIX exporter is configured."""
        raise OFPError("NXST_NOT_CONFIGURED")


# ---------------------------------------------------------------- table features
# What ofproto.c query_tables advertises for every table (ofp-table.c encodes it):
# every OVS instruction, every action, set_field on the writable fields, matching
# on the OXM-encodable ones (masks where maskable), all wildcardable; the fields
# and their headers per version come from the meta-flow table (.ofp.metaflow).
# Instruction and action bits (ofp-actions.c get_ovsinst_map/get_ofpact_map): OF1.3
# and 1.4 add meter (6) to goto_table, write_metadata, write/apply/clear_actions.
_INSTRUCTIONS = {v: (1, 2, 3, 4, 5, 6) if v in (4, 5) else (1, 2, 3, 4, 5) for v in ALL_VERSIONS}
_ACTIONS = {1: tuple(range(12)),
            2: (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
                24),
            **{v: (0, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25) for v in (3, 4, 5, 6)}}
OFPIT11_GOTO_TABLE = 1
# OF1.1 table stats' OFPFMF11_* bits and the fields they stand for.
_OFPFMF11 = (("in_port", 0), ("vlan_vid", 1), ("vlan_pcp", 2), ("eth_type", 3),
             ("ip_dscp", 4), ("nw_proto", 5), ("tcp_src", 6), ("tcp_dst", 7),
             ("mpls_label", 8), ("mpls_tc", 9), ("eth_src", 11), ("eth_dst", 12),
             ("ip_src", 13), ("ip_dst", 14), ("metadata", 15))
_MP_LIMIT = 65535 - 16              # OF1.1+ multipart reply: header + type/flags/pad
_FEATURES_CACHE: dict = {}


def _bits(codes) -> int:
    return sum(1 << c for c in codes)


def _feature_props(version: int):
    """The action, set-field, match and wildcard properties (same for every table)."""
    props = _FEATURES_CACHE.get(("props", version))
    if props is None:
        P = B.TableFeatureProp
        mask = frozenset(MF.maskable())
        setf = tuple(MF.header(n, version) for n in MF.writable())
        match = tuple(MF.header(n, version, n in mask) for n in MF.matchable())
        wild = tuple(MF.header(n, version) for n in MF.matchable())
        acts = _ACTIONS[version]
        props = _FEATURES_CACHE[("props", version)] = (
            P(type=4, items=acts), P(type=12, items=setf), P(type=6, items=acts),
            P(type=14, items=setf), P(type=8, items=match), P(type=10, items=wild))
    return props


def table_features(t: int, version: int = 4, name: str = "",
                   max_entries: int = MAX_ENTRIES) -> B.TableFeatures:
    """An OFPMP_TABLE_FEATURES entry as ofp-table.c ofputil_append_table_features
    builds it: instructions, next tables, write actions, write set-field, apply
    actions, apply set-field, the same six for table-miss, match, wildcards."""
    key = (t, version, name, max_entries)
    f = _FEATURES_CACHE.get(key)
    if f is not None:
        return f
    if len(_FEATURES_CACHE) > 4 * N_TABLES * len(ALL_VERSIONS):
        _FEATURES_CACHE.clear()                 # many names and limits came and went
    P = B.TableFeatureProp
    nxt = tuple(range(t + 1, N_TABLES))
    insts = tuple(i for i in _INSTRUCTIONS[version] if nxt or i != OFPIT11_GOTO_TABLE)
    w_acts, w_set, a_acts, a_set, match, wild = _feature_props(version)
    regular = (P(type=0, items=insts), P(type=2, items=nxt), w_acts, w_set, a_acts, a_set)
    miss = tuple(dc_replace(p, type=p.type + 1) for p in regular)
    f = _FEATURES_CACHE[key] = B.TableFeatures(
        table_id=t, name=_name32(name, 32), metadata_match=U64_MAX, metadata_write=U64_MAX,
        capabilities=0, max_entries=max_entries, props=regular + miss + (match, wild))
    return f


def table_stats_caps(t: int, version: int, miss_config: int = 0) -> dict:
    """The capability fields of an OF1.1 or OF1.2 table stats entry
    (ofp-table.c ofputil_put_ofp11/12_table_stats); ``miss_config`` is the
    table's enum ofputil_table_miss (see MISS_FROM_OFPTC11)."""
    insts = _bits(i for i in _INSTRUCTIONS[version]
                  if t < N_TABLES - 1 or i != OFPIT11_GOTO_TABLE)
    acts = _bits(_ACTIONS[version])
    config = miss_config if version == 2 else MISS_TO_OFPTC11[miss_config]
    out = dict(instructions=insts, write_actions=acts, apply_actions=acts, config=config)
    if version == 2:
        matchable = frozenset(MF.matchable())
        wc = _bits(bit for name, bit in _OFPFMF11 if name in matchable)
        out.update(wildcards=wc, match=wc)
    else:
        match = MF.oxm_bitmap(MF.matchable(), version)
        setf = MF.oxm_bitmap(MF.writable(), version)
        out.update(match=match, wildcards=match, write_setfields=setf, apply_setfields=setf,
                   metadata_match=U64_MAX, metadata_write=U64_MAX)
    return out


MAX_BODY = 65535 - 64               # room for the header and the stats prefix


def split_replies(make, items, entry_size: int):
    """Multipart replies of fixed-size entries, REPLY_MORE on all but the last."""
    per = max(1, MAX_BODY // entry_size)
    items = list(items)
    if not items:
        return [make((), 0)]
    chunks = [items[i:i + per] for i in range(0, len(items), per)]
    return [make(tuple(c), 1 if i < len(chunks) - 1 else 0) for i, c in enumerate(chunks)]


HANDLERS = {
    M.FeaturesRequest: Handler(lambda c, m, n: c.bridge.h_features(c, m, n)),
    M.GetConfigRequest: Handler(lambda c, m, n: c.bridge.h_get_config(c, m, n)),
    M.SetConfig: Handler(lambda c, m, n: c.bridge.h_set_config(c, m, n)),
    MP.DescStatsRequest: Handler(lambda c, m, n: c.bridge.h_desc(c, m, n)),
    MP.PortDescRequest: Handler(lambda c, m, n: c.bridge.h_port_desc(c, m, n)),
    MP.PortStatsRequest: Handler(lambda c, m, n: c.bridge.h_port_stats(c, m, n)),
    M.PortMod: Handler(lambda c, m, n: c.bridge.h_port_mod(c, m, n), write=True, bundle=True),
    MP.TableStatsRequest: Handler(lambda c, m, n: c.bridge.h_table_stats(c, m, n)),
    B.TableFeaturesRequest: Handler(lambda c, m, n: c.bridge.h_table_features(c, m, n)),
    M.TableMod: Handler(lambda c, m, n: c.bridge.h_table_mod(c, m, n), write=True),
    MP.QueueStatsRequest: Handler(lambda c, m, n: c.bridge.h_queue_stats(c, m, n)),
    M.QueueGetConfigRequest: Handler(lambda c, m, n: c.bridge.h_queue_get_config(c, m, n)),
    MP.QueueDescRequest: Handler(lambda c, m, n: c.bridge.h_queue_desc(c, m, n)),
    MP.TableDescRequest: Handler(lambda c, m, n: c.bridge.h_table_desc(c, m, n)),
    NX.NxIpfixBridgeRequest: Handler(lambda c, m, n: c.bridge.h_ipfix(c, m, n)),
    NX.NxIpfixFlowRequest: Handler(lambda c, m, n: c.bridge.h_ipfix(c, m, n)),
}


_TABLE: dict = {**HANDLERS, **handlers_flow.HANDLERS}
