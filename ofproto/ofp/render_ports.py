"""Shared pieces of ofp-print text: ports, durations, hex dumps, packets.

Theory of operation
-------------------
Small formatters :mod:`.render_msgs` uses in many messages, each a
transcription of the Open vSwitch 3.1 function it names: port numbers
(``ofputil_format_port``), port descriptions (``ofp_print_phy_port``),
durations (``ofp_print_duration``), ``ds_put_hex_dump`` and the packet
summary of PACKET_IN/OUT (``ofp_packet_to_string``: the packet's flow as
:func:`datapath.odp.format_flow` prints it plus the layer-4 checksum).
Pure functions; the datapath modules are only read.
"""

from __future__ import annotations

import struct

from .render import mac, port_name

# ofputil port features in OVS's internal bit order (OF1.1+ wire order).
_FEATURES = ("10MB-HD", "10MB-FD", "100MB-HD", "100MB-FD", "1GB-HD", "1GB-FD", "10GB-FD",
             "40GB-FD", "100GB-FD", "1TB-FD", "OTHER", "COPPER", "FIBER", "AUTO_NEG",
             "AUTO_PAUSE", "AUTO_PAUSE_ASYM")
_CONFIG = ((1, "PORT_DOWN"), (2, "NO_STP"), (4, "NO_RECV"), (8, "NO_RECV_STP"),
           (16, "NO_FLOOD"), (32, "NO_FWD"), (64, "NO_PACKET_IN"))
_STATE = ((1, "LINK_DOWN"), (2, "BLOCKED"), (4, "LIVE"))
_STP = {0x100: "STP_LEARN", 0x200: "STP_FORWARD", 0x300: "STP_BLOCK"}
# features bit -> kbps, highest first (netdev_features_to_bps).
_SPEEDS = ((9, 1000000000), (8, 100000000), (7, 40000000), (6, 10000000), (5, 1000000),
           (4, 1000000), (3, 100000), (2, 100000), (1, 10000), (0, 10000))


def format_port(p: int) -> str:
    """ofputil_format_port (OF1.1+ reserved ports mapped to OF1.0's)."""
    return port_name(p)


def format_duration(sec: int, nsec: int) -> str:
    """ofp_print_duration: 3 decimals when exact milliseconds, else 9."""
    out = str(sec)
    if nsec > 0:
        out += f".{nsec // 1000000:03d}"
        if nsec % 1000000:
            out += f"{nsec % 1000000:06d}"
    return out + "s"


def _bits(v: int, names) -> str:
    out = [n for b, n in names if v & b]
    rest = v & ~sum(b for b, _ in names)
    if rest:
        out.append(f"{rest:#x}")
    return " ".join(out) or "0"


def _features(v: int, version: int) -> int:
    """Wire port features -> OVS's internal bits (OF1.0 moves media bits)."""
    return (v & 0x7F) | ((v & 0xF80) << 4) if version == 1 else v


def format_port_features(v: int, version: int) -> str:
    return _bits(_features(v, version), tuple((1 << i, n) for i, n in enumerate(_FEATURES))) + "\n"


def format_port_config(v: int, version: int) -> str:
    return _bits(v, _CONFIG) + "\n"


def format_port_state(v: int, version: int) -> str:
    if version == 1 and v & 0x300:
        rest = v & ~0x300
        # OVS prints no separator after the STP state ("STP_FORWARDLINK_DOWN").
        return _STP[v & 0x300] + (_bits(rest, _STATE) if rest else "") + "\n"
    return _bits(v, _STATE) + "\n"


def _speed(features: int) -> int:
    for bit, kbps in _SPEEDS:
        if features >> bit & 1:
            return kbps
    return 0


def format_phy_port(p, version: int) -> str:
    """ofp_print_phy_port (leading space, one line per attribute)."""
    name = p.name.split(b"\0", 1)[0][:15]
    cut = next((i for i, b in enumerate(name) if not 32 <= b < 127), len(name))
    out = f" {format_port(p.port_no)}({name[:cut].decode('ascii')}): addr:"
    out += mac(int.from_bytes(p.hw_addr, "big")) + "\n"
    out += "     config:     " + format_port_config(p.config, version)
    out += "     state:      " + format_port_state(p.state, version)
    for label, v in (("current:    ", p.curr), ("advertised: ", p.advertised),
                     ("supported:  ", p.supported), ("peer:       ", p.peer)):
        if v:
            out += f"     {label}" + format_port_features(v, version)
    if version == 1:
        cur, mx = _speed(_features(p.curr, 1)), _speed(_features(p.supported, 1))
    else:
        cur, mx = p.curr_speed, p.max_speed
    return out + f"     speed: {cur // 1000} Mbps now, {mx // 1000} Mbps max\n"


def port_list(ports, version: int) -> str:
    """ofputil_phy_ports_format: sorted by (16-bit) port number."""
    def key(p):
        n = p.port_no
        return n - 0xFFFF0000 if n >= 0xFFFFFF00 else n
    return "".join(format_phy_port(p, version) for p in sorted(ports, key=key))


def hex_dump(data: bytes, ofs: int = 0) -> str:
    """ds_put_hex_dump with ASCII column, 16 bytes a line."""
    out = []
    for start in range(0, len(data), 16):
        chunk = data[start:start + 16]
        hexes = "".join(f"{b:02x}{'-' if i == 7 else ' '}" for i, b in enumerate(chunk))
        hexes += "   " * (16 - len(chunk))
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk).ljust(16)
        out.append(f"{ofs + start:08x}  {hexes}|{text}|\n")
    return "".join(out)


def _l4_offset(data: bytes):
    """Offset of layer 4 in an Ethernet frame (None when there is none)."""
    off = 12
    if len(data) < 14:
        return None
    et = struct.unpack_from("!H", data, off)[0]
    while et in (0x8100, 0x88A8) and len(data) >= off + 6:
        off += 4
        et = struct.unpack_from("!H", data, off)[0]
    off += 2
    if et == 0x0800 and len(data) >= off + 20:
        ihl = (data[off] & 15) * 4
        if struct.unpack_from("!H", data, off + 6)[0] & 0x1FFF:
            return None
        return off + ihl
    if et == 0x86DD and len(data) >= off + 40:
        return off + 40
    return None


_CSUM = {6: (" tcp_csum:", 20, 16, "!H"), 17: (" udp_csum:", 8, 6, "!H"),
         132: (" sctp_csum:", 12, 8, "!I"), 1: (" icmp_csum:", 8, 2, "!H"),
         58: (" icmp6_csum:", 4, 2, "!H")}


def packet_to_string(data: bytes) -> str:
    """ofp_packet_to_string for an Ethernet frame."""
    from datapath.flow import extract
    from datapath.odp import format_flow
    flow = extract(bytes(data))
    out = format_flow(flow)
    proto = flow.get("nw_proto") if flow.get("dl_type") in (0x0800, 0x86DD) else None
    l4 = _l4_offset(data) if proto in _CSUM else None
    if l4 is not None:
        label, hlen, cofs, fmt = _CSUM[proto]
        if len(data) - l4 >= hlen:
            out += label + f"{struct.unpack_from(fmt, data, l4 + cofs)[0]:x}"
    return out + "\n"
