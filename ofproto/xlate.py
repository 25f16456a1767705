"""Translation: OpenFlow rules and actions -> datapath actions + megaflow mask.

Theory of operation
-------------------
:func:`translate` follows Open vSwitch's ``xlate_actions``
(``ofproto/ofproto-dpif-xlate.c``).  It keeps three things while walking the
pipeline:

* ``flow``: the packet as the actions have changed it so far;
* ``base``: the packet as the datapath will have it when the next datapath
  action runs (the input flow, plus every change already *committed*);
* ``wc``: every bit of the input that the classifier lookups or the actions
  looked at (``dict member -> mask``).

Header rewrites only change ``flow`` (and un-wildcard the field they write,
plus its prerequisites).  Just before anything that lets the packet out of
translation (an output, a controller action) the differences between
``flow`` and ``base`` are *committed* (:meth:`_Xlate.commit`) in OVS's order
(``commit_odp_actions``): ``set(eth)``, ``set(ipv4|ipv6|arp)``,
``set(tcp|udp|sctp)``, ``set(icmp|icmpv6)``, VLAN pops/pushes, ``skb_mark``.
As in OVS, a set action is emitted for an attribute when a bit that changed
is in ``wc`` and it carries every field of that attribute that is in
``wc`` (un-wildcarded, even unchanged); L3/L4 sets need ``nw_proto != 0``;
an attribute whose every field is exact is a plain ``set``, else a masked
set (the printed text is the same).  VLANs are compared from the innermost
tag: the mismatching outer tags of ``base`` are popped (un-wildcarding their
TCI) and those of ``flow`` pushed.

The megaflow contract (``ARCHITECTURE.md``): ``XlateResult.wc`` holds every
bit examined.  Two adjustments, both from OVS's ``xlate_wc_init`` /
``xlate_wc_finish``: ``in_port``, ``dl_type``, ``recirc_id`` (and
``nw_frag`` of IP packets) are always exact; registers, metadata and other
pipeline-only members are dropped at the end (they are not packet fields:
decisions taken on them are taken on header bits already in ``wc``).  One
addition OVS gets from its datapath key (an outer ethertype 0x8100 for a
tagged frame): the CFI bit of ``vlan_tci`` is always in ``wc``, so a tagged
and an untagged packet never share a megaflow.  ``XlateResult.megaflow_wc``
is the mask without that bit, the one ``ofproto/trace`` prints.

Side effects are returned, never applied to anything but the MAC table
(``ctx.mac``, as OVS's upcall handler does): ``XlateResult.learned_flows``
holds the flow-mods of ``learn`` actions (:class:`~.ofputil.FlowModSpec`)
for the caller to apply; ``packet_ins`` the packet-ins controller actions
and table misses ask for (each names the index of its ``userspace`` action
in ``actions``).  With ``side_effects=False`` (``ofproto/trace`` without a
packet) learning is suppressed and controller actions say ``dont_send=1``.

Limits as OVS: 64 nested resubmits (``MAX_DEPTH``, "over max translation
depth 64", error "Recursion too deep") and 4096 resubmits in all
(``MAX_RESUBMITS``).

Not done: MPLS push/pop (reported, translation ignores them), patch ports,
tunnels, conntrack (``ct`` is recorded as an error), mirrors, STP, sampling,
meters.  Bonds: ``ctx.bonds`` maps a bundle (Port name) to its
:class:`~.bond.Bond`; NORMAL asks it for the output member and for input
admissibility (:mod:`.normal`), and records ``(bond, flow, vlan)`` in
``XlateResult.bond_accounts`` for the caller to account the megaflow's bytes.
``XPort.may_enable`` (carrier and LACP) is the liveness ``bundle``,
``bundle_load`` and group watch ports see.  Select groups use
a symmetric L2-L4 hash of the flow (OVS's "default" selection method) but
not OVS's exact hash function, so the bucket picked may differ from OVS's.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from . import normal
from .ofp import actions as A
from .ofp import instructions as I
from .ofp.fields import FIELDS_BY_KEY, FOLD, MEMBERS
from .ofputil import FlowModSpec
from .ofp.match import FlowMatch
from ovsdb_server.ovsjson import hash_add as _mhash_add, hash_int as _hash_int  # OVS's hashes: one implementation
from ovsdb_server.ovsjson import _mhash_finish

MAX_DEPTH = 64                  # OVS: nested resubmits (stack depth of translation)
MAX_RESUBMITS = MAX_DEPTH * MAX_DEPTH
OFPP_IN_PORT, OFPP_TABLE, OFPP_NORMAL, OFPP_FLOOD = 0xFFF8, 0xFFF9, 0xFFFA, 0xFFFB
OFPP_ALL, OFPP_CONTROLLER, OFPP_LOCAL, OFPP_NONE = 0xFFFC, 0xFFFD, 0xFFFE, 0xFFFF
OFPR_NO_MATCH, OFPR_ACTION, OFPR_INVALID_TTL = 0, 1, 2
OFPR_ACTION_SET, OFPR_GROUP, OFPR_PACKET_OUT = 3, 4, 5
OFPR_EXPLICIT_MISS = 6          # OVS-internal: a controller action in a table-miss rule
OFPR_IMPLICIT_MISS = 7          # OVS-internal: a miss sent by the bridge's own miss rule
VLAN_CFI = 0x1000
ETH_IP, ETH_IPV6, ETH_ARP = 0x0800, 0x86DD, 0x0806
_PIPELINE_ONLY = ("metadata", "conj_id", "actset_output", "cookie",
                  *(f"reg{i}" for i in range(16)))
_FULL = {m: (1 << w) - 1 for m, w in MEMBERS.items()}
_FULL.update(vlan_tpid=0xFFFF, vlan_tci1=0xFFFF, vlan_tpid1=0xFFFF, skb_priority=0xFFFFFFFF)
_L3_SET = ("nw_src", "nw_dst", "nw_tos", "nw_ttl", "ipv6_src", "ipv6_dst", "ipv6_label")
_ERRORS = {"depth": "Recursion too deep", "resubmits": "Too many resubmits"}


@dataclasses.dataclass
class XPort:
    """What translation needs of one OpenFlow port.  ``bundle`` names the
    Port row (several interfaces of a bond share it; default: ``name``)."""
    ofport: int
    dp_port: int
    name: str = ""
    admin_up: bool = True
    link_up: bool = True
    no_flood: bool = False
    no_fwd: bool = False
    no_packet_in: bool = False
    tag: int | None = None
    trunks: tuple = ()
    vlan_mode: str | None = None        # access, trunk, native-tagged, native-untagged, dot1q-tunnel
    priority_tags: bool = False
    bundle: str | None = None
    may_enable: bool = True             # OVS ofport->may_enable: carrier (and LACP for bond members)

    @property
    def bundle_key(self):
        return self.bundle or self.name or self.ofport

    @property
    def bundle_name(self):
        return self.bundle or self.name or str(self.ofport)

    @property
    def live(self) -> bool:
        return self.admin_up and self.link_up and self.may_enable


class RecircIds:
    """Recirculation ids for frozen states (controller actions): the same
    state gets the same id, as OVS's ``recirc_alloc_id_ctx``; ids start at 1."""

    def __init__(self):
        self._ids: dict = {}
        self.states: dict[int, object] = {}

    def alloc(self, state) -> int:
        rid = self._ids.get(state)
        if rid is None:
            rid = self._ids[state] = len(self._ids) + 1
            self.states[rid] = state
        return rid


@dataclasses.dataclass
class XlateContext:
    """One bridge as translation sees it.  ``ports`` iterates in OVS's port
    (bundle) creation order, the local port (OFPP_LOCAL) first: FLOOD/ALL
    order and NORMAL's flood order derive from it.  ``miss_to_controller``:
    a table-0 miss sends a packet-in (OVS: an OF1.0-1.2 controller is
    connected); otherwise misses drop."""
    bridge: str
    flows: object                       # FlowTables
    groups: object | None = None        # GroupTable
    ports: dict = dataclasses.field(default_factory=dict)     # ofport -> XPort
    mac: normal.MacLearning | None = None
    now: float = 0.0
    miss_to_controller: bool = False
    forward_bpdu: bool = False
    recirc: RecircIds = dataclasses.field(default_factory=RecircIds)
    bonds: dict = dataclasses.field(default_factory=dict)     # bundle name -> bond.Bond

    def dp_port(self, ofport: int) -> int | None:
        p = self.ports.get(ofport)
        return p.dp_port if p is not None else None


@dataclasses.dataclass
class PacketIn:
    reason: int
    table_id: int
    cookie: int
    max_len: int
    controller_id: int
    userdata: bytes
    recirc_id: int
    flow: dict                          # the flow (metadata, registers) at the action
    action_index: int                   # index of the userspace action in .actions


@dataclasses.dataclass
class TraceNode:
    type: str                           # bridge, table, action, detail, warn, error, bucket
    text: str
    subs: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class XlateResult:
    actions: tuple
    wc: dict
    megaflow_wc: dict
    final_flow: dict
    rules: list
    packet_ins: list
    learned_flows: list                 # FlowModSpec
    mac_learned: list                   # (vlan, mac, port) newly learned or moved
    mac_changed: bool
    trace: list                         # TraceNode tree (empty unless trace=True)
    error: str | None = None
    slow: bool = False
    groups_hit: list = dataclasses.field(default_factory=list)   # (group_id, bucket index)
    bond_accounts: list = dataclasses.field(default_factory=list)  # (Bond, flow, vlan)

    @property
    def side_effects(self) -> list:
        return [("learn", s) for s in self.learned_flows] + \
               [("mac", e) for e in self.mac_learned]


class _Abort(Exception):
    pass


def _field(header: int):
    cls, code = header >> 16, (header >> 9) & 0x7F
    f = FIELDS_BY_KEY.get((cls, code, None))
    if f is None:
        raise ValueError(f"unknown field header {header:#x}")
    return f


def field_member(name: str) -> tuple[str, int, int]:
    """meta-flow field -> (member, shift, width) it occupies."""
    if name == "vlan_vid":
        return "vlan_tci", 0, 13
    if name == "vlan_pcp":
        return "vlan_tci", 13, 3
    if name == "in_port_oxm":
        return "in_port", 0, 16
    if name == "ip_dscp":
        return "nw_tos", 2, 6
    if name == "nw_ecn":
        return "nw_tos", 0, 2
    m, shift = FOLD.get(name, (name, 0))
    if name in _NARROW:
        return m, shift, _NARROW[name]
    return m, shift, MEMBERS.get(m, 64)


_NARROW = {"nw_ecn": 2, "ip_ecn": 2, "ip_dscp": 6, "icmp_type": 8, "icmp_code": 8,
           "icmpv6_type": 8, "icmpv6_code": 8, "ip_frag": 2, "nw_frag": 2, "ipv6_label": 20,
           "mpls_label": 20, "mpls_tc": 3, "mpls_bos": 1, "in_port": 16}


def _prereq_ok(name: str, flow, wc) -> bool:
    """mf_are_prereqs_ok, un-wildcarding what it reads (dl_type is always exact)."""
    dl = flow.get("dl_type", 0)
    ip = dl in (ETH_IP, ETH_IPV6)
    if name in ("ip_src", "ip_dst", "nw_src", "nw_dst"):
        return dl == ETH_IP
    if name in ("arp_spa", "arp_tpa", "arp_op", "arp_sha", "arp_tha"):
        return dl == ETH_ARP
    if name in ("ipv6_src", "ipv6_dst", "ipv6_label"):
        return dl == ETH_IPV6
    if name in ("nw_tos", "ip_dscp", "nw_ecn", "nw_ttl", "nw_proto"):
        return ip
    if name in ("tcp_src", "tcp_dst", "udp_src", "udp_dst", "sctp_src", "sctp_dst",
                "tp_src", "tp_dst", "icmp_type", "icmp_code", "icmpv6_type", "icmpv6_code"):
        if not ip:
            return False
        wc["nw_proto"] = 0xFF
        want = {"tcp": (6,), "udp": (17,), "sct": (132,), "icm": (1, 58)}.get(name[:3], (6, 17, 132))
        return flow.get("nw_proto", 0) in (want if not name.startswith("icmpv6") else (58,))
    if name in ("vlan_pcp",):
        wc["vlan_tci"] = wc.get("vlan_tci", 0) | VLAN_CFI
        return bool(flow.get("vlan_tci", 0) & VLAN_CFI)
    return True


class _Xlate:
    """Per-translation state (OVS's ``struct xlate_ctx``)."""

    def __init__(self, ctx: XlateContext, flow: dict, side_effects: bool, trace: bool,
                 resubmit_limit: int):
        self.ctx = ctx
        self.flow = dict(flow)
        self.base = dict(flow)
        self.wc: dict = {}
        self.odp: list = []
        self.rules: list = []
        self.packet_ins: list = []
        self.learned_flows: list = []
        self.learned: list = []
        self.mac_changed = False
        self.side_effects = side_effects
        self.send_packet_ins = side_effects
        self.tracing = trace
        self.root: list = []
        self.tlist = self.root
        self.depth = 0
        self.resubmits = 0
        self.max_depth = resubmit_limit
        self.error: str | None = None
        self.exit = False
        self.table_id = 0
        self.rule = None
        self.action_set: list = []
        self.groups_hit: list = []
        self.in_group = False
        self.slow = False
        self.bond_accounts: list = []

    # -------------------------------------------------------------- helpers
    def report(self, kind: str, text: str) -> list | None:
        if not self.tracing:
            return None
        node = TraceNode(kind, text)
        self.tlist.append(node)
        return node.subs

    def nest(self, kind: str, text: str) -> list:
        """Report a node and return its children list (the current list
        when not tracing), for the caller to make current."""
        subs = self.report(kind, text)
        return self.tlist if subs is None else subs

    def unwild(self, member: str, mask: int | None = None) -> None:
        self.wc[member] = self.wc.get(member, 0) | (_FULL.get(member, (1 << 64) - 1)
                                                    if mask is None else mask)

    def lookup(self, table_id: int):
        rule = self.ctx.flows.lookup(table_id, self.flow, self.wc)
        if rule is not None:
            self.rules.append(rule)
        return rule

    # -------------------------------------------------------------- pipeline
    def run(self) -> None:
        self.tlist = self.nest("bridge", f'bridge("{self.ctx.bridge}")')
        rule = self.lookup(0)
        if rule is None:
            self.table_miss(0)
            return
        self.run_rule(rule, 0)
        if self.action_set and not self.error:
            self.run_action_set()

    def table_miss(self, table_id: int) -> None:
        if self.ctx.miss_to_controller and self.flow.get("in_port") not in (OFPP_CONTROLLER,):
            self.tlist = self.nest("table", f'{table_id:2d}. No match, and a "packet-in" is '
                                   "called for.")
            self.report("action", "CONTROLLER:65535")
            self.controller(0xFFFF, OFPR_IMPLICIT_MISS, 0, b"")
        else:
            self.tlist = self.nest("table", f"{table_id:2d}. No match.")
            self.report("action", "drop")

    def table_text(self, rule, table_id) -> str:
        from .ofp.render import format_match
        m = format_match(rule.match)
        s = f"{table_id:2d}. " + m
        s += ("" if s.endswith(" ") else ", ") + f"priority {rule.priority}"
        if rule.cookie:
            s += f", cookie {rule.cookie:#x}"
        return s

    def run_rule(self, rule, table_id) -> None:
        old_rule, old_table = self.rule, self.table_id
        self.rule, self.table_id = rule, table_id
        if self.tracing:
            self.tlist = self.nest("table", self.table_text(rule, table_id))
        self.do_actions(rule.ofpacts)
        self.rule, self.table_id = old_rule, old_table

    def resubmit(self, in_port: int, table_id: int) -> None:
        if self.depth > self.max_depth:     # OVS lets 65 tables nest (depth counted from 0)
            self.report("error", f"over max translation depth {self.max_depth}")
            self.error = "depth"
            raise _Abort
        if self.resubmits >= MAX_RESUBMITS:
            self.report("error", f"over {MAX_RESUBMITS} resubmit actions")
            self.error = "resubmits"
            raise _Abort
        self.resubmits += 1
        old_in = self.flow.get("in_port", 0)
        if in_port != OFPP_IN_PORT:
            self.flow["in_port"] = in_port
        rule = self.lookup(table_id)
        self.flow["in_port"] = old_in
        if rule is None:
            return
        saved = self.tlist
        self.depth += 1
        try:
            if in_port != OFPP_IN_PORT:
                self.flow["in_port"] = in_port
            self.run_rule(rule, table_id)
        finally:
            if in_port != OFPP_IN_PORT and self.flow.get("in_port") == in_port:
                self.flow["in_port"] = old_in
            self.depth -= 1
            self.tlist = saved

    # -------------------------------------------------------------- actions
    def do_actions(self, ofpacts) -> None:
        from .xlate_actions import HANDLERS, action_text
        if not ofpacts:
            self.report("action", "drop")
            return
        for a in ofpacts:
            if self.error or self.exit:
                break
            if self.tracing:
                self.report("action", action_text(a))
            h = HANDLERS.get(type(a))
            if h is None:
                self.report("error", f"{type(a).NAME} is not supported, ignored")
            elif h(self, a) is True:
                break

    def run_action_set(self) -> None:
        from .xlate_actions import action_set_order
        acts, self.action_set = action_set_order(self.action_set), []
        self.do_actions(acts)

    # -------------------------------------------------------------- outputs
    def output(self, port: int, max_len: int = 0) -> None:
        f = self.flow
        if port == OFPP_IN_PORT:
            self.compose_output(f.get("in_port", 0))
        elif port == OFPP_TABLE:
            self.resubmit(OFPP_IN_PORT, 0)
        elif port == OFPP_NORMAL:
            normal.xlate_normal(self)
        elif port in (OFPP_FLOOD, OFPP_ALL):
            self.flood(port == OFPP_ALL)
        elif port == OFPP_CONTROLLER:
            reason = OFPR_GROUP if self.in_group else OFPR_ACTION
            self.controller(max_len, reason, 0, b"")
        elif port == OFPP_NONE:
            pass
        elif port != f.get("in_port"):
            self.compose_output(port)
        else:
            self.report("warn", "skipping output to input port")

    def flood(self, all_: bool) -> None:
        in_port = self.flow.get("in_port")
        for p in hmap_order(list(self.ctx.ports)):
            xp = self.ctx.ports[p]
            if p == in_port:
                continue
            if all_ or not xp.no_flood:
                self.compose_output(p)

    def compose_output(self, port: int) -> None:
        xp = self.ctx.ports.get(port)
        if xp is None:
            self.report("warn", "Nonexistent output port")
            return
        if xp.no_fwd:
            self.report("detail", "OFPPC_NO_FWD set, skipping output")
            return
        self.commit()
        self.odp.append(("output", xp.dp_port))

    def controller(self, max_len, reason, controller_id, userdata) -> None:
        self.commit()
        if reason == OFPR_ACTION and self.rule is not None and self.rule.priority == 0 \
                and not len(self.rule.match):
            # xlate_controller_action: an explicit table miss (observed: controller(reason=6)
            # in the datapath, "no_match" to OF1.3+, "action" before; the miss rate limiter).
            reason = OFPR_EXPLICIT_MISS
        meta = tuple(sorted((k, v) for k, v in self.flow.items()
                            if v and (k in _PIPELINE_ONLY or k in ("in_port", "pkt_mark"))))
        state = (self.ctx.bridge, self.table_id, meta, bytes(userdata))
        rid = self.ctx.recirc.alloc(state)
        cookie = self.rule.cookie if self.rule is not None else 0
        if self.rule is None or reason in (OFPR_NO_MATCH, OFPR_IMPLICIT_MISS):
            cookie = 0xFFFFFFFFFFFFFFFF if reason not in (OFPR_NO_MATCH, OFPR_IMPLICIT_MISS) \
                else 0
        self.odp.append(("userspace", {"pid": 0, "controller": {
            "reason": reason, "dont_send": not self.send_packet_ins, "continuation": False,
            "recirc_id": rid, "rule_cookie": cookie, "controller_id": controller_id,
            "max_len": max_len}}))
        self.packet_ins.append(PacketIn(reason, self.table_id, cookie, max_len, controller_id,
                                        bytes(userdata), rid, dict(self.flow), len(self.odp) - 1))

    # -------------------------------------------------------------- commit
    def _commit_attr(self, attr, fields, use_masked=True) -> None:
        """OVS's ``commit()``: fields whose masked bits did not change drop
        out of the mask; all left exact (or ``use_masked`` off) -> plain set."""
        f, b, wc = self.flow, self.base, self.wc
        changed = [m for m in fields if (f.get(m, 0) ^ b.get(m, 0)) & wc.get(m, 0)]
        if not changed:
            return
        exact = len(changed) == len(fields) and all(wc[m] == _FULL[m] for m in fields)
        if exact or not use_masked:
            self.odp.append(("set", {m: f.get(m, 0) for m in fields}, attr))
            for m in fields:
                wc[m] = _FULL[m]
        else:
            self.odp.append(("set_masked", {m: (f.get(m, 0) & wc[m], wc[m]) for m in changed},
                             attr))
        for m in fields:
            b[m] = f.get(m, 0)

    def commit(self) -> None:
        """OVS's commit_odp_actions: datapath actions that make the packet
        in the datapath (``base``) look like ``flow``."""
        f, b = self.flow, self.base
        self._commit_attr("eth", ("dl_src", "dl_dst"))
        proto = f.get("nw_proto", 0)
        dl = b.get("dl_type", 0)
        if dl in (ETH_IP, ETH_IPV6) and any(f.get(m, 0) != b.get(m, 0) for m in _L3_SET):
            # Whether an L3 set is emitted depends on nw_proto (OVS: "does
            # 'flow' really have an L3 header"), so it is examined.
            self.unwild("nw_proto")
        if proto:
            if dl == ETH_IP:
                self._commit_attr("ipv4", ("nw_src", "nw_dst", "nw_tos", "nw_ttl"))
            elif dl == ETH_IPV6:
                self._commit_attr("ipv6", ("ipv6_src", "ipv6_dst", "ipv6_label", "nw_tos",
                                           "nw_ttl"))
            elif dl == ETH_ARP:
                before = len(self.odp)
                self._commit_attr("arp", ("nw_src", "nw_dst", "nw_proto", "arp_sha", "arp_tha"))
                self.slow |= len(self.odp) != before
            if dl in (ETH_IP, ETH_IPV6) and proto in (6, 17, 132):
                self._commit_attr({6: "tcp", 17: "udp", 132: "sctp"}[proto], ("tp_src", "tp_dst"))
        if (dl == ETH_IP and proto == 1) or (dl == ETH_IPV6 and proto == 58):
            before = len(self.odp)
            self._commit_attr("icmp" if proto == 1 else "icmpv6", ("tp_src", "tp_dst"),
                              use_masked=False)
            self.slow |= len(self.odp) != before
        self._commit_vlans()
        self._commit_attr("skb_mark", ("pkt_mark",))

    def _vlans(self, d) -> list:
        out = []
        for tci_m, tpid_m in (("vlan_tci", "vlan_tpid"), ("vlan_tci1", "vlan_tpid1")):
            tci = d.get(tci_m, 0)
            if not tci & VLAN_CFI:
                break
            out.append(((d.get(tpid_m, 0) or 0x8100), tci))
        return out

    def _commit_vlans(self) -> None:
        bv, fv = self._vlans(self.base), self._vlans(self.flow)
        bn, fn = len(bv) - 1, len(fv) - 1
        while bn >= 0 and fn >= 0 and bv[bn] == fv[fn]:
            bn, fn = bn - 1, fn - 1
        names = ("vlan_tci", "vlan_tci1")
        for i in range(bn + 1):
            self.odp.append(("pop_vlan",))
            self.wc[names[i]] = 0xFFFF
        for i in range(fn, -1, -1):
            self.odp.append(("push_vlan", fv[i][0], fv[i][1]))
        for k in ("vlan_tci", "vlan_tpid", "vlan_tci1", "vlan_tpid1"):
            self.base[k] = self.flow.get(k, 0)


def hmap_order(ports: list) -> list:
    """The order in which OVS's ``hmap`` of xports (keyed by
    ``hash_ofp_port``) iterates ports inserted in the order given: bucket
    order, newest first within a bucket, with OVS's growth and rehashing."""
    mask, buckets, n = 0, [[]], 0
    for p in ports:
        h = _hash_int(p)
        buckets[h & mask].insert(0, (p, h))
        n += 1
        if n // 2 > mask:
            new = _calc_mask(n)
            if new > mask:
                nb = [[] for _ in range(new + 1)]
                for chain in buckets:
                    for node in chain:
                        nb[node[1] & new].insert(0, node)
                mask, buckets = new, nb
    return [p for chain in buckets for p, _ in chain]


def _calc_mask(capacity: int) -> int:
    mask = capacity // 2
    for s in (1, 2, 4, 8, 16, 32):
        mask |= mask >> s
    mask |= (mask & 1) << 1
    return mask


def translate(ctx: XlateContext, flow: dict, packet: bytes | None = None, *, trace: bool = False,
              side_effects: bool = True, resubmit_limit: int = MAX_DEPTH,
              ofpacts=None, send_packet_ins: bool | None = None) -> XlateResult:
    """Translate ``flow`` (a flow key, ``dict member -> int``) through the
    bridge's flow tables, or through ``ofpacts`` when given (PACKET_OUT).
    ``packet`` is only informative (OVS reports errors about real packets).
    ``send_packet_ins`` (default: ``side_effects``) is what controller actions
    say in ``dont_send``: revalidation translates without side effects but
    must reproduce the actions the upcall installed."""
    x = _Xlate(ctx, flow, side_effects, trace, resubmit_limit)
    if send_packet_ins is not None:
        x.send_packet_ins = send_packet_ins
    for m in ("packet_type", "in_port", "dl_type", "recirc_id"):
        x.unwild(m)
    if flow.get("dl_type", 0) in (ETH_IP, ETH_IPV6):
        x.unwild("nw_frag", 0x03)
    try:
        if ofpacts is None:
            x.run()
        else:
            x.tlist = x.nest("bridge", f'bridge("{ctx.bridge}")')
            x.do_actions(ofpacts)
    except _Abort:
        pass
    if x.error:
        x.odp = []
    wc = x.wc
    for m in _PIPELINE_ONLY:
        wc.pop(m, None)
    f0 = flow
    if (f0.get("dl_type") == ETH_IP and f0.get("nw_proto") == 1) or \
            (f0.get("dl_type") == ETH_IPV6 and f0.get("nw_proto") == 58):
        for m in ("tp_src", "tp_dst"):
            if m in wc:
                wc[m] &= 0xFF
    for m in ("vlan_tci", "vlan_tci1"):
        if not f0.get(m, 0) & VLAN_CFI:
            wc.pop(m, None)     # no such header in the packet (xlate_wc_finish)
        elif wc.get(m):
            wc[m] |= VLAN_CFI
    if f0.get("nw_frag", 0) & 2:
        wc.pop("tp_src", None)
        wc.pop("tp_dst", None)
    wc = {k: v for k, v in wc.items() if v}
    mf_wc = dict(wc)
    wc["vlan_tci"] = wc.get("vlan_tci", 0) | VLAN_CFI
    return XlateResult(actions=tuple(x.odp), wc=wc, megaflow_wc=mf_wc, final_flow=x.flow,
                       rules=x.rules, packet_ins=x.packet_ins, learned_flows=x.learned_flows,
                       mac_learned=x.learned, mac_changed=x.mac_changed, trace=x.root,
                       error=_ERRORS.get(x.error) if x.error else None, slow=x.slow,
                       groups_hit=x.groups_hit, bond_accounts=x.bond_accounts)


__all__ = ["XPort", "XlateContext", "XlateResult", "PacketIn", "TraceNode", "RecircIds",
           "translate", "hmap_order", "field_member", "MAX_DEPTH", "MAX_RESUBMITS",
           "FlowModSpec", "FlowMatch", "I", "A", "Callable"]
