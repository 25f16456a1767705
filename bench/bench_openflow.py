#!/usr/bin/env python3
"""OpenFlow flow-table benchmark: pyovs-vswitchd against ovs-vswitchd, in one run.

    python3 bench/bench_openflow.py [N ...] [--protocols OpenFlow10,OpenFlow13] [--reps R]

For each N (default 10000 and 100000) and protocol, on a fresh dummy bridge:
timed `ovs-ofctl add-flows` of N flows (round-robin shapes: L2 in_port/dl_src/dl_dst,
L3 nw_src/32 + nw_dst/24, L4 tcp nw_dst+tp_dst, udp in table 1 with mod_dl_dst,
IPv6 /128 in table 2, metadata+reg0 in table 3), a count check with
dump-aggregate, timed `dump-flows`, timed `del-flows`; the daemon's RSS after
adding.  Prints the seconds per step for both implementations and the ratio
ours/ref (target, issue 4: <= 2x).  ``--protocols=OpenFlow14+bundle`` adds the
flows in one bundle (``ovs-ofctl --bundle add-flows``; not a target, for scale).  Both daemons run against Open vSwitch's own
ovsdb-server, so only the switch differs.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from interop.harness import OvsdbServer  # noqa: E402
from interop.test_vswitchd_config import Switchd  # noqa: E402


def gen_flows(n):
    out = []
    for i in range(n):
        a, b, c = (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff
        kind = i % 6
        if kind == 0:
            out.append(f"priority=10,in_port={1 + i % 4},dl_src=02:00:00:{a:02x}:{b:02x}:{c:02x},"
                       f"dl_dst=02:01:00:{a:02x}:{b:02x}:{c:02x},actions=output:{1 + (i + 1) % 4}")
        elif kind == 1:
            out.append(f"priority=20,ip,nw_src=10.{a}.{b}.{c},nw_dst=172.{a}.{b}.0/24,actions=output:2")
        elif kind == 2:
            out.append(f"priority=30,tcp,nw_dst=10.{a}.{b}.{c},tp_dst={1 + i % 60000},"
                       f"actions=mod_tp_dst:80,output:3")
        elif kind == 3:
            out.append(f"table=1,priority=40,udp,nw_src=10.{a}.{b}.{c},tp_src={1 + i % 60000},tp_dst=53,"
                       f"actions=mod_dl_dst:02:00:00:00:00:01,output:1")
        elif kind == 4:
            out.append(f"table=2,priority=50,ipv6,ipv6_src=2001:db8::{a:x}:{b:x}:{c:x},actions=output:4")
        else:
            out.append(f"table=3,priority=60,metadata=0x{i:x},reg0=0x{i:x},actions=output:1")
    return out


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run_case(impl, n, proto, flows_file):
    folder = tempfile.mkdtemp(prefix=f"bof-{impl}-", dir="/tmp")
    server = OvsdbServer("ref", folder).start()
    switch = None
    try:
        server.vsctl("--no-wait", "init", check=True)
        switch = Switchd(impl, server).start()
        server.vsctl("--timeout=20", "add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=dummy",
                     "fail-mode=secure", "protocols=OpenFlow10,OpenFlow13,OpenFlow14", check=True)
        for p in range(1, 5):
            server.vsctl("--timeout=20", "add-port", "br0", f"p{p}", "--", "set", "Interface", f"p{p}",
                         "type=dummy", f"ofport_request={p}", check=True)
        # "OpenFlow14+bundle": add-flows in one bundle (--bundle), the rest as OpenFlow14.
        version, _, bundle = proto.partition("+")
        ofctl = ["ovs-ofctl", "-O", version]

        def timed(*args):
            t0 = time.perf_counter()
            r = server.run(*ofctl, *args, timeout=900)
            dt = time.perf_counter() - t0
            if r.returncode != 0:
                raise RuntimeError(f"{impl}: ovs-ofctl {' '.join(args)}: {r.stderr[:500]}")
            return dt, r.stdout

        add, _ = timed(*(["--bundle"] if bundle else []), "add-flows", "br0", flows_file)
        rss = rss_kib(switch.proc.pid)
        _, agg = timed("dump-aggregate", "br0")
        count = int(agg.split("flow_count=")[1].split()[0])
        assert count == n, (impl, count, n)
        dump, text = timed("dump-flows", "br0")
        assert text.count("actions=") == n
        delete, _ = timed("del-flows", "br0")
        return {"add": add, "dump": dump, "del": delete, "rss_mib": rss / 1024}
    finally:
        if switch is not None:
            switch.stop()
        server.stop()


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    sizes = [int(a) for a in args] or [10000, 100000]
    protos = ["OpenFlow10", "OpenFlow13"]
    reps = 1
    for a in sys.argv[1:]:
        if a.startswith("--protocols="):
            protos = a.split("=", 1)[1].split(",")
        if a.startswith("--reps="):
            reps = int(a.split("=", 1)[1])
    results = []
    for n in sizes:
        flows_file = os.path.join(tempfile.mkdtemp(dir="/tmp"), f"flows{n}.txt")
        with open(flows_file, "w") as f:
            f.write("\n".join(gen_flows(n)) + "\n")
        for proto in protos:
            row = {"n": n, "proto": proto}
            for impl in ("ref", "ours"):
                runs = [run_case(impl, n, proto, flows_file) for _ in range(reps)]
                row[impl] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            results.append(row)
            ref, ours = row["ref"], row["ours"]
            print(f"{n:>7} {proto:11s} " + "  ".join(
                f"{k}: {ref[k]:.2f}s/{ours[k]:.2f}s ({ours[k] / ref[k]:.1f}x)" for k in ("add", "dump", "del"))
                + f"  rss: {ref['rss_mib']:.0f}/{ours['rss_mib']:.0f} MiB", flush=True)
    print("SUMMARY " + json.dumps(results))


if __name__ == "__main__":
    main()
