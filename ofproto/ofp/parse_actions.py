"""ovs-ofctl action syntax -> wire actions and instructions (see :mod:`.parse`).

Theory of operation
-------------------
:data:`ACTIONS` maps an action keyword to ``handler(arg, version)``, where
``arg`` is the text after ``:`` or inside ``(...)`` (None when absent).  A
handler returns a list of items: wire action dataclasses for ``version``, or
instruction dataclasses (goto_table, write_metadata, meter, write_actions,
clear_actions) which :func:`parse_actions` sorts into place.  Per-version
choices follow Open vSwitch's encoders: OF1.0 uses OF1.0 codes and Nicira
actions (``group`` -> NXAST_GROUP, ``dec_ttl`` -> NXAST_DEC_TTL,
``goto_table`` -> ``resubmit(,N)``); OF1.1 uses OF1.1 codes; OF1.2+ turns
``mod_*`` header rewrites into ``set_field``.  Field references
(``NXM_NX_REG0[0..15]``, ``reg0[]``, ``eth_dst``) resolve through
:mod:`.fields` to NXM headers.
"""

from __future__ import annotations

import re
import struct

from . import actions as A
from . import instructions as I
from .fields import ALIASES, FIELDS_BY_NAME, FIELDS_BY_WIRE_NAME, field_for
from .learn import LearnSpec, NatRange, make_learn, make_nat
from .match import Tlv, port_to_ofp11
from .render import field_bits
from .parse import (FlowSyntaxError, _ip4, _ip6, _mac1, parse_int, parse_port,
                    split_items)

CONTROLLER = 0xFFFD


# ---------------------------------------------------------------- field refs
def field_by_name(name: str, oxm: bool = False):
    f = FIELDS_BY_WIRE_NAME.get(name.upper())
    if f is not None:
        return f
    n = ALIASES.get(name.lower(), name.lower())
    if n in FIELDS_BY_NAME:
        return field_for(n, oxm)
    raise FlowSyntaxError(f"{name}: unknown field")


def parse_subfield(s: str):
    """``NXM_NX_REG0[0..15]`` / ``reg0[]`` / ``reg0[3]`` / ``eth_src`` ->
    ``(field, ofs, n_bits)``."""
    m = re.fullmatch(r"([A-Za-z0-9_]+)(?:\[(\d*)(?:\.\.(\d+))?\])?", s.strip())
    if not m:
        raise FlowSyntaxError(f"{s}: invalid subfield syntax")
    f = field_by_name(m.group(1))
    width = field_bits(f)
    if not m.group(2):
        return f, 0, width
    lo = int(m.group(2))
    hi = int(m.group(3)) if m.group(3) else lo
    if hi < lo or hi >= width:
        raise FlowSyntaxError(f"{s}: starting bit {lo} and ending bit {hi} out of range")
    return f, lo, hi - lo + 1


def _value(f, s: str) -> int:
    n = f.name
    if n in ("eth_src", "eth_dst", "arp_sha", "arp_tha", "nd_sll", "nd_tll"):
        return _mac1(s)
    if f.nbytes == 4 and "." in s:
        return _ip4(s, 0xFFFFFFFF)[0]
    if f.nbytes == 16 and ":" in s:
        return _ip6(s, (1 << 128) - 1)[0]
    if n in ("in_port", "in_port_oxm"):
        return parse_port(s)
    return parse_int(s)


# ---------------------------------------------------------------- handlers
def _out_port(port, version, max_len=0):
    if version == 1:
        return A.Output10(port=port, max_len=max_len)
    return A.Output(port=port_to_ofp11(port), max_len=max_len)


def _output(arg, v):
    if "[" in arg or arg.upper().startswith("NXM_"):
        f, ofs, nb = parse_subfield(arg)
        return [A.NxOutputReg(ofs_nbits=(ofs << 6) | (nb - 1), src=f.header(), max_len=0)]
    p = parse_port(arg)
    return [_out_port(p, v, 65535 if p == CONTROLLER else 0)]


def _set_field_tlv(name, value, v):
    f = field_by_name(name, oxm=v >= 3)
    return Tlv(field_for(f.name, v >= 3), value, None)


def _legacy_or_setfield(of10, of11, field, conv):
    """mod_* actions: OF1.0 class, OF1.1 class, else set_field ``field``."""
    def handler(arg, v):
        val = conv(arg)
        if v == 1 and of10 is not None:
            return [of10(val)]
        if v == 2 and of11 is not None:
            return [of11(val)]
        out, fname = [], field
        if fname in ("vlan_vid", "vlan_pcp"):
            if fname == "vlan_vid":
                val |= 0x1000
            if not _CTX.vlan_present:              # OVS: push_vlan_if_needed
                out.append(A.PushVlan(ethertype=0x8100))
        elif fname == "nw_tos":
            fname, val = "ip_dscp", val >> 2
        elif fname in ("tcp_src", "tcp_dst"):         # OVS: the flow's L4 protocol
            fname = {17: "udp", 132: "sctp"}.get(_CTX.nw_proto, "tcp") + fname[3:]
        return out + [A.SetField(tlv=_set_field_tlv(fname, val, v))]
    return handler


def _mac_bytes(s):
    return _mac1(s).to_bytes(6, "big")


def _ip_int(s):
    return _ip4(s, 0xFFFFFFFF)[0]


# OF1.0: set_field on a field with a legacy action becomes that action.
_LEGACY10 = {"eth_src": "mod_dl_src", "eth_dst": "mod_dl_dst", "ip_src": "mod_nw_src",
             "ip_dst": "mod_nw_dst", "tcp_src": "mod_tp_src", "tcp_dst": "mod_tp_dst",
             "udp_src": "mod_tp_src", "udp_dst": "mod_tp_dst", "vlan_pcp": "mod_vlan_pcp"}


def _set_field(arg, v):
    val, _, dst = arg.partition("->")
    f, ofs, nb = parse_subfield(dst)
    value, _, mask = val.partition("/")
    if v == 1 and not mask and f.name in _LEGACY10:
        return ACTIONS[_LEGACY10[f.name]](value, v)
    x = _value(f, value)
    if v == 1 or not (ofs == 0 and nb == field_bits(f)) or mask:
        m = _value(f, mask) if mask else None
        if m is None:
            return [A.NxRegLoad(ofs_nbits=(ofs << 6) | (nb - 1), dst=f.header(), value=x)]
        ff = field_for(f.name, v >= 3)
        return [A.SetField(tlv=Tlv(ff, x, m))] if v >= 6 else \
            [A.NxRegLoad2(tlv=Tlv(field_for(f.name, False), x, m))]
    return [A.SetField(tlv=Tlv(field_for(f.name, True), x, None))]


def _load(arg, v):
    val, _, dst = arg.partition("->")
    f, ofs, nb = parse_subfield(dst)
    x = _value(f, val)
    if x >> nb:
        raise FlowSyntaxError(f"{val}: value does not fit into {nb} bits")
    return [A.NxRegLoad(ofs_nbits=(ofs << 6) | (nb - 1), dst=f.header(), value=x)]


def _move(arg, v):
    src, _, dst = arg.partition("->")
    sf, so, sn = parse_subfield(src)
    df, do, dn = parse_subfield(dst)
    if sn != dn:
        raise FlowSyntaxError(f"{arg}: source field is {sn} bits wide but destination is "
                              f"{dn} bits wide")
    return [A.NxRegMove(n_bits=sn, src_ofs=so, dst_ofs=do, src=sf.header(), dst=df.header())]


def _resubmit(arg, v):
    if "," not in arg:
        return [A.NxResubmit(in_port=parse_port(arg))]
    parts = [p.strip() for p in arg.split(",")]
    port = parse_port(parts[0]) if parts[0] else 0xFFF8
    table = parse_int(parts[1]) if len(parts) > 1 and parts[1] else 255
    ct = len(parts) > 2 and parts[2] == "ct"
    cls = A.NxResubmitTableCt if ct else A.NxResubmitTable
    return [cls(in_port=port, table=table)]


def _goto(arg, v):
    t = parse_int(arg)
    return [A.NxResubmitTable(in_port=0xFFF8, table=t)] if v == 1 else [I.GotoTable(t)]


def _write_metadata(arg, v):
    val, _, mask = arg.partition("/")
    md, m = parse_int(val), (parse_int(mask) if mask else (1 << 64) - 1)
    return [A.NxWriteMetadata(metadata=md, mask=m)] if v == 1 else [I.WriteMetadata(md, m)]


def _note(arg, v):
    hexs = arg.replace(".", "").replace(":", "")
    try:
        data = bytes.fromhex(hexs)
    except ValueError:
        raise FlowSyntaxError(f"{arg}: bad hex digit in note") from None
    total = max(16, (10 + len(data) + 7) // 8 * 8)     # padding is part of the note
    return [A.NxNote(data=data + bytes(total - 10 - len(data)))]


def _set_tunnel(arg, v, force64=False):
    t = parse_int(arg)
    if v >= 3:
        return [A.SetField(tlv=Tlv(field_for("tun_id", True), t, None))]
    return [A.NxSetTunnel64(tun_id=t) if force64 or t > 0xFFFFFFFF else A.NxSetTunnel(tun_id=t)]


def _enqueue(arg, v):
    port, _, q = arg.replace("(", "").replace(")", "").replace(",", ":").partition(":")
    p, qid = parse_port(port), parse_int(q)
    if v == 1:
        return [A.Enqueue(port=p, queue_id=qid)]
    return [A.SetQueue(queue_id=qid), _out_port(p, v), A.NxPopQueue()]


def _group(arg, v):
    g = parse_int(arg)
    return [A.NxGroup(group_id=g)] if v == 1 else [A.Group(group_id=g)]


def _dec_ttl(arg, v):
    if arg:
        ids = tuple(parse_int(x) for x in arg.split(","))
        return [A.NxDecTtlCntIds(n_controllers=len(ids), ports=ids)]
    return [A.NxDecTtl()] if v == 1 else [A.DecNwTtl()]


def _strip_vlan(arg, v):
    return [A.StripVlan()] if v == 1 else [A.PopVlan()]


def _push_vlan(arg, v):
    if v == 1:
        raise FlowSyntaxError("push_vlan not supported in OpenFlow 1.0")
    return [A.PushVlan(ethertype=parse_int(arg))]


def _conjunction(arg, v):
    m = re.fullmatch(r"\s*(\d+)\s*,\s*(\d+)\s*/\s*(\d+)\s*", arg)
    if not m:
        raise FlowSyntaxError(f'"{arg}": syntax error in conjunction')
    cid, k, n = map(int, m.groups())
    return [A.NxConjunction(clause=k - 1, n_clauses=n, id=cid)]


def _learn(arg, v):
    kw, specs = {"table_id": 1, "priority": 0x8000}, []
    names = {"table": "table_id", "priority": "priority", "idle_timeout": "idle_timeout",
             "hard_timeout": "hard_timeout", "fin_idle_timeout": "fin_idle_timeout",
             "fin_hard_timeout": "fin_hard_timeout", "cookie": "cookie"}
    flags = {"send_flow_rem": 1, "delete_learned": 2}
    for item in split_items(arg):
        k, eq, val = item.partition("=")
        if k in names and eq:
            kw[names[k]] = parse_int(val)
        elif k in flags and not eq:
            kw["flags"] = kw.get("flags", 0) | flags[k]
        elif item.startswith(("load:", "output:")):
            kind, _, rest = item.partition(":")
            if kind == "output":
                f, o, n = parse_subfield(rest)
                specs.append(LearnSpec(n_bits=n, dst="output", src_field=f.header(), src_ofs=o))
                continue
            src, _, dst = rest.partition("->")
            df, do, dn = parse_subfield(dst)
            if re.fullmatch(r"[0-9a-fA-Fx.:]+", src) and not src.upper().startswith("NXM"):
                specs.append(LearnSpec(n_bits=dn, dst="load", src_value=_value(df, src),
                                       dst_field=df.header(), dst_ofs=do))
            else:
                sf, so, sn = parse_subfield(src)
                specs.append(LearnSpec(n_bits=dn, dst="load", src_field=sf.header(),
                                       src_ofs=so, dst_field=df.header(), dst_ofs=do))
        else:
            dst, eq, src = item.partition("=")
            df, do, dn = parse_subfield(dst)
            if not eq:
                specs.append(LearnSpec(n_bits=dn, src_field=df.header(), src_ofs=do,
                                       dst_field=df.header(), dst_ofs=do))
            elif "[" in src or src.upper().startswith("NXM_"):
                sf, so, sn = parse_subfield(src)
                specs.append(LearnSpec(n_bits=dn, src_field=sf.header(), src_ofs=so,
                                       dst_field=df.header(), dst_ofs=do))
            else:
                specs.append(LearnSpec(n_bits=dn, src_value=_value(df, src),
                                       dst_field=df.header(), dst_ofs=do))
    return [make_learn(specs, **kw)]


def _nat(arg):
    flags, rng = 0, {}
    for item in split_items(arg or ""):
        k, eq, val = item.partition("=")
        if k in ("src", "dst"):
            flags |= 1 if k == "src" else 2
            if val:
                addrs, _, ports = val.rpartition(":") if "]" in val or val.count(":") == 1 \
                    else (val, "", "")
                lo, _, hi = addrs.strip("[]").partition("-")
                v6 = ":" in lo
                conv = (lambda s: _ip6(s, (1 << 128) - 1)[0]) if v6 else _ip_int
                rng["ipv6_min" if v6 else "ipv4_min"] = conv(lo)
                if hi:
                    rng["ipv6_max" if v6 else "ipv4_max"] = conv(hi)
                if ports:
                    plo, _, phi = ports.partition("-")
                    rng["proto_min"] = parse_int(plo)
                    if phi:
                        rng["proto_max"] = parse_int(phi)
        elif k in ("persistent", "hash", "random"):
            flags |= {"persistent": 4, "hash": 8, "random": 16}[k]
        else:
            raise FlowSyntaxError(f"{k}: unknown nat option")
    return make_nat(flags, NatRange(**rng))


def _ct(arg, v):
    kw, inner = {"zone_src": 0, "recirc_table": 255, "flags": 0}, []
    for item in split_items(arg or ""):
        k, eq, val = item.partition("=")
        if k == "commit":
            kw["flags"] |= 1
        elif k == "force":
            kw["flags"] |= 2
        elif k == "table":
            kw["recirc_table"] = parse_int(val)
        elif k == "zone":
            if "[" in val or val.upper().startswith("NXM_"):
                f, o, n = parse_subfield(val)
                kw["zone_src"], kw["zone"] = f.header(), (o << 6) | (n - 1)
            else:
                kw["zone"] = parse_int(val)
        elif k == "alg":
            kw["alg"] = {"ftp": 21, "tftp": 69}.get(val) or parse_int(val)
        elif k.startswith("nat"):
            inner.append(_nat(item[4:-1] if item.startswith("nat(") else None))
        elif k.startswith("exec("):
            inner.extend(_parse_list(item[5:-1], v))
        else:
            raise FlowSyntaxError(f"{k}: unknown ct option")
    return [A.NxCt(actions=tuple(inner), **kw)]


def _clone(arg, v):
    return [A.NxClone(actions=tuple(_parse_list(arg, v)))]


def _write_actions(arg, v):
    return [I.WriteActions(tuple(_parse_list(arg, v)))]


def _simple(of10, of11=None):
    return lambda arg, v: [(of10 if v == 1 or of11 is None else of11)()]


def _port_action(port):
    return lambda arg, v: [_out_port(port, v)]


# ---------------------------------------------------------------- NX hashing, sampling, controller
HASH_FIELDS = ("eth_src", "symmetric_l4", "symmetric_l3l4", "symmetric_l3l4+udp", "nw_src",
               "nw_dst", "symmetric_l3")
MP_ALGORITHMS = ("modulo_n", "hash_threshold", "hrw", "iter_hash")
BUNDLE_ALGORITHMS = ("active_backup", "hrw")
PIN_REASONS = ("no_match", "action", "invalid_ttl", "action_set", "group", "packet_out")
NXM_OF_IN_PORT = 0x00000002


def _pick(name, table, what):
    if name not in table:
        raise FlowSyntaxError(f"{name}: unknown {what}")
    return table.index(name)


def _multipath(arg, v):
    """multipath(fields, basis, algorithm, n_links, arg, dst)."""
    parts = [x.strip() for x in arg.split(",")]
    if len(parts) != 6:
        raise FlowSyntaxError(f"{arg}: not enough arguments to multipath action")
    f, ofs, nb = parse_subfield(parts[5])
    return [A.NxMultipath(fields=_pick(parts[0], HASH_FIELDS, "fields"),
                          basis=parse_int(parts[1]),
                          algorithm=_pick(parts[2], MP_ALGORITHMS, "algorithm"),
                          max_link=parse_int(parts[3]) - 1, arg=parse_int(parts[4]),
                          ofs_nbits=(ofs << 6) | (nb - 1), dst=f.header())]


def _bundle(load):
    """bundle(fields, basis, algorithm, ofport, members:p,...) and bundle_load(..., dst, ...)."""
    def handler(arg, v):
        head, _, members = arg.partition("members:")
        if not members:
            head, _, members = arg.partition("slaves:")
        parts = [x.strip() for x in head.rstrip(", ").split(",")]
        if len(parts) != (5 if load else 4) or parts[3] != "ofport":
            raise FlowSyntaxError(f"{arg}: bad bundle action")
        ports = tuple(parse_port(x) for x in members.split(",") if x.strip())
        ofs = nb = dst = 0
        if load:
            f, ofs, nb = parse_subfield(parts[4])
            dst = f.header()
        cls = A.NxBundleLoad if load else A.NxBundle
        return [cls(algorithm=_pick(parts[2], BUNDLE_ALGORITHMS, "algorithm"),
                    fields=_pick(parts[0], HASH_FIELDS, "fields"), basis=parse_int(parts[1]),
                    slave_type=NXM_OF_IN_PORT, n_slaves=len(ports),
                    ofs_nbits=((ofs << 6) | (nb - 1)) if load else 0, dst=dst, ports=ports)]
    return handler


def _sample(arg, v):
    kw = dict(probability=None, collector_set_id=0, obs_domain_id=0, obs_point_id=0)
    for item in split_items(arg or ""):
        k, _, val = item.partition("=")
        if k not in kw:
            raise FlowSyntaxError(f"{k}: unsupported sample option")
        kw[k] = parse_int(val)
    if not kw["probability"]:
        raise FlowSyntaxError("non-zero \"probability\" must be specified on sample")
    return [A.NxSample(**kw)]


def _controller2_props(max_len, cid, reason, userdata, pause) -> bytes:
    """NXAST_CONTROLLER2 properties, in Open vSwitch's order and only when set."""
    def prop(t, payload):
        n = 4 + len(payload)
        return struct.pack("!HH", t, n) + payload + bytes((-n) & 7)
    out = b""
    if max_len != 0xFFFF:
        out += prop(0, struct.pack("!H", max_len))
    if cid:
        out += prop(1, struct.pack("!H", cid))
    if reason != 1:
        out += prop(2, bytes((reason,)))
    if userdata:
        out += prop(3, userdata)
    if pause:
        out += prop(4, b"")
    return out


def _controller(arg, v):
    """controller, controller:N, controller(reason=..,max_len=..,id=..,userdata=..,pause)."""
    ml, cid, reason, userdata, pause = 65535, 0, 1, b"", False
    if arg and "=" not in arg and arg.strip() != "pause":
        ml = parse_int(arg)
    elif arg:
        for item in split_items(arg):
            k, _, val = item.partition("=")
            if k == "max_len":
                ml = parse_int(val)
            elif k == "reason":
                reason = _pick(val, PIN_REASONS, "reason")
            elif k in ("id", "controller_id"):
                cid = parse_int(val)
            elif k == "userdata":
                userdata = bytes.fromhex(val.replace(".", ""))
            elif k == "pause":
                pause = True
            else:
                raise FlowSyntaxError(f"{k}: unsupported controller option")
    if userdata or pause:
        return [A.NxController2(data=_controller2_props(ml, cid, reason, userdata, pause))]
    if reason == 1 and not cid:
        return [_out_port(CONTROLLER, v, ml)]
    return [A.NxController(max_len=ml, controller_id=cid, reason=reason)]


ACTIONS = {
    "output": _output, "controller": _controller, "drop": lambda a, v: [],
    "normal": _port_action(0xFFFA), "flood": _port_action(0xFFFB), "all": _port_action(0xFFFC),
    "local": _port_action(0xFFFE), "in_port": _port_action(0xFFF8),
    "mod_vlan_vid": _legacy_or_setfield(lambda x: A.SetVlanVid(vlan_vid=x),
                                        lambda x: A.SetVlanVid(vlan_vid=x), "vlan_vid", parse_int),
    "mod_vlan_pcp": _legacy_or_setfield(lambda x: A.SetVlanPcp(vlan_pcp=x),
                                        lambda x: A.SetVlanPcp(vlan_pcp=x), "vlan_pcp", parse_int),
    "mod_dl_src": _legacy_or_setfield(lambda x: A.SetDlSrc10(dl_addr=x.to_bytes(6, "big")),
                                      lambda x: A.SetDlSrc(dl_addr=x.to_bytes(6, "big")),
                                      "eth_src", _mac1),
    "mod_dl_dst": _legacy_or_setfield(lambda x: A.SetDlDst10(dl_addr=x.to_bytes(6, "big")),
                                      lambda x: A.SetDlDst(dl_addr=x.to_bytes(6, "big")),
                                      "eth_dst", _mac1),
    "mod_nw_src": _legacy_or_setfield(lambda x: A.SetNwSrc10(nw_addr=x),
                                      lambda x: A.SetNwSrc(nw_addr=x), "ip_src", _ip_int),
    "mod_nw_dst": _legacy_or_setfield(lambda x: A.SetNwDst10(nw_addr=x),
                                      lambda x: A.SetNwDst(nw_addr=x), "ip_dst", _ip_int),
    "mod_nw_tos": _legacy_or_setfield(lambda x: A.SetNwTos10(nw_tos=x),
                                      lambda x: A.SetNwTos(nw_tos=x), "nw_tos", parse_int),
    "mod_tp_src": _legacy_or_setfield(lambda x: A.SetTpSrc10(tp_port=x),
                                      lambda x: A.SetTpSrc(tp_port=x), "tcp_src", parse_int),
    "mod_tp_dst": _legacy_or_setfield(lambda x: A.SetTpDst10(tp_port=x),
                                      lambda x: A.SetTpDst(tp_port=x), "tcp_dst", parse_int),
    "mod_nw_ttl": lambda a, v: ([A.NxRegLoad(ofs_nbits=7, dst=field_for("nw_ttl", False).header(),
                                             value=parse_int(a))] if v == 1
                                else [A.SetNwTtl(nw_ttl=parse_int(a))]),
    "strip_vlan": _strip_vlan, "pop_vlan": _strip_vlan, "push_vlan": _push_vlan,
    "set_field": _set_field, "load": _load, "move": _move, "resubmit": _resubmit,
    "goto_table": _goto, "write_metadata": _write_metadata, "group": _group,
    "learn": _learn, "note": _note, "set_tunnel": _set_tunnel,
    "set_tunnel64": lambda a, v: _set_tunnel(a, v, True),
    "dec_ttl": _dec_ttl, "enqueue": _enqueue,
    "set_queue": lambda a, v: [A.NxSetQueue(queue_id=parse_int(a)) if v == 1
                               else A.SetQueue(queue_id=parse_int(a))],
    "pop_queue": _simple(A.NxPopQueue), "exit": _simple(A.NxExit),
    "ct_clear": _simple(A.NxCtClear), "dec_mpls_ttl": _simple(A.NxDecMplsTtl, A.DecMplsTtl),
    "push_mpls": lambda a, v: [(A.NxPushMpls if v == 1 else A.PushMpls)(ethertype=parse_int(a))],
    "pop_mpls": lambda a, v: [(A.NxPopMpls if v == 1 else A.PopMpls)(ethertype=parse_int(a))],
    "set_mpls_ttl": lambda a, v: [(A.NxSetMplsTtl if v == 1 else A.SetMplsTtl)(
        mpls_ttl=parse_int(a))],
    "conjunction": _conjunction, "ct": _ct, "clone": _clone,
    "multipath": _multipath, "bundle": _bundle(False), "bundle_load": _bundle(True),
    "sample": _sample,
    "write_actions": _write_actions, "clear_actions": lambda a, v: [I.ClearActions()],
    "meter": lambda a, v: [I.MeterInstruction(parse_int(a))],
    "fin_timeout": lambda a, v: [A.NxFinTimeout(**{
        "fin_" + k: parse_int(x) for k, _, x in (i.partition("=") for i in split_items(a))})],
}


def _parse_list(text: str, version: int) -> list:
    out = []
    for item in split_items(text):
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\)|[:=](.*))?", item, re.S)
        if item.isdigit():
            out.extend(_output(item, version))
            continue
        if not m:
            raise FlowSyntaxError(f"unknown action {item}")
        name = m.group(1).lower()
        arg = m.group(2) if m.group(2) is not None else m.group(3)
        h = ACTIONS.get(name)
        if h is None:
            if name.upper() in ("IN_PORT", "LOCAL", "NORMAL", "FLOOD", "ALL", "CONTROLLER"):
                h = ACTIONS[name.lower()]
            else:
                raise FlowSyntaxError(f"unknown action {m.group(1)}")
        out.extend(h(arg, version))
    return out


_INST_ORDER = (I.MeterInstruction, I.ApplyActions, I.ClearActions, I.WriteActions,
               I.WriteMetadata, I.GotoTable)


class _Ctx:
    vlan_present = False
    nw_proto = None


_CTX = _Ctx()


def parse_actions(text: str, version: int = 1, match=None) -> tuple[tuple, tuple]:
    """``(actions, instructions)`` for ``version`` (see module docstring).
    ``match`` (a FlowMatch) decides whether ``mod_vlan_vid`` needs a
    ``push_vlan`` first in OF1.2+, as in Open vSwitch."""
    tci = match.get("vlan_tci") if match is not None else None
    _CTX.vlan_present = bool(tci and tci[0] & tci[1] & 0x1000)
    _CTX.nw_proto = match.value("nw_proto") if match is not None else None
    items = _parse_list(text, version)
    acts = [x for x in items if isinstance(x, A.Action)]
    insts = [x for x in items if not isinstance(x, A.Action)]
    if version == 1:
        if insts:
            raise FlowSyntaxError("instructions are not supported in OpenFlow 1.0")
        return tuple(acts), ()
    seen = [type(i) for i in insts]
    if len(set(seen)) != len(seen):
        raise FlowSyntaxError("duplicate instruction")
    if acts:
        insts.append(I.ApplyActions(tuple(acts)))
    insts.sort(key=lambda i: _INST_ORDER.index(type(i)))
    return (), tuple(insts)
