"""In-process cost of the datapath's fast tier: megaflow hit, miss+put, mask explosion.

    python3 bench/bench_megaflow.py [--frames N] [--rounds R]

Every figure is receive_batch(port, 256 frames) end to end (exact-match
front or flow extraction, megaflow lookup, action execution, outputs list),
divided per packet; median of R rounds.  The matching megaflow sits in the
*last* subtable probed (worst case for N masks; ``optimize`` would move it
first).
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from datapath.dpif import Datapath          # noqa: E402
from datapath.flow import extract           # noqa: E402

BATCH = 256


def udp_frame(sport=1000, dport=53, dst=0x0A000002):
    payload = b"x" * 18
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 46, 0, 0, 64, 17, 0, 0x0A000001, dst)
    udp = struct.pack("!HHHH", sport, dport, 26, 0)
    return b"\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x01\x08\x00" + ip + udp + payload


def timeit(fn, rounds):
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        n = fn()
        out.append((time.perf_counter() - t0) / n)
    return statistics.median(out) * 1e9


def dp_with_masks(n_masks, emc, actions=(("output", 2),)):
    """n_masks subtables on port 1; the test packet's megaflow is in the last."""
    dp = Datapath("ovs-dummy", "dummy", emc=emc)
    dp.port_add("p1")
    dp.port_add("p2")
    for i in range(n_masks - 1):
        # distinct masks (nw_src prefix lengths), none matching the packet
        mask = {"dl_type": 0xFFFF, "nw_src": (0xFFFFFFFF << (31 - i)) & 0xFFFFFFFF,
                "tp_src": 0xFFFF}
        dp.flow_put({"in_port": 1, "dl_type": 0x0800, "nw_src": 0xC0A80000,
                     "tp_src": 60000 + i}, mask, actions, 0)
    f = extract(udp_frame(), 1)
    dp.flow_put(f, {"dl_type": 0xFFFF, "nw_dst": 0xFFFFFFFF, "nw_frag": 0xFF}, actions, 0)
    assert dp.cache.n_masks == n_masks, dp.cache.n_masks
    return dp


def bench_hit(n_masks, emc, rounds, actions=(("output", 2),)):
    dp = dp_with_masks(n_masks, emc, actions)
    frames = [udp_frame()] * BATCH

    def run():
        res = dp.receive_batch(1, frames, 1)
        assert len(res.outputs) == BATCH
        return BATCH
    return timeit(run, rounds)


def bench_miss(rounds):
    answer = ((("output", 2),), {"dl_type": 0xFFFF, "nw_frag": 0xFF, "tp_src": 0xFFFF,
                                 "nw_proto": 0xFF})
    dp = Datapath("ovs-dummy", "dummy", upcall_handler=lambda up: answer)
    dp.port_add("p1")
    dp.port_add("p2")
    frames = [udp_frame(sport=s) for s in range(BATCH)]

    def run():
        dp.flow_flush()
        res = dp.receive_batch(1, frames, 1)
        assert len(res.outputs) == BATCH and len(dp.cache) == BATCH
        return BATCH
    return timeit(run, rounds)


def bench_upcall_async(rounds):
    """Miss returned as an Upcall, answered through handle_upcall_result."""
    mask = {"dl_type": 0xFFFF, "nw_frag": 0xFF, "tp_src": 0xFFFF, "nw_proto": 0xFF}
    dp = Datapath("ovs-dummy", "dummy")
    dp.port_add("p1")
    dp.port_add("p2")
    frames = [udp_frame(sport=s) for s in range(BATCH)]

    def run():
        dp.flow_flush()
        res = dp.receive_batch(1, frames, 1)
        for up in res.upcalls:
            dp.handle_upcall_result(up, (("output", 2),), mask, 1)
        return BATCH
    return timeit(run, rounds)


def bench_explosion(n_rules, emc, rounds):
    """One megaflow per distinct mask (nw_dst x tp_dst prefix lengths, each
    with its own exact udp src port, so none covers another); the traffic
    cycles over all of them."""
    dp = Datapath("ovs-dummy", "dummy", emc=emc)
    dp.port_add("p1")
    dp.port_add("p2")
    masks = []
    for a in range(1, 33):
        for b in range(1, 17):
            masks.append({"dl_type": 0xFFFF, "nw_frag": 0xFF, "tp_src": 0xFFFF,
                          "nw_dst": (0xFFFFFFFF << (32 - a)) & 0xFFFFFFFF,
                          "tp_dst": (0xFFFF << (16 - b)) & 0xFFFF, "nw_proto": 0xFF})
    masks = masks[:n_rules]
    frames = []
    for i, m in enumerate(masks):
        fr = udp_frame(sport=i, dport=0x8000 | i, dst=0x0A000000 | i)
        dp.flow_put(extract(fr, 1), m, (("output", 2),), 0)
        frames.append(fr)
    n = dp.cache.n_masks
    batch = (frames * (BATCH // len(frames) + 1))[:BATCH]

    def run():
        dp.receive_batch(1, batch, 1)
        return BATCH
    return n, timeit(run, rounds)


def bench_parts(rounds):
    f = udp_frame()
    frames = [f] * BATCH
    dp = dp_with_masks(1, False)
    look = dp.cache.lookup
    flow = extract(f, 1)

    def ex():
        for fr in frames:
            extract(fr, 1)
        return BATCH

    def lk():
        for _ in frames:
            look(flow)
        return BATCH
    return timeit(ex, rounds), timeit(lk, rounds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    r = args.rounds
    print(f"# bench_megaflow  CPython {sys.version.split()[0]}, batch {BATCH}, "
          f"median of {r} rounds, ns per packet")
    ex, lk = bench_parts(r)
    print(f"flow.extract (UDP, fast path)                 {ex:8.0f}")
    print(f"cache.lookup, 1 mask                          {lk:8.0f}")
    for n in (1, 4, 16):
        off = bench_hit(n, False, r)
        on = bench_hit(n, True, r)
        print(f"hit, {n:2d} masks: megaflow only {off:8.0f}   with exact front {on:8.0f}")
    acts = (("set", {"nw_dst": 0x0A000009, "tp_dst": 5353}), ("push_vlan", 0x8100, 0x1005),
            ("output", 2))
    print(f"hit, 1 mask, set(ipv4,udp)+push_vlan+output   {bench_hit(1, False, r, acts):8.0f}"
          f"   with exact front {bench_hit(1, True, r, acts):8.0f}")
    print(f"miss + sync upcall handler + put + execute    {bench_miss(max(r // 4, 5)):8.0f}")
    print(f"miss -> Upcall -> handle_upcall_result        {bench_upcall_async(max(r // 4, 5)):8.0f}")
    for nr in (64, 512):
        n, off = bench_explosion(nr, False, max(r // 4, 5))
        _, on = bench_explosion(nr, True, max(r // 4, 5))
        print(f"mask explosion, {n:3d} masks: megaflow only {off:8.0f}   with exact front {on:8.0f}")


if __name__ == "__main__":
    main()
