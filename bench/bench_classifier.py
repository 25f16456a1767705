"""Benchmark the OpenFlow classifier: flow-mod inserts and upcall lookups.

Run: python3 bench/bench_classifier.py [n_rules]
Inserts n rules (default 100,000) of a few shapes - exact 5-tuple-ish
(in_port, ip, nw_proto, nw_dst, tp_dst), /24 nw_dst prefixes, and
in_port+dl_dst L2 rules - then measures lookups (with and without the
megaflow wildcards) on classifiers whose rules span 1, 4 and 16 subtables,
and the width of the megaflows a miss-heavy traffic mix produces.
"""
import os
import platform
import random
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from ofproto.classifier import Classifier, Rule  # noqa: E402
from ofproto.ofp.match import FlowMatch  # noqa: E402

FULL16, FULL32, FULL48 = 0xFFFF, 0xFFFFFFFF, (1 << 48) - 1


def shape_matches(n, rnd):
    """n matches of three shapes, each a third of n."""
    out = []
    for i in range(n):
        s = i % 3
        if s == 0:
            out.append(FlowMatch.exact(in_port=1 + i % 16, dl_type=0x0800, nw_proto=6,
                                       nw_dst=0x0A000000 + i, tp_dst=80 + i % 100))
        elif s == 1:
            out.append(FlowMatch({"dl_type": (0x0800, FULL16),
                                  "nw_dst": ((0xAC000000 + (i << 8)) & FULL32, 0xFFFFFF00)}))
        else:
            out.append(FlowMatch.exact(in_port=1 + i % 16, dl_dst=0x020000000000 + i))
    return out


def subtable_shapes(k):
    """k distinct masks: nw_dst prefix lengths 17..32 crossed with tp_dst."""
    shapes = []
    for j in range(k):
        plen = 32 - j
        shapes.append(((FULL32 << (32 - plen)) & FULL32))
    return shapes


def build(k, n, rnd, prefix_fields=None):
    """A classifier with n rules spread over k subtables (distinct nw_dst
    prefix lengths), priority = prefix length (longest prefix match)."""
    cls = Classifier() if prefix_fields is None else Classifier(prefix_fields)
    for i in range(n):
        plen = 32 - (i % k)
        mask = (FULL32 << (32 - plen)) & FULL32
        v = rnd.getrandbits(32) & mask
        cls.insert(Rule(FlowMatch({"dl_type": (0x0800, FULL16), "nw_dst": (v, mask)}),
                        plen, i))
    return cls


def packets(n, rnd):
    return [{"in_port": 1, "dl_type": 0x0800, "nw_proto": 6, "nw_src": rnd.getrandbits(32),
             "nw_dst": rnd.getrandbits(32), "tp_src": rnd.getrandbits(16), "tp_dst": 80}
            for _ in range(n)]


def lookup_rate(cls, pkts, with_wc):
    t = time.perf_counter()
    if with_wc:
        for p in pkts:
            cls.lookup(p, {})
    else:
        for p in pkts:
            cls.lookup(p)
    return len(pkts) / (time.perf_counter() - t)


def main(n=100000):
    rnd = random.Random(1)
    print(f"# {time.strftime('%Y-%m-%d')} {platform.python_implementation()} "
          f"{platform.python_version()} {platform.processor() or platform.machine()}")
    ms = shape_matches(n, rnd)
    rules = [Rule(m, 100 + i % 3, i) for i, m in enumerate(ms)]
    cls = Classifier()
    t = time.perf_counter()
    for r in rules:
        cls.insert(r)
    dt = time.perf_counter() - t
    # Memory on a fifth of the rules (tracemalloc slows inserts ~5x).
    part = [Rule(r.match, r.priority, r.payload) for r in rules[: n // 5]]
    tracemalloc.start()
    c = Classifier()
    for r in part:
        c.insert(r)
    mem = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del c
    print(f"insert {n} rules (3 shapes): {dt:.2f} s, {dt / n * 1e6:.1f} us/rule, "
          f"{cls.n_subtables} subtables, ~{mem / len(part):.0f} B/rule "
          f"(classifier only; matches are the caller's)")
    t = time.perf_counter()
    for r in rules[: n // 10]:
        cls.remove(r)
    dt = time.perf_counter() - t
    print(f"remove {n // 10} rules: {dt / (n // 10) * 1e6:.1f} us/rule")
    pk = packets(20000, rnd)
    print(f"{'subtables':>9} {'tries':>5} {'rules':>7} {'lookup/s':>10} {'+wc /s':>10} "
          f"{'us +wc':>7} {'avg wc bits':>11}")
    for k in (1, 4, 16):
        for tries in (True, False):
            c = build(k, n, random.Random(1000 + k), None if tries else ())
            r0 = lookup_rate(c, pk, False)
            r1 = lookup_rate(c, pk, True)
            bits = 0
            for p in pk[:2000]:
                wc = {}
                c.lookup(p, wc)
                bits += sum(bin(v).count("1") for v in wc.values())
            print(f"{k:>9} {'yes' if tries else 'no':>5} {len(c):>7} {r0:>10.0f} {r1:>10.0f} "
                  f"{1e6 / r1:>7.1f} {bits / 2000:>11.1f}")
    # Mixed table: the 3-shape classifier above.
    r0 = lookup_rate(cls, pk, False)
    r1 = lookup_rate(cls, pk, True)
    print(f"{'mixed':>9} {'yes':>5} {len(cls):>7} {r0:>10.0f} {r1:>10.0f} {1e6 / r1:>7.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100000)
