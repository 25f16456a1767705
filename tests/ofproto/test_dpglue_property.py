"""The megaflow contract end to end: forwarding through DpGlue's cache gives what a
from-scratch translation of every packet gives, also after flow-mods (revalidation)."""
from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datapath.execute import execute
from ofproto import xlate
from ofproto.dpglue import _extract

from ofproto.ofp.parse import parse_flow

from .test_dpglue import Conn, Rig

PORTS = (1, 2, 3, 4)
IPS = ("10.0.0.1", "10.0.0.2", "10.0.0.3")


def _match():
    return st.lists(st.sampled_from((
        "in_port=1", "in_port=2", "dl_vlan=10", "dl_vlan=20", "ip", "ip,nw_dst=10.0.0.2",
        "tcp", "tcp,tp_dst=80", "udp,tp_dst=53", "dl_dst=00:00:00:00:00:02")),
        max_size=2).map(lambda ms: ",".join(_merge(ms)))


def _merge(ms):
    # one protocol keyword at most (tcp implies ip): keep the most specific
    out, proto = [], None
    for m in ms:
        for part in m.split(","):
            if part in ("ip", "tcp", "udp"):
                proto = part if proto in (None, "ip") else proto
            elif part.startswith("tp_dst") and proto not in ("tcp", "udp"):
                continue
            elif part.startswith("nw_dst") and proto is None:
                proto = "ip"
                out.append(part)
            elif part not in out and not any(p.split("=")[0] == part.split("=")[0] for p in out):
                out.append(part)
    if any(p.startswith("tp_dst") for p in out) and proto not in ("tcp", "udp"):
        out = [p for p in out if not p.startswith("tp_dst")]
    return ([proto] if proto else []) + out


def _actions(table):
    simple = st.sampled_from(("output:1", "output:2", "output:3", "output:4",
                              "mod_vlan_vid:30", "strip_vlan", "mod_nw_dst:10.0.0.9",
                              "mod_tp_dst:8080", "mod_dl_src:00:00:00:00:00:aa", "in_port"))
    more = [simple]
    if table < 2:
        more.append(st.just(f"resubmit(,{table + 1})"))
    return st.lists(st.one_of(*more), max_size=4).map(lambda a: ",".join(a) or "drop")


@st.composite
def rules(draw):
    out = []
    for table in (0, 1, 2):
        for _ in range(draw(st.integers(0, 4))):
            m = draw(_match())
            prio = draw(st.integers(1, 5))
            out.append(f"table={table},priority={prio}" + (f",{m}" if m else "")
                       + " actions=" + draw(_actions(table)))
    return out


def _ip(a):
    return bytes(int(x) for x in a.split("."))


@st.composite
def packets(draw):
    port = draw(st.sampled_from(PORTS))
    dst = bytes.fromhex("00000000000" + draw(st.sampled_from("12")))
    eth = dst + bytes.fromhex("000000000001")
    vlan = draw(st.sampled_from((None, 10, 20)))
    if vlan is not None:
        eth += struct.pack("!HH", 0x8100, vlan)
    kind = draw(st.sampled_from(("tcp", "udp", "arp")))
    if kind == "arp":
        body = bytes.fromhex("0806000108000604000100000000000100000000000000000000000000000000")
        return port, eth + body
    sport, dport = draw(st.sampled_from((80, 53, 1234))), draw(st.sampled_from((80, 53, 99)))
    l4 = (struct.pack("!HHIIBBHHH", sport, dport, 0, 0, 0x50, 0x02, 8192, 0, 0)
          if kind == "tcp" else struct.pack("!HHHH", sport, dport, 8, 0))
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64,
                     6 if kind == "tcp" else 17, 0, _ip("10.0.0.1"),
                     _ip(draw(st.sampled_from(IPS))))
    return port, eth + b"\x08\x00" + ip + l4


def _oracle(rig, port, frame):
    """Translate this packet from scratch and execute: (dp port, bytes) list."""
    bg = rig.bg
    dp_no = bg.of2dp[port]
    flow = dict(_extract(frame, dp_no))
    flow["in_port"] = port
    xr = xlate.translate(rig.glue.xlate_context(bg), flow, frame, side_effects=False)
    return list(execute(frame, list(xr.actions)).outputs)


def _through_cache(rig, port, frame, sent):
    sent.clear()
    be = rig.bg.backend
    rig.glue.receive(be, rig.bg.of2dp[port], [frame])
    return list(sent)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(rules(), st.lists(packets(), min_size=1, max_size=12), rules(),
       st.lists(packets(), min_size=1, max_size=12))
def test_cache_equals_scratch_translation(tmp_path_factory, rules1, pkts1, rules2, pkts2):
    rig = Rig(tmp_path_factory.mktemp("p"), [(f"p{i}", i, None, ()) for i in PORTS])
    sent = []
    rig.glue._send = lambda be, res: sent.extend(res.outputs)
    for r in rules1:
        rig.flow(r)
    for port, frame in pkts1 + pkts1:                # the second round hits megaflows
        assert _through_cache(rig, port, frame, sent) == _oracle(rig, port, frame)
    msg = parse_flow("", adding=False).to_flow_mod(3)      # delete all, then new rules
    rig.ofp.flows.h_flow_mod(Conn(), msg, rig.clock())
    rig.ofp.on_flows_changed(rig.ofp)
    for r in rules2:
        rig.flow(r)
    for port, frame in pkts1 + pkts2 + pkts2:
        assert _through_cache(rig, port, frame, sent) == _oracle(rig, port, frame)
