"""Linux ports: ``system`` (AF_PACKET on an existing interface) and tap (``internal``).

Theory of operation
-------------------
`SystemNetdev` opens an AF_PACKET raw socket as Open vSwitch's
lib/netdev-linux.c does for the userspace datapath:

* ``socket(AF_PACKET, SOCK_RAW, 0)`` receives nothing until bound, so no
  frame of another interface slips in; it is then bound to the interface's
  ifindex with ETH_P_ALL, made non-blocking, given a large receive buffer
  (SO_RCVBUFFORCE as root, else SO_RCVBUF), put in promiscuous mode through
  PACKET_ADD_MEMBERSHIP/PACKET_MR_PROMISC (undone by the kernel on close).
* our own transmissions are not read back: PACKET_IGNORE_OUTGOING where the
  kernel has it (4.20+), else frames whose sll_pkttype is PACKET_OUTGOING are
  dropped on receipt.
* PACKET_AUXDATA: the kernel (veth included) strips the outer 802.1Q tag into
  metadata; `recv_batch` puts it back from tp_vlan_tci/tp_vlan_tpid as
  netdev-linux does (a tag is present when tp_vlan_tci != 0 or
  TP_STATUS_VLAN_VALID is set; the TPID is tp_vlan_tpid when
  TP_STATUS_VLAN_TPID_VALID is set, else 0x8100).
* MAC, MTU and flags by ioctl on the interface in the caller's network
  namespace; carrier is IFF_RUNNING (the kernel's operstate: carrier and
  admin up); counters from /proc/self/net/dev (this namespace's kernel
  counters, as OVS reads them over netlink) plus our own drops.

`TapNetdev` creates (or attaches to) a tap device through /dev/net/tun
(IFF_TAP | IFF_NO_PI), brings it up, and reads/writes whole frames on the
descriptor.  Its kernel counters are seen from the host, so rx and tx are
swapped, as OVS's netdev_tap_get_stats().

All I/O is non-blocking; see `datapath.netdev` for the shared contract.
"""
from __future__ import annotations

import errno
import fcntl
import mmap
import os
import socket
import struct
from typing import Iterable

from datapath.netdev import Netdev, NetdevError, NetdevStats

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_AUXDATA = 8
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4            # sll_pkttype of a frame this host sent
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
SO_RCVBUFFORCE = 33
RCVBUF = 4 << 20               # room for ~bursts of tens of thousands of small frames
_AUXDATA = struct.Struct("IIIHHHH")   # struct tpacket_auxdata
_CMSG_SPACE = socket.CMSG_SPACE(_AUXDATA.size)
RX_BUFSIZE = 65536
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
TPACKET_V2 = 1
TP_STATUS_USER = 1
_T2HDR = struct.Struct("IIIHHIIHH4x")   # struct tpacket2_hdr
_T2HDR_LEN = 32                          # TPACKET_ALIGN(sizeof(struct tpacket2_hdr))
RING_BLOCK = 1 << 16
RING_FRAMES = 4096                       # frames in the receive ring (~8 MiB with 2 KiB slots)

SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
SIOCGIFMTU, SIOCSIFMTU = 0x8921, 0x8922
SIOCGIFHWADDR, SIOCSIFHWADDR = 0x8927, 0x8924
IFF_UP, IFF_RUNNING, IFF_PROMISC = 0x1, 0x40, 0x100
TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
IFNAMSIZ = 16
_SEND_FULL = (errno.EAGAIN, errno.ENOBUFS)


def _ifreq(name: str, payload: bytes = b"") -> bytes:
    return struct.pack(f"{IFNAMSIZ}s", name.encode()) + payload.ljust(24, b"\0")


class _LinuxNetdev(Netdev):
    """What system and tap ports share: ioctl-backed attributes and kernel counters."""

    swap_counters = False

    def __init__(self, name: str):
        super().__init__(name)
        if len(name.encode()) >= IFNAMSIZ:
            raise NetdevError(f"{name}: interface name too long")
        self._ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx_dropped = self.tx_dropped = self.tx_errors = 0
        self.rx_packets = self.rx_bytes = self.tx_packets = self.tx_bytes = 0   # our own view

    def _ioctl(self, request: int, payload: bytes = b"") -> bytes:
        try:
            return fcntl.ioctl(self._ctl, request, _ifreq(self.name, payload))
        except OSError as e:
            raise NetdevError(f"{self.name}: {os.strerror(e.errno)}") from e

    def _flags(self) -> int:
        return struct.unpack_from("H", self._ioctl(SIOCGIFFLAGS), IFNAMSIZ)[0]

    def refresh(self) -> None:
        """Reads MAC, MTU, ifindex and admin state from the kernel."""
        self.hw_addr = self._ioctl(SIOCGIFHWADDR)[IFNAMSIZ + 2:IFNAMSIZ + 8]
        self.mtu = struct.unpack_from("i", self._ioctl(SIOCGIFMTU), IFNAMSIZ)[0]
        try:
            self.ifindex = socket.if_nametoindex(self.name)
        except OSError as e:
            raise NetdevError(f"could not open network device {self.name} (No such device)") from e
        self.admin_up = bool(self._flags() & IFF_UP)

    @property
    def carrier(self) -> bool:
        try:
            return bool(self._flags() & IFF_RUNNING)
        except NetdevError:
            return False

    @property
    def link_state(self) -> str:
        return "up" if self.carrier else "down"

    def set_admin_state(self, up: bool) -> None:
        flags = self._flags()
        new = flags | IFF_UP if up else flags & ~IFF_UP
        if new != flags:
            self._ioctl(SIOCSIFFLAGS, struct.pack("H", new))
        super().set_admin_state(up)

    def set_mtu(self, mtu: int) -> None:
        self._ioctl(SIOCSIFMTU, struct.pack("i", mtu))
        super().set_mtu(mtu)

    def set_hw_addr(self, mac: bytes) -> None:
        self._ioctl(SIOCSIFHWADDR, struct.pack("H6s", 1, bytes(mac)))   # ARPHRD_ETHER
        super().set_hw_addr(mac)

    def kernel_counters(self) -> dict[str, int] | None:
        """This namespace's /proc/net/dev line for the interface, or None."""
        try:
            with open("/proc/self/net/dev") as f:
                lines = f.readlines()[2:]
        except OSError:
            return None
        for line in lines:
            name, _, rest = line.partition(":")
            if name.strip() == self.name:
                v = [int(x) for x in rest.split()]
                return {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                        "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11],
                        "collisions": v[13]}
        return None

    def get_stats(self) -> NetdevStats:
        k = self.kernel_counters()
        if k is None:
            k = {"rx_packets": self.rx_packets, "rx_bytes": self.rx_bytes, "rx_errors": 0,
                 "rx_dropped": 0, "tx_packets": self.tx_packets, "tx_bytes": self.tx_bytes,
                 "tx_errors": 0, "tx_dropped": 0, "collisions": 0}
        elif self.swap_counters:
            k = {("tx" + key[2:] if key.startswith("rx") else "rx" + key[2:] if key.startswith("tx")
                  else key): v for key, v in k.items()}
        return NetdevStats(rx_packets=k["rx_packets"], rx_bytes=k["rx_bytes"], rx_errors=k["rx_errors"],
                           rx_dropped=k["rx_dropped"] + self.rx_dropped,
                           tx_packets=k["tx_packets"], tx_bytes=k["tx_bytes"],
                           tx_errors=k["tx_errors"] + self.tx_errors,
                           tx_dropped=k["tx_dropped"] + self.tx_dropped, collisions=k["collisions"])

    def close(self) -> None:
        self._ctl.close()
        super().close()


class SystemNetdev(_LinuxNetdev):
    """An existing Linux interface through an AF_PACKET raw socket (``type=system`` or "")."""

    type = "system"
    pollable = True

    def __init__(self, name: str, *, promisc: bool = True, rcvbuf: int = RCVBUF, rx_ring: bool = True):
        super().__init__(name)
        try:
            self.refresh()
        except NetdevError:
            self._ctl.close()
            raise NetdevError(f"could not open network device {name} (No such device)") from None
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock, self._fd, self._ring = sock, sock.fileno(), None
        try:
            if rx_ring:
                self._setup_ring()        # before bind: no frame may queue outside the ring
            sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            try:
                sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
                self.filter_outgoing = False
            except OSError:
                self.filter_outgoing = True
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.bind((name, ETH_P_ALL))
            if promisc:
                mreq = struct.pack("iHH8s", self.ifindex, PACKET_MR_PROMISC, 0, b"")
                sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            sock.setblocking(False)
        except OSError as e:
            if self._ring is not None:
                self._ring.close()
            sock.close()
            self._ctl.close()
            raise NetdevError(f"{name}: could not open AF_PACKET socket ({os.strerror(e.errno)})") from e
        self.recv_batch = self._recv_ring if self._ring is not None else self._recv_msgs

    def _setup_ring(self) -> None:
        """A TPACKET_V2 receive ring: frames and their VLAN metadata without a system call each."""
        # a slot holds the header, the sockaddr_ll, a 16-byte-aligned MAC offset and the frame
        need = _T2HDR_LEN + 32 + 16 + self.mtu + 14 + 8
        frame_size = 2048
        while frame_size < need:
            frame_size *= 2
        block = max(RING_BLOCK, frame_size)
        per_block = block // frame_size
        blocks = max(1, RING_FRAMES // per_block)
        try:
            self.sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
            self.sock.setsockopt(SOL_PACKET, PACKET_RX_RING, struct.pack("IIII", block, blocks, frame_size,
                                                                          blocks * per_block))
            self._ring = mmap.mmap(self._fd, block * blocks)
        except OSError:
            self._ring = None
            return
        self._ring_slots = [i * frame_size for i in range(blocks * per_block)]
        self._ring_next = 0
        self.ring_resyncs = 0

    def _recv_ring(self, max_n: int = 256) -> list[bytes]:
        ring, slots, unpack, pack_into = self._ring, self._ring_slots, _T2HDR.unpack_from, struct.pack_into
        i, n_slots = self._ring_next, len(self._ring_slots)
        frames = []
        nbytes = 0
        while len(frames) < max_n:
            off = slots[i]
            status, tp_len, snaplen, mac, _net, _s, _ns, tci, tpid = unpack(ring, off)
            if not status & TP_STATUS_USER:
                if frames or not self._resync_ring():
                    break
                i = self._ring_next
                continue
            if snaplen < tp_len or (self.filter_outgoing and ring[off + _T2HDR_LEN + 10] == PACKET_OUTGOING):
                if snaplen < tp_len:
                    self.rx_dropped += 1
                data = None
            else:
                data = ring[off + mac:off + mac + snaplen]
                if tci or status & TP_STATUS_VLAN_VALID:
                    if not status & TP_STATUS_VLAN_TPID_VALID:
                        tpid = 0x8100
                    data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
            pack_into("I", ring, off, 0)      # TP_STATUS_KERNEL: the slot goes back to the kernel
            i = i + 1 if i + 1 < n_slots else 0
            if data is not None:
                frames.append(data)
                nbytes += len(data)
        self._ring_next = i
        self.rx_packets += len(frames)
        self.rx_bytes += nbytes
        return frames

    def _resync_ring(self) -> bool:
        """Our slot is empty on a wakeup: find where the kernel went on (True if it did).

        Observed after overload (a blast of several 100k frames/s): the kernel had carried on
        filling slots past ours, so the frames sat unread until the ring wrapped.  Only an empty
        read pays for this scan.
        """
        ring, slots, n = self._ring, self._ring_slots, len(self._ring_slots)
        start = self._ring_next
        unpack = struct.Struct("I").unpack_from
        for k in range(1, n):
            j = start + k
            j = j - n if j >= n else j
            if unpack(ring, slots[j])[0] & TP_STATUS_USER:
                # the oldest unread frame is the first filled slot after a run of empty ones
                self._ring_next = j
                self.ring_resyncs += 1
                return True
        return False

    def kernel_drops(self) -> int:
        """Frames the kernel dropped for want of room in our socket since the last call."""
        try:
            _packets, drops = struct.unpack("II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        except OSError:
            return 0
        return drops

    def get_stats(self) -> NetdevStats:
        if not self.closed:
            self.rx_dropped += self.kernel_drops()
        return super().get_stats()

    def fileno(self) -> int:
        return self._fd

    def _recv_msgs(self, max_n: int = 256) -> list[bytes]:
        """Without a ring: one recvmsg per frame, the VLAN tag from PACKET_AUXDATA."""
        frames = []
        recvmsg = self.sock.recvmsg
        filter_outgoing = self.filter_outgoing
        nbytes = 0
        while len(frames) < max_n:
            try:
                data, anc, flags, addr = recvmsg(RX_BUFSIZE, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                if e.errno == errno.ENETDOWN:
                    break
                self.rx_dropped += 1
                continue
            if filter_outgoing and addr[2] == PACKET_OUTGOING:
                continue
            if flags & socket.MSG_TRUNC or len(data) < 14:
                self.rx_dropped += 1
                continue
            for level, ctype, cdata in anc:
                if level == SOL_PACKET and ctype == PACKET_AUXDATA and len(cdata) >= _AUXDATA.size:
                    status, _len, _snap, _mac, _net, tci, tpid = _AUXDATA.unpack_from(cdata)
                    if tci or status & TP_STATUS_VLAN_VALID:
                        if not status & TP_STATUS_VLAN_TPID_VALID:
                            tpid = 0x8100
                        data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
            frames.append(data)
            nbytes += len(data)
        self.rx_packets += len(frames)
        self.rx_bytes += nbytes
        return frames

    def send_batch(self, frames: Iterable[bytes]) -> int:
        frames = frames if isinstance(frames, list) else list(frames)
        send = self.sock.send
        sent = nbytes = 0
        for i, frame in enumerate(frames):
            try:
                send(frame)
            except OSError as e:
                if e.errno in _SEND_FULL:
                    self.tx_dropped += len(frames) - i
                    break
                self.tx_errors += 1    # EMSGSIZE, ENETDOWN...
                continue
            sent += 1
            nbytes += len(frame)
        self.tx_packets += sent
        self.tx_bytes += nbytes
        return sent

    def close(self) -> None:
        if not self.closed:
            if self._ring is not None:
                self._ring.close()
            self.sock.close()
        super().close()


class TapNetdev(_LinuxNetdev):
    """A tap device (the bridge's local port on a netdev bridge): created, brought up, read/written."""

    type = "internal"
    pollable = True
    swap_counters = True

    def __init__(self, name: str, *, bring_up: bool = True):
        super().__init__(name)
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            self._ctl.close()
            raise NetdevError(f"opening \"/dev/net/tun\" failed: {os.strerror(e.errno)}") from e
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack(f"{IFNAMSIZ}sH", name.encode(), IFF_TAP | IFF_NO_PI)
                        .ljust(40, b"\0"))
            self._fd = fd
            if bring_up:
                flags = self._flags()
                self._ioctl(SIOCSIFFLAGS, struct.pack("H", flags | IFF_UP))
            self.refresh()
        except (OSError, NetdevError) as e:
            os.close(fd)
            self._ctl.close()
            raise NetdevError(f"{name}: creating tap device failed ({e})") from e

    def fileno(self) -> int:
        return self._fd

    def recv_batch(self, max_n: int = 256) -> list[bytes]:
        frames = []
        read, fd = os.read, self._fd
        nbytes = 0
        while len(frames) < max_n:
            try:
                data = read(fd, RX_BUFSIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:     # EIO while the device is down
                break
            frames.append(data)
            nbytes += len(data)
        self.rx_packets += len(frames)
        self.rx_bytes += nbytes
        return frames

    def send_batch(self, frames: Iterable[bytes]) -> int:
        frames = frames if isinstance(frames, list) else list(frames)
        write, fd = os.write, self._fd
        sent = nbytes = 0
        for i, frame in enumerate(frames):
            try:
                write(fd, frame)
            except OSError as e:
                if e.errno in _SEND_FULL:
                    self.tx_dropped += len(frames) - i
                    break
                self.tx_errors += 1    # EIO: the tap device is down
                continue
            sent += 1
            nbytes += len(frame)
        self.tx_packets += sent
        self.tx_bytes += nbytes
        return sent

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def probe_device(name: str) -> dict | None:
    """An existing interface of this network namespace: hw_addr, ifindex, mtu, admin_up, carrier.

    None when there is no such device (what ovs-vswitchd reports as ENODEV).
    """
    if not name or len(name.encode()) >= IFNAMSIZ or "/" in name:
        return None
    try:
        ifindex = socket.if_nametoindex(name)
    except OSError:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            mac = fcntl.ioctl(s, SIOCGIFHWADDR, _ifreq(name))[IFNAMSIZ + 2:IFNAMSIZ + 8]
            mtu = struct.unpack_from("i", fcntl.ioctl(s, SIOCGIFMTU, _ifreq(name)), IFNAMSIZ)[0]
            flags = struct.unpack_from("H", fcntl.ioctl(s, SIOCGIFFLAGS, _ifreq(name)), IFNAMSIZ)[0]
        except OSError:
            return None
    return {"hw_addr": mac, "ifindex": ifindex, "mtu": mtu, "admin_up": bool(flags & IFF_UP),
            "carrier": bool(flags & IFF_RUNNING)}


SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17


def set_tx_checksum(name: str, on: bool) -> None:
    """``ethtool -K NAME tx on|off`` without ethtool (ETHTOOL_STXCSUM), in this network namespace.

    Relaying frames of a veth with checksum offload through AF_PACKET would send them with
    unfinished checksums; test and benchmark set-ups turn it off on the veth ends they create.
    """
    import ctypes
    value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, int(on)))
    ifr = struct.pack(f"{IFNAMSIZ}sP", name.encode(), ctypes.addressof(value)).ljust(40, b"\0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            fcntl.ioctl(s, SIOCETHTOOL, ifr)
        except OSError as e:
            raise NetdevError(f"{name}: setting tx checksum offload failed ({os.strerror(e.errno)})") from e
