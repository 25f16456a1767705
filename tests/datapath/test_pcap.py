"""datapath.pcap: the bytes ovs-vswitchd 3.1 writes, round trips, and foreign variants."""
from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from datapath import pcap

# tx_pcap written by ovs-vswitchd 3.1.0 (dummy port, x86-64) for three frames: a 38-byte one,
# the 106-byte frame OVS composes from an ICMP flow, and the 38-byte one again.
OVS_TX_PCAP = bytes.fromhex(
    "d4c3b2a1020004000000000000000000ee05000001000000"
    "ba1d096b51e50b002600000026000000"
    "ffffffffffff0000000000010800450000140000400040010000000000000000000000000000"
    "ba1d096b57fb0b006a0000006a000000"
    "00000000000200000000000108004500005c000000004001669f0a0000010a000002080013fc0000000000"
    "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b"
    "2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "c11d096ba9ee0e002600000026000000"
    "ffffffffffff0000000000010800450000140000400040010000000000000000000000000000")


def strip_timestamps(data: bytes) -> bytes:
    """The file with every record's ts_sec/ts_usec zeroed."""
    out = bytearray(data)
    offset = 24
    while offset < len(out):
        incl = struct.unpack_from("<I", out, offset + 8)[0]
        out[offset:offset + 8] = bytes(8)
        offset += 16 + incl
    return bytes(out)


def test_reads_ovs_file():
    frames = [f for _, f in pcap.parse(OVS_TX_PCAP)]
    assert [len(f) for f in frames] == [38, 106, 38]
    assert frames[0] == frames[2]
    ts = [t for t, _ in pcap.parse(OVS_TX_PCAP)]
    assert ts[0] == pytest.approx(0x6B091DBA + 0x0BE551 / 1e6)


def test_writes_what_ovs_writes(tmp_path):
    frames = [f for _, f in pcap.parse(OVS_TX_PCAP)]
    path = tmp_path / "tx.pcap"
    with pcap.PcapWriter(str(path)) as w:
        for f in frames:
            w.write(f)
    assert strip_timestamps(path.read_bytes()) == strip_timestamps(OVS_TX_PCAP)


def test_append_writes_header_once(tmp_path):
    path = str(tmp_path / "a.pcap")
    pcap.PcapWriter(path).close()                       # an empty file gets the header
    for f in (b"\x01" * 14, b"\x02" * 20):
        with pcap.PcapWriter(path, "ab") as w:
            w.write(f)
    assert pcap.read_frames(path) == [b"\x01" * 14, b"\x02" * 20]
    with open(path, "rb") as fh:
        assert fh.read().count(pcap.file_header()) == 1


def test_record_is_visible_without_close(tmp_path):
    path = str(tmp_path / "live.pcap")
    w = pcap.PcapWriter(path)
    w.write(b"\xaa" * 60)
    assert pcap.read_frames(path) == [b"\xaa" * 60]     # another reader sees it before close
    w.close()


def test_big_endian_nanosecond_and_sll():
    header = struct.pack(">IHHiIII", pcap.MAGIC_NSEC, 2, 4, 0, 0, 65535, pcap.LINKTYPE_LINUX_SLL)
    sll = struct.pack("!HHH6sHH", 0, 1, 6, bytes.fromhex("020000000001"), 0, 0x0800)
    body = sll + b"payload"
    rec = struct.pack(">IIII", 10, 500_000_000, len(body), len(body)) + body
    [(t, frame)] = list(pcap.parse(header + rec))
    assert t == pytest.approx(10.5)
    assert frame == bytes(6) + bytes.fromhex("020000000001") + b"\x08\x00" + b"payload"


@pytest.mark.parametrize("data, message", [
    (b"\0" * 10, "header"),
    (b"\0" * 24, "bad magic"),
    (struct.pack("<IHHiIII", pcap.MAGIC_USEC, 2, 4, 0, 0, 1518, 105), "network type"),
    (pcap.file_header() + struct.pack("<IIII", 0, 0, 100, 100) + b"short", "truncated"),
])
def test_errors(data, message):
    with pytest.raises(pcap.PcapError, match=message):
        list(pcap.parse(data))


@pytest.mark.skipif(not shutil.which("ovs-pcap"), reason="ovs-pcap not installed")
def test_ovs_pcap_reads_ours(tmp_path):
    path = str(tmp_path / "x.pcap")
    frames = [bytes(range(14)) + b"abc", b"\xff" * 64]
    pcap.write_frames(path, frames)
    out = subprocess.run(["ovs-pcap", path], capture_output=True, text=True, check=True).stdout
    assert out.split() == [f.hex() for f in frames]
