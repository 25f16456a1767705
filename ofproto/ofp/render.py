"""Render matches, actions and flow mods in ovs-ofctl's own syntax.

Theory of operation
-------------------
Rendering works on the version-independent forms: a :class:`FlowMatch`
(see ``match_format`` in OVS's lib/match.c for the field order and the
protocol shorthands reproduced here) and the decoded action/instruction
dataclasses.  Action formatting is a table ``class -> function``; any
action without an entry renders as its class name and fields, which is
readable but will not compare equal with ovs-ofctl (tests only use
covered actions).
"""

from __future__ import annotations

import ipaddress

from . import actions as A
from . import instructions as I
from .fields import FIELDS_BY_KEY
from .match import FlowMatch, Match10, OxmMatch

OFP_DEFAULT_PRIORITY = 0x8000
_PORT_NAMES = {0xFFF8: "IN_PORT", 0xFFF9: "TABLE", 0xFFFA: "NORMAL", 0xFFFB: "FLOOD",
               0xFFFC: "ALL", 0xFFFD: "CONTROLLER", 0xFFFE: "LOCAL", 0xFFFF: "ANY"}


def port_name(p: int) -> str:
    """OF1.0-style port (OF1.1 reserved ports are mapped down first)."""
    if p >= 0xFFFFFF00:
        p -= 0xFFFF0000
    return _PORT_NAMES.get(p, str(p))


def mac(v: int) -> str:
    return ":".join(f"{b:02x}" for b in v.to_bytes(6, "big"))


def ip4(v: int) -> str:
    return str(ipaddress.IPv4Address(v))


def ip6(v: int) -> str:
    return str(ipaddress.IPv6Address(v))


def _ip_masked(name, v, m):
    if m == 0xFFFFFFFF:
        return f"{name}={ip4(v)}"
    n = 32 - ((~m) & 0xFFFFFFFF).bit_length()
    if ((0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF) == m:
        return f"{name}={ip4(v)}/{n}"
    return f"{name}={ip4(v)}/{ip4(m)}"


def _ip6_masked(name, v, m):
    full = (1 << 128) - 1
    if m == full:
        return f"{name}={ip6(v)}"
    n = 128 - ((~m) & full).bit_length()
    if ((full << (128 - n)) & full) == m:
        return f"{name}={ip6(v)}/{n}"
    return f"{name}={ip6(v)}/{ip6(m)}"


def _hex_masked(name, v, m, full):
    return f"{name}={v:#x}" if m == full else f"{name}={v:#x}/{m:#x}"


def _eth_masked(name, v, m):
    return f"{name}={mac(v)}" if m == (1 << 48) - 1 else f"{name}={mac(v)}/{mac(m)}"


_SHORT = {(0x0800, 1): "icmp", (0x0800, 6): "tcp", (0x0800, 17): "udp", (0x0800, 132): "sctp",
          (0x86DD, 58): "icmp6", (0x86DD, 6): "tcp6", (0x86DD, 17): "udp6",
          (0x86DD, 132): "sctp6"}
_TYPE_SHORT = {0x0800: "ip", 0x86DD: "ipv6", 0x0806: "arp", 0x8035: "rarp", 0x8847: "mpls",
               0x8848: "mplsm"}


CT_STATE_FLAGS = ((1, "new"), (2, "est"), (4, "rel"), (8, "rpl"), (16, "inv"), (32, "trk"),
                  (64, "snat"), (128, "dnat"))
TCP_FLAGS = ((1, "fin"), (2, "syn"), (4, "rst"), (8, "psh"), (16, "ack"), (32, "urg"),
             (64, "ece"), (128, "cwr"), (256, "ns"))


def format_flags(v: int, m: int, names, full: int) -> str:
    """ovs-ofctl's flag syntax: ``est|trk`` when exact, else ``-new+trk``
    (bit order, each masked bit with its sign)."""
    known = sum(b for b, _ in names)
    if m == full:
        if v & ~known:
            return f"{v:#x}"
        return "|".join(n for b, n in names if v & b) or "0"
    if m & ~known:
        return f"{v:#x}/{m:#x}"
    return "".join(("+" if v & b else "-") + n for b, n in names if m & b)


def format_match(match, priority: int = OFP_DEFAULT_PRIORITY) -> str:
    """``match`` may be a FlowMatch, Match10 or OxmMatch."""
    fm = match if isinstance(match, FlowMatch) else (match.to_flow() if match else FlowMatch())
    out = []
    if priority != OFP_DEFAULT_PRIORITY:
        out.append(f"priority={priority}")
    g = fm.get
    for k in ("pkt_mark", "recirc_id", "dp_hash"):
        if k in fm:
            out.append(_hex_masked(k, *fm[k], 0xFFFFFFFF))
    if "conj_id" in fm:
        out.append(f"conj_id={fm['conj_id'][0]}")
    if "ct_state" in fm:
        out.append("ct_state=" + format_flags(*fm["ct_state"], CT_STATE_FLAGS, 0xFFFFFFFF))
    if "ct_zone" in fm:
        out.append(f"ct_zone={fm['ct_zone'][0]}")
    if "ct_mark" in fm:
        out.append(_hex_masked("ct_mark", *fm["ct_mark"], 0xFFFFFFFF))
    dl_type = fm.value("dl_type")
    proto = fm.value("nw_proto")
    skip_type = skip_proto = False
    if dl_type is not None:
        skip_type = True
        if dl_type in (0x0800, 0x86DD) and proto is not None and (dl_type, proto) in _SHORT:
            out.append(_SHORT[(dl_type, proto)])
            skip_proto = True
        elif dl_type in _TYPE_SHORT:
            out.append(_TYPE_SHORT[dl_type])
        else:
            skip_type = False
    for i in range(16):
        if f"reg{i}" in fm:
            out.append(_hex_masked(f"reg{i}", *fm[f"reg{i}"], 0xFFFFFFFF))
    if "tun_id" in fm:
        out.append(_hex_masked("tun_id", *fm["tun_id"], (1 << 64) - 1))
    for k in ("tun_src", "tun_dst"):
        if k in fm:
            out.append(_ip_masked(k, *fm[k]))
    if "metadata" in fm:
        out.append(_hex_masked("metadata", *fm["metadata"], (1 << 64) - 1))
    if "in_port" in fm:
        out.append(f"in_port={port_name(fm['in_port'][0])}")
    if "vlan_tci" in fm:
        v, m = fm["vlan_tci"]
        if (m & 0x1000 and v & 0x1000 and m & 0x0FFF in (0, 0xFFF) and m & 0xE000 in (0, 0xE000)
                and m & 0xEFFF):
            if m & 0xFFF:
                out.append(f"dl_vlan={v & 0xFFF}")
            if m & 0xE000:
                out.append(f"dl_vlan_pcp={v >> 13}")
        elif m == 0xFFFF:
            out.append(f"vlan_tci={v:#06x}")
        else:
            out.append(f"vlan_tci={v:#06x}/{m:#06x}")
    for k in ("dl_src", "dl_dst"):
        if k in fm:
            out.append(_eth_masked(k, *fm[k]))
    if not skip_type and dl_type is not None:
        out.append(f"dl_type={dl_type:#06x}")
    arp = dl_type in (0x0806, 0x8035)
    if dl_type == 0x86DD:
        for k in ("ipv6_src", "ipv6_dst"):
            if k in fm:
                out.append(_ip6_masked(k, *fm[k]))
        if "ipv6_label" in fm:
            v, m = fm["ipv6_label"]
            out.append(f"ipv6_label={v:#07x}" if m == 0xFFFFFFFF else
                       f"ipv6_label={v:#07x}/{m:#07x}")
    else:
        for k in ("nw_src", "nw_dst"):
            if k in fm:
                out.append(_ip_masked({"nw_src": "arp_spa", "nw_dst": "arp_tpa"}[k] if arp else k,
                                      *fm[k]))
    if not skip_proto and "nw_proto" in fm:
        out.append(f"{'arp_op' if arp else 'nw_proto'}={fm['nw_proto'][0]}")
    if arp:
        for k in ("arp_sha", "arp_tha"):
            if k in fm:
                out.append(_eth_masked(k, *fm[k]))
    if "nw_tos" in fm:
        v, m = fm["nw_tos"]
        if m & 0xFC:
            out.append(f"nw_tos={v & 0xFC}")
        if m & 3:
            out.append(f"nw_ecn={v & 3}")
    if "nw_ttl" in fm:
        out.append(f"nw_ttl={fm['nw_ttl'][0]}")
    icmp = proto in (1, 58) and dl_type in (0x0800, 0x86DD)
    for k, ik in (("tp_src", "icmp_type"), ("tp_dst", "icmp_code")):
        if k in fm:
            v, m = fm[k]
            name = ik if icmp else k
            out.append(f"{name}={v}" if m == 0xFFFF or icmp else f"{name}={v:#x}/{m:#x}")
    if "tcp_flags" in fm:
        out.append("tcp_flags=" + format_flags(*fm["tcp_flags"], TCP_FLAGS, 0xFFF))
    return ",".join(out)


# ---------------------------------------------------------------- actions
def _nxm_name(header: int) -> str:
    f = FIELDS_BY_KEY.get((header >> 16, (header >> 9) & 0x7F, None))
    return f.wire_name if f else f"NXM_{header:#x}"


# Fields narrower than their wire bytes (OVS meta-flow ``n_bits``): a whole-field
# subfield ``NXM_NX_IP_ECN[]`` is 2 bits, not 8.
FIELD_BITS = {"nw_ecn": 2, "ip_dscp": 6, "vlan_pcp": 3, "mpls_tc": 3, "mpls_bos": 1,
              "mpls_label": 20, "ipv6_label": 20, "tcp_flags": 12}


def field_bits(f) -> int:
    return FIELD_BITS.get(f.name, f.nbytes * 8)


def _subfield(header: int, ofs: int, nbits: int) -> str:
    f = FIELDS_BY_KEY.get((header >> 16, (header >> 9) & 0x7F, None))
    name = f.wire_name if f else f"{header:#x}"
    width = field_bits(f) if f else None
    if ofs == 0 and nbits == width:
        return f"{name}[]"
    if nbits == 1:
        return f"{name}[{ofs}]"
    return f"{name}[{ofs}..{ofs + nbits - 1}]"


_DEC_FIELDS = {"vlan_vid", "vlan_pcp", "tcp_src", "tcp_dst", "udp_src", "udp_dst", "sctp_src",
               "sctp_dst", "icmp_type", "icmp_code", "icmpv6_type", "icmpv6_code",
               "nw_ttl", "ip_dscp", "nw_ecn", "nw_tos", "mpls_label", "mpls_tc", "mpls_bos",
               "mpls_ttl", "arp_op", "nw_proto", "ct_zone"}


def format_field_value(field, v) -> str:
    n = field.name
    if n in ("eth_src", "eth_dst", "arp_sha", "arp_tha", "nd_sll", "nd_tll"):
        return mac(v)
    if n in ("ip_src", "ip_dst", "arp_spa", "arp_tpa", "tun_src", "tun_dst"):
        return ip4(v)
    if field.nbytes == 16 and n.startswith(("ipv6", "nd_target", "tun_ipv6", "ct_ipv6")):
        return ip6(v)
    if n == "in_port" or n == "in_port_oxm":
        return port_name(v)
    if n == "eth_type":
        return f"{v:#06x}"
    return str(v) if n in _DEC_FIELDS else f"{v:#x}"


def _output(a):
    p = a.port - 0xFFFF0000 if a.port >= 0xFFFFFF00 else a.port
    if p == 0xFFFD:
        return f"CONTROLLER:{a.max_len}"
    return _PORT_NAMES[p] if p in _PORT_NAMES else f"output:{p}"


def _resubmit(a):
    port = "" if a.in_port == 0xFFF8 else port_name(a.in_port)
    if a.table == 255:
        return f"resubmit:{port}"
    return f"resubmit({port},{a.table})"


def _set_field(a):
    t = a.tlv
    if t.mask is not None:
        return (f"set_field:{format_field_value(t.field, t.value)}/"
                f"{format_field_value(t.field, t.mask)}->{t.field.name}")
    return f"set_field:{format_field_value(t.field, t.value)}->{t.field.name}"


def _reg_load(a):
    ofs, nbits = a.ofs_nbits >> 6, (a.ofs_nbits & 0x3F) + 1
    return f"load:{a.value:#x}->{_subfield(a.dst, ofs, nbits)}"


_FMT = {
    A.Output10: _output, A.Output: _output,
    A.SetVlanVid: lambda a: f"mod_vlan_vid:{a.vlan_vid}",
    A.SetVlanPcp: lambda a: f"mod_vlan_pcp:{a.vlan_pcp}",
    A.StripVlan: lambda a: "strip_vlan",
    A.SetDlSrc10: lambda a: f"mod_dl_src:{mac(int.from_bytes(a.dl_addr, 'big'))}",
    A.SetDlDst10: lambda a: f"mod_dl_dst:{mac(int.from_bytes(a.dl_addr, 'big'))}",
    A.SetDlSrc: lambda a: f"mod_dl_src:{mac(int.from_bytes(a.dl_addr, 'big'))}",
    A.SetDlDst: lambda a: f"mod_dl_dst:{mac(int.from_bytes(a.dl_addr, 'big'))}",
    A.SetNwSrc10: lambda a: f"mod_nw_src:{ip4(a.nw_addr)}",
    A.SetNwDst10: lambda a: f"mod_nw_dst:{ip4(a.nw_addr)}",
    A.SetNwSrc: lambda a: f"mod_nw_src:{ip4(a.nw_addr)}",
    A.SetNwDst: lambda a: f"mod_nw_dst:{ip4(a.nw_addr)}",
    A.SetNwTos10: lambda a: f"mod_nw_tos:{a.nw_tos}",
    A.SetNwTos: lambda a: f"mod_nw_tos:{a.nw_tos}",
    A.SetTpSrc10: lambda a: f"mod_tp_src:{a.tp_port}",
    A.SetTpDst10: lambda a: f"mod_tp_dst:{a.tp_port}",
    A.SetTpSrc: lambda a: f"mod_tp_src:{a.tp_port}",
    A.SetTpDst: lambda a: f"mod_tp_dst:{a.tp_port}",
    A.Enqueue: lambda a: f"enqueue:{port_name(a.port)}:{a.queue_id}",
    A.PushVlan: lambda a: f"push_vlan:{a.ethertype:#06x}",
    A.PopVlan: lambda a: "pop_vlan",
    A.PushMpls: lambda a: f"push_mpls:{a.ethertype:#06x}",
    A.PopMpls: lambda a: f"pop_mpls:{a.ethertype:#06x}",
    A.NxPushMpls: lambda a: f"push_mpls:{a.ethertype:#06x}",
    A.NxPopMpls: lambda a: f"pop_mpls:{a.ethertype:#06x}",
    A.SetQueue: lambda a: f"set_queue:{a.queue_id}",
    A.NxSetQueue: lambda a: f"set_queue:{a.queue_id}",
    A.NxPopQueue: lambda a: "pop_queue",
    A.Group: lambda a: f"group:{a.group_id}",
    A.NxGroup: lambda a: f"group:{a.group_id}",
    A.SetNwTtl: lambda a: f"mod_nw_ttl:{a.nw_ttl}",
    A.DecNwTtl: lambda a: "dec_ttl",
    A.NxDecTtl: lambda a: "dec_ttl",
    A.SetMplsTtl: lambda a: f"set_mpls_ttl({a.mpls_ttl})",
    A.DecMplsTtl: lambda a: "dec_mpls_ttl",
    A.NxDecMplsTtl: lambda a: "dec_mpls_ttl",
    A.SetField: _set_field,
    A.NxResubmit: lambda a: f"resubmit:{port_name(a.in_port)}",
    A.NxResubmitTable: _resubmit,
    A.NxRegLoad: _reg_load,
    A.NxRegMove: lambda a: (f"move:{_subfield(a.src, a.src_ofs, a.n_bits)}->"
                            f"{_subfield(a.dst, a.dst_ofs, a.n_bits)}"),
    A.NxSetTunnel: lambda a: f"set_tunnel:{a.tun_id:#x}",
    A.NxSetTunnel64: lambda a: f"set_tunnel64:{a.tun_id:#x}",
    A.NxNote: lambda a: "note:" + ".".join(f"{b:02x}" for b in a.data),
    A.NxExit: lambda a: "exit",
    A.NxCtClear: lambda a: "ct_clear",
    A.NxOutputReg: lambda a: (f"output:{_subfield(a.src, a.ofs_nbits >> 6, (a.ofs_nbits & 63) + 1)}"),
    A.NxConjunction: lambda a: f"conjunction({a.id},{a.clause + 1}/{a.n_clauses})",
    A.NxWriteMetadata: lambda a: (f"write_metadata:{a.metadata:#x}" if a.mask == (1 << 64) - 1
                                  else f"write_metadata:{a.metadata:#x}/{a.mask:#x}"),
    A.NxFinTimeout: lambda a: ("fin_timeout(" + ",".join(
        x for x in (f"idle_timeout={a.fin_idle_timeout}" if a.fin_idle_timeout else "",
                    f"hard_timeout={a.fin_hard_timeout}" if a.fin_hard_timeout else "") if x)
                                + ")"),
    A.NxClone: lambda a: f"clone({format_actions(a.actions)})",
}


def _learn(a):
    from .learn import learn_specs
    out = [f"table={a.table_id}"]
    for k in ("idle_timeout", "hard_timeout", "fin_idle_timeout", "fin_hard_timeout"):
        if getattr(a, k):
            out.append(f"{k}={getattr(a, k)}")
    if a.priority != OFP_DEFAULT_PRIORITY:
        out.append(f"priority={a.priority}")
    for bit, name in ((1, "send_flow_rem"), (2, "delete_learned"), (4, "write_result")):
        if a.flags & bit:
            out.append(name)
    if a.cookie:
        out.append(f"cookie={a.cookie:#x}")
    for sp in learn_specs(a):
        src = None if sp.src_field is None else _subfield(sp.src_field, sp.src_ofs, sp.n_bits)
        if sp.dst == "output":
            out.append(f"output:{src}")
            continue
        dst = _subfield(sp.dst_field, sp.dst_ofs, sp.n_bits)
        if sp.dst == "load":
            out.append(f"load:{src if src else hex(sp.src_value)}->{dst}")
        elif src is None:
            out.append(f"{dst}={sp.src_value:#x}")
        elif src == dst:
            out.append(dst)
        else:
            out.append(f"{dst}={src}")
    return f"learn({','.join(out)})"


def _nat(a):
    from .learn import nat_range
    if not a.flags & 3:
        return "nat"
    r = nat_range(a)
    txt = "src" if a.flags & 1 else "dst"
    if r.ipv4_min is not None:
        txt += f"={ip4(r.ipv4_min)}" + (f"-{ip4(r.ipv4_max)}" if r.ipv4_max is not None else "")
    elif r.ipv6_min is not None:
        txt += f"=[{ip6(r.ipv6_min)}]" + (f"-[{ip6(r.ipv6_max)}]" if r.ipv6_max is not None
                                          else "")
    if r.proto_min is not None:
        txt += f":{r.proto_min}" + (f"-{r.proto_max}" if r.proto_max is not None else "")
    for bit, name in ((4, "persistent"), (8, "hash"), (16, "random")):
        if a.flags & bit:
            txt += f",{name}"
    return f"nat({txt})"


def _ct(a):
    out = []
    if a.flags & 1:
        out.append("commit")
    if a.flags & 2:
        out.append("force")
    if a.recirc_table != 255:
        out.append(f"table={a.recirc_table}")
    if a.zone_src:
        out.append(f"zone={_subfield(a.zone_src, a.zone >> 6, (a.zone & 63) + 1)}")
    elif a.zone:
        out.append(f"zone={a.zone}")
    acts = list(a.actions)
    if acts and type(acts[0]) is A.NxNat:
        out.append(_nat(acts.pop(0)))
    if acts:
        out.append(f"exec({format_actions(acts)})")
    if a.alg:
        out.append({21: "alg=ftp", 69: "alg=tftp"}.get(a.alg, f"alg={a.alg}"))
    return f"ct({','.join(out)})"


_FMT.update({A.NxLearn: _learn, A.NxCt: _ct, A.NxNat: _nat,
             A.NxSetQueue: lambda a: f"set_queue:{a.queue_id}",
             A.NxRegLoad2: _set_field})


_HASH_FIELDS = ("eth_src", "symmetric_l4", "symmetric_l3l4", "symmetric_l3l4+udp", "nw_src",
                "nw_dst", "symmetric_l3")
_PIN_REASONS = ("no_match", "action", "invalid_ttl", "action_set", "group", "packet_out")


def _pick(table, i):
    return table[i] if i < len(table) else str(i)


def _multipath(a):
    return (f"multipath({_pick(_HASH_FIELDS, a.fields)},{a.basis},"
            f"{_pick(('modulo_n', 'hash_threshold', 'hrw', 'iter_hash'), a.algorithm)},"
            f"{a.max_link + 1},{a.arg},{_subfield(a.dst, a.ofs_nbits >> 6, (a.ofs_nbits & 63) + 1)})")


def _bundle(a):
    load = type(a) is A.NxBundleLoad
    out = (f"{'bundle_load' if load else 'bundle'}({_pick(_HASH_FIELDS, a.fields)},{a.basis},"
           f"{_pick(('active_backup', 'hrw'), a.algorithm)},ofport,")
    if load:
        out += _subfield(a.dst, a.ofs_nbits >> 6, (a.ofs_nbits & 63) + 1) + ","
    return out + "members:" + ",".join(port_name(p) for p in a.ports) + ")"


def _controller_text(max_len, cid, reason, userdata, pause):
    """format_CONTROLLER: the short form when only max_len is set."""
    if reason == 1 and not cid and not userdata and not pause:
        return f"CONTROLLER:{max_len}"
    out = []
    if reason != 1:
        out.append(f"reason={_pick(_PIN_REASONS, reason)}")
    if max_len != 0xFFFF:
        out.append(f"max_len={max_len}")
    if cid:
        out.append(f"id={cid}")
    if userdata:
        out.append("userdata=" + ".".join(f"{b:02x}" for b in userdata))
    if pause:
        out.append("pause")
    return f"controller({','.join(out)})"


def _controller2(a):
    import struct
    ml, cid, reason, userdata, pause = 0xFFFF, 0, 1, b"", False
    data, off = a.data, 0
    while off + 4 <= len(data):
        t, n = struct.unpack_from("!HH", data, off)
        body = data[off + 4:off + n]
        if t == 0:
            ml = struct.unpack("!H", body[:2])[0]
        elif t == 1:
            cid = struct.unpack("!H", body[:2])[0]
        elif t == 2:
            reason = body[0]
        elif t == 3:
            userdata = bytes(body)
        elif t == 4:
            pause = True
        off += max(8, (n + 7) & ~7)
    return _controller_text(ml, cid, reason, userdata, pause)


_FMT.update({
    A.NxMultipath: _multipath, A.NxBundle: _bundle, A.NxBundleLoad: _bundle,
    A.NxSample: lambda a: (f"sample(probability={a.probability},collector_set_id="
                           f"{a.collector_set_id},obs_domain_id={a.obs_domain_id},"
                           f"obs_point_id={a.obs_point_id})"),
    A.NxController: lambda a: _controller_text(a.max_len, a.controller_id, a.reason, b"", False),
    A.NxController2: _controller2,
    A.NxDecTtlCntIds: lambda a: f"dec_ttl({','.join(str(p) for p in a.ports)})",
})

def format_action(a) -> str:
    f = _FMT.get(type(a))
    if f is not None:
        return f(a)
    fields = ",".join(f"{k}={getattr(a, k)!r}" for k in a.__dataclass_fields__)
    return f"{type(a).NAME}({fields})"


def format_actions(actions=(), instructions=None) -> str:
    """Actions (OF1.0/NX) or instructions (OF1.1+) as ovs-ofctl prints them."""
    if instructions is not None:
        parts = []
        order = (I.MeterInstruction, I.ApplyActions, I.ClearActions, I.WriteActions,
                 I.WriteMetadata, I.GotoTable)
        for cls in order:
            for i in instructions:
                if type(i) is not cls:
                    continue
                if cls is I.ApplyActions:
                    parts.extend(format_action(a) for a in i.actions)
                elif cls is I.WriteActions:
                    parts.append(f"write_actions({format_actions(i.actions)})")
                elif cls is I.ClearActions:
                    parts.append("clear_actions")
                elif cls is I.MeterInstruction:
                    parts.append(f"meter:{i.meter_id}")
                elif cls is I.GotoTable:
                    parts.append(f"goto_table:{i.table_id}")
                else:
                    m = i.metadata_mask
                    parts.append(f"write_metadata:{i.metadata:#x}" if m == (1 << 64) - 1
                                 else f"write_metadata:{i.metadata:#x}/{m:#x}")
        return ",".join(parts) or "drop"
    return ",".join(format_action(a) for a in actions) or "drop"


_COMMANDS = {0: "ADD", 1: "MOD", 2: "MOD_STRICT", 3: "DEL", 4: "DEL_STRICT"}
_FLAGS = ((1, "send_flow_rem"), (2, "check_overlap"), (4, "reset_counts"),
          (8, "no_packet_counts"), (16, "no_byte_counts"))


def format_flow_mod(fm, table_id_shown: bool | None = None) -> str:
    """The summary ``ovs-ofctl ofp-print`` prints after the header for a
    FLOW_MOD / NXT_FLOW_MOD (``ADD priority=...,in_port=1 actions=...``)."""
    out = [_COMMANDS.get(fm.command, f"cmd:{fm.command}")]
    if fm.table_id:
        out.append(f"table:{fm.table_id}")
    m = format_match(fm.match, fm.priority)
    if m:
        out.append(m)
    extra = []
    cookie = fm.cookie
    if getattr(fm, "cookie_mask", 0):
        extra.append(f"cookie:{cookie:#x}/{fm.cookie_mask:#x}")
    elif cookie and fm.command == 0:
        extra.append(f"cookie:{cookie:#x}")
    if fm.idle_timeout:
        extra.append(f"idle:{fm.idle_timeout}")
    if fm.hard_timeout:
        extra.append(f"hard:{fm.hard_timeout}")
    if getattr(fm, "importance", 0):
        extra.append(f"importance:{fm.importance}")
    if fm.buffer_id != 0xFFFFFFFF:
        extra.append(f"buf:{fm.buffer_id:#x}")
    anyp = 0xFFFF if fm.version == 1 or not hasattr(fm, "out_group") else 0xFFFFFFFF
    if fm.out_port != anyp:
        extra.append(f"out_port:{port_name(fm.out_port)}")
    for bit, name in _FLAGS:
        if fm.flags & bit:
            extra.append(name)
    acts = (format_actions(instructions=fm.instructions) if fm.version > 1 and
            hasattr(fm, "instructions") and not hasattr(fm, "_nx")
            and type(fm).__name__ == "FlowMod" else format_actions(fm.actions))
    return " ".join(out + extra + [f"actions={acts}"])
