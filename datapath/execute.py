"""Apply a list of datapath actions to one packet (sans-I/O).

Theory of operation
-------------------
Actions are the tuples of ``datapath/odp.py``: ``("output", port)``,
``("push_vlan", tpid, tci)``, ``("pop_vlan",)``, ``("set", {member: v})``,
``("set_masked", {member: (v, mask)})``, ``("userspace", {...})``,
``("recirc", id)``, ``("clone", actions)``, ``("sample", p, actions)``,
``("trunc", n)``; an empty action list drops.

:func:`execute` works on a private ``bytearray``; every output snapshots the
packet as it is at that point (later rewrites don't leak into earlier
outputs).  Results are collected, never sent: ``outputs`` as
``(port, bytes)``, ``upcalls`` as ``(bytes, userdata)`` for ``userspace``
actions, ``recircs`` as ``(recirc_id, bytes)`` for the datapath to look up
again.

Header rewrites locate headers by parsing the current bytes (VLAN tags,
IPv4 IHL, IPv6 extension headers), so they stay right after push/pop VLAN.
Every rewrite keeps checksums valid incrementally (RFC 1624): IPv4 header
checksum for tos/ttl/addresses; the TCP/UDP pseudo-header checksum for
IPv4/IPv6 addresses; TCP/UDP/ICMP/ICMPv6 checksums for ports, ICMP
type/code and ND target.  A UDP checksum of 0 ("none", IPv4) stays 0; a
computed 0 is sent as 0xFFFF.  Non-first fragments have no L4 header, so
only the IP header changes.  SCTP port rewrites recompute the CRC32c.

Robustness: a set on a field the packet lacks (or whose bytes are cut
short) is ignored, as OVS does; unknown actions are ignored; no input makes
this module raise.
"""

from __future__ import annotations

import random

__all__ = ["execute", "run", "Executed", "MAX_CLONE_DEPTH"]

MAX_CLONE_DEPTH = 16        # nested clone/sample depth we follow
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
_UINT32 = 0xFFFFFFFF


class Executed:
    __slots__ = ("outputs", "upcalls", "recircs")

    def __init__(self):
        self.outputs: list[tuple[int, bytes]] = []
        self.upcalls: list[tuple[bytes, dict]] = []
        self.recircs: list[tuple[int, bytes]] = []

    def __repr__(self):
        return (f"Executed(outputs={self.outputs!r}, upcalls={self.upcalls!r}, "
                f"recircs={self.recircs!r})")


def execute(packet, actions, rng=random.random) -> Executed:
    """Apply ``actions`` to ``packet`` (bytes); return what came out."""
    res = Executed()
    run(packet, actions, res, rng)
    return res


def run(packet, actions, res: Executed, rng=random.random, depth: int = 0) -> None:
    """Like :func:`execute`, appending into an existing :class:`Executed`."""
    buf = bytearray(packet)
    cut = None
    for act in actions:
        try:
            name = act[0]
            if name == "output":
                if cut is not None and cut < len(buf):
                    res.outputs.append((act[1], bytes(buf[:cut])))
                else:
                    res.outputs.append((act[1], bytes(buf)))
                cut = None
                continue
            if name == "trunc":
                cut = max(int(act[1]), 0)
                continue
            if name == "clone":
                if depth < MAX_CLONE_DEPTH:
                    run(buf, act[1], res, rng, depth + 1)
                continue
            if name == "sample":
                if depth < MAX_CLONE_DEPTH and _sample_hit(act[1], rng):
                    run(buf, act[2], res, rng, depth + 1)
                continue
            h = _HANDLERS.get(name)
            if h is not None:
                h(buf, act, res)
        except (IndexError, ValueError, TypeError, KeyError, AttributeError,
                OverflowError):
            continue        # odd packet or odd action: ignore this action


def _sample_hit(p, rng) -> bool:
    """``p`` is OVS's uint32 fraction (as odp.py), or a float in [0, 1]."""
    prob = p if isinstance(p, float) else p / _UINT32
    if prob >= 1.0:
        return True
    if prob <= 0.0:
        return False
    return rng() < prob


# -- VLAN ------------------------------------------------------------------------
def _push_vlan(buf, act, res):
    tpid, tci = act[1], act[2]
    if len(buf) < 12:
        return
    # 0x1000 is the flow key's "tag present" bit, not the wire CFI/DEI bit:
    # like Open vSwitch, never put it on the wire.
    buf[12:12] = (((tpid & 0xFFFF) << 16) | (tci & 0xEFFF)).to_bytes(4, "big")


def _pop_vlan(buf, act, res):
    if len(buf) >= 18 and ((buf[12] << 8) | buf[13]) in _VLAN_TPIDS:
        del buf[12:16]


def _userspace(buf, act, res):
    res.upcalls.append((bytes(buf), act[1] if len(act) > 1 else {}))


def _recirc(buf, act, res):
    res.recircs.append((act[1], bytes(buf)))


# -- header layout ------------------------------------------------------------------
class _L:
    """Where the headers of the current bytes are (None when absent)."""
    __slots__ = ("eth_type", "l3", "l4", "proto")

    def __init__(self, buf):
        n = len(buf)
        self.l3 = self.l4 = self.proto = None
        self.eth_type = None
        if n < 14:
            return
        off = 12
        et = (buf[12] << 8) | buf[13]
        while et in _VLAN_TPIDS and n >= off + 8:
            off += 4
            et = (buf[off] << 8) | buf[off + 1]
        if et < 0x600:
            return
        self.eth_type = et
        l3 = off + 2
        self.l3 = l3
        if et == 0x0800:
            if n < l3 + 20 or buf[l3] >> 4 != 4:
                self.l3 = None
                return
            ihl = (buf[l3] & 0xF) * 4
            if ihl < 20 or n < l3 + ihl:
                self.l3 = None
                return
            self.proto = buf[l3 + 9]
            if ((buf[l3 + 6] & 0x1F) << 8) | buf[l3 + 7] == 0:
                self.l4 = l3 + ihl
        elif et == 0x86DD:
            if n < l3 + 40 or buf[l3] >> 4 != 6:
                self.l3 = None
                return
            nh = buf[l3 + 6]
            p = l3 + 40
            for _ in range(16):
                if nh in (0, 43, 60):
                    if n < p + 8:
                        return
                    nh, p = buf[p], p + (buf[p + 1] + 1) * 8
                elif nh == 51:
                    if n < p + 8:
                        return
                    nh, p = buf[p], p + (buf[p + 1] + 2) * 4
                elif nh == 44:
                    if n < p + 8:
                        return
                    if ((buf[p + 2] << 8) | buf[p + 3]) & 0xFFF8:
                        self.proto = buf[p]
                        return          # non-first fragment: no L4 header
                    nh, p = buf[p], p + 8
                else:
                    break
            self.proto = nh
            if p <= n:
                self.l4 = p
        elif et != 0x0806:
            pass


# -- checksums ---------------------------------------------------------------------
def _csum_adjust(buf, coff, old: bytes, new: bytes, udp: bool = False) -> None:
    """Incrementally fix the checksum at ``coff`` for old -> new words.

    ``old``/``new`` are 16-bit aligned (even length, even offsets)."""
    if coff + 2 > len(buf):
        return
    hc = (buf[coff] << 8) | buf[coff + 1]
    if udp and hc == 0:
        return
    s = ~hc & 0xFFFF
    for i in range(0, len(old), 2):
        s += (~((old[i] << 8) | old[i + 1]) & 0xFFFF) + ((new[i] << 8) | new[i + 1])
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    c = ~s & 0xFFFF
    if udp and c == 0:
        c = 0xFFFF
    buf[coff] = c >> 8
    buf[coff + 1] = c & 0xFF


def _l4_csum_off(lay, pseudo: bool):
    """(checksum offset, is_udp) of the L4 header, or None."""
    l4, p = lay.l4, lay.proto
    if l4 is None:
        return None
    if p == 6:
        return l4 + 16, False
    if p == 17 or p == 136:
        return l4 + 6, True
    if p == 58:
        return l4 + 2, False
    if p == 1 and not pseudo:
        return l4 + 2, False
    return None


def _icmp4_full(buf, lay):
    """Recompute an ICMPv4 checksum from scratch (incremental updates can
    yield 0x0000 where the sum of an all-zero message needs 0xFFFF)."""
    l3, l4 = lay.l3, lay.l4
    end = min(len(buf), l3 + ((buf[l3 + 2] << 8) | buf[l3 + 3]))
    if end < l4 + 4:
        return
    buf[l4 + 2] = buf[l4 + 3] = 0
    data = bytes(buf[l4:end])
    if len(data) & 1:
        data += b"\0"
    s = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    c = ~s & 0xFFFF
    buf[l4 + 2] = c >> 8
    buf[l4 + 3] = c & 0xFF


_CRC32C = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C.append(_c)


def _sctp_fix(buf, lay):
    l4 = lay.l4
    if l4 is None or len(buf) < l4 + 12:
        return
    buf[l4 + 8:l4 + 12] = b"\0\0\0\0"
    c = 0xFFFFFFFF
    tbl = _CRC32C
    for b in buf[l4:]:
        c = tbl[(c ^ b) & 0xFF] ^ (c >> 8)
    c ^= 0xFFFFFFFF
    buf[l4 + 8:l4 + 12] = c.to_bytes(4, "little")


# -- field locations -------------------------------------------------------------------
# Each locator returns (offset, nbytes, shift, fmask, fix) or None; ``fix``
# tells which checksums cover the bytes: "ip" (IPv4 header), "ip+l4"
# (IPv4 header + pseudo header), "l4" (pseudo header or L4 header), "l4hdr"
# (L4 header only, incl. ICMPv4), "sctp" (CRC32c), None.
def _loc_dl_dst(buf, lay):
    return (0, 6, 0, (1 << 48) - 1, None) if len(buf) >= 6 else None


def _loc_dl_src(buf, lay):
    return (6, 6, 0, (1 << 48) - 1, None) if len(buf) >= 12 else None


def _loc_vlan_tci(buf, lay):
    if len(buf) >= 18 and ((buf[12] << 8) | buf[13]) in _VLAN_TPIDS:
        return (14, 2, 0, 0xEFFF, None)      # never the "tag present" bit (see _push_vlan)
    return None


def _ip4(off, n, shift, fmask, fix):
    def loc(buf, lay):
        if lay.l3 is None or lay.eth_type != 0x0800:
            return None
        return (lay.l3 + off, n, shift, fmask, fix)
    return loc


def _ip6(off, n, shift, fmask, fix):
    def loc(buf, lay):
        if lay.l3 is None or lay.eth_type != 0x86DD:
            return None
        return (lay.l3 + off, n, shift, fmask, fix)
    return loc


def _arp(off, n):
    def loc(buf, lay):
        l3 = lay.l3
        if l3 is None or lay.eth_type != 0x0806 or len(buf) < l3 + 28:
            return None
        return (l3 + off, n, 0, (1 << (8 * n)) - 1, None)
    return loc


def _either(*locs):
    def loc(buf, lay):
        for f in locs:
            r = f(buf, lay)
            if r is not None:
                return r
        return None
    return loc


def _l4port(which):
    def loc(buf, lay):
        l4, p = lay.l4, lay.proto
        if l4 is None:
            return None
        if p in (6, 17, 132, 136):
            fix = "sctp" if p == 132 else "l4hdr"
            return (l4 + 2 * which, 2, 0, 0xFFFF, fix)
        if p in (1, 58):              # ICMP type (tp_src) / code (tp_dst)
            return (l4 + which, 1, 0, 0xFF, "l4hdr")
        return None
    return loc


def _loc_nd_target(buf, lay):
    l4 = lay.l4
    if l4 is None or lay.proto != 58 or len(buf) < l4 + 24 or buf[l4] not in (135, 136):
        return None
    return (l4 + 8, 16, 0, (1 << 128) - 1, "l4hdr")


def _loc_nd_ll(opt_type):
    def loc(buf, lay):
        l4 = lay.l4
        if l4 is None or lay.proto != 58 or buf[l4] not in (135, 136):
            return None
        p, n = l4 + 24, len(buf)
        while p + 8 <= n:
            t, ln = buf[p], buf[p + 1] * 8
            if ln == 0:
                return None
            if t == opt_type and ln == 8:
                return (p + 2, 6, 0, (1 << 48) - 1, "l4hdr")
            p += ln
        return None
    return loc


_LOCATORS = {
    "dl_dst": _loc_dl_dst,
    "dl_src": _loc_dl_src,
    "vlan_tci": _loc_vlan_tci,
    "nw_src": _either(_ip4(12, 4, 0, _UINT32, "ip+l4"), _arp(14, 4)),
    "nw_dst": _either(_ip4(16, 4, 0, _UINT32, "ip+l4"), _arp(24, 4)),
    "nw_tos": _either(_ip4(1, 1, 0, 0xFF, "ip"), _ip6(0, 2, 4, 0xFF, None)),
    "nw_ttl": _either(_ip4(8, 1, 0, 0xFF, "ip"), _ip6(7, 1, 0, 0xFF, None)),
    "nw_proto": _arp(6, 2),                     # ARP opcode
    "ipv6_src": _ip6(8, 16, 0, (1 << 128) - 1, "l4"),
    "ipv6_dst": _ip6(24, 16, 0, (1 << 128) - 1, "l4"),
    "ipv6_label": _ip6(0, 4, 0, 0xFFFFF, None),
    "tp_src": _l4port(0),
    "tp_dst": _l4port(1),
    "arp_sha": _either(_arp(8, 6), _loc_nd_ll(1)),
    "arp_tha": _either(_arp(18, 6), _loc_nd_ll(2)),
    "nd_target": _loc_nd_target,
}


def _set_field(buf, lay, member, value, vmask) -> bool:
    """Write ``value`` under ``vmask`` into ``member``; False if absent."""
    loc = _LOCATORS.get(member)
    if loc is None:
        return False
    r = loc(buf, lay)
    if r is None:
        return False
    off, n, shift, fmask, fix = r
    if off + n > len(buf):
        return False
    vmask &= fmask
    old_word = int.from_bytes(buf[off:off + n], "big")
    new_word = (old_word & ~(vmask << shift)) | ((value & vmask) << shift)
    if new_word == old_word:
        return True
    # 16-bit aligned span for checksum arithmetic (l3/l4 offsets are even)
    a = off & ~1
    b = (off + n + 1) & ~1
    if b > len(buf):
        old = bytes(buf[a:off + n]) + b"\0"
    else:
        old = bytes(buf[a:b])
    buf[off:off + n] = new_word.to_bytes(n, "big")
    new = bytes(buf[a:b]) if b <= len(buf) else bytes(buf[a:off + n]) + b"\0"
    if fix is None:
        return True
    if fix == "ip" or fix == "ip+l4":
        _csum_adjust(buf, lay.l3 + 10, old, new)
    if fix == "ip+l4" or fix == "l4":
        c = _l4_csum_off(lay, pseudo=True)
        if c is not None:
            _csum_adjust(buf, c[0], old, new, c[1])
    elif fix == "l4hdr":
        c = _l4_csum_off(lay, pseudo=False)
        if c is not None:
            _csum_adjust(buf, c[0], old, new, c[1])
            if lay.proto == 1 and buf[c[0]] == 0 == buf[c[0] + 1]:
                _icmp4_full(buf, lay)   # +0 vs -0: only a full sum can tell
    elif fix == "sctp":
        _sctp_fix(buf, lay)
    return True


def _set(buf, act, res):
    lay = _L(buf)
    for member, value in act[1].items():
        try:
            _set_field(buf, lay, member, int(value), -1)
        except (IndexError, ValueError, TypeError, OverflowError):
            continue


def _set_masked(buf, act, res):
    lay = _L(buf)
    for member, vm in act[1].items():
        try:
            value, vmask = vm
            _set_field(buf, lay, member, int(value), int(vmask))
        except (IndexError, ValueError, TypeError, OverflowError):
            continue


_HANDLERS = {
    "push_vlan": _push_vlan,
    "pop_vlan": _pop_vlan,
    "set": _set,
    "set_masked": _set_masked,
    "userspace": _userspace,
    "recirc": _recirc,
}
