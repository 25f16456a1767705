#!/usr/bin/env python3
"""OVSDB server benchmarks: ours against Open vSwitch's ovsdb-server, in one run.

    python3 bench/bench_ovsdb.py [--quick]

Measures, for each implementation on a fresh database (unix socket):
  latency   median wall time of one `ovs-vsctl --no-wait add-port` (client start-up included)
  small     1,000 sequential one-op transactions (update Open_vSwitch external_ids), raw JSON-RPC
  addport   1,000 sequential add-port transactions (insert Interface+Port, mutate Bridge.ports)
  bulk      one transaction adding 1,000 ports (2,000 inserts + 1 mutate)
  fanout    200 sequential commits with 50 raw `monitor_cond` clients attached:
            time until the last monitor has seen the 200th commit
and prints one line per measurement with the ratio ours/ref (for rates, ref/ours:
above 1 means slower).  Targets (issue 2): latency <= 1.1x, throughput >= 0.5x, fan-out <= 2x.
"""
from __future__ import annotations

import json
import os
import selectors
import socket
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from interop.harness import Client, OvsdbServer  # noqa: E402


def fresh(impl):
    folder = tempfile.mkdtemp(prefix=f"bench-{impl}-", dir="/tmp")
    server = OvsdbServer(impl, folder).start()
    server.vsctl("--no-wait", "init", check=True)
    server.vsctl("--no-wait", "add-br", "br0", check=True)
    return server


def ovs_uuid(c):
    r = c.call("transact", ["Open_vSwitch", {"op": "select", "table": "Open_vSwitch", "where": [],
                                             "columns": ["_uuid"]}])
    return r["result"][0]["rows"][0]["_uuid"][1]


def bridge_uuid(c):
    r = c.call("transact", ["Open_vSwitch", {"op": "select", "table": "Bridge", "where": [],
                                             "columns": ["_uuid"]}])
    return r["result"][0]["rows"][0]["_uuid"][1]


def bench_latency(server, n):
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        server.vsctl("--no-wait", "add-port", "br0", f"lat{i}", check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_small(server, n):
    c = Client(server.sock)
    u = ovs_uuid(c)
    t0 = time.perf_counter()
    for i in range(n):
        r = c.call("transact", ["Open_vSwitch", {"op": "update", "table": "Open_vSwitch",
                                                 "where": [["_uuid", "==", ["uuid", u]]],
                                                 "row": {"external_ids": ["map", [["k", str(i)]]]}}])
        assert r["error"] is None and "error" not in r["result"][0], r
    dt = time.perf_counter() - t0
    c.close()
    return n / dt


def addport_ops(b, name):
    return [
        {"op": "insert", "table": "Interface", "row": {"name": name, "type": "dummy"}, "uuid-name": "i"},
        {"op": "insert", "table": "Port", "row": {"name": name, "interfaces": ["named-uuid", "i"]},
         "uuid-name": "p"},
        {"op": "mutate", "table": "Bridge", "where": [["_uuid", "==", ["uuid", b]]],
         "mutations": [["ports", "insert", ["set", [["named-uuid", "p"]]]]]},
    ]


def bench_addport(server, n):
    c = Client(server.sock)
    b = bridge_uuid(c)
    t0 = time.perf_counter()
    for i in range(n):
        r = c.call("transact", ["Open_vSwitch", *addport_ops(b, f"ap{i}")])
        assert all(x and "error" not in x for x in r["result"]), r
    dt = time.perf_counter() - t0
    c.close()
    return n / dt


def bench_bulk(server, n):
    c = Client(server.sock)
    b = bridge_uuid(c)
    ops = []
    for i in range(n):
        ops.append({"op": "insert", "table": "Interface", "row": {"name": f"bk{i}"}, "uuid-name": f"i{i}"})
        ops.append({"op": "insert", "table": "Port", "row": {"name": f"bk{i}", "interfaces": ["named-uuid", f"i{i}"]},
                    "uuid-name": f"p{i}"})
    ops.append({"op": "mutate", "table": "Bridge", "where": [["_uuid", "==", ["uuid", b]]],
                "mutations": [["ports", "insert", ["set", [["named-uuid", f"p{i}"] for i in range(n)]]]]})
    t0 = time.perf_counter()
    r = c.call("transact", ["Open_vSwitch", *ops])
    dt = time.perf_counter() - t0
    assert all(x and "error" not in x for x in r["result"]), str(r)[:500]
    c.close()
    return dt


def bench_fanout(server, n_monitors, n_txns):
    monitors = []
    sel = selectors.DefaultSelector()
    for i in range(n_monitors):
        c = Client(server.sock)
        c.call("monitor_cond", ["Open_vSwitch", f"m{i}",
                                {"Open_vSwitch": [{"columns": ["external_ids"]}]}])
        c.sock.setblocking(False)
        c.seen = -1
        sel.register(c.sock, selectors.EVENT_READ, c)
        monitors.append(c)
    writer = Client(server.sock)
    u = ovs_uuid(writer)
    dec = json.JSONDecoder()

    def drain(timeout):
        for key, _ in sel.select(timeout):
            c = key.data
            try:
                data = c.sock.recv(1 << 20)
            except BlockingIOError:
                continue
            c.buf += data.decode()
            while True:
                text = c.buf.lstrip()
                try:
                    obj, end = dec.raw_decode(text)
                except ValueError:
                    break
                c.buf = text[end:]
                upd = obj.get("params", [None, {}])[1]
                for row in upd.get("Open_vSwitch", {}).values():
                    new = row.get("modify", {}).get("external_ids")
                    if new:
                        for k, v in (new[1] if new[0] == "map" else []):
                            if k == "seq":
                                c.seen = max(c.seen, int(v))
    t0 = time.perf_counter()
    for i in range(n_txns):
        writer.call("transact", ["Open_vSwitch", {"op": "update", "table": "Open_vSwitch",
                                                  "where": [["_uuid", "==", ["uuid", u]]],
                                                  "row": {"external_ids": ["map", [["seq", str(i)]]]}}])
        drain(0)
    t_reply = time.perf_counter() - t0
    deadline = time.monotonic() + 30
    while min(c.seen for c in monitors) < n_txns - 1 and time.monotonic() < deadline:
        drain(0.1)
    t_all = time.perf_counter() - t0
    for c in monitors:
        c.close()
    writer.close()
    return t_reply, t_all


def main():
    quick = "--quick" in sys.argv
    n = 200 if quick else 1000
    results = {}
    for impl in ("ref", "ours"):
        r = results[impl] = {}
        s = fresh(impl)
        try:
            r["latency"] = bench_latency(s, 10 if quick else 30)
            r["small"] = bench_small(s, n)
            r["addport"] = bench_addport(s, n)
        finally:
            s.stop()
        s = fresh(impl)
        try:
            r["bulk"] = bench_bulk(s, n)
        finally:
            s.stop()
        s = fresh(impl)
        try:
            r["fanout_reply"], r["fanout"] = bench_fanout(s, 50, 200)
        finally:
            s.stop()
    ref, ours = results["ref"], results["ours"]
    rows = [
        ("vsctl add-port latency (ms)", "latency", 1e3, "time"),
        ("small txns/s", "small", 1, "rate"),
        ("add-port txns/s", "addport", 1, "rate"),
        (f"one txn adding {n} ports (ms)", "bulk", 1e3, "time"),
        ("200 commits, 50 monitors: writer done (ms)", "fanout_reply", 1e3, "time"),
        ("200 commits, 50 monitors: all seen (ms)", "fanout", 1e3, "time"),
    ]
    print(f"{'measurement':46s} {'ovsdb-server':>12s} {'pyovsdb':>12s} {'ratio':>7s}")
    for label, key, scale, kind in rows:
        ratio = ours[key] / ref[key] if kind == "time" else ref[key] / ours[key]
        print(f"{label:46s} {ref[key] * scale:12.1f} {ours[key] * scale:12.1f} {ratio:6.2f}x")
    print("SUMMARY " + json.dumps({k: {"ref": ref[k], "ours": ours[k]} for k in ref}))


if __name__ == "__main__":
    main()
