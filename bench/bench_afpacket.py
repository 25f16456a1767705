"""Packets per second through an in-process AF_PACKET relay between two namespaces (root only).

    ns pyvsbA: pyvsba0 ── veth ── pyvsba1 ⇒ relay (this process) ⇒ pyvsbb1 ── veth ── pyvsbb0 :ns pyvsbB

A sender in ns A blasts 60-byte UDP frames (64 B on the wire) at pyvsba0: trafgen where installed
(`apt-get install netsniff-ng`), else a Python AF_PACKET sender.  Delivered pps = growth of
pyvsbb0's kernel rx counter (in ns B) per second, after a warm-up.  Relay modes:

* ``plain``   no trio: epoll, then drain ≤256 frames with recv_into/send (the ceiling for Python)
* ``await``   trio, one ``await sock.recv_into`` and one ``await sock.send`` per packet
* ``drain``   trio, `datapath.ioloop.PortDriver` + `SystemNetdev`: one ``wait_readable``, then
              ``recv_batch(256)`` from the TPACKET_V2 ring (VLAN tags re-inserted) and
              ``send_batch``: the datapath's real port path
* ``drain-msg``  the same with ``SystemNetdev(rx_ring=False)``: one recvmsg + PACKET_AUXDATA per frame
* ``drain-noaux``  trio, ``wait_readable`` then drain with recv_into (no auxdata): what the
              auxdata costs

Usage: python bench/bench_afpacket.py [--seconds 5] [--runs 2] [--modes plain,await,drain,drain-msg,drain-noaux]
Prints one line per run and a SUMMARY line of medians.  Compare modes as ratios within one run:
the machine is shared.  Every namespace and link is named pyvsb* and deleted on exit.
"""
from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import trio  # noqa: E402

from datapath.ioloop import PortDriver  # noqa: E402
from datapath.netdev_linux import SystemNetdev, set_tx_checksum  # noqa: E402

NS_A, NS_B = "pyvsbA", "pyvsbB"
A_IN, A_OUT, B_IN, B_OUT = "pyvsba0", "pyvsba1", "pyvsbb0", "pyvsbb1"
BATCH = 256


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)


def in_ns(ns, *argv, check=True):
    return sh("ip", "netns", "exec", ns, *argv, check=check)


def checksum_off_in(ns, ifname):
    code = f"from datapath.netdev_linux import set_tx_checksum; set_tx_checksum({ifname!r}, False)"
    subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code], check=True,
                   env=dict(os.environ, PYTHONPATH=ROOT))


def setup():
    teardown()
    for ns, inner, outer, addr in ((NS_A, A_IN, A_OUT, "10.78.0.1/24"), (NS_B, B_IN, B_OUT, "10.78.0.2/24")):
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns)
        sh("ip", "link", "set", outer, "up")
        in_ns(ns, "ip", "link", "set", inner, "up")
        in_ns(ns, "ip", "addr", "add", addr, "dev", inner)
        set_tx_checksum(outer, False)
        checksum_off_in(ns, inner)


def teardown():
    for link in (A_OUT, B_OUT):
        sh("ip", "link", "del", link, check=False)
    for ns in (NS_A, NS_B):
        sh("ip", "netns", "del", ns, check=False)


def mac_in(ns, ifname):
    return in_ns(ns, "cat", f"/sys/class/net/{ifname}/address").stdout.strip()


def rx_packets_in(ns, ifname):
    for line in in_ns(ns, "cat", "/proc/net/dev").stdout.splitlines()[2:]:
        name, _, rest = line.partition(":")
        if name.strip() == ifname:
            return int(rest.split()[1])
    raise RuntimeError(f"{ifname} not in ns {ns}")


def udp_frame(dst_mac: str) -> bytes:
    """60 bytes: Ethernet + IPv4 (checksum set) + UDP 10.78.0.1:9 → 10.78.0.2:9 + padding."""
    import struct
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 46, 0, 0, 64, 17, 0,
                               bytes([10, 78, 0, 1]), bytes([10, 78, 0, 2])))
    s = sum(struct.unpack("!10H", ip))
    s = (s & 0xFFFF) + (s >> 16)
    ip[10:12] = struct.pack("!H", ~s & 0xFFFF)
    udp = struct.pack("!HHHH", 9, 9, 26, 0) + bytes(18)
    return bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex("02000078000a") + b"\x08\x00" + bytes(ip) + udp


PY_SENDER = """
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
frame = bytes.fromhex(sys.argv[2])
send = s.send
while True:
    try:
        for _ in range(1000):
            send(frame)
    except OSError:
        pass
"""


def start_sender(frame: bytes, folder: str):
    if shutil.which("trafgen"):
        conf = os.path.join(folder, "frame.cfg")
        with open(conf, "w") as f:
            f.write("{ " + ", ".join(f"0x{b:02x}" for b in frame) + " }\n")
        argv = ["ip", "netns", "exec", NS_A, "trafgen", "--dev", A_IN, "--conf", conf, "--cpus", "1", "-q",
                "--no-sock-mem", "--notouch-irq", "--no-cpu-stats"]
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), "trafgen"
    argv = ["ip", "netns", "exec", NS_A, sys.executable, "-c", PY_SENDER, A_IN, frame.hex()]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), "python"


def stop(proc):
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def raw_socket(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    s.setsockopt(263, 23, 1)                                # PACKET_IGNORE_OUTGOING
    s.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)           # SO_RCVBUFFORCE
    s.bind((ifname, 3))
    s.setblocking(False)
    return s


# --- relays: each runs until `deadline` (monotonic) ------------------------------------------

def relay_plain(deadline):
    rx, tx = raw_socket(A_OUT), raw_socket(B_OUT)
    buf = bytearray(65536)
    view = memoryview(buf)
    ep = select.epoll()
    ep.register(rx.fileno(), select.EPOLLIN)
    try:
        while time.monotonic() < deadline:
            if not ep.poll(0.2):
                continue
            for _ in range(BATCH):
                try:
                    n = rx.recv_into(buf)
                except BlockingIOError:
                    break
                try:
                    tx.send(view[:n])
                except OSError:
                    pass
    finally:
        ep.close()
        rx.close()
        tx.close()


async def relay_await(deadline):
    rx = trio.socket.from_stdlib_socket(raw_socket(A_OUT))
    tx = trio.socket.from_stdlib_socket(raw_socket(B_OUT))
    buf = bytearray(65536)
    view = memoryview(buf)
    with trio.move_on_at(trio.current_time() + deadline - time.monotonic()):
        while True:
            n = await rx.recv_into(buf)
            try:
                await tx.send(view[:n])
            except OSError:
                pass
    rx.close()
    tx.close()


async def relay_drain_noaux(deadline):
    rx, tx = raw_socket(A_OUT), raw_socket(B_OUT)
    buf = bytearray(65536)
    view = memoryview(buf)
    with trio.move_on_at(trio.current_time() + deadline - time.monotonic()):
        while True:
            await trio.lowlevel.wait_readable(rx.fileno())
            while True:
                for i in range(BATCH):
                    try:
                        n = rx.recv_into(buf)
                    except BlockingIOError:
                        break
                    try:
                        tx.send(view[:n])
                    except OSError:
                        pass
                else:
                    await trio.lowlevel.checkpoint()
                    continue
                break
    trio.lowlevel.notify_closing(rx.fileno())
    rx.close()
    tx.close()


async def relay_drain(deadline, rx_ring=True):
    a, b = SystemNetdev(A_OUT, rx_ring=rx_ring), SystemNetdev(B_OUT, rx_ring=False)

    def on_frames(port, frames):
        if port is a:
            b.send_batch(frames)

    driver = PortDriver(on_frames, batch=BATCH)
    driver.add_port(a)
    with trio.move_on_at(trio.current_time() + deadline - time.monotonic()):
        await driver.run()
    driver.close_port(a)
    b.close()
    return driver, a, b


def run_mode(mode, seconds, frame, folder, warmup=1.0):
    sender, kind = start_sender(frame, folder)
    try:
        time.sleep(0.3)
        start = time.monotonic()
        deadline = start + warmup + seconds
        result = {}

        def measure():
            time.sleep(warmup)
            result["rx0"] = rx_packets_in(NS_B, B_IN)
            result["t0"], result["cpu0"] = time.monotonic(), time.process_time()
            time.sleep(seconds)
            result["t1"], result["cpu1"] = time.monotonic(), time.process_time()
            result["rx1"] = rx_packets_in(NS_B, B_IN)

        import threading
        probe = threading.Thread(target=measure)
        probe.start()
        if mode == "plain":
            relay_plain(deadline + 0.2)
        else:
            fn = {"await": relay_await, "drain": relay_drain, "drain-noaux": relay_drain_noaux,
                  "drain-msg": lambda d: relay_drain(d, rx_ring=False)}[mode]
            trio.run(fn, deadline + 0.2)
        probe.join()
    finally:
        stop(sender)
    delivered = result["rx1"] - result["rx0"]
    cpu_us = 1e6 * (result["cpu1"] - result["cpu0"]) / max(delivered, 1)
    return delivered / (result["t1"] - result["t0"]), cpu_us, kind


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--modes", default="plain,await,drain,drain-msg,drain-noaux")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_afpacket: needs root (network namespaces)")
    modes = args.modes.split(",")
    folder = tempfile.mkdtemp(prefix="pyvsb-")
    results: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    try:
        setup()
        frame = udp_frame(mac_in(NS_B, B_IN))
        kind = "?"
        for run in range(args.runs):
            for mode in modes:
                pps, cpu_us, kind = run_mode(mode, args.seconds, frame, folder)
                results[mode].append(pps)
                cpu[mode].append(cpu_us)
                print(f"run {run + 1} {mode:12s} {pps:10,.0f} pps delivered  {cpu_us:5.2f} µs relay CPU/packet"
                      f"  (sender {kind})", flush=True)
    finally:
        teardown()
        shutil.rmtree(folder, ignore_errors=True)
    med = {m: statistics.median(v) for m, v in results.items()}
    print("SUMMARY " + " ".join(f"{m}={med[m]:.0f}pps/{statistics.median(cpu[m]):.2f}us" for m in modes)
          + (f" drain/await={med['drain'] / med['await']:.2f}" if "drain" in med and "await" in med else "")
          + f" sender={kind} seconds={args.seconds} runs={args.runs}")


if __name__ == "__main__":
    main()
