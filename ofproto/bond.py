"""Bonds as Open vSwitch implements them (``ofproto/bond.c``), sans-I/O.

Theory of operation
-------------------
A :class:`Bond` groups member links (keyed by OpenFlow port number) of one
bridge port.  The caller feeds it link events and asks it decisions:

* ``set_carrier(member, up, now)`` on carrier changes (forwarded to LACP);
* ``run(now)`` once per main-loop pass, after ``lacp.run(now)``: enables and
  disables members from carrier and LACP's ``may_enable``, honouring
  ``updelay``/``downdelay``, and picks the active member (bond-primary first,
  then the last active member by MAC, then any enabled one, then the member
  whose updelay ends first, skipping that delay).  Returns True when flows
  that used the bond must be revalidated;
* ``choose_output(flow, wc)``: output member for a flow, un-wildcarding what
  the decision read (megaflow contract: a bit wrongly set is safe);
* ``check_admissibility`` / ``should_receive``: whether a packet received on a
  member is admitted (loop avoidance between bonded links);
* ``account(flow, n_bytes)`` and ``rebalance(now)``: balance-slb/tcp load
  moves between the 256 hash buckets' members;
* ``should_send_learning_packets()`` / ``gratuitous_learning_packets(macs)``:
  after a failover in balance-slb or active-backup without LACP, RARPs from
  the MACs learned on other ports tell the physical switch where they moved.

Time: ``now`` is in seconds (the project's clock); delays and intervals are
configured in milliseconds as in the database.  Hashes are OVS's
(murmur-based ``hash_mac`` and ``flow_hash_5tuple``), so bucket numbers equal
``ovs-appctl bond/hash``.
"""
from __future__ import annotations

import math
from enum import Enum
from typing import Hashable, Iterable

from . import lacp as lacp_mod
from ovsdb_server.ovsjson import hash_add as _hash_add, hash_add64 as _hash_add64, hash_finish as _hash_finish

__all__ = ["Bond", "BondError", "Verdict", "hash_mac", "flow_hash_5tuple", "show", "list_",
           "BOND_BUCKETS"]

BOND_BUCKETS = 256           # Hash buckets, as OVS.
BOND_MASK = BOND_BUCKETS - 1
MODES = ("active-backup", "balance-slb", "balance-tcp")
VLAN_VID_MASK, VLAN_CFI = 0x0FFF, 0x1000
_M32 = 0xFFFFFFFF


class BondError(Exception):
    """An ovs-appctl bond command failed; ``str(err)`` is OVS's reply text."""


class Verdict(Enum):
    ACCEPT = "accept"
    DROP = "drop"
    DROP_IF_MOVED = "drop-if-moved"   # Drop if the source MAC is learned on another port.


# ---- OVS's murmur-based hashes (lib/hash.h, non-SSE4.2 build) ----------------
def hash_mac(mac: int, vlan: int, basis: int = 0) -> int:
    """OVS ``hash_mac``: the balance-slb hash (``bond/hash MAC [VLAN] [BASIS]``)."""
    return _hash_finish(_hash_add64(basis, (vlan << 48) | mac), 8)


def _le32(be: int, n=4) -> int:
    """A big-endian field as a little-endian host reads its memory."""
    return int.from_bytes(be.to_bytes(n, "big"), "little")


def flow_hash_5tuple(flow: dict, basis: int = 0) -> int:
    """OVS ``flow_hash_5tuple``: the balance-tcp hash."""
    h = basis
    dl_type = flow.get("dl_type", 0)
    if dl_type == 0x86DD:
        for f in ("ipv6_src", "ipv6_dst"):
            raw = flow.get(f, 0).to_bytes(16, "big")
            h = _hash_add64(h, int.from_bytes(raw[:8], "little"))
            h = _hash_add64(h, int.from_bytes(raw[8:], "little"))
    elif dl_type in (0x0800, 0x0806):
        h = _hash_add(h, _le32(flow.get("nw_src", 0)))
        h = _hash_add(h, _le32(flow.get("nw_dst", 0)))
    else:
        return _hash_finish(h, 42)
    proto = flow.get("nw_proto", 0)
    h = _hash_add(h, proto)
    if proto in (6, 17, 132, 1, 58):
        ports = (flow.get("tp_src", 0) << 16) | flow.get("tp_dst", 0)
        h = _hash_add(h, _le32(ports))
    return _hash_finish(h, 42)


def _mask(wc: dict | None, field: str, bits: int) -> None:
    if wc is not None:
        wc[field] = wc.get(field, 0) | bits


def _mac_str(mac: int) -> str:
    return ":".join(f"{b:02x}" for b in mac.to_bytes(6, "big"))


class _Member:
    __slots__ = ("handle", "name", "mac", "carrier", "may_enable", "enabled", "is_primary",
                 "delay_expires", "tx_bytes")

    def __init__(self, handle, name, mac, carrier):
        self.handle, self.name, self.mac, self.carrier = handle, name, mac, carrier
        self.may_enable = False
        self.enabled = False
        self.is_primary = False
        self.delay_expires = math.inf
        self.tx_bytes = 0


class _Entry:
    __slots__ = ("member", "tx_bytes")

    def __init__(self):
        self.member: _Member | None = None
        self.tx_bytes = 0


class Bond:
    """One bond (OVS ``struct bond``)."""

    def __init__(self, name: str, mode: str = "active-backup", lacp: lacp_mod.Lacp | None = None,
                 updelay: int = 0, downdelay: int = 0, rebalance_interval: int = 10000,
                 primary: str | None = None, fallback_ab: bool = False, basis: int = 0, *,
                 all_members_active: bool = False, recirc_id: int = 0,
                 active_member_mac: int = 0, now: float = 0.0):
        if mode not in MODES:
            raise ValueError(f"unknown bond mode {mode}")
        self.name = name
        self.mode = mode
        self.lacp = lacp
        self.updelay, self.downdelay = updelay, downdelay
        self.rebalance_interval = rebalance_interval
        self.primary = primary
        self.fallback_ab = fallback_ab
        self.basis = basis
        self.all_members_active = all_members_active and mode == "balance-slb"
        # OVS allocates a recirculation id for non-active-backup bonds; the
        # integrator passes it (shown by bond/list).
        self.recirc_id = recirc_id if mode != "active-backup" else 0
        # Port:bond_active_slave read back from the database.  (OVS 3.1 parses
        # it but never hands it to the bond; pass 0 for identical behaviour.)
        self.active_member_mac = active_member_mac
        self.active_member_changed = False
        self.lacp_status = lacp_mod.status_of(lacp)
        self.revalidate = False
        self.send_learning_packets = False
        self._members: dict[Hashable, _Member] = {}
        self._enabled: list[_Member] = []          # Round-robin order, as OVS's list.
        self._active: _Member | None = None
        self._hash: list[_Entry] | None = None
        self.next_rebalance = math.inf
        self._entry_reset(now)

    # ---- configuration -------------------------------------------------
    def add_member(self, member: Hashable, name: str | None = None, mac: int = 0,
                   carrier: bool = True) -> None:
        """Registers ``member`` (an ofport); ``mac`` is its Ethernet address."""
        m = self._members.get(member)
        if m is None:
            m = self._members[member] = _Member(member, name or str(member), mac, carrier)
            self.revalidate = True
            self._enable(m, carrier)
        if name is not None:
            m.name = name
        if mac:
            m.mac = mac
        m.is_primary = self.primary is not None and self.primary == m.name

    def remove_member(self, member: Hashable) -> None:
        m = self._members.get(member)
        if m is None:
            return
        self.revalidate = True
        self._enable(m, False)
        if self._hash:
            for e in self._hash:
                if e.member is m:
                    e.member = None
        del self._members[member]
        if self._active is m:
            self._choose_active(self._last_now)
            self.send_learning_packets = True

    def set_carrier(self, member: Hashable, up: bool, now: float) -> None:
        m = self._members.get(member)
        if m is None:
            return
        if m.carrier != up and self.lacp is not None:
            self.lacp.set_carrier(member, up, now)
        m.carrier = up

    # ---- periodic work -------------------------------------------------
    _last_now = 0.0

    def run(self, now: float) -> bool:
        """Updates member state and the active member; returns revalidate."""
        self._last_now = now
        status = lacp_mod.status_of(self.lacp)
        if status != self.lacp_status:
            self.lacp_status = status
            self.revalidate = True
            if self._falling_back_to_ab() or self._hash is None:
                self._entry_reset(now)
        primary = None
        for m in self._members.values():
            m.may_enable = m.carrier and (self.lacp is None or self.lacp.may_enable(m.handle))
            self._link_status_update(m, now)
            if self.mode == "active-backup" and m.is_primary and m.enabled:
                primary = m
        if self._active is None or not self._active.enabled or \
                (primary is not None and self._active is not primary):
            self._choose_active(now)
        rv, self.revalidate = self.revalidate, False
        return rv

    def next_wake(self, now: float) -> float:
        """When ``run`` must run again for delays to expire (``inf``: never)."""
        t = min((m.delay_expires for m in self._members.values()), default=math.inf)
        return now if self.revalidate else (max(t, now) if t != math.inf else t)

    def _link_status_update(self, m: _Member, now: float) -> None:
        up = m.carrier and m.may_enable
        if (up == m.enabled) != (m.delay_expires == math.inf):
            if up == m.enabled:
                m.delay_expires = math.inf
            else:
                m.delay_expires = now + (self.updelay if up else self.downdelay) / 1000
        if now >= m.delay_expires:
            self._enable(m, up)

    def _enable(self, m: _Member, enable: bool) -> None:
        m.delay_expires = math.inf
        if enable != m.enabled:
            self.revalidate = True
            m.enabled = enable
            if enable:
                self._enabled.append(m)
            else:
                self.send_learning_packets = True
                self._enabled.remove(m)

    def _choose_member(self) -> _Member | None:
        for m in self._members.values():
            if m.is_primary and m.enabled:
                return m
        m = self._find_by_mac(self.active_member_mac)
        if m is not None and m.enabled:
            return m
        for m in self._members.values():
            if m.enabled:
                return m
        best = None
        for m in self._members.values():
            if m.delay_expires != math.inf and m.may_enable and \
                    (best is None or m.delay_expires < best.delay_expires):
                best = m
        return best

    def _choose_active(self, now: float) -> None:
        old = self._active
        self._active = self._choose_member()
        if self._active is not None:
            if not self._active.enabled:
                self._enable(self._active, True)    # Skip the remaining updelay.
            self.send_learning_packets = True
            if self._active is not old:
                self._active_changed()
        elif old is not None:
            self._active_changed()

    def _active_changed(self) -> None:
        self.active_member_mac = self._active.mac if self._active else 0
        self.active_member_changed = True

    def _find_by_mac(self, mac: int) -> _Member | None:
        if not mac:
            return None
        return next((m for m in self._members.values() if m.mac == mac), None)

    # ---- state queries -------------------------------------------------
    @property
    def active_member(self) -> Hashable | None:
        return self._active.handle if self._active else None

    def take_active_member_change(self) -> int | None:
        """If the active member changed since the last call, its MAC (0: none),
        to write to ``Port:bond_active_slave``; else None."""
        if not self.active_member_changed:
            return None
        self.active_member_changed = False
        return self.active_member_mac

    def is_enabled(self, member: Hashable) -> bool:
        return self._members[member].enabled

    def may_enable(self, member: Hashable) -> bool:
        return self._members[member].may_enable

    @property
    def members(self) -> list:
        return list(self._members)

    def member_by_name(self, name: str) -> Hashable:
        for m in self._members.values():
            if m.name == name:
                return m.handle
        raise BondError("no such member")

    # ---- hashing -------------------------------------------------------
    def _falling_back_to_ab(self) -> bool:
        return (self.fallback_ab and self.mode != "active-backup"
                and self.lacp_status == "configured")

    def is_balanced(self) -> bool:
        return (bool(self.rebalance_interval) and self.mode != "active-backup"
                and not (self.fallback_ab and self.lacp_status == "configured"))

    def may_recirc(self) -> bool:
        return self.mode == "balance-tcp" and bool(self.recirc_id) \
            and not self._falling_back_to_ab()

    def _entry_reset(self, now: float) -> None:
        if self.mode != "active-backup" and not self._falling_back_to_ab():
            self._hash = [_Entry() for _ in range(BOND_BUCKETS)]
            self.next_rebalance = now + self.rebalance_interval / 1000
        else:
            self._hash = None

    def bucket(self, flow: dict, vlan: int | None = None) -> int:
        """The hash bucket (0..255) of ``flow`` in this bond's balancing mode."""
        if vlan is None:
            vlan = flow.get("vlan_tci", 0) & VLAN_VID_MASK
        if self.mode == "balance-tcp":
            return flow_hash_5tuple(flow, self.basis) & BOND_MASK
        return hash_mac(flow.get("dl_src", 0), vlan, self.basis) & BOND_MASK

    def choose_output(self, flow: dict, wc: dict | None = None,
                      vlan: int | None = None) -> Hashable | None:
        """Member to send ``flow`` to, or None to drop (no member enabled,
        or LACP configured but not negotiated without fallback).  ``vlan`` is
        the logical VLAN (default: the VID in ``flow['vlan_tci']``)."""
        mode = self.mode
        if self.lacp_status == "configured":
            if not self.fallback_ab:
                return None
            mode = "active-backup"
        if mode == "active-backup":
            return self._active.handle if self._active else None
        if mode == "balance-tcp":
            if self.lacp_status != "negotiated":
                return None          # balance-tcp needs LACP (OVS drops).
            self._mask_l3l4(flow, wc)
        else:
            _mask(wc, "dl_src", (1 << 48) - 1)
            _mask(wc, "vlan_tci", VLAN_VID_MASK | VLAN_CFI)
        if self._hash is None:
            self._entry_reset(self._last_now)
        e = self._hash[self.bucket(flow, vlan)]
        if e.member is None or not e.member.enabled:
            e.member = self._next_enabled()
        return e.member.handle if e.member else None

    @staticmethod
    def _mask_l3l4(flow: dict, wc: dict | None) -> None:
        """flow_mask_hash_fields(NX_HASH_FIELDS_SYMMETRIC_L3L4_UDP), as OVS."""
        if wc is None:
            return
        dl_type, proto = flow.get("dl_type", 0), flow.get("nw_proto", 0)
        nofrag = not flow.get("nw_frag", 0) & 3
        if dl_type in (0x0800, 0x86DD) and proto == 17 and nofrag:
            _mask(wc, "tp_src", 0xFFFF)
            _mask(wc, "tp_dst", 0xFFFF)
        if dl_type == 0x0800:
            _mask(wc, "nw_src", _M32)
            _mask(wc, "nw_dst", _M32)
        elif dl_type == 0x86DD:
            _mask(wc, "ipv6_src", (1 << 128) - 1)
            _mask(wc, "ipv6_dst", (1 << 128) - 1)
        else:
            return
        _mask(wc, "nw_proto", 0xFF)
        if proto in (6, 132) and nofrag:
            _mask(wc, "tp_src", 0xFFFF)
            _mask(wc, "tp_dst", 0xFFFF)

    def _next_enabled(self) -> _Member | None:
        if not self._enabled:
            return None
        m = self._enabled.pop(0)
        self._enabled.append(m)
        return m

    # ---- admissibility -------------------------------------------------
    def check_admissibility(self, member: Hashable, eth_dst: int) -> Verdict:
        """OVS ``bond_check_admissibility``."""
        m = self._members.get(member)
        if m is None:
            return Verdict.DROP
        if self.lacp_status == "negotiated":
            return Verdict.ACCEPT if (m.enabled or m.may_enable) else Verdict.DROP
        if self.lacp_status == "configured" and not self.fallback_ab:
            return Verdict.DROP
        if self.lacp_status == "off" and self.mode == "balance-tcp":
            return Verdict.DROP
        if eth_dst >> 40 & 1 and self._active is not m and not self.all_members_active:
            return Verdict.DROP               # Multicast/broadcast only on the active member.
        if self.mode == "balance-slb":
            return Verdict.DROP_IF_MOVED
        if self.mode == "balance-tcp" and not self.fallback_ab:
            return Verdict.DROP
        return Verdict.ACCEPT if self._active is m else Verdict.DROP

    def should_receive(self, member: Hashable, flow: dict, now: float | None = None,
                       moved: bool = False) -> bool:
        """Admit a packet received on ``member``?  ``moved``: the MAC table has
        ``flow['dl_src']`` on a port other than this bond (and it is not an
        unlocked gratuitous ARP), which OVS checks for balance-slb."""
        v = self.check_admissibility(member, flow.get("dl_dst", 0))
        return v is Verdict.ACCEPT or (v is Verdict.DROP_IF_MOVED and not moved)

    # ---- load accounting and rebalancing ---------------------------------
    def account(self, flow: dict, n_bytes: int, vlan: int | None = None) -> None:
        if self.is_balanced() and self._hash is not None:
            self._hash[self.bucket(flow, vlan)].tx_bytes += n_bytes

    def bucket_member(self, bucket: int) -> Hashable | None:
        e = self._hash[bucket] if self._hash else None
        return e.member.handle if e and e.member else None

    def rebalance(self, now: float) -> list[tuple[int, Hashable, Hashable]]:
        """OVS ``bond_rebalance``: returns the moves ``(bucket, from, to)``."""
        moves = []
        if not self.is_balanced() or self._hash is None or now < self.next_rebalance:
            return moves
        self.next_rebalance = now + self.rebalance_interval / 1000
        entries: dict[_Member, list[_Entry]] = {m: [] for m in self._members.values()}
        for m in self._members.values():
            m.tx_bytes = 0
        for e in sorted(self._hash, key=lambda e: -e.tx_bytes):   # Stable, like qsort ties.
            if e.member is not None and e.tx_bytes:
                e.member.tx_bytes += e.tx_bytes
                entries[e.member].append(e)
        bals: list[_Member] = []
        for m in self._members.values():
            if m.enabled:
                self._insert_bal(bals, m)
        while len(bals) > 1:
            frm, to = bals[0], bals[-1]
            overload = frm.tx_bytes - to.tx_bytes
            if overload < to.tx_bytes >> 5 or overload < 100000:
                break
            chosen = self._choose_entries(frm, entries[frm], to.tx_bytes)
            if not chosen:
                bals.remove(frm)
                continue
            for e in chosen:
                idx = self._hash.index(e)
                frm.tx_bytes -= e.tx_bytes
                to.tx_bytes += e.tx_bytes
                e.member = to
                self.revalidate = True
                moves.append((idx, frm.handle, to.handle))
                entries[frm].remove(e)
                bals.remove(frm)
                self._insert_bal(bals, frm)
                bals.remove(to)
                self._insert_bal(bals, to)
        for e in self._hash:
            e.tx_bytes //= 2          # Exponentially weighted moving average.
        return moves

    @staticmethod
    def _insert_bal(bals: list, m: _Member) -> None:
        for i, pos in enumerate(bals):
            if m.tx_bytes > pos.tx_bytes:
                bals.insert(i, m)
                return
        bals.append(m)

    @staticmethod
    def _choose_entries(frm: _Member, entries: list, to_tx: int) -> list:
        if len(entries) <= 1:
            return []          # One hash only: moving it is pointless.
        ideal_delta = (frm.tx_bytes + to_tx) // 2 - to_tx
        threshold = ideal_delta // 10
        delta, chosen = 0, []
        for e in entries:
            if delta + e.tx_bytes <= ideal_delta:
                chosen.append(e)
                delta += e.tx_bytes
            if ideal_delta - delta < threshold:
                break
        if not chosen:
            chosen, delta = [entries[-1]], entries[-1].tx_bytes
        new_low = min(frm.tx_bytes - delta, to_tx + delta)
        return chosen if new_low > to_tx and new_low - to_tx >= threshold else []

    # ---- failover helpers ----------------------------------------------
    def _may_send_learning_packets(self) -> bool:
        return ((self.lacp_status == "off" and self.mode != "balance-tcp")
                or (self.fallback_ab and self.lacp_status == "configured")) \
            and self._active is not None

    def should_send_learning_packets(self) -> bool:
        """True once after a failover that needs RARPs (resets the flag)."""
        send = self.send_learning_packets and self._may_send_learning_packets()
        self.send_learning_packets = False
        return send

    def compose_learning_packet(self, eth_src: int, vlan: int = 0) -> tuple[Hashable, bytes]:
        """OVS ``bond_compose_learning_packet``: a RARP from ``eth_src`` and the
        member to send it on."""
        member = self.choose_output({"dl_src": eth_src}, None, vlan)
        src = eth_src.to_bytes(6, "big")
        frame = b"\xff" * 6 + src
        if vlan:
            frame += b"\x81\x00" + (vlan & VLAN_VID_MASK).to_bytes(2, "big")
        frame += b"\x80\x35" + bytes.fromhex("0001080006040003") + src + bytes(4) + src + bytes(4)
        return member, frame

    def gratuitous_learning_packets(self, macs: Iterable[tuple[int, int]]) -> list:
        """If a failover asks for it, RARPs for ``(mac, vlan)`` pairs learned
        on other ports of the bridge: ``[(member, frame), ...]``."""
        if not self.should_send_learning_packets():
            return []
        return [self.compose_learning_packet(mac, vlan) for mac, vlan in macs]

    # ---- ovs-appctl commands -------------------------------------------
    def set_active_member(self, name: str) -> str:
        """``bond/set-active-slave BOND MEMBER`` (note: a bond-primary that is
        enabled takes over again at the next ``run``, as in OVS)."""
        m = self._members[self.member_by_name(name)]
        if not m.enabled:
            raise BondError("cannot make disabled member active")
        if self._active is m:
            return "no change"
        self.revalidate = True
        self._active = m
        self.send_learning_packets = True
        self._active_changed()
        return "done"

    def enable_member(self, name: str) -> str:
        self._enable(self._members[self.member_by_name(name)], True)
        return "enabled"

    def disable_member(self, name: str) -> str:
        self._enable(self._members[self.member_by_name(name)], False)
        return "disabled"

    def migrate(self, bucket: int, name: str) -> str:
        """``bond/migrate BOND HASH MEMBER``."""
        if self.mode != "balance-slb":
            raise BondError("not an SLB bond")
        m = self._members[self.member_by_name(name)]
        if not m.enabled:
            raise BondError("cannot migrate to disabled member")
        self.revalidate = True
        self._hash[bucket & BOND_MASK].member = m
        return "migrated"

    # ---- renderings ----------------------------------------------------
    def show(self, now: float) -> str:
        """``ovs-appctl bond/show PORT`` for this bond."""
        out = [f"---- {self.name} ----", f"bond_mode: {self.mode}"]
        rec = self.may_recirc()
        out.append(f"bond may use recirculation: {'yes' if rec else 'no'}, "
                   f"Recirc-ID : {self.recirc_id if rec else -1}")
        out.append(f"bond-hash-basis: {self.basis}")
        out.append("lb_output action: disabled, bond-id: -1")
        if self.mode == "balance-slb":
            out.append(f"all members active: {'true' if self.all_members_active else 'false'}")
        out.append(f"updelay: {self.updelay} ms")
        out.append(f"downdelay: {self.downdelay} ms")
        if self.is_balanced():
            out.append(f"next rebalance: {_ms(self.next_rebalance - now)} ms")
        out.append(f"lacp_status: {self.lacp_status}")
        out.append(f"lacp_fallback_ab: {'true' if self.fallback_ab else 'false'}")
        found = any(m.is_primary for m in self._members.values())
        out.append(f"active-backup primary: {self.primary or '<none>'}"
                   + (" (no such member)" if self.primary and not found else ""))
        am = self._find_by_mac(self.active_member_mac)
        out.append(f"active member mac: {_mac_str(self.active_member_mac)}"
                   f"({am.name if am else 'none'})")
        for m in sorted(self._members.values(), key=lambda m: m.name):
            out += ["", f"member {m.name}: {'enabled' if m.enabled else 'disabled'}"]
            if m is self._active:
                out.append("  active member")
            if m.delay_expires != math.inf:
                out.append(f"  {'downdelay' if m.enabled else 'updelay'} expires in "
                           f"{_ms(m.delay_expires - now)} ms")
            out.append(f"  may_enable: {'true' if m.may_enable else 'false'}")
            if self.is_balanced() and self._hash:
                for i, e in enumerate(self._hash):
                    if e.member is m and e.tx_bytes // 1024:
                        out.append(f"  hash {i}: {e.tx_bytes // 1024} kB load")
        return "\n".join(out) + "\n\n"

    def list_line(self) -> str:
        names = ", ".join(m.name for m in self._members.values())
        return f"{self.name}\t{self.mode}\t{self.recirc_id}\t{names}\n"


def _ms(seconds: float) -> int:
    return int(math.floor(seconds * 1000 + 0.5))


def _select(bonds: Iterable[Bond], name: str | None) -> list[Bond]:
    bonds = list(bonds)
    if name is None:
        return bonds
    for b in bonds:
        if b.name == name:
            return [b]
    raise BondError("no such bond")


def show(bonds: Iterable[Bond], now: float, name: str | None = None) -> str:
    """``ovs-appctl bond/show [PORT]``; raises BondError("no such bond")."""
    return "".join(b.show(now) for b in _select(bonds, name))


def list_(bonds: Iterable[Bond]) -> str:
    """``ovs-appctl bond/list``."""
    return "bond\ttype\trecircID\tmembers\n" + "".join(b.list_line() for b in bonds)
