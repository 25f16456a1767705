"""Per-action translation handlers for :mod:`.xlate` (``do_xlate_actions``'s switch).

Each handler takes the translation state (``xlate._Xlate``) and one
canonical ofpact (:mod:`.ofputil`); it changes the flow, un-wildcards what
it reads or writes, and may emit datapath actions through the state's
output/commit methods.  A handler returning True ends the current action
list (``dec_ttl`` on an expiring TTL, a missing group), as in OVS.
:data:`HANDLERS` maps action classes to handlers; :func:`action_text` is
the ``ofproto/trace`` text of an action (``ovs-ofctl`` syntax, with the OF1.0
names OVS keeps for ``mod_*`` actions).
"""

from __future__ import annotations

import struct

from .ofp import actions as A
from .ofp import instructions as I
from .ofp.groups import OFPGT_ALL, OFPGT_FF, OFPGT_INDIRECT, OFPGT_SELECT
from .ofp.learn import learn_specs
from .ofp.match import FlowMatch
from .ofp.render import format_action, ip4, mac
from .ofputil import FlowModSpec
from . import xlate as X

OFPP_ANY = 0xFFFF
OFPG_ANY = 0xFFFFFFFF


# ------------------------------------------------------------------ fields
def _write(x, member, shift, nbits, value, mask=None) -> None:
    """Write ``value`` into ``nbits`` bits of ``member`` at ``shift`` (under
    ``mask`` relative to those bits), un-wildcarding the bits written."""
    full = (1 << nbits) - 1
    m = (full if mask is None else mask & full) << shift
    v = (value << shift) & m
    x.flow[member] = (x.flow.get(member, 0) & ~m) | v
    x.wc[member] = x.wc.get(member, 0) | m


def _read(x, member, shift, nbits) -> int:
    m = ((1 << nbits) - 1) << shift
    x.wc[member] = x.wc.get(member, 0) | m
    return (x.flow.get(member, 0) & m) >> shift


def _set_vlan(x, vid=None, pcp=None, push_if_needed=True) -> None:
    mask = (0x0FFF if vid is not None else 0xE000) | X.VLAN_CFI
    x.wc["vlan_tci"] = x.wc.get("vlan_tci", 0) | mask
    tci = x.flow.get("vlan_tci", 0)
    if tci & X.VLAN_CFI or push_if_needed:
        if not x.flow.get("vlan_tpid"):
            x.flow["vlan_tpid"] = 0x8100
        if vid is not None:
            tci = (tci & ~0x0FFF) | (vid & 0x0FFF)
        if pcp is not None:
            tci = (tci & ~0xE000) | ((pcp & 7) << 13)
        x.flow["vlan_tci"] = tci | X.VLAN_CFI


def _set_field(x, name, value, mask=None) -> None:
    if name == "vlan_vid":
        if mask is None or mask & 0x0FFF == 0x0FFF:
            _set_vlan(x, vid=value)
        return
    if name == "vlan_pcp":
        _set_vlan(x, pcp=value)
        return
    if not X._prereq_ok(name, x.flow, x.wc):
        if mask is not None or name not in _LEGACY:     # OF1.0 mod_* ignore silently
            x.report("warn", f"unmet prerequisites for {name}, set_field ignored")
        return
    member, shift, nbits = X.field_member(name)
    _write(x, member, shift, nbits, value, mask)


def _subfield(header, ofs, nbits):
    f = X._field(header)
    member, shift, width = X.field_member(f.name)
    return f, member, shift + ofs, max(0, min(nbits, width - ofs))


def h_set_field(x, a):
    t = a.tlv
    _set_field(x, t.field.name, t.value, t.mask)


def h_reg_load(x, a):
    f, member, shift, nbits = _subfield(a.dst, a.ofs_nbits >> 6, (a.ofs_nbits & 0x3F) + 1)
    if X._prereq_ok(f.name, x.flow, x.wc):
        if f.name == "vlan_tci" and not (a.value << (a.ofs_nbits >> 6)) & X.VLAN_CFI:
            pass
        _write(x, member, shift, nbits, a.value)


def h_reg_move(x, a):
    _, sm, ss, n = _subfield(a.src, a.src_ofs, a.n_bits)
    df, dm, ds, _ = _subfield(a.dst, a.dst_ofs, a.n_bits)
    v = _read(x, sm, ss, n)
    if X._prereq_ok(df.name, x.flow, x.wc):
        _write(x, dm, ds, n, v)


def h_strip_vlan(x, a):
    f = x.flow
    if f.get("vlan_tci1", 0) & X.VLAN_CFI and f.get("vlan_tci", 0) & X.VLAN_CFI:
        x.wc["vlan_tci1"] = 0xFFFF
        f["vlan_tci"], f["vlan_tpid"] = f.get("vlan_tci1", 0), f.get("vlan_tpid1", 0)
        f["vlan_tci1"] = f["vlan_tpid1"] = 0
    elif f.get("vlan_tci", 0) & X.VLAN_CFI:
        f["vlan_tci"] = f["vlan_tpid"] = 0


def h_push_vlan(x, a):
    f = x.flow
    n = x._vlans(f)
    for i in range(len(n)):
        x.wc[("vlan_tci", "vlan_tci1")[i]] = 0xFFFF
    f["vlan_tci1"], f["vlan_tpid1"] = f.get("vlan_tci", 0), f.get("vlan_tpid", 0)
    f["vlan_tpid"], f["vlan_tci"] = a.ethertype, X.VLAN_CFI


def h_output(x, a):
    x.output(a.port, a.max_len)


def h_enqueue(x, a):
    x.output(a.port, 0)


def h_controller(x, a):
    x.controller(a.max_len, a.reason, a.controller_id, b"")


# NXAST_CONTROLLER2 property types (nicira-ext.h enum nx_action_controller2_prop_type).
NXAC2PT_MAX_LEN, NXAC2PT_CONTROLLER_ID, NXAC2PT_REASON, NXAC2PT_USERDATA = 0, 1, 2, 3


def h_controller2(x, a):
    """``controller(max_len=..,id=..,reason=..,userdata=..)``: properties
    after 6 pad bytes (``data`` starts after them); pause/meter_id ignored."""
    max_len, cid, reason, userdata = 0xFFFF, 0, X.OFPR_ACTION, b""
    d, off = a.data, 0
    while off + 4 <= len(d):
        t, n = struct.unpack_from("!HH", d, off)
        if n < 4:
            break
        v = d[off + 4:off + n]
        if t == NXAC2PT_MAX_LEN and len(v) >= 2:
            max_len = int.from_bytes(v[:2], "big")
        elif t == NXAC2PT_CONTROLLER_ID and len(v) >= 2:
            cid = int.from_bytes(v[:2], "big")
        elif t == NXAC2PT_REASON and v:
            reason = v[0]
        elif t == NXAC2PT_USERDATA:
            userdata = bytes(v)
        off += (n + 7) & ~7
    x.controller(max_len, reason, cid, userdata)


def h_resubmit(x, a):
    table = getattr(a, "table", 255)
    x.resubmit(a.in_port, x.table_id if table == 255 else table)


def h_goto(x, a):
    x.resubmit(X.OFPP_IN_PORT, a.table_id)


def h_write_metadata(x, a):
    x.flow["metadata"] = (x.flow.get("metadata", 0) & ~a.mask) | (a.metadata & a.mask)


def h_dec_ttl(x, a, ids=(0,)):
    if x.flow.get("dl_type") not in (X.ETH_IP, X.ETH_IPV6):
        return None
    x.wc["nw_ttl"] = 0xFF
    if x.flow.get("nw_ttl", 0) > 1:
        x.flow["nw_ttl"] -= 1
        return None
    for cid in ids:
        x.controller(0xFFFF, X.OFPR_INVALID_TTL, cid, b"")
    x.report("warn", ("IPv4" if x.flow.get("dl_type") == X.ETH_IP else "IPv6")
             + " decrement TTL exception")
    return True


def h_dec_ttl_ids(x, a):
    return h_dec_ttl(x, a, a.ports or (0,))


def h_set_nw_ttl(x, a):
    if x.flow.get("dl_type") in (X.ETH_IP, X.ETH_IPV6):
        x.wc["nw_ttl"] = 0xFF
        x.flow["nw_ttl"] = a.nw_ttl


def h_set_tunnel(x, a):
    x.flow["tun_id"] = a.tun_id


def h_exit(x, a):
    x.exit = True


def h_noop(x, a):
    return None


def h_conjunction(x, a):
    x.report("error", "executing no-op conjunction action")


def h_unsupported(x, a):
    x.report("error", f"{type(a).NAME} is not supported by this switch, ignored")


def h_output_reg(x, a):
    ofs, nbits = a.ofs_nbits >> 6, (a.ofs_nbits & 0x3F) + 1
    _, m, s, n = _subfield(a.src, ofs, nbits)
    port = _read(x, m, s, n)
    if port <= 0xFFFF:
        x.report("detail", f"output port is {port}")
        x.output(port, a.max_len)
    else:
        x.report("warn", f"output port {port} is out of range")


def h_clear_actions(x, a):
    x.action_set = []


def h_write_actions(x, a):
    x.action_set = [b for b in x.action_set
                    if _set_category(b) not in {_set_category(c) for c in a.actions}
                    or _set_category(b) == 5] + list(a.actions)


def h_clone(x, a):
    flow = dict(x.flow)
    x.do_actions(a.actions)
    x.flow = flow


def h_ct(x, a):
    x.report("error", "ct is not supported by this switch (no connection tracker)")


# ------------------------------------------------------------------ hashing
def symmetric_l4_hash(x, basis: int = 0) -> int:
    """A symmetric hash of L2-L4 (OVS's NX_HASH_FIELDS_SYMMETRIC_L4
    fields), un-wildcarding them."""
    f = x.flow
    for m in ("dl_src", "dl_dst"):
        x.unwild(m)
    x.wc["vlan_tci"] = x.wc.get("vlan_tci", 0) | 0x1FFF
    h = basis
    h = X._mhash_add(h, (f.get("dl_src", 0) ^ f.get("dl_dst", 0)) & 0xFFFFFFFF)
    h = X._mhash_add(h, ((f.get("dl_src", 0) ^ f.get("dl_dst", 0)) >> 32) & 0xFFFF)
    h = X._mhash_add(h, f.get("vlan_tci", 0) & 0x1FFF)
    dl = f.get("dl_type", 0)
    if dl == X.ETH_IP:
        x.unwild("nw_src"), x.unwild("nw_dst")
        h = X._mhash_add(h, f.get("nw_src", 0) ^ f.get("nw_dst", 0))
    elif dl == X.ETH_IPV6:
        x.unwild("ipv6_src"), x.unwild("ipv6_dst")
        v = f.get("ipv6_src", 0) ^ f.get("ipv6_dst", 0)
        for i in range(4):
            h = X._mhash_add(h, (v >> (32 * i)) & 0xFFFFFFFF)
    if dl in (X.ETH_IP, X.ETH_IPV6):
        x.unwild("nw_proto")
        proto = f.get("nw_proto", 0)
        h = X._mhash_add(h, proto)
        if proto in (6, 17, 132):
            x.unwild("tp_src"), x.unwild("tp_dst")
            h = X._mhash_add(h, f.get("tp_src", 0) ^ f.get("tp_dst", 0))
    h = X._mhash_add(h, dl)
    return X._mhash_finish(h)


# ------------------------------------------------------------------ groups
def _port_live(x, port) -> bool:
    p = x.ctx.ports.get(port)
    return p is not None and p.live


def _bucket_alive(x, b, depth=0) -> bool:
    if depth > 32:
        return False
    if b.watch_port not in (OFPP_ANY, 0xFFFFFFFF) and not _port_live(x, b.watch_port):
        return False
    if b.watch_group != OFPG_ANY:
        g = x.ctx.groups.get(b.watch_group) if x.ctx.groups else None
        return g is not None and any(_bucket_alive(x, c, depth + 1) for c in g.buckets)
    return True


def h_group(x, a):
    g = x.ctx.groups.get(a.group_id) if x.ctx.groups is not None else None
    if g is None:
        return True
    if g.type in (OFPGT_ALL, OFPGT_INDIRECT):
        chosen = list(enumerate(g.buckets))
    elif g.type == OFPGT_FF:
        chosen = [(i, b) for i, b in enumerate(g.buckets) if _bucket_alive(x, b)][:1]
    else:
        basis = symmetric_l4_hash(x)
        best, best_score = None, 0
        for i, b in enumerate(g.buckets):
            if _bucket_alive(x, b):
                score = (X._hash_int(b.bucket_id, basis) & 0xFFFF) * b.weight
                if best is None or score >= best_score:
                    best, best_score = (i, b), score
        chosen = [best] if best else []
    if not chosen:
        x.report("warn", "no live bucket")
    if x.depth >= x.max_depth:
        x.report("error", f"over max translation depth {x.max_depth}")
        x.error = "depth"
        raise X._Abort
    for i, b in chosen:
        x.groups_hit.append((a.group_id, i))
        saved_flow, saved_t, saved_in = dict(x.flow), x.tlist, x.in_group
        x.tlist = x.nest("bucket", f"bucket {b.bucket_id}")
        x.in_group = True
        x.depth += 1
        try:
            x.do_actions(action_set_order(b.actions))
        finally:
            x.depth -= 1
            x.flow, x.tlist, x.in_group = saved_flow, saved_t, saved_in
            x.exit = False
    return None


# ------------------------------------------------------------------ learn
def h_learn(x, a):
    specs = learn_specs(a)
    for s in specs:
        if s.src_field is not None:
            _, m, sh, n = _subfield(s.src_field, s.src_ofs, s.n_bits)
            x.wc[m] = x.wc.get(m, 0) | (((1 << n) - 1) << sh)
    if not x.side_effects:
        x.report("warn", "suppressing side effects, so learn action ignored")
        return None
    match, acts = {}, []
    for s in specs:
        if s.src_field is not None:
            _, m, sh, n = _subfield(s.src_field, s.src_ofs, s.n_bits)
            v = (x.flow.get(m, 0) >> sh) & ((1 << n) - 1)
        else:
            v = s.src_value & ((1 << s.n_bits) - 1)
        if s.dst == "match":
            _, m, sh, n = _subfield(s.dst_field, s.dst_ofs, s.n_bits)
            mask = ((1 << n) - 1) << sh
            ov, om = match.get(m, (0, 0))
            match[m] = ((ov & ~mask) | (v << sh & mask), om | mask)
        elif s.dst == "load":
            acts.append(A.NxRegLoad(ofs_nbits=(s.dst_ofs << 6) | (s.n_bits - 1),
                                    dst=s.dst_field, value=v))
        else:
            acts.append(A.Output10(port=v, max_len=0))
    flags = frozenset({"send_flow_rem"} if a.flags & 1 else ())
    spec = FlowModSpec(command="add", table_id=a.table_id, match=FlowMatch(match),
                       priority=a.priority, cookie=a.cookie, new_cookie=a.cookie,
                       idle_timeout=a.idle_timeout, hard_timeout=a.hard_timeout,
                       flags=flags, ofpacts=tuple(acts))
    x.learned_flows.append(spec)
    from .ofp.render import format_match, format_actions
    x.report("detail", f"table={a.table_id} {format_match(spec.match, a.priority)} "
             f"priority={a.priority} actions={format_actions(spec.ofpacts)}")
    return None


# ------------------------------------------------------------------ multipath / bundle
def h_multipath(x, a):
    n = a.max_link + 1
    h = symmetric_l4_hash(x, a.basis)
    link = h % n if a.algorithm in (0, 1, 3) else 0
    if a.algorithm == 2:       # hrw
        link = max(range(n), key=lambda i: (X._hash_int(i, h), -i))
    _, m, sh, nb = _subfield(a.dst, a.ofs_nbits >> 6, (a.ofs_nbits & 0x3F) + 1)
    x.flow[m] = (x.flow.get(m, 0) & ~(((1 << nb) - 1) << sh)) | (link << sh)


def _bundle_pick(x, a):
    live = [p for p in a.ports if _port_live(x, p)]
    if not live:
        return OFPP_ANY
    if a.algorithm == 0:       # active_backup
        return live[0]
    h = symmetric_l4_hash(x, a.basis)
    return max(live, key=lambda p: X._hash_int(p, h))


def h_bundle(x, a):
    p = _bundle_pick(x, a)
    if p != OFPP_ANY:
        x.output(p, 0)


def h_bundle_load(x, a):
    p = _bundle_pick(x, a)
    _, m, sh, nb = _subfield(a.dst, a.ofs_nbits >> 6, (a.ofs_nbits & 0x3F) + 1)
    x.flow[m] = (x.flow.get(m, 0) & ~(((1 << nb) - 1) << sh)) | ((p & ((1 << nb) - 1)) << sh)


# ------------------------------------------------------------------ action set
def _set_category(a) -> int:
    """OVS's action-set order: pop vlan, push mpls/pbb/vlan, dec ttl, set
    fields, queue, then output or group (one of them)."""
    t = type(a)
    if t in (A.PopVlan, A.StripVlan, A.PopMpls, A.NxPopMpls):
        return 0
    if t in (A.PushMpls, A.NxPushMpls, A.PushVlan):
        return 1
    if t in (A.DecNwTtl, A.NxDecTtl, A.DecMplsTtl, A.NxDecMplsTtl):
        return 2
    if t in (A.SetQueue, A.NxSetQueue):
        return 4
    if t in (A.Output10, A.Output, A.Group, A.NxGroup, A.Enqueue):
        return 6
    return 3


def action_set_order(actions) -> list:
    acts = sorted(actions, key=_set_category)
    group = [a for a in acts if type(a) in (A.Group, A.NxGroup)]
    if group:
        acts = [a for a in acts if _set_category(a) != 6] + group[-1:]
    return acts


# ------------------------------------------------------------------ trace text
_LEGACY = {"eth_src": lambda v: f"mod_dl_src:{mac(v)}", "eth_dst": lambda v: f"mod_dl_dst:{mac(v)}",
           "ip_src": lambda v: f"mod_nw_src:{ip4(v)}", "ip_dst": lambda v: f"mod_nw_dst:{ip4(v)}",
           "ip_dscp": lambda v: f"mod_nw_tos:{v << 2}", "tcp_src": lambda v: f"mod_tp_src:{v}",
           "tcp_dst": lambda v: f"mod_tp_dst:{v}", "udp_src": lambda v: f"mod_tp_src:{v}",
           "udp_dst": lambda v: f"mod_tp_dst:{v}", "nw_ttl": lambda v: f"mod_nw_ttl:{v}"}


def action_text(a) -> str:
    t = type(a)
    if t is A.SetField and a.tlv.mask is None and a.tlv.field.name in _LEGACY:
        return _LEGACY[a.tlv.field.name](a.tlv.value)
    if t is A.PopVlan:
        return "strip_vlan"
    if t is I.GotoTable:
        return f"goto_table:{a.table_id}"
    if t is I.WriteMetadata:
        return (f"write_metadata:{a.metadata:#x}" if a.mask == (1 << 64) - 1
                else f"write_metadata:{a.metadata:#x}/{a.mask:#x}")
    if t is I.ClearActions:
        return "clear_actions"
    if t is I.WriteActions:
        from .ofp.render import format_actions
        return f"write_actions({format_actions(a.actions)})"
    if t is I.MeterInstruction:
        return f"meter:{a.meter_id}"
    try:
        return format_action(a)
    except Exception:       # noqa: BLE001 - trace text must never fail translation
        return type(a).NAME


HANDLERS = {
    A.Output10: h_output, A.Output: h_output, A.Enqueue: h_enqueue,
    A.SetVlanVid: lambda x, a: _set_vlan(x, vid=a.vlan_vid),
    A.SetVlanPcp: lambda x, a: _set_vlan(x, pcp=a.vlan_pcp),
    A.StripVlan: h_strip_vlan, A.PopVlan: h_strip_vlan, A.PushVlan: h_push_vlan,
    A.SetField: h_set_field, A.NxRegLoad2: h_set_field, A.NxRegLoad: h_reg_load,
    A.NxRegMove: h_reg_move,
    A.NxResubmit: h_resubmit, A.NxResubmitTable: h_resubmit, I.GotoTable: h_goto,
    I.WriteMetadata: h_write_metadata, A.NxWriteMetadata: h_write_metadata,
    I.ClearActions: h_clear_actions, I.WriteActions: h_write_actions,
    I.MeterInstruction: h_noop, A.Meter: h_noop,
    A.DecNwTtl: h_dec_ttl, A.NxDecTtl: h_dec_ttl, A.NxDecTtlCntIds: h_dec_ttl_ids,
    A.SetNwTtl: h_set_nw_ttl,
    A.NxController: h_controller, A.NxController2: h_controller2,
    A.NxNote: h_noop, A.NxExit: h_exit, A.NxFinTimeout: h_noop,
    A.SetQueue: h_noop, A.NxSetQueue: h_noop, A.NxPopQueue: h_noop,
    A.NxSetTunnel: h_set_tunnel, A.NxSetTunnel64: h_set_tunnel,
    A.Group: h_group, A.NxGroup: h_group,
    A.NxLearn: h_learn, A.NxMultipath: h_multipath,
    A.NxBundle: h_bundle, A.NxBundleLoad: h_bundle_load,
    A.NxOutputReg: h_output_reg, A.NxConjunction: h_conjunction,
    A.NxClone: h_clone, A.NxCt: h_ct,
    A.PushMpls: h_unsupported, A.PopMpls: h_unsupported, A.NxPushMpls: h_unsupported,
    A.NxPopMpls: h_unsupported,
}
