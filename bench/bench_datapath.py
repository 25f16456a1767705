"""Packets per second and megaflows through a netdev bridge: pyovs-vswitchd and ovs-vswitchd, one run.

Usage (root; Open vSwitch, iproute2 and trafgen from netsniff-ng installed by ``./dev test``)::

    python3 bench/bench_datapath.py [--seconds 5] [--runs 2] [--k 1000] [--rules 1000] [--impl both]

Topology (every name ``pyvsb*``, removed on exit)::

    ns pyvsbNA  pyvsbNa0 10.78.0.1 ─ veth ─ pyvsbNa1 [ofport 1]  bridge pyvsbbrN
                                              [ofport 2] pyvsbNb1 ─ veth ─ pyvsbNb0 10.78.0.2  ns pyvsbNB

one such lane per implementation (N = 0 ours, 1 Open vSwitch), each with its own OVSDB server
(ours with ours); both daemons run at once and the blasts alternate between the lanes, run after
run, because the load of this shared box drifts.  Checksum offload is off on every veth end;
B has a static neighbour entry for A, so B's kernel never ARPs.  Measured:

* ``pps``: trafgen (one process, ``-P 1``) blasts 60-byte UDP frames (64 B on the wire) from ns A
  for ``--seconds``; delivered = the rx counter of pyvsbb0 in ns B, divided by the seconds.
  Modes: ``output`` (``in_port=1,actions=output:2`` and the reverse) and ``normal`` (the default
  NORMAL flow, B's MAC learned first); also ``mask-1000``: ``--rules`` rules ``udp,tp_dst=N``
  with traffic cycling over all of them.  The switch's CPU share is from /proc/PID/stat.
* ``megaflows``: after ``dpctl/del-flows``, K distinct UDP 5-tuples (source port varies) are
  sent once, paced, from a Python raw socket; then the ``ovs-appctl dpctl/dump-flows`` lines
  with A's datapath in_port are counted (B's ICMP port-unreachable replies are not the mix).  The mask-explosion case varies the destination port over the ``--rules`` rules.

Prints one line per measurement and a final ``SUMMARY`` line (ratios ours/OVS).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from interop.harness import OvsdbServer                 # noqa: E402
from interop.test_vswitchd_config import Switchd         # noqa: E402

IP_A, IP_B = "10.78.0.1", "10.78.0.2"
TICKS = os.sysconf("SC_CLK_TCK")


class Lane:
    """One implementation's bridge, namespaces and veths (names differ per lane)."""

    def __init__(self, impl, n):
        self.impl = impl
        self.br = f"pyvsbbr{n}"
        self.ns_a, self.ns_b = f"pyvsb{n}A", f"pyvsb{n}B"
        self.a_in, self.a_out = f"pyvsb{n}a0", f"pyvsb{n}a1"
        self.b_in, self.b_out = f"pyvsb{n}b0", f"pyvsb{n}b1"
        self.macs = None
        self.confs = {}
def sh(*argv, check=True, timeout=60, **kw):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout, **kw)


def in_ns(ns, *argv, **kw):
    return sh("ip", "netns", "exec", ns, *argv, **kw)


def py_env():
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


def tx_checksum_off(ns, ifname):
    code = f"from datapath.netdev_linux import set_tx_checksum; set_tx_checksum({ifname!r}, False)"
    argv = [sys.executable, "-W", "ignore", "-c", code]
    subprocess.run((["ip", "netns", "exec", ns] if ns else []) + argv, check=True, env=py_env())


# ---------------------------------------------------------------------------- topology

def teardown(lane):
    for link in (lane.a_out, lane.b_out, lane.br):
        sh("ip", "link", "del", link, check=False)
    for ns in (lane.ns_a, lane.ns_b):
        sh("ip", "netns", "del", ns, check=False)


def build(lane):
    """Namespaces and veths; B knows A's MAC statically (no ARP from B disturbs the counts)."""
    teardown(lane)
    for ns, inner, outer, ip in ((lane.ns_a, lane.a_in, lane.a_out, IP_A),
                                 (lane.ns_b, lane.b_in, lane.b_out, IP_B)):
        sh("ip", "netns", "add", ns)
        in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns)
        sh("sysctl", "-qw", f"net.ipv6.conf.{outer}.disable_ipv6=1")
        sh("ip", "link", "set", outer, "up")
        in_ns(ns, "ip", "link", "set", inner, "up")
        in_ns(ns, "ip", "addr", "add", f"{ip}/24", "dev", inner)
        tx_checksum_off(None, outer)
        tx_checksum_off(ns, inner)
    lane.macs = mac_of(lane.ns_a, lane.a_in), mac_of(lane.ns_b, lane.b_in)
    in_ns(lane.ns_b, "ip", "neigh", "replace", IP_A, "lladdr", ":".join(f"{b:02x}" for b in lane.macs[0]),
          "dev", lane.b_in, "nud", "permanent")


def mac_of(ns, ifname) -> bytes:
    text = in_ns(ns, "cat", f"/sys/class/net/{ifname}/address").stdout.strip()
    return bytes(int(x, 16) for x in text.split(":"))


def counter(ns, ifname, name) -> int:
    return int(in_ns(ns, "cat", f"/sys/class/net/{ifname}/statistics/{name}").stdout)


# ---------------------------------------------------------------------------- frames

def _csum(data: bytes) -> int:
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(src_mac, dst_mac, sport, dport) -> bytes:
    """60 bytes: Ethernet, IPv4 (checksum right), UDP (checksum 0: none), 18 bytes of payload."""
    payload = b"pyvswitch-bench-18"
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                               bytes(map(int, IP_A.split("."))), bytes(map(int, IP_B.split(".")))))
    ip[10:12] = struct.pack("!H", _csum(bytes(ip)))
    return dst_mac + src_mac + b"\x08\x00" + bytes(ip) + udp


def trafgen_conf(frames) -> str:
    return "\n".join("{ " + ", ".join(f"0x{b:02x}" for b in f) + " }" for f in frames) + "\n"


SENDER = r"""
import socket, sys, time
frames = [bytes.fromhex(line) for line in sys.stdin.read().split()]
gap = float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for f in frames:
    s.send(f)
    if gap:
        t = time.perf_counter() + gap
        while time.perf_counter() < t:
            pass
"""


def send_frames(ns, ifname, frames, gap=0.0):
    subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", SENDER, ifname, str(gap)],
                   input="\n".join(f.hex() for f in frames), text=True, check=True, timeout=120)


# ---------------------------------------------------------------------------- the switch

class Stack:
    """A lane's OVSDB server and switch daemon, with the bridge configured."""

    def __init__(self, lane, folder):
        self.lane = lane
        self.server = OvsdbServer(lane.impl, os.path.join(folder, lane.impl))
        self.switch = Switchd(lane.impl, self.server)

    def __enter__(self):
        ln = self.lane
        self.server.start()
        self.server.vsctl("--no-wait", "init", check=True)
        self.switch.start()
        self.vsctl("add-br", ln.br, "--", "set", "bridge", ln.br, "datapath_type=netdev",
                   "--", "add-port", ln.br, ln.a_out, "--", "set", "Interface", ln.a_out, "ofport_request=1",
                   "--", "add-port", ln.br, ln.b_out, "--", "set", "Interface", ln.b_out, "ofport_request=2")
        errors = self.vsctl("--columns=name,ofport,error", "list", "Interface")
        if "could not" in errors:
            raise RuntimeError(errors)
        time.sleep(0.5)
        m = re.search(rf"\s{re.escape(ln.a_out)} 1/(\d+):", self.appctl("dpif/show"))
        self.a_dp_port = int(m.group(1))
        return self

    def __exit__(self, *exc):
        self.switch.stop()
        self.server.stop()

    def vsctl(self, *args):
        return self.server.vsctl("--timeout=20", *args, check=True).stdout

    def ofctl(self, *args, input=None):
        return self.server.run("ovs-ofctl", *args, check=True, input=input, timeout=120).stdout

    def appctl(self, *args):
        return self.server.run("ovs-appctl", "-t", "ovs-vswitchd", *args, check=True, timeout=60).stdout

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.switch.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def megaflows(self) -> list[str]:
        """The megaflows of traffic entering from A (B's own frames are not the mix measured)."""
        tag = f"in_port({self.a_dp_port})"
        return [line for line in self.appctl("dpctl/dump-flows").splitlines()
                if "actions:" in line and tag in line]

    def set_flows(self, text):
        self.ofctl("del-flows", self.lane.br)
        self.ofctl("add-flows", self.lane.br, "-", input=text)


# ---------------------------------------------------------------------------- measurements

def blast(stack, conf_path, seconds) -> tuple[float, float, float]:
    """(delivered pps, offered pps, switch CPU share) of a trafgen blast from ns A."""
    ln = stack.lane
    rx0, tx0 = counter(ln.ns_b, ln.b_in, "rx_packets"), counter(ln.ns_a, ln.a_in, "tx_packets")
    cpu0 = stack.cpu_seconds()
    p = subprocess.Popen(["ip", "netns", "exec", ln.ns_a, "trafgen", "-i", conf_path, "-o", ln.a_in, "-P", "1",
                          "-Q", "-C", "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    t0 = time.monotonic()
    time.sleep(seconds)
    # trafgen's sender is a child of the process we started: signal the whole group we made.
    os.killpg(p.pid, signal.SIGINT)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    elapsed = time.monotonic() - t0
    cpu = stack.cpu_seconds() - cpu0
    time.sleep(0.3)                               # the switch drains its socket
    rx = counter(ln.ns_b, ln.b_in, "rx_packets") - rx0
    tx = counter(ln.ns_a, ln.a_in, "tx_packets") - tx0
    return rx / elapsed, tx / elapsed, cpu / elapsed


def learn_b(lane):
    """B speaks once (broadcast), so NORMAL knows where its MAC is."""
    frame = b"\xff" * 6 + lane.macs[1] + b"\x08\x00" + bytes(46)
    send_frames(lane.ns_b, lane.b_in, [frame])


OUTPUT_FLOWS = "in_port=1,actions=output:2\nin_port=2,actions=output:1\n"
NORMAL_FLOWS = "actions=NORMAL\n"


def mask_flows(rules) -> str:
    return "".join(f"udp,tp_dst={10000 + i},actions=output:2\n" for i in range(rules)) + \
        "in_port=2,actions=output:1\n"


def write_confs(lane, folder, rules):
    for name, frames in (("one", [udp_frame(*lane.macs, 5000, 9)]),
                         ("mask", [udp_frame(*lane.macs, 5000, 10000 + i) for i in range(rules)])):
        path = os.path.join(folder, f"{lane.impl}-{name}.cfg")
        with open(path, "w") as f:
            f.write(trafgen_conf(frames))
        lane.confs[name] = path


def measure_pps(stacks, args, results):
    """Each mode: the implementations take turns, run after run (the box's load drifts)."""
    for mode, flows, conf in (("output", OUTPUT_FLOWS, "one"), ("normal", NORMAL_FLOWS, "one"),
                              (f"mask-{args.rules}", mask_flows(args.rules), "mask")):
        runs = {}
        for st in stacks:
            st.set_flows(flows)
            learn_b(st.lane)
        time.sleep(0.2)
        for _ in range(args.runs):
            for st in stacks:
                runs.setdefault(st.lane.impl, []).append(blast(st, st.lane.confs[conf], args.seconds))
        for impl, rs in runs.items():
            pps = statistics.median(r[0] for r in rs)
            results[impl][("pps", mode)] = pps
            print(f"{impl:4} pps {mode:10} delivered {pps:9.0f}  offered {statistics.median(r[1] for r in rs):9.0f}"
                  f"  switch CPU {statistics.median(r[2] for r in rs) * 100:3.0f} %"
                  f"  runs {[round(r[0]) for r in rs]}", flush=True)


def measure_megaflows(st, args, results):
    ln = st.lane
    for mode, flows, vary in (("normal", NORMAL_FLOWS, "sport"), ("output", OUTPUT_FLOWS, "sport"),
                              (f"mask-{args.rules}", mask_flows(args.rules), "dport")):
        st.set_flows(flows)
        time.sleep(1.0)                           # the last blast's frames are through
        st.appctl("dpctl/del-flows")
        learn_b(ln)
        n = args.rules if vary == "dport" else args.k
        frames = [udp_frame(*ln.macs, 20000 + i, 9) if vary == "sport"
                  else udp_frame(*ln.macs, 5000, 10000 + i) for i in range(n)]
        send_frames(ln.ns_a, ln.a_in, frames, gap=50e-6)
        time.sleep(1.0)
        mf = st.megaflows()
        results[ln.impl][("megaflows", mode)] = len(mf)
        print(f"{ln.impl:4} megaflows {mode:10} {n} UDP flows varying {vary}: {len(mf)} megaflows", flush=True)
        if args.dump and vary == "sport":
            print("".join(f"     {line}\n" for line in mf), end="", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--k", type=int, default=1000, help="distinct UDP 5-tuples for the megaflow count")
    ap.add_argument("--rules", type=int, default=1000, help="udp,tp_dst=N rules of the mask-explosion case")
    ap.add_argument("--impl", choices=("both", "ours", "ref"), default="both")
    ap.add_argument("--dump", action="store_true", help="print the megaflows of the source-port cases")
    args = ap.parse_args(argv)
    if os.geteuid() != 0 or not shutil.which("trafgen") or not shutil.which("ovs-vswitchd"):
        sys.exit("needs root, trafgen (netsniff-ng) and Open vSwitch")
    impls = ["ours", "ref"] if args.impl == "both" else [args.impl]
    lanes = [Lane(impl, n) for n, impl in enumerate(impls)]
    folder = tempfile.mkdtemp(prefix="pyvsb-", dir="/tmp")
    results = {impl: {} for impl in impls}
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(lambda: [teardown(ln) for ln in lanes])
            stacks = []
            for ln in lanes:
                build(ln)
                write_confs(ln, folder, args.rules)
                stacks.append(stack.enter_context(Stack(ln, folder)))
            measure_pps(stacks, args, results)
            for st in stacks:
                measure_megaflows(st, args, results)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if len(results) == 2:
        parts = []
        for key in results["ref"]:
            o, r = results["ours"][key], results["ref"][key]
            if key[0] == "pps" and r:
                parts.append(f"{key[1]} {o / r:.2f}x ({o:.0f}/{r:.0f} pps)")
            elif key[0] == "megaflows":
                parts.append(f"megaflows {key[1]} {o}/{r}")
        print("SUMMARY ours/ovs: " + "; ".join(parts))


if __name__ == "__main__":
    main()
