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
capability bits and (before OF1.3) the port list; table stats of 254
tables (OF1.0 entries carry OFPFW10_ALL wildcards and max_entries
1000000); port stats with UINT64_MAX for counters a dummy port lacks (so
ovs-ofctl prints ``?``), in the order of OVS's port hmap (:class:`HmapOrder`).
"""
from __future__ import annotations

import logging
from dataclasses import replace as dc_replace

from . import bridge as bridge_mod
from . import handlers_flow
from . import ofconn as oc
from .ofconn import Handler
from .xlate import _calc_mask, _hash_int
from .ofp import OFPError
from .ofp import bodies as B
from .ofp import messages as M
from .ofp import multipart as MP
from .ofp.match import Match10

log = logging.getLogger("ofproto")

_ACTIVE_TARGETS = ("tcp:", "ssl:", "unix:")
N_TABLES = 254                      # visible tables 0..253 (254 is OVS's hidden table)
MAX_ENTRIES = 1_000_000
MFR_DESC, HW_DESC, SW_DESC = "Nicira, Inc.", "Open vSwitch", "3.1.0"
SERIAL_NUM, DP_DESC = "None", "None"
U64_MAX = 0xFFFFFFFFFFFFFFFF
OFPP_ANY10, OFPP_ANY = 0xFFFF, 0xFFFFFFFF
OFPP_LOCAL = 0xFFFE
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

    def h_table_stats(self, conn, msg, now):
        v = msg.version
        counts = self.flows.table_counts()
        stats = []
        for t in range(N_TABLES):
            active, lookup, matched = counts.get(t, (0, 0, 0))
            stats.append(B.TableStats(table_id=t, active_count=active, lookup_count=lookup,
                                      matched_count=matched, wildcards=OFPFW10_ALL if v == 1
                                      else 0, max_entries=MAX_ENTRIES))
        size = {1: 64, 2: 88, 3: 128}.get(v, 24)
        return split_replies(lambda part, more: B.TableStatsReply(
            version=v, xid=msg.xid, flags=more, stats=part), stats, size)

    def h_table_features(self, conn, msg, now):
        if msg.stats:
            raise OFPError("OFPTFFC_EPERM")       # OVS refuses to reconfigure its pipeline
        v = msg.version
        feats = [table_features(t) for t in range(N_TABLES)]
        return split_sized(lambda part, more: B.TableFeaturesReply(
            version=v, xid=msg.xid, flags=more, stats=part), feats,
            lambda f: len(B.pack_table_features(f, v)))

    def h_table_mod(self, conn, msg, now):
        if msg.table_id != 0xFF and msg.table_id >= N_TABLES:
            raise OFPError("OFPTMFC_BAD_TABLE")
        return None

    def h_queue_stats(self, conn, msg, now):
        v = msg.version
        p = port_in(msg.port_no, v)
        if p != OFPP_ANY10 and p not in self.bridge.ports:
            raise OFPError("OFPQOFC_BAD_PORT")
        return B.QueueStatsReply(version=v, xid=msg.xid, stats=())

    def h_queue_get_config(self, conn, msg, now):
        v = msg.version
        p = port_in(msg.port, v)
        if p != OFPP_ANY10 and p not in self.bridge.ports:
            raise OFPError("OFPQOFC_BAD_PORT")
        return M.QueueGetConfigReply(version=v, xid=msg.xid, port=msg.port)

    def h_queue_desc(self, conn, msg, now):
        return MP.QueueDescReply(version=msg.version, xid=msg.xid)


# OXM_OF_* basic fields 0..39 and their value lengths (OF1.3), for the
# match/wildcards/set-field table feature properties.
_OXM_LENS = (4, 4, 8, 6, 6, 2, 2, 1, 1, 1, 1, 4, 4, 2, 2, 2, 2, 2, 2, 1, 1, 2, 4, 4, 6, 6,
             16, 16, 4, 1, 1, 16, 6, 6, 4, 1, 1, 3, 8, 2)
_OXMS = tuple(0x80000000 | f << 9 | n for f, n in enumerate(_OXM_LENS))
_FEATURES_CACHE: dict = {}


def table_features(t: int) -> B.TableFeatures:
    """An OFPMP_TABLE_FEATURES entry with the eight properties ovs-ofctl
    requires (it reads only id and name; controllers see instructions,
    next tables, actions and the OXM fields)."""
    f = _FEATURES_CACHE.get(t)
    if f is not None:
        return f
    P = B.TableFeatureProp
    nxt = tuple(range(t + 1, N_TABLES))
    acts = (0, 11, 12, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27)
    props = (P(type=0, items=(1, 2, 3, 4, 5, 6) if nxt else (2, 3, 4, 5, 6)),
             P(type=2, items=nxt), P(type=4, items=acts), P(type=6, items=acts),
             P(type=8, items=_OXMS), P(type=10, items=_OXMS), P(type=12, items=_OXMS),
             P(type=14, items=_OXMS))
    f = _FEATURES_CACHE[t] = B.TableFeatures(
        table_id=t, name=bytes(32), metadata_match=U64_MAX, metadata_write=U64_MAX,
        capabilities=0, max_entries=MAX_ENTRIES, props=props)
    return f


MAX_BODY = 65535 - 64               # room for the header and the stats prefix


def split_replies(make, items, entry_size: int):
    """Multipart replies of fixed-size entries, REPLY_MORE on all but the last."""
    per = max(1, MAX_BODY // entry_size)
    items = list(items)
    if not items:
        return [make((), 0)]
    chunks = [items[i:i + per] for i in range(0, len(items), per)]
    return [make(tuple(c), 1 if i < len(chunks) - 1 else 0) for i, c in enumerate(chunks)]


def split_sized(make, items, size_of):
    chunks, cur, n = [], [], 0
    for it in items:
        s = size_of(it)
        if cur and n + s > MAX_BODY:
            chunks.append(cur)
            cur, n = [], 0
        cur.append(it)
        n += s
    chunks.append(cur)
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
}


_TABLE: dict = {**HANDLERS, **handlers_flow.HANDLERS}
