"""Dummy ports, as Open vSwitch 3.1's lib/netdev-dummy.c.

Theory of operation
-------------------
A dummy port has no wire.  Frames arrive by `DummyNetdev.receive` (what the
``netdev-dummy/receive PORT HEX|FLOW`` unixctl command calls, after
`parse_receive_args` turned its arguments into frames) and leave by
`send_batch`, which counts them and, with ``options:tx_pcap=FILE`` (or
``pcap=FILE``), appends each to a pcap file flushed at once.

Behaviour copied from ovs-vswitchd 3.1 (checked against a running one):

* MAC: ``aa:55:aa:55:00:NN``, NN counting every dummy device the process
  creates, from 0.  In ovs-vswitchd the datapath's own port takes 00, the
  first bridge's local port 01 and its first added port 02; the switch picks
  the MAC and passes ``hw_addr`` (`next_dummy_mac` gives OVS's sequence).
* MTU 1500; ifindex 0 unless ``options:ifindex``; up when created; link
  state follows admin state (no carrier of its own).  Admin state down does
  *not* stop reception: ovs-vswitchd still forwards frames injected into a
  down dummy port.
* ``options``: ``pcap=F`` records received and sent frames in F;
  ``rxq_pcap=F`` records received frames; ``tx_pcap=F`` sent ones.  Files are
  opened for appending (header only if empty) relative to the daemon's
  working directory (ovs-vswitchd calls fopen() on the path as given: with
  ``--detach`` and no ``--no-chdir`` that is ``/``; the difftest runs it in
  the foreground in OVS_RUNDIR, so ``tx_pcap=p1.pcap`` lands there).  Pass
  ``cwd`` to `set_config` to resolve against another folder.
* ``options:rx_pcap=F`` is a pyvswitch extension (OVS 3.1 ignores the key):
  the frames of pcap file F are received once, when the option is set.
* send: a frame shorter than 14 bytes or longer than MTU + 14 (+4 with an
  802.1Q tag) is refused with EMSGSIZE, and the rest of that batch dropped,
  as `netdev_dummy_send`.
* statistics: only rx/tx packets/bytes are counted (OpenFlow prints ``?``
  for drops and errors); the Interface column also carries the per-queue and
  "custom" counters OVS's dummy reports (``rx_q0_packets``,
  ``rx_custom_packets_1``...).
* unixctl texts: ``netdev-dummy/set-admin-state [PORT] up|down`` replies
  ``OK``; errors ``Invalid Admin State``, ``Unknown Dummy Interface``; for
  receive ``no such dummy netdev``, ``bad rx queue id.``, ``too small packet
  len``, and the flow parser's message (``syntax error at ARG``).
"""
from __future__ import annotations

import itertools
import os
import re
from typing import Iterable, Mapping

from datapath.netdev import (ETH_HEADER_LEN, ETH_TYPE_VLAN, VLAN_HEADER_LEN, Listener, Netdev, NetdevError,
                             NetdevStats)
from datapath.pcap import PcapWriter, read_frames

MAX_QUEUE = 100       # NETDEV_DUMMY_MAX_QUEUE: frames waiting in an rx queue nobody reads
ETH_TOTAL_MIN = 60    # smallest --len accepted by netdev-dummy/receive
DUMMY_MIN_MTU, DUMMY_MAX_MTU = 68, 65535

_mac_counter = itertools.count(0)


def next_dummy_mac() -> bytes:
    """The next MAC of OVS's process-wide dummy sequence: aa:55:aa:55:00:00, :01, ..."""
    n = 0xAA550000 + next(_mac_counter)
    return bytes([0xAA, 0x55]) + (n & 0xFFFFFFFF).to_bytes(4, "big")


def reset_dummy_macs() -> None:
    """Restarts the sequence (a fresh switch process; tests)."""
    global _mac_counter
    _mac_counter = itertools.count(0)


class DummyNetdev(Netdev):
    """A dummy port (``type=dummy``), or a bridge's local port on a dummy bridge (``internal``)."""

    pollable = False

    def __init__(self, name: str, *, iface_type: str = "dummy", hw_addr: bytes | None = None):
        super().__init__(name)
        self.type = iface_type
        self.hw_addr = bytes(hw_addr) if hw_addr is not None else next_dummy_mac()
        self.rx_packets = self.rx_bytes = self.tx_packets = self.tx_bytes = 0
        self.tx_refused = 0            # EMSGSIZE and the rest of their batch; OVS does not report these
        self._queue: list[bytes] = []
        self._listener: Listener | None = None
        self._paths: dict[str, str | None] = {"rxq": None, "tx": None, "rx_pcap": None}
        self._rxq_pcap: PcapWriter | None = None
        self._tx_pcap: PcapWriter | None = None

    # --- configuration -----------------------------------------------------
    def set_config(self, options: Mapping[str, str], *, cwd: str | None = None) -> None:
        def resolve(path):
            return path if path is None or cwd is None else os.path.join(cwd, path)

        if "ifindex" in options:
            try:
                self.ifindex = max(int(options["ifindex"]), 0)
            except ValueError:
                self.ifindex = 0
        else:
            self.ifindex = 0
        if "pcap" in options:
            rxq = tx = resolve(options["pcap"])
        else:
            rxq, tx = resolve(options.get("rxq_pcap")), resolve(options.get("tx_pcap"))
        if (rxq, tx) != (self._paths["rxq"], self._paths["tx"]):
            self._close_pcaps()
            self._rxq_pcap = _open_pcap(rxq)
            self._tx_pcap = self._rxq_pcap if tx == rxq else _open_pcap(tx)
            self._paths.update(rxq=rxq, tx=tx)
            self.change_seq += 1
        rx_pcap = resolve(options.get("rx_pcap"))
        if rx_pcap != self._paths["rx_pcap"]:
            self._paths["rx_pcap"] = rx_pcap
            if rx_pcap is not None:
                try:
                    frames = read_frames(rx_pcap)
                except (OSError, ValueError) as e:
                    raise NetdevError(f"{rx_pcap}: failed to open pcap file for reading ({e})") from e
                self.receive_many(frames)

    def set_mtu(self, mtu: int) -> None:
        if not DUMMY_MIN_MTU <= mtu <= DUMMY_MAX_MTU:
            raise NetdevError("Invalid argument")
        super().set_mtu(mtu)

    # --- frames in -----------------------------------------------------------
    def set_listener(self, listener: Listener | None) -> None:
        """From now on injected frames go straight to `listener(frames)`; queued ones first."""
        self._listener = listener
        if listener is not None and self._queue:
            self._deliver(self.recv_batch(len(self._queue)), counted=True)

    def receive(self, frame: bytes) -> None:
        """One frame arrives on the port (netdev-dummy/receive)."""
        self.receive_many((frame,))

    def receive_many(self, frames: Iterable[bytes]) -> None:
        frames = [bytes(f) for f in frames]
        if self._rxq_pcap is not None:
            self._rxq_pcap.write_many(frames)
        if self._listener is not None:
            self._deliver(frames, counted=False)
        else:
            room = MAX_QUEUE - len(self._queue)
            self._queue.extend(frames[:max(room, 0)])

    def _deliver(self, frames: list[bytes], counted: bool) -> None:
        if not counted:
            self.rx_packets += len(frames)
            self.rx_bytes += sum(map(len, frames))
        if frames:
            self._listener(frames)

    def recv_batch(self, max_n: int = 256) -> list[bytes]:
        batch, self._queue = self._queue[:max_n], self._queue[max_n:]
        self.rx_packets += len(batch)
        self.rx_bytes += sum(map(len, batch))
        return batch

    def receive_command(self, args: list[str], frame_from_key=None) -> None:
        """netdev-dummy/receive with the arguments after the port name."""
        self.receive_many(parse_receive_args(args, frame_from_key))

    # --- frames out ----------------------------------------------------------
    def send_batch(self, frames: Iterable[bytes]) -> int:
        frames = list(frames)
        sent = 0
        for frame in frames:
            size = len(frame)
            max_size = self.mtu + ETH_HEADER_LEN
            if size >= ETH_HEADER_LEN and (frame[12] << 8 | frame[13]) == ETH_TYPE_VLAN:
                max_size += VLAN_HEADER_LEN
            if size < ETH_HEADER_LEN or size > max_size:
                self.tx_refused += len(frames) - sent     # EMSGSIZE: the rest of the batch goes too
                break
            sent += 1
            self.tx_packets += 1
            self.tx_bytes += size
            if self._tx_pcap is not None:
                self._tx_pcap.write(frame)
        return sent

    # --- counters ------------------------------------------------------------
    def get_stats(self) -> NetdevStats:
        return NetdevStats(rx_packets=self.rx_packets, rx_bytes=self.rx_bytes,
                           tx_packets=self.tx_packets, tx_bytes=self.tx_bytes)

    def statistics(self) -> dict[str, int]:
        rx_p, rx_b, tx_p, tx_b = self.rx_packets, self.rx_bytes, self.tx_packets, self.tx_bytes
        return {"rx_bytes": rx_b, "rx_custom_packets_1": rx_p, "rx_custom_packets_2": rx_p,
                "rx_packets": rx_p, "rx_q0_bytes": rx_b, "rx_q0_packets": rx_p,
                "tx_bytes": tx_b, "tx_packets": tx_p, "tx_q0_bytes": tx_b, "tx_q0_packets": tx_p}

    def close(self) -> None:
        self._close_pcaps()
        self._listener = None
        super().close()

    def _close_pcaps(self) -> None:
        for w in {id(w): w for w in (self._rxq_pcap, self._tx_pcap) if w is not None}.values():
            w.close()
        self._rxq_pcap = self._tx_pcap = None


def _open_pcap(path: str | None) -> PcapWriter | None:
    if path is None:
        return None
    try:
        return PcapWriter(path, "ab")
    except OSError:
        return None     # OVS logs "failed to open pcap file for appending" and carries on


# --- unixctl argument handling ------------------------------------------------
_HEX_BYTE = re.compile(r"[ \t\r\n]*([0-9a-fA-F]{2})")


def eth_from_hex(text: str) -> bytes | None:
    """OVS's eth_from_hex(): hex bytes (whitespace allowed between them), ≥ 14 bytes; else None."""
    out = bytearray()
    pos = 0
    while True:
        m = _HEX_BYTE.match(text, pos)
        if not m:
            break
        out.append(int(m.group(1), 16))
        pos = m.end()
    rest = text[pos:].lstrip(" \t\r\n")
    if rest or len(out) < ETH_HEADER_LEN:
        return None
    return bytes(out)


def _default_frame_from_key():
    try:
        from datapath.odp import frame_from_key
    except ImportError:
        return None
    return frame_from_key


def parse_receive_args(args: list[str], frame_from_key=None) -> list[bytes]:
    """The frames of ``netdev-dummy/receive PORT [--qid N] PACKET|FLOW [--len N]...``.

    ``args`` are the words after PORT.  A FLOW is turned into a frame by
    ``frame_from_key(text, length)`` (``datapath.odp.frame_from_key`` when that
    module exists), which returns bytes or raises ValueError with OVS's text;
    ``length`` is 0 without ``--len``.
    """
    k = 0
    if len(args) > k + 1 and args[k] == "--qid":
        try:
            qid = int(args[k + 1])
        except ValueError:
            qid = 0
        if qid != 0:                         # a dummy port has one rx queue
            raise NetdevError("bad rx queue id.")
        k += 2
    if frame_from_key is None:
        frame_from_key = _default_frame_from_key()
    frames = []
    i = k
    while i < len(args):
        frame = eth_from_hex(args[i])
        if frame is None:
            flow_text, length = args[i], 0
            if i + 1 < len(args) and args[i + 1] == "--len":
                try:
                    length = int(args[i + 2])
                except (IndexError, ValueError):
                    length = 0
                if length < ETH_TOTAL_MIN:
                    raise NetdevError("too small packet len")
                i += 2
            if frame_from_key is None:
                raise NetdevError(f"syntax error at {flow_text}")
            try:
                frame = frame_from_key(flow_text, length)
            except ValueError as e:
                raise NetdevError(str(e)) from e
            if frame is None:
                raise NetdevError(f"syntax error at {flow_text}")
        frames.append(bytes(frame))
        i += 1
    return frames


def receive_command(ports: Mapping[str, Netdev], args: list[str], frame_from_key=None) -> str:
    """``netdev-dummy/receive PORT ARG...``: returns the reply ("") or raises NetdevError."""
    port = ports.get(args[0]) if args else None
    if not isinstance(port, DummyNetdev):
        raise NetdevError("no such dummy netdev")
    port.receive_command(args[1:], frame_from_key)
    return ""


def set_admin_state_command(ports: Mapping[str, Netdev], args: list[str]) -> str:
    """``netdev-dummy/set-admin-state [PORT] up|down``: "OK" or NetdevError, as OVS."""
    word = args[-1].lower() if args else ""
    if word not in ("up", "down"):
        raise NetdevError("Invalid Admin State")
    up = word == "up"
    if len(args) > 1:
        port = ports.get(args[0])
        if not isinstance(port, DummyNetdev):
            raise NetdevError("Unknown Dummy Interface")
        port.set_admin_state(up)
    else:
        for port in ports.values():
            if isinstance(port, DummyNetdev):
                port.set_admin_state(up)
    return "OK"
