"""Network devices (ports) of the userspace datapath: one interface, three kinds.

Theory of operation
-------------------
A `Netdev` is what Open vSwitch's lib/netdev.h calls a network device: a
name, a type, an Ethernet address, an MTU, an ifindex, administrative and link
(carrier) state, counters, and frames in and out.  The kinds:

=============  ==========================  ====================================
type           class                       frames
=============  ==========================  ====================================
``dummy``      `netdev_dummy.DummyNetdev`  injected by `receive()` (unixctl
               (also ``internal`` on a     ``netdev-dummy/receive``); sent ones
               ``dummy`` bridge, OVS's     are counted and, with
               "dummy-internal")           ``options:tx_pcap``, written to pcap
``system``     `netdev_linux.SystemNetdev` an AF_PACKET raw socket bound to an
                                           existing Linux interface
``internal``   `netdev_linux.TapNetdev`    a tap device (the bridge's own port
(netdev dp)                                on a ``netdev`` bridge)
=============  ==========================  ====================================

Every kind has the same non-blocking surface; none of them imports trio.

* ``send_batch(frames) -> int`` sends what it can now and returns how many
  went out; a full kernel queue (EAGAIN/ENOBUFS) drops the rest of the batch
  and counts them in ``tx_dropped``, as a switch does.  It never blocks.
* ``recv_batch(max_n) -> list[bytes]`` returns up to ``max_n`` frames that
  are ready now (possibly none).  ``fileno()`` is the descriptor to wait on,
  or ``None`` for a dummy, whose frames are pushed instead (see below).
* ``set_listener(callback)``: a dummy hands injected frames straight to
  ``callback(frames)`` (synchronously, inside the `receive()` call) once a
  listener is set; until then they queue (at most 100, as OVS's dummy rx
  queue) for ``recv_batch``.  Pollable ports ignore it.

The trio driver (`datapath.ioloop`) wires ports to the datapath:
``on_frames(port, frames)`` for arrivals, ``port.send_batch(frames)`` for
departures.  Nothing here knows about flows.

Counters: ``get_stats()`` returns a `NetdevStats` whose fields are ``None``
where the kind does not count them (OpenFlow prints ``?``; the switch
encodes all-ones), and ``statistics()`` the Interface table's
``statistics`` column, keys as Open vSwitch writes them for that kind.

Errors raise `NetdevError`, whose text is the reply Open vSwitch gives
(``no such dummy netdev``, ``Invalid Admin State``...); the switch turns it
into the unixctl error or the Interface ``error`` column in one place.

Concurrency: single-threaded; a port is used from one trio task and from
synchronous callbacks of the same thread.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Mapping

ETH_HEADER_LEN = 14
VLAN_HEADER_LEN = 4
ETH_TYPE_VLAN = 0x8100

Listener = Callable[[list], None]


class NetdevError(Exception):
    """A port operation failed; `str(error)` is Open vSwitch's text for it."""


@dataclasses.dataclass
class NetdevStats:
    """Port counters; None = not counted by this kind of port (OpenFlow shows ``?``)."""
    rx_packets: int | None = 0
    rx_bytes: int | None = 0
    rx_dropped: int | None = None
    rx_errors: int | None = None
    tx_packets: int | None = 0
    tx_bytes: int | None = 0
    tx_dropped: int | None = None
    tx_errors: int | None = None
    collisions: int | None = None

    def as_dict(self) -> dict[str, int]:
        """Interface ``statistics`` keys for the counters this port has."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def parse_mac(text: str) -> bytes:
    parts = text.split(":")
    if len(parts) != 6 or not all(1 <= len(p) <= 2 for p in parts):
        raise ValueError(f"{text}: invalid Ethernet address")
    return bytes(int(p, 16) for p in parts)


class Netdev:
    """Base class: the attributes and no-op defaults every port has.

    Attributes: ``name``, ``type`` (as in the Interface table), ``hw_addr``
    (6 bytes), ``mtu``, ``ifindex`` (0 when the port has none, as OVS writes),
    ``admin_up``.  Properties ``carrier``, ``admin_state`` and ``link_state``
    ("up"/"down" as the Interface columns).  ``change_seq`` grows whenever
    something the switch reports (state, MAC, MTU) changes.
    """

    type = "?"
    pollable = False          # True: fileno() is a descriptor the driver waits on

    def __init__(self, name: str):
        self.name = name
        self.hw_addr = bytes(6)
        self.mtu = 1500
        self.ifindex = 0
        self.admin_up = True
        self.change_seq = 1
        self.closed = False

    # --- state -------------------------------------------------------------
    @property
    def carrier(self) -> bool:
        return self.admin_up

    @property
    def admin_state(self) -> str:
        return "up" if self.admin_up else "down"

    @property
    def link_state(self) -> str:
        # netdev_get_carrier(): a device that is not up has no carrier.
        return "up" if self.admin_up and self.carrier else "down"

    def set_admin_state(self, up: bool) -> None:
        if self.admin_up != up:
            self.admin_up = up
            self.change_seq += 1

    def set_hw_addr(self, mac: bytes) -> None:
        if len(mac) != 6:
            raise ValueError("an Ethernet address has 6 bytes")
        if mac != self.hw_addr:
            self.hw_addr = bytes(mac)
            self.change_seq += 1

    def set_mtu(self, mtu: int) -> None:
        if mtu != self.mtu:
            self.mtu = mtu
            self.change_seq += 1

    def set_config(self, options: Mapping[str, str], *, cwd: str | None = None) -> None:
        """Applies the Interface ``options`` column (kinds ignore what they do not know)."""

    # --- frames ------------------------------------------------------------
    def fileno(self) -> int | None:
        return None

    def recv_batch(self, max_n: int = 256) -> list[bytes]:
        return []

    def send_batch(self, frames: Iterable[bytes]) -> int:
        raise NotImplementedError

    def set_listener(self, listener: Listener | None) -> None:
        """Push-style delivery (dummy ports); pollable ports are read by the driver instead."""

    # --- counters ----------------------------------------------------------
    def get_stats(self) -> NetdevStats:
        raise NotImplementedError

    def statistics(self) -> dict[str, int]:
        return self.get_stats().as_dict()

    def status(self) -> dict[str, str]:
        """The Interface ``status`` column (driver name and the like)."""
        return {}

    def close(self) -> None:
        self.closed = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} type={self.type}>"


# Which class serves an Interface type, per bridge datapath_type.  "" is "system".
_KINDS = {
    "dummy": {"dummy": "dummy", "internal": "dummy-internal", "system": "system", "": "system"},
    "netdev": {"dummy": "dummy", "internal": "tap", "tap": "tap", "system": "system", "": "system"},
}


def netdev_class_for(iface_type: str, datapath_type: str = "netdev") -> str:
    """The implementation ("dummy", "dummy-internal", "system", "tap") for an Interface type."""
    kinds = _KINDS.get(datapath_type or "system")
    if kinds is None or iface_type not in kinds:
        raise NetdevError(f"could not open network device with type {iface_type!r} "
                          f"on datapath {datapath_type!r} (Address family not supported by protocol)")
    return kinds[iface_type]


def open_netdev(name: str, iface_type: str = "", *, datapath_type: str = "netdev",
                options: Mapping[str, str] | None = None, hw_addr: bytes | None = None,
                cwd: str | None = None) -> Netdev:
    """Opens the port for one Interface row.

    ``hw_addr``: for a dummy, the MAC the switch assigns (default: the next of
    OVS's ``aa:55:aa:55:00:NN`` sequence, see `netdev_dummy.next_dummy_mac`).
    ``cwd``: the folder relative pcap paths resolve against (the daemon's cwd).
    """
    kind = netdev_class_for(iface_type, datapath_type)
    if kind in ("dummy", "dummy-internal"):
        from datapath.netdev_dummy import DummyNetdev
        dev: Netdev = DummyNetdev(name, iface_type="internal" if kind == "dummy-internal" else "dummy",
                                  hw_addr=hw_addr)
    elif kind == "system":
        from datapath.netdev_linux import SystemNetdev
        dev = SystemNetdev(name)
    else:
        from datapath.netdev_linux import TapNetdev
        dev = TapNetdev(name)
        if hw_addr is not None:
            dev.set_hw_addr(hw_addr)
    if options:
        dev.set_config(options, cwd=cwd)
    return dev
