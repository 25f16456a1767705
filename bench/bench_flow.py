"""Flow extraction speed: frames/s through datapath.flow.extract for a few frame shapes.

    python3 bench/bench_flow.py [N]

Also times the masked-key step the megaflow cache does per probed mask
(compile_masked_key, one 5-member mask) and, as the floor to compare with,
the slice-based exact key of performance-anchors.md §4.
"""

import sys
import time

from scapy.all import ARP, IP, TCP, UDP, Dot1Q, Ether, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6, Raw

sys.path.insert(0, ".")
from datapath.flow import compile_masked_key, extract  # noqa: E402

SHAPES = {
    "eth/ipv4/udp 60 B": Ether() / IP() / UDP() / Raw(b"\0" * 18),
    "eth/ipv4/tcp 60 B": Ether() / IP() / TCP(flags="A") / Raw(b"\0" * 6),
    "eth/802.1q/ipv4/udp 64 B": Ether() / Dot1Q(vlan=101) / IP() / UDP() / Raw(b"\0" * 18),
    "eth/ipv4+options/tcp": Ether() / IP(options=b"\x01" * 8) / TCP(),
    "eth/ipv6/udp": Ether() / IPv6() / UDP(),
    "eth/arp": Ether() / ARP(),
    "eth/ipv6/nd-ns+sll": Ether() / IPv6() / ICMPv6ND_NS(tgt="fe80::1") / ICMPv6NDOptSrcLLAddr(),
}


def rate(fn, arg, n):
    t0 = time.perf_counter()
    for _ in range(n):
        fn(arg)
    return n / (time.perf_counter() - t0)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    print(f"Python {sys.version.split()[0]}, {n:,} iterations each\n")
    print("| frame | frames/s | µs/frame |")
    print("|---|---|---|")
    for name, pkt in SHAPES.items():
        frame = bytes(pkt)
        r = max(rate(lambda f: extract(f, 1), frame, n) for _ in range(3))
        print(f"| {name} | {r:,.0f} | {1e6 / r:.2f} |")
    frame = bytes(SHAPES["eth/ipv4/udp 60 B"])
    flow = extract(frame, 1)
    key = compile_masked_key((("in_port", 0xFFFFFFFF), ("dl_type", 0xFFFF),
                              ("nw_dst", 0xFFFFFF00), ("nw_proto", 0xFF), ("tp_dst", 0xFFFF)))
    r = max(rate(key, flow, n) for _ in range(3))
    print(f"| masked key, 5 members (per probed mask) | {r:,.0f} | {1e6 / r:.2f} |")
    r = max(rate(lambda f: f[0:14] + f[23:24] + f[26:38], frame, n) for _ in range(3))
    print(f"| reference: slice-based exact key (anchors §4) | {r:,.0f} | {1e6 / r:.2f} |")


if __name__ == "__main__":
    main()
