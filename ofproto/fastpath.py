"""Flow_mod bytes -> FlowModSpec without building messages (the add-flows hot path).

Theory of operation
-------------------
``ovs-ofctl add-flows`` sends one flow_mod and one barrier at a time and waits,
so every microsecond of decoding is on the round trip; ``--bundle`` sends the
flow_mods inside BUNDLE_ADD_MESSAGEs, whose inner bytes the connection hands
here too (:meth:`.OFConn._bundle_add_fast`).  Within one run the flow_mods
differ almost only in their match: the fixed part (command, table, cookie,
timeouts, priority, flags...) and the actions/instructions repeat.

:func:`flow_mod_spec` splits a raw OF1.0 ``OFPT_FLOW_MOD``, ``NXT_FLOW_MOD`` or
OF1.1+ ``OFPT_FLOW_MOD`` into its match bytes and the rest (the *template*:
version, type, fixed fields, padding and actions/instructions bytes, plus
the connection's NXT_FLOW_MOD_TABLE_ID setting).  The first time a template
is seen the message goes through the general path (``ofp.decode`` +
:func:`.ofputil.decode_flow_mod`) and the resulting spec, minus its match,
is remembered; afterwards only the match is decoded (with the same
functions the general decoders use: ``parse_tlvs`` + ``OxmMatch.to_flow``,
``Match10.unpack`` + ``to_flow``; what those conclude from a TLV header
alone is kept per header) and put into a copy of the template.

Everything the general path concludes is a function of the template bytes
except the match itself and :func:`.ofputil.check_ofpacts`' prerequisite
checks (set_field, reg_load2, pop_vlan), which are re-run per message when
the actions contain one of those.  Whenever anything fails or looks unusual
the function returns None and the caller takes the general path, which
then produces the spec or the error exactly as before.  Bounded caches;
no I/O, no other state.
"""
from __future__ import annotations

import struct

from . import ofp
from . import ofputil as U
from .ofp import actions as A
from .ofp.match import (_CTX_FIELDS, _HEADERS, OFPFW10_ALL, FlowMatch, Match10,
                        _simple_fold, normalize_match, note_prereq_context)
from .ofp.nicira import NxFlowMod

_NX_FLOW_MOD = bytes.fromhex("000023200000000d")   # vendor NX, subtype NXT_FLOW_MOD
_HH = struct.Struct("!HH").unpack_from
_I = struct.Struct("!I").unpack_from
_H = struct.Struct("!H").unpack_from
_MAX_TEMPLATES = 4096

# template key -> (spec fields without "match", needs per-match check_ofpacts,
#                  check_ofpacts version argument)
_TEMPLATES: dict = {}
# Actions whose check_ofpacts outcome depends on the match (prerequisites).
_MATCH_DEPENDENT = (A.SetField, A.NxRegLoad2, A.PopVlan)


def _match_dependent(ofpacts) -> bool:
    return any(isinstance(a, _MATCH_DEPENDENT) for a in U._walk(ofpacts))


def flow_mod_spec(raw: bytes, table_id_ext: bool):
    """The FlowModSpec of flow_mod ``raw`` (a complete message whose header
    length is right), or None: not a flow_mod, or take the general path."""
    v, t = raw[0], raw[1]
    n = len(raw)
    if t == 14 and v >= 2:                          # OF1.1+ OFPT_FLOW_MOD
        if n < 56:
            return None
        mtype, mlen = _HH(raw, 48)
        if mtype != 1 or mlen < 4 or 48 + ((mlen + 7) & ~7) > n:
            return None
        mend = 48 + mlen
        key = (raw[:2] + raw[8:48] + raw[mend:], False)
        kind, moff = 1, 52
    elif t == 4 and raw[8:16] == _NX_FLOW_MOD:      # NXT_FLOW_MOD (any version)
        if n < 48:
            return None
        mlen, = _H(raw, 40)
        if 48 + ((mlen + 7) & ~7) > n:
            return None
        mend = 48 + mlen
        key = (raw[:2] + raw[16:48] + raw[mend:], table_id_ext)
        kind, moff = 2, 48
    elif t == 14 and v == 1:                        # OF1.0 OFPT_FLOW_MOD
        if n < 72:
            return None
        key = (raw[:2] + raw[48:], table_id_ext)
        kind = 0
    else:
        return None
    tpl = _TEMPLATES.get(key)
    if tpl is None:
        return _learn(raw, key, table_id_ext)
    fields, check, check_v = tpl
    try:
        if kind:
            match = _tlvs_to_flow(raw, moff, mend)
            if match is None or "cookie" in match:      # a cookie filter: general path
                return None
        else:
            m10 = Match10.unpack(raw, 8)
            if not m10.wildcards & OFPFW10_ALL:
                return None             # exact match: the priority changes (general path)
            match = normalize_match(m10.to_flow())
        if check:
            U.check_ofpacts(fields["ofpacts"], match, check_v, fields["table_id"])
    except Exception:                   # noqa: BLE001 - the general path reports it
        return None
    spec = object.__new__(U.FlowModSpec)
    d = spec.__dict__
    d.update(fields)
    d["match"] = match
    return spec


def _learn(raw: bytes, key, table_id_ext: bool):
    """General path for a new template; remember it when it succeeds."""
    try:
        msg = ofp.decode(raw)
        spec = U.decode_flow_mod(msg, table_id_ext=table_id_ext)
    except Exception:                   # noqa: BLE001 - the general path reports it
        return None
    fields = dict(spec.__dict__)
    del fields["match"]
    check = bool(spec.ofpacts) and _match_dependent(spec.ofpacts)
    check_v = 1 if isinstance(msg, NxFlowMod) else msg.version
    if len(_TEMPLATES) >= _MAX_TEMPLATES:
        _TEMPLATES.clear()
    _TEMPLATES[key] = (fields, check, check_v)
    return spec


# TLV header -> what _tlvs_to_flow needs of it: (value bytes, has mask, field name,
# prerequisite check or None, member or None, shift, unmasked mask, payload length,
# whether note_prereq_context cares).  Only headers parse_tlvs has validated
# (_HEADERS), each computed once (a function of the header).
_TLVS: dict = {}
_NOTED = _CTX_FIELDS | {"vlan_vid", "vlan_tci", "ip_proto", "ct_state"}


def _tlv_info(h: int):
    known = _HEADERS.get(h)
    if known is None:
        return None
    f, n, hm, name, prereq = known
    _, member, shift, unmasked = _simple_fold(f)
    if member is None and name != "in_port_oxm":
        return None                     # vlan_vid/pcp, xreg/xxreg: the general path
    info = (n, hm, name, prereq, member, shift, unmasked, h & 0xFF, name in _NOTED)
    if len(_TLVS) < 4096:
        _TLVS[h] = info
    return info


def _tlvs_to_flow(buf: bytes, off: int, end: int):
    """``OxmMatch(parse_tlvs(buf, off, end)).to_flow()`` for TLVs whose header
    ``parse_tlvs`` has already validated once (``_HEADERS``) and whose field
    folds simply (``_simple_fold``), with the same checks in the same order;
    None for anything else or anything wrong (the general path decides)."""
    acc: dict = {}
    seen = set()
    ctx: dict = {}
    tlvs = _TLVS
    from_bytes = int.from_bytes
    while off < end:
        if end - off < 4:
            return None
        h, = _I(buf, off)
        info = tlvs.get(h)
        if info is None:
            info = _tlv_info(h)
            if info is None:
                return None
        n, hm, name, prereq, member, shift, unmasked, tlen, noted = info
        p = off + 4
        off = p + tlen
        if off > end:
            return None
        value = from_bytes(buf[p:p + n], "big")
        mask = from_bytes(buf[p + n:off], "big") if hm else None
        if name in seen:
            return None
        seen.add(name)
        if prereq is not None and not prereq(ctx):
            return None
        if noted:
            note_prereq_context(ctx, name, value, mask)
        if member is None:
            # OxmMatch.to_flow's in_port_oxm branch (32-bit port mapped down).
            if mask is not None:
                return None
            if value >= 0xFF00:
                if value < 0xFFFFFF00:
                    return None                 # OFPBMC_BAD_VALUE: general path
                value -= 0xFFFF0000
            acc["in_port"] = (value, 0xFFFF)
            continue
        m = unmasked if mask is None else mask << shift
        v = value << shift
        old = acc.get(member)
        acc[member] = (v & m, m) if old is None else ((old[0] & ~m) | (v & m), old[1] | m)
    return FlowMatch(acc)
