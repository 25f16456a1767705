"""Datapath actions as text: Open vSwitch's action syntax, format and parse.

Theory of operation
-------------------
A datapath action list is a tuple of action tuples; ``()`` is drop::

    ("output", port)                      2
    ("push_vlan", tpid, tci)              push_vlan(vid=103,pcp=0) (tci has CFI 0x1000)
    ("pop_vlan",)                         pop_vlan
    ("push_mpls", lse, eth_type)          push_mpls(label=..,tc=..,ttl=..,bos=..,eth_type=0x8847)
    ("pop_mpls", eth_type)                pop_mpls(eth_type=0x800)
    ("set", {member: value}[, attr])      set(eth(src=..,dst=..))  whole-field set
    ("set_masked", {member: (value, mask)}[, attr])
                                          set(ipv4(src=10.0.0.9,tos=0x10/0xfc))
    ("userspace", {"pid": 0, "controller": {reason, dont_send, continuation,
                   recirc_id, rule_cookie, controller_id, max_len}})
    ("userspace", {"pid": 0, "slow_path": ("action",)})
    ("userspace", {"pid": 0, "userdata": b"..", "actions": True,
                   "tunnel_out_port": p})
    ("recirc", id)                        recirc(0x8)
    ("hash", "l4"|"sym_l4", basis)        hash(l4(0))
    ("clone", actions)                    clone(2,3)
    ("sample", probability, actions)      sample(sample=50.0%,actions(2))  (u32 fraction)
    ("ct", {"commit": True, "zone": 1, "mark": (v, m), "label": (v, m),
            "helper": "ftp", "nat": "nat(src=...)"})   ct(commit,zone=1)
    ("ct_clear",)  ("trunc", max_len)  ("meter", id)  ("tnl_pop", port)
    ("tnl_push", text)                    reserved: printed verbatim

Members of a set action all belong to one OVS key attribute: eth (dl_src,
dl_dst), ipv4/ipv6 (nw_src, nw_dst / ipv6_src, ipv6_dst, ipv6_label, nw_tos,
nw_ttl), tcp/udp/sctp (tp_src, tp_dst), icmp/icmpv6 (tp_src, tp_dst), arp,
nd, mpls (mpls_lse0), skb_mark (pkt_mark), skb_priority.  The optional third
element names the attribute; without it the attribute is inferred from the
members and, for transport ports, from ``flow`` passed to
:func:`format_actions` (else ``tcp``).  Translation should always pass it.
A "set" prints the fields it carries, a "set_masked" the fields whose mask
is not zero, ``/mask`` only for partial masks: Open vSwitch's userspace
datapath prints both forms this way (its masked sets never show a full mask).
"""

from __future__ import annotations

import re

from .flow import ETH_ARP, ETH_IP, ETH_IPV6, ETH_RARP, TPID_8021Q, VLAN_CFI
from .odp_keys import (_ATTRS, OdpParseError, _attr_fields, _call, _full, _hex0, _lse,
                       _lse_mask, _num, _odp_port, _parse_fields, _parse_items, _split_top,
                       _vlan_tci)

__all__ = ["format_actions", "parse_actions"]


_ATTR_OF_MEMBER = {"dl_src": "eth", "dl_dst": "eth", "ipv6_src": "ipv6", "ipv6_dst": "ipv6",
                   "ipv6_label": "ipv6", "nd_target": "nd", "pkt_mark": "skb_mark",
                   "skb_priority": "skb_priority", "mpls_lse0": "mpls", "mpls_label": "mpls",
                   "mpls_tc": "mpls", "mpls_ttl": "mpls", "mpls_bos": "mpls"}


def _set_attr(fields, flow) -> str:
    for m in fields:
        a = _ATTR_OF_MEMBER.get(m)
        if a:
            if a == "eth" or a == "skb_mark" or a == "skb_priority" or a == "mpls":
                return a
            if a in ("ipv6", "nd"):
                return "nd" if a == "nd" or "arp_sha" in fields else "ipv6"
    g = (flow or {}).get
    dl_type = g("dl_type", ETH_IP)
    if any(m in fields for m in ("nw_src", "nw_dst", "nw_tos", "nw_ttl", "nw_proto",
                                 "arp_sha", "arp_tha")):
        if dl_type in (ETH_ARP, ETH_RARP) or "arp_sha" in fields or "arp_tha" in fields:
            return "arp"
        return "ipv6" if dl_type == ETH_IPV6 else "ipv4"
    proto = g("nw_proto", 6)
    return {6: "tcp", 17: "udp", 132: "sctp", 1: "icmp", 58: "icmpv6"}.get(proto, "tcp")


def _format_set(act, flow) -> str:
    kind, fields = act[0], act[1]
    attr = act[2] if len(act) > 2 else _set_attr(fields, flow)
    masked = kind == "set_masked"
    if masked:
        vals = {m: vm[0] for m, vm in fields.items()}
        mask = {m: vm[1] for m, vm in fields.items()}
    else:
        vals, mask = dict(fields), {m: _full(m) for m in fields}
    if attr in ("skb_mark", "skb_priority"):
        member = "pkt_mark" if attr == "skb_mark" else "skb_priority"
        v, m = vals.get(member, 0), mask.get(member, 0xFFFFFFFF)
        body = _hex0(v) if m == 0xFFFFFFFF else f"{_hex0(v)}/{_hex0(m)}"
        return f"set({attr}({body}))"
    if attr == "mpls":
        lse, lm = _lse(vals, 0), _lse_mask(mask, 0)
        if lm in (0, 0xFFFFFFFF) or not masked:
            body = f"label={lse >> 12},tc={lse >> 9 & 7},ttl={lse & 0xFF},bos={lse >> 8 & 1}"
        else:
            body = (f"label={lse >> 12}/0x{lm >> 12:x},tc={lse >> 9 & 7}/{lm >> 9 & 7:x},"
                    f"ttl={lse & 0xFF}/0x{lm & 0xFF:x},bos={lse >> 8 & 1}/{lm >> 8 & 1:x}")
        return f"set(mpls({body}))"
    if attr not in _ATTRS:
        raise ValueError(f"cannot print a set of attribute {attr!r}")
    if attr in ("icmp", "icmpv6"):
        mask = {k: (v & 0xFF if k in ("tp_src", "tp_dst") else v) for k, v in mask.items()}
    return f"set({attr}(" + _attr_fields(attr, vals, mask, False, masked=False) + "))"


def _format_userspace(a, ports) -> str:
    d = a[1]
    s = f"userspace(pid={d.get('pid', 0)}"
    if "controller" in d:
        c = d["controller"]
        s += (f",controller(reason={c.get('reason', 0)},dont_send={int(bool(c.get('dont_send')))}"
              f",continuation={int(bool(c.get('continuation')))}"
              f",recirc_id={c.get('recirc_id', 0)},rule_cookie={_hex0(c.get('rule_cookie', 0))}"
              f",controller_id={c.get('controller_id', 0)},max_len={c.get('max_len', 65535)})")
    elif "slow_path" in d:
        r = d["slow_path"]
        r = (r,) if isinstance(r, str) else tuple(r)
        s += f",slow_path({','.join(r)})"
    elif "userdata" in d:
        s += f",userdata({bytes(d['userdata']).hex()})"
    if d.get("actions"):
        s += ",actions"
    if "tunnel_out_port" in d:
        s += ",tunnel_out_port=" + _odp_port(d["tunnel_out_port"], ports)
    return s + ")"


def _format_ct(d) -> str:
    parts = []
    if d.get("commit"):
        parts.append("commit")
    if d.get("force_commit"):
        parts.append("force_commit")
    if d.get("zone") is not None:
        parts.append(f"zone={d['zone']}")
    if d.get("mark") is not None:
        v, m = d["mark"]
        parts.append(f"mark={_hex0(v)}/{_hex0(m)}")
    if d.get("label") is not None:
        v, m = d["label"]
        parts.append(f"label={_hex0(v)}/{_hex0(m)}")
    if d.get("helper"):
        parts.append(f"helper={d['helper']}")
    if d.get("timeout"):
        parts.append(f"timeout={d['timeout']}")
    if d.get("nat"):
        parts.append(d["nat"])
    return "ct" + (f"({','.join(parts)})" if parts else "")


def format_actions(actions, ports=None, flow=None) -> str:
    """Datapath actions as Open vSwitch prints them (``drop`` for none).

    ``ports`` maps datapath port numbers to names (``dpctl/dump-flows -m``);
    ``flow`` only helps name the attribute of set actions written without one.
    """
    if not actions:
        return "drop"
    return ",".join(_format_action(a, ports, flow) for a in actions)


def _format_action(a, ports, flow) -> str:
    kind = a[0]
    if kind == "output":
        return _odp_port(a[1], ports)
    if kind == "push_vlan":
        tpid, tci = a[1], a[2]
        pre = "" if tpid == TPID_8021Q else f"tpid=0x{tpid:04x},"
        return f"push_vlan({pre}{_vlan_tci(tci, 0xFFFF, False)})"
    if kind in ("pop_vlan", "ct_clear", "pop_eth"):
        return kind
    if kind in ("set", "set_masked"):
        return _format_set(a, flow)
    if kind == "userspace":
        return _format_userspace(a, ports)
    if kind == "recirc":
        return f"recirc({_hex0(a[1])})"
    if kind == "hash":
        return f"hash({a[1]}({a[2]}))"
    if kind == "clone":
        return f"clone({format_actions(a[1], ports, flow) if a[1] else ''})"
    if kind == "sample":
        pct = 100.0 * a[1] / 0xFFFFFFFF
        return f"sample(sample={pct:.1f}%,actions({format_actions(a[2], ports, flow) if a[2] else ''}))"
    if kind == "ct":
        return _format_ct(a[1] if len(a) > 1 else {})
    if kind == "trunc":
        return f"trunc({a[1]})"
    if kind == "meter":
        return f"meter({a[1]})"
    if kind == "tnl_pop":
        return f"tnl_pop({_odp_port(a[1], ports)})"
    if kind == "tnl_push":
        return str(a[1])
    if kind == "push_mpls":
        lse = a[1]
        return (f"push_mpls(label={lse >> 12},tc={lse >> 9 & 7},ttl={lse & 0xFF},"
                f"bos={lse >> 8 & 1},eth_type=0x{a[2]:x})")
    if kind == "pop_mpls":
        return f"pop_mpls(eth_type=0x{a[1]:x})"
    if kind == "drop":
        return "drop"
    raise ValueError(f"unknown datapath action {a!r}")


def parse_actions(text: str, ports=None) -> tuple:
    """Parse datapath actions as printed by :func:`format_actions` (and OVS)."""
    text = text.strip()
    if text in ("", "drop"):
        return ()
    rev = {n: p for p, n in (ports or {}).items()}
    return tuple(_parse_action(item, rev) for item in _split_top(text))


def _kv(body) -> dict:
    d = {}
    for f in _split_top(body or ""):
        k, eq, v = f.partition("=")
        d[k] = v if eq else True
    return d


def _parse_action(item, rev):
    if item.isdigit():
        return ("output", int(item))
    if item in rev:
        return ("output", rev[item])
    name, body = _call(item)
    if name in ("pop_vlan", "ct_clear", "pop_eth", "drop") and not body:
        return (name,) if name != "drop" else ("drop",)
    if name == "push_vlan":
        d = _kv(body)
        tci = (_num(d.get("vid", "0")) & 0xFFF) | (_num(d.get("pcp", "0")) & 7) << 13
        if d.get("cfi", "1") != "0":
            tci |= VLAN_CFI
        return ("push_vlan", _num(d.get("tpid", "0x8100")), tci)
    if name == "set":
        attr, inner = _call(body)
        if attr in ("skb_mark", "skb_priority"):
            member = "pkt_mark" if attr == "skb_mark" else "skb_priority"
            v, sl, m = inner.partition("/")
            if sl:
                return ("set_masked", {member: (_num(v), _num(m))}, attr)
            return ("set", {member: _num(v)}, attr)
        flow: dict = {}
        mask: dict = {}
        if attr == "mpls":
            _parse_items([f"mpls({inner})"], flow, mask, None, 0)
            if mask["mpls_lse0"] == 0xFFFFFFFF:
                return ("set", {"mpls_lse0": flow["mpls_lse0"]}, "mpls")
            return ("set_masked", {"mpls_lse0": (flow["mpls_lse0"], mask["mpls_lse0"])}, "mpls")
        if attr not in _ATTRS:
            raise OdpParseError(f"cannot parse set({attr})")
        _parse_fields(attr, inner, flow, mask)
        flow.pop("nw_proto", None) if attr in ("tcp", "udp", "sctp", "icmp", "icmpv6") \
            and "nw_proto" not in mask else None
        fulls = {m: (0xFFFF if m in ("tp_src", "tp_dst") else _full(m)) for m in mask}
        if all(mask[m] == fulls[m] for m in mask) and "/" not in inner:
            return ("set", {m: flow[m] for m in mask}, attr)
        return ("set_masked", {m: (flow[m], mask[m]) for m in mask}, attr)
    if name == "userspace":
        d: dict = {}
        for f in _split_top(body):
            sub, sbody = (_call(f) if "(" in f and not f.startswith(("pid=", "tunnel_out_port="))
                          else (f, None))
            if f.startswith("pid="):
                d["pid"] = _num(f[4:])
            elif f.startswith("tunnel_out_port="):
                v = f.split("=", 1)[1]
                d["tunnel_out_port"] = rev[v] if v in rev else _num(v)
            elif f == "actions":
                d["actions"] = True
            elif sub == "controller":
                c = {k: _num(v) for k, v in _kv(sbody).items()}
                for k in ("dont_send", "continuation"):
                    c[k] = bool(c.get(k, 0))
                d["controller"] = c
            elif sub == "slow_path":
                d["slow_path"] = tuple(_split_top(sbody or ""))
            elif sub == "userdata":
                d["userdata"] = bytes.fromhex(sbody or "")
            else:
                raise OdpParseError(f"bad userspace argument {f!r}")
        return ("userspace", d)
    if name == "recirc":
        return ("recirc", _num(body))
    if name == "hash":
        alg, basis = _call(body)
        return ("hash", alg, _num(basis))
    if name == "clone":
        return ("clone", parse_actions(body or "", {v: k for k, v in rev.items()}))
    if name == "sample":
        mo = re.match(r"sample=([0-9.]+)%,actions\((.*)\)$", body or "", re.S)
        if not mo:
            raise OdpParseError(f"bad sample action {item!r}")
        prob = round(float(mo.group(1)) / 100.0 * 0xFFFFFFFF)
        return ("sample", prob, parse_actions(mo.group(2), {v: k for k, v in rev.items()}))
    if name == "ct":
        d = {}
        for f in _split_top(body or ""):
            k, eq, v = f.partition("=")
            if k in ("commit", "force_commit") and not eq:
                d[k] = True
            elif k == "zone":
                d["zone"] = _num(v)
            elif k in ("mark", "label"):
                a, _, b = v.partition("/")
                d[k] = (_num(a), _num(b) if b else (1 << (32 if k == "mark" else 128)) - 1)
            elif k in ("helper", "timeout"):
                d[k] = v
            elif k.startswith("nat"):
                d["nat"] = f
            else:
                raise OdpParseError(f"bad ct argument {f!r}")
        return ("ct", d)
    if name in ("trunc", "meter"):
        return (name, _num(body))
    if name == "tnl_pop":
        return ("tnl_pop", rev[body] if body in rev else _num(body))
    if name == "tnl_push":
        return ("tnl_push", item)
    if name == "push_mpls":
        d = _kv(body)
        lse = (_num(d["label"]) << 12 | _num(d["tc"]) << 9 | _num(d["bos"]) << 8
               | _num(d["ttl"]))
        return ("push_mpls", lse, _num(d["eth_type"]))
    if name == "pop_mpls":
        return ("pop_mpls", _num(_kv(body)["eth_type"]))
    raise OdpParseError(f"unknown datapath action {item!r}")
