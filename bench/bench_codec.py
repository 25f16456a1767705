"""Benchmark the OpenFlow codec on typical flow-mods (messages/second).

Run: python3 bench/bench_codec.py
Messages: OF1.0 FLOW_MOD (ofp10_match, 2 actions), NXT_FLOW_MOD (NXM, 5 fields,
3 actions), OF1.3 FLOW_MOD (OXM, 5 fields, apply_actions with 3 actions).
Also times construct's compiled parser on the same OF1.0 fixed part, which is
why the hot path uses struct layouts derived from the construct declarations.
"""
import os
import platform
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import ofproto.ofp as ofp  # noqa: E402
from ofproto.ofp import actions as A  # noqa: E402
from ofproto.ofp.instructions import ApplyActions  # noqa: E402
from ofproto.ofp.match import FlowMatch, Match10, OxmMatch  # noqa: E402
from ofproto.ofp.messages import ofp10_flow_mod  # noqa: E402


def five_fields():
    return FlowMatch.exact(in_port=1, dl_type=0x0800, nw_proto=6, nw_dst=0x0A000002, tp_dst=80)


def messages():
    fm = five_fields()
    of10 = ofp.FlowMod(version=1, priority=100, match=Match10.from_flow(fm),
                       actions=(A.SetNwDst10(nw_addr=0x0A000003), A.Output10(port=2, max_len=0)))
    nx = ofp.NxFlowMod(version=1, priority=100, match=OxmMatch.from_flow(fm, oxm=False),
                       actions=(A.NxRegLoad(ofs_nbits=31, dst=0x00010004, value=5),
                                A.NxResubmitTable(in_port=0xFFF8, table=1),
                                A.Output10(port=2, max_len=0)))
    of13 = ofp.FlowMod(version=4, priority=100, match=OxmMatch.from_flow(fm),
                       instructions=(ApplyActions((A.PushVlan(ethertype=0x8100),
                                                   A.Group(group_id=3),
                                                   A.Output(port=2, max_len=0))),))
    return {"OF1.0 FLOW_MOD": of10.encode(), "NXT_FLOW_MOD (NXM)": nx.encode(),
            "OF1.3 FLOW_MOD (OXM)": of13.encode()}


def rate(fn, arg, n):
    t = time.perf_counter()
    for _ in range(n):
        fn(arg)
    return n / (time.perf_counter() - t)


def main(n=50000):
    print(f"# {time.strftime('%Y-%m-%d')} {platform.python_implementation()} "
          f"{platform.python_version()} {platform.processor() or platform.machine()}")
    print(f"{'message':24} {'bytes':>5} {'decode/s':>10} {'encode/s':>10} {'rt us':>7}")
    for name, data in messages().items():
        msg = ofp.decode(data)
        d = rate(ofp.decode, data, n)
        e = rate(ofp.encode, msg, n)
        print(f"{name:24} {len(data):5} {d:10.0f} {e:10.0f} {1e6 / d + 1e6 / e:7.1f}")
    compiled = ofp10_flow_mod.decl.compile()
    body = messages()["OF1.0 FLOW_MOD"][48:72]
    c = rate(compiled.parse, body, n)
    s = rate(lambda b: ofp10_flow_mod.unpack(b, 0), body, n)
    print(f"ofp10_flow_mod fixed part: construct compiled {c:,.0f}/s, struct layout {s:,.0f}/s")


if __name__ == "__main__":
    main()
