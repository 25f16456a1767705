"""Classic pcap files, as Open vSwitch's lib/pcap-file.c reads and writes them.

Theory of operation
-------------------
A pcap file is a 24-byte global header followed by records, each a 16-byte
record header (ts_sec, ts_subsec, incl_len, orig_len) and the frame bytes.

Writing matches ovs-vswitchd 3.1 byte for byte except the timestamps:

* the global header is written in host byte order (the reader sorts out
  endianness from the magic) with magic 0xa1b2c3d4 (microseconds), version
  2.4, thiszone 0, sigfigs 0, snaplen 1518 and network 1 (LINKTYPE_ETHERNET);
* a file opened for appending gets the header only when it is empty, so
  several runs (or a `pcap=` and a `tx_pcap=` on the same path) share one
  header;
* every record has incl_len == orig_len == len(frame) (no truncation to
  the snaplen, as OVS) and is flushed at once, so `ovs-pcap FILE` run by
  another process right after sees it.

Reading accepts both byte orders, microsecond and nanosecond magics, and
LINKTYPE_ETHERNET or LINKTYPE_LINUX_SLL (turned into Ethernet with an
all-zero destination, as OVS does).  Errors raise `PcapError`.

No sockets, no event loop: only files.  `PcapWriter.write` is a few
microseconds; callers on a hot path should only configure pcap on test ports.
"""
from __future__ import annotations

import struct
import sys
import time
from typing import BinaryIO, Iterator

MAGIC_USEC = 0xA1B2C3D4
MAGIC_NSEC = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
OVS_SNAPLEN = 1518  # what ovs_pcap_write_header() puts in every file

_NATIVE = "<" if sys.byteorder == "little" else ">"
_FILE_HEADER = struct.Struct(_NATIVE + "IHHiIII")
_RECORD_HEADER = struct.Struct(_NATIVE + "IIII")
_SLL = struct.Struct("!HHH6sHH")


class PcapError(Exception):
    """A pcap file that cannot be read (bad magic, link type or truncated record)."""


def file_header(snaplen: int = OVS_SNAPLEN, linktype: int = LINKTYPE_ETHERNET) -> bytes:
    return _FILE_HEADER.pack(MAGIC_USEC, 2, 4, 0, 0, snaplen, linktype)


def record(frame: bytes, when: float | None = None) -> bytes:
    """One record (header + frame), timestamped `when` (seconds since the epoch; now if None)."""
    if when is None:
        when = time.time()
    sec = int(when)
    usec = int(round((when - sec) * 1e6))
    if usec >= 1_000_000:
        sec, usec = sec + 1, usec - 1_000_000
    return _RECORD_HEADER.pack(sec, usec, len(frame), len(frame)) + bytes(frame)


class PcapWriter:
    """Appends frames to a pcap file (mode "ab" as OVS's tx_pcap, or "wb" to start afresh).

    Opened files stay open until `close()`; each `write` is flushed.
    """

    def __init__(self, path: str, mode: str = "ab"):
        if mode not in ("ab", "wb"):
            raise ValueError(f"mode must be 'ab' or 'wb', not {mode!r}")
        self.path = path
        self._file: BinaryIO | None = open(path, mode, buffering=0)
        if mode == "wb" or self._file.seek(0, 2) == 0:
            self._file.write(file_header())

    def write(self, frame: bytes, when: float | None = None) -> None:
        if self._file is None:
            raise ValueError(f"{self.path}: pcap writer is closed")
        # unbuffered file: one write() system call per record, visible at once to readers
        self._file.write(record(frame, when))

    def write_many(self, frames, when: float | None = None) -> None:
        if self._file is None:
            raise ValueError(f"{self.path}: pcap writer is closed")
        if when is None:
            when = time.time()
        self._file.write(b"".join(record(f, when) for f in frames))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "PcapWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def parse(data: bytes) -> Iterator[tuple[float, bytes]]:
    """Yields (timestamp in seconds, Ethernet frame) for each record of a whole pcap file."""
    if len(data) < _FILE_HEADER.size:
        raise PcapError("failed to read pcap header: end of file")
    (magic,) = struct.unpack_from("<I", data)
    if magic in (MAGIC_USEC, MAGIC_NSEC):
        order = "<"
    else:
        (magic,) = struct.unpack_from(">I", data)
        if magic not in (MAGIC_USEC, MAGIC_NSEC):
            raise PcapError(f"bad magic 0x{struct.unpack_from('<I', data)[0]:08x} reading pcap file")
        order = ">"
    divisor = 1e6 if magic == MAGIC_USEC else 1e9
    linktype = struct.unpack_from(order + "I", data, 20)[0]
    if linktype not in (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL):
        raise PcapError(f"unknown network type {linktype} reading pcap file")
    rec = struct.Struct(order + "IIII")
    offset = _FILE_HEADER.size
    while offset < len(data):
        if offset + rec.size > len(data):
            raise PcapError("failed to read pcap record header: truncated")
        sec, subsec, incl_len, _orig = rec.unpack_from(data, offset)
        offset += rec.size
        if offset + incl_len > len(data):
            raise PcapError("failed to read pcap packet: truncated")
        frame = data[offset:offset + incl_len]
        offset += incl_len
        if linktype == LINKTYPE_LINUX_SLL:
            if len(frame) < _SLL.size:
                raise PcapError("pcap packet too short for SLL header")
            _ptype, _hrd, lla_len, src, _res, proto = _SLL.unpack_from(frame)
            if lla_len != 6:
                raise PcapError("bad SLL header")
            frame = bytes(6) + src + struct.pack("!H", proto) + frame[_SLL.size:]
        yield sec + subsec / divisor, bytes(frame)


def read_frames(path: str) -> list[bytes]:
    """All frames of a pcap file, in order."""
    with open(path, "rb") as f:
        return [frame for _, frame in parse(f.read())]


def write_frames(path: str, frames, mode: str = "wb") -> None:
    with PcapWriter(path, mode) as w:
        w.write_many(frames)
