"""MAC learning and the NORMAL action (Open vSwitch's mac-learning.c and xlate_normal).

Theory of operation
-------------------
:class:`MacLearning` is the bridge's learning table: ``(vlan, mac) -> port``
with an expiry time, kept in LRU order (least recently (re)learned first),
as ``lib/mac-learning.c``: ``mac-table-size`` entries at most (default
8192; a full table evicts the oldest entry of the port that has the most
entries, OVS's "fair" eviction), ``mac-aging-time`` seconds (default 300).
Multicast sources and VLANs listed in the bridge's ``flood_vlans`` are never
learned.  Every entry point takes ``now``; nothing here reads a clock.
:meth:`MacLearning.fdb_show` renders ``ovs-appctl fdb/show``.

:func:`xlate_normal` is the NORMAL action, called by translation
(:mod:`.xlate`) with the translation state: it works on VLAN numbers the
way ``xlate_normal`` does for one VLAN level (dot1q-tunnel adds the outer
one):

* input VLAN: an access port carries its ``tag`` and refuses tagged frames;
  a trunk carries the frame's VID (0 = untagged) and refuses VIDs outside
  ``trunks`` (empty = all; VLAN 0 counts as any other, so an untagged frame
  on ``trunks=101,102`` is dropped); native-tagged/untagged ports map
  untagged frames to their ``tag`` and always trunk it (never VLAN 0);
* learning of ``dl_src`` (only when side effects are allowed);
* output to the learned port, or flooding to every floodable port that
  carries the VLAN, in the bridge's port order (``ctx.ports`` order, which
  must be OVS's bundle creation order: the local port first), each with
  the tagging of its mode (access: untagged; trunk and native-tagged:
  tagged, VLAN 0 untagged; native-untagged: untagged on its native VLAN).

What it un-wildcards, as OVS: ``dl_src``, ``dl_dst``, the VID and CFI bits of
``vlan_tci`` (``in_port`` is always exact).

Bonds (``ctx.bonds``: bundle name -> :class:`~.bond.Bond`): a frame received
on a bond member must pass ``Bond.check_admissibility`` (only the active
member takes broadcast; in balance-slb a source MAC learned on another port
means the frame looped back) before it is learned; output to a bond goes to
the member ``Bond.choose_output`` picks for the output VLAN (it un-wildcards
what it hashes), and the choice is recorded for byte accounting.
"""

from __future__ import annotations

import dataclasses

VLAN_CFI = 0x1000
VLAN_VID_MASK = 0x0FFF
OFPP_LOCAL = 0xFFFE
OFPP_NONE = 0xFFFF
OFPP_CONTROLLER = 0xFFFD
DEFAULT_MAX_ENTRIES = 8192      # other_config:mac-table-size
DEFAULT_AGING = 300             # other_config:mac-aging-time (seconds)


@dataclasses.dataclass
class MacEntry:
    vlan: int
    mac: int
    port: int
    expires: float


class MacLearning:
    """The learning table of one bridge (see module doc)."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, aging: int = DEFAULT_AGING,
                 flood_vlans=()):
        self.max_entries = max_entries
        self.aging = aging
        self.flood_vlans = frozenset(flood_vlans)
        self._t: dict[tuple, MacEntry] = {}     # insertion order == LRU order
        self.total_learned = 0
        self.total_expired = 0
        self.total_evicted = 0
        self.total_moved = 0

    def __len__(self):
        return len(self._t)

    def may_learn(self, vlan: int, mac: int) -> bool:
        return not (mac >> 40) & 1 and vlan not in self.flood_vlans

    def learn(self, vlan: int, mac: int, port: int, now: float) -> bool:
        """Learn ``mac`` on ``vlan`` behind ``port``; True if the table changed
        (a new entry or a move), which calls for revalidation."""
        if not self.may_learn(vlan, mac):
            return False
        key = (vlan, mac)
        e = self._t.pop(key, None)
        changed = e is None or e.port != port
        if e is None:
            if len(self._t) >= self.max_entries:
                self._evict_fairly()
            e = MacEntry(vlan, mac, port, 0.0)
            self.total_learned += 1
        elif e.port != port:
            self.total_moved += 1
            e.port = port
        e.expires = now + self.aging
        self._t[key] = e
        return changed

    def _evict_fairly(self):
        counts: dict[int, int] = {}
        for e in self._t.values():
            counts[e.port] = counts.get(e.port, 0) + 1
        port = max(counts, key=lambda p: counts[p])
        for k, e in self._t.items():
            if e.port == port:
                del self._t[k]
                self.total_evicted += 1
                return

    def lookup(self, vlan: int, mac: int, now: float | None = None) -> int | None:
        e = self._t.get((vlan, mac))
        if e is None or (now is not None and e.expires <= now):
            return None
        return e.port

    def expire(self, now: float) -> list:
        """Remove entries whose age passed; returns them."""
        gone = [k for k, e in self._t.items() if e.expires <= now]
        out = [self._t.pop(k) for k in gone]
        self.total_expired += len(out)
        return out

    def flush(self, port: int | None = None) -> int:
        """Forget everything (or one port's entries); returns how many."""
        keys = [k for k, e in self._t.items() if port is None or e.port == port]
        for k in keys:
            del self._t[k]
        return len(keys)

    def entries(self):
        return list(self._t.values())

    def fdb_show(self, now: float, port_name=None) -> str:
        """``ovs-appctl fdb/show`` text.  ``port_name(ofport)`` names ports
        (default: the number, ``LOCAL`` for the local port)."""
        lines = [" port  VLAN  MAC                Age"]
        for e in self._t.values():
            name = port_name(e.port) if port_name else (
                "LOCAL" if e.port == OFPP_LOCAL else str(e.port))
            age = int(self.aging - (e.expires - now))
            mac = ":".join(f"{b:02x}" for b in e.mac.to_bytes(6, "big"))
            lines.append(f"{name:>5}  {e.vlan:4d}  {mac}  {max(age, 0):3d}")
        return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- VLAN modes

def port_vlan_config(p) -> tuple[str, int, frozenset | None]:
    """``(mode, vlan, trunks)`` of a port as ofproto-dpif's bundle_set
    normalises it: mode defaults to access with a tag, else trunk; ``trunks``
    None means all VLANs; native modes always trunk their VLAN, never 0."""
    tag = p.tag
    mode = p.vlan_mode or ("access" if tag is not None else "trunk")
    vlan = -1 if mode == "trunk" else (tag if tag is not None and 0 <= tag <= 4095 else 0)
    trunks = frozenset(p.trunks) if p.trunks else None
    if mode == "access":
        trunks = frozenset()
    elif mode in ("native-tagged", "native-untagged") and vlan != 0:
        if trunks is None or vlan not in trunks or 0 in trunks:
            t = set(range(4096)) if trunks is None else set(trunks)
            t.add(vlan)
            t.discard(0)
            trunks = frozenset(t)
    return mode, vlan, trunks


def _trunks(cfg, vid) -> bool:
    mode, _, trunks = cfg
    return mode != "access" and (trunks is None or vid in trunks)


def includes_vlan(cfg, vid: int, inner: int = 0) -> bool:
    mode, vlan, _ = cfg
    if mode == "access":
        return vid == vlan and inner == 0
    if mode == "dot1q-tunnel":
        return vid == vlan and _trunks(cfg, inner)
    return _trunks(cfg, vid)


def input_vid_is_valid(cfg, vid: int) -> tuple[bool, str]:
    mode, vlan, _ = cfg
    if mode == "access":
        return (not vid), "VLAN %d tagged packet received on port %%s configured as VLAN %d access port" % (vid, vlan)
    if mode in ("native-untagged", "native-tagged") and not vid:
        return True, ""
    if mode == "dot1q-tunnel":
        return _trunks(cfg, vid) if vid else True, "VLAN %d packet received on dot1q-tunnel port %%s" % vid
    return (vid == vlan or _trunks(cfg, vid)), ("VLAN %d packet received on port %%s not configured "
                                               "for trunking VLAN %d" % (vid, vid))


def input_vid_to_vlan(cfg, vid: int) -> tuple[int, int]:
    """(vlan, inner vid) the frame belongs to inside the bridge."""
    mode, vlan, _ = cfg
    if mode == "access":
        return vlan, 0
    if mode in ("native-untagged", "native-tagged"):
        return (vid or vlan), 0
    if mode == "dot1q-tunnel":
        return vlan, vid
    return vid, 0


def output_vlans(cfg, vlan: int, inner: int) -> tuple[int, int]:
    """(outer vid, inner vid) to put on a frame leaving a port of ``cfg``."""
    mode, pvlan, _ = cfg
    if mode == "access":
        return 0, 0
    if mode == "native-untagged" and vlan == pvlan:
        return inner, 0
    if mode == "dot1q-tunnel":
        return inner, 0
    return vlan, inner


# ----------------------------------------------------------------- the action

_RESERVED = (0x0180C2000000, 0xFFFFFFFFFFF0)    # 01:80:c2:00:00:0x (STP, LACP, LLDP...)


def _is_reserved(mac: int) -> bool:
    return (mac & _RESERVED[1]) == _RESERVED[0] or mac in (0x01000CCCCCCC, 0x01000CCCCCCD)


def xlate_normal(x) -> None:
    """The NORMAL action on translation state ``x`` (an :class:`.xlate._Xlate`)."""
    flow, wc, ctx = x.flow, x.wc, x.ctx
    wc["dl_src"] = (1 << 48) - 1
    wc["dl_dst"] = (1 << 48) - 1
    wc["vlan_tci"] = wc.get("vlan_tci", 0) | VLAN_VID_MASK | VLAN_CFI
    in_port = flow.get("in_port", 0)
    if in_port in (OFPP_NONE, OFPP_CONTROLLER):
        in_cfg, in_xp = ("trunk", -1, None), None
    else:
        in_xp = ctx.ports.get(in_port)
        if in_xp is None:
            x.report("error", f"received packet on unknown port {in_port}")
            x.report("warn", "no input bundle, dropping")
            return
        in_cfg = port_vlan_config(in_xp)
    tci = flow.get("vlan_tci", 0)
    if flow.get("dl_type", 0) in (0x8100, 0x88A8) and not tci & VLAN_CFI:
        x.report("warn", "partial VLAN tag, dropping")
        return
    vid = tci & VLAN_VID_MASK if tci & VLAN_CFI else 0
    ok, why = input_vid_is_valid(in_cfg, vid)
    if not ok:
        name = in_xp.bundle_name if in_xp is not None else "NONE"
        x.report("error", "dropping " + (why % name))
        x.report("warn", "disallowed VLAN VID for this input port, dropping")
        return
    vlan, inner = input_vid_to_vlan(in_cfg, vid)
    pcp = tci >> 13 if tci & VLAN_CFI else 0
    if not ctx.forward_bpdu and _is_reserved(flow.get("dl_dst", 0)):
        x.report("detail", "packet has reserved destination MAC, dropping")
        return
    mac = ctx.mac
    bond = ctx.bonds.get(in_xp.bundle_key) if in_xp is not None and ctx.bonds else None
    if bond is not None and not _bond_admits(x, bond, in_xp, vlan):
        return
    if x.side_effects and mac is not None and in_xp is not None:
        src = flow.get("dl_src", 0)
        if mac.may_learn(vlan, src) and mac.lookup(vlan, src) != in_xp.bundle_key:
            x.learned.append((vlan, src, in_xp.bundle_key))
        if mac.learn(vlan, src, in_xp.bundle_key, ctx.now):
            x.mac_changed = True
    dst_port = mac.lookup(vlan, flow.get("dl_dst", 0), ctx.now) if mac is not None else None
    in_key = in_xp.bundle_key if in_xp is not None else None
    if dst_port is not None:
        out = _bundle_port(ctx, dst_port)
        if out is None:
            x.report("warn", "learned port is unknown, dropping")
        elif dst_port == in_key:
            x.report("detail", "learned port is input port, dropping")
        else:
            x.report("detail", "forwarding to learned port")
            _output_normal(x, out, vlan, inner, pcp)
        return
    x.report("detail", "no learned MAC for destination, flooding")
    for p in _bundles(ctx):
        if p.bundle_key == in_key or p.no_flood:
            continue
        if includes_vlan(port_vlan_config(p), vlan, inner):
            _output_normal(x, p, vlan, inner, pcp)


def _bundles(ctx):
    seen = set()
    for p in ctx.ports.values():
        if p.bundle_key not in seen:
            seen.add(p.bundle_key)
            yield p


def _bundle_port(ctx, key):
    for p in ctx.ports.values():
        if p.bundle_key == key:
            return p
    return None


def _is_gratuitous_arp(x) -> bool:
    """OVS ``is_gratuitous_arp``, un-wildcarding what it reads."""
    f = x.flow
    if f.get("dl_type", 0) != 0x0806 or f.get("dl_dst", 0) != 0xFFFFFFFFFFFF:
        return False
    x.unwild("nw_proto")
    if f.get("nw_proto", 0) == 2:            # ARP reply
        return True
    if f.get("nw_proto", 0) == 1:            # request for its own address
        x.unwild("nw_src")
        x.unwild("nw_dst")
        return f.get("nw_src", 0) == f.get("nw_dst", 0)
    return False


def _bond_admits(x, bond, in_xp, vlan) -> bool:
    """OVS ``is_admissible`` for a frame received on a bond member."""
    flow = x.flow
    verdict = bond.check_admissibility(in_xp.ofport, flow.get("dl_dst", 0)).value
    if verdict == "accept":
        return True
    if verdict == "drop":
        x.report("detail", "bonding refused admissibility, dropping")
        return False
    mac = x.ctx.mac
    port = mac.lookup(vlan, flow.get("dl_src", 0), x.ctx.now) if mac is not None else None
    if port is not None and port != in_xp.bundle_key and not _is_gratuitous_arp(x):
        x.report("detail", "SLB bond thinks this packet looped back, dropping")
        return False
    return True


_HASHED = ("dl_src", "dl_type", "nw_src", "nw_dst", "ipv6_src", "ipv6_dst", "nw_proto",
           "tp_src", "tp_dst", "nw_frag")


def _output_normal(x, p, vlan, inner, pcp) -> None:
    outer, inn = output_vlans(port_vlan_config(p), vlan, inner)
    flow = x.flow
    bond = x.ctx.bonds.get(p.bundle_key) if x.ctx.bonds else None
    if bond is not None:
        member = bond.choose_output(flow, x.wc, outer)
        mp = x.ctx.ports.get(member) if member is not None else None
        if mp is None:
            x.report("detail", f"no enabled member of bond {p.bundle_name}, dropping")
            return
        x.bond_accounts.append((bond, {k: flow.get(k, 0) for k in _HASHED}, outer))
        p = mp
    saved = {k: flow.get(k, 0) for k in ("vlan_tci", "vlan_tpid", "vlan_tci1", "vlan_tpid1")}
    if outer or (p.priority_tags and pcp):
        flow["vlan_tci"] = outer | pcp << 13 | VLAN_CFI
        flow["vlan_tpid"] = saved["vlan_tpid"] or 0x8100
        if inn:
            flow["vlan_tci1"] = inn | VLAN_CFI
            flow["vlan_tpid1"] = 0x8100
        else:
            flow["vlan_tci1"] = flow["vlan_tpid1"] = 0
    else:
        flow["vlan_tci"] = flow["vlan_tpid"] = flow["vlan_tci1"] = flow["vlan_tpid1"] = 0
    x.compose_output(p.ofport)
    flow.update(saved)
