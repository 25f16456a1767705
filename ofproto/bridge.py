"""Bridges that follow the database (sans-I/O): what ovs-vswitchd's bridge.c decides.

Theory of operation
-------------------
`config_from_idl(tables)` turns the IDL replica into frozen `*Config`
snapshots (the only place that reads python-ovs rows).  `Switch.reconfigure(
cfg, now)` compares a snapshot with the live `Bridge` objects, applies the
difference and returns `Writes`: the status columns ovs-vswitchd writes
back, keyed by (table, row uuid), to be sent in one transaction together
with ``Open_vSwitch.cur_cfg = next_cfg``.  No I/O, no trio, no clock: `now`
comes in as an argument (it only ages freed OpenFlow port numbers).

Rules copied from Open vSwitch 3.1 (observed with --enable-dummy
--disable-system, and bridge.c / ofproto.c):

* Datapath types: ``dummy`` and ``netdev`` open; anything else (``system``,
  the default) fails as with --disable-system: ``failed to create bridge
  br2: Address family not supported by protocol`` and nothing is written.
* Interface types: ``dummy``, ``internal``, ``dummy-internal``,
  ``dummy-pmd``, ``patch`` and tunnel types open.  On a ``netdev`` bridge
  ``system``/``""`` name an existing Linux interface: the injected
  ``probe(name)`` (see `DeviceInfo`) reports it, and its MAC, ifindex, MTU,
  link and admin state are what the Interface row shows; a name the probe
  does not find gives ``could not open network device NAME (No such
  device)``.  ``tap`` on a ``netdev`` bridge creates the tap device, as
  netdev-linux does.  On ``dummy`` bridges (and without a probe)
  ``system``/``""``/``tap``, and ``afxdp`` everywhere, give that ENODEV
  text; an unknown type gives ``(Address family not supported by
  protocol)``.  A failed interface gets ``ofport = -1`` and ``error``.
* OpenFlow port numbers (`OfportAllocator`, ofproto.c alloc_ofp_port): the
  bridge's own internal interface is LOCAL (65534).  Others ask for
  ``ofport_request``, else their current ``ofport`` column value (so numbers
  survive a restart); the request wins if no live port has it.  Otherwise a
  cursor moves forward from 1 (wrapping below 32768) to a number never used
  or freed more than an hour ago, so freed numbers are not reused at once.
* MACs (netdev-dummy.c): every dummy netdev opened in the process takes the
  next ``aa:55:aa:55:XX:XX`` (the shared ``ovs-dummy`` datapath took
  ``:00:00``); internal interfaces with ``Interface.mac`` use it; patch and
  tunnel ports get a random locally administered MAC.
* The bridge MAC (bridge_pick_local_hw_addr): ``other_config:hwaddr`` if a
  valid unicast address; else the smallest universally administered unicast
  MAC among non-internal interfaces (``Port.mac`` first); else the first six
  bytes of the Bridge row's UUID (in memory order) with the local bit set.
  ``datapath_id`` is ``other_config:datapath-id`` (16 hex digits) or that MAC.

Observers: the OpenFlow layer registers callbacks on `Switch.on_bridge_added`
/ `on_bridge_removed` and on each `Bridge`'s `on_port_added` /
`on_port_removed` / `on_port_changed` / `on_config_changed` (`Hook`).
Callbacks run synchronously inside `reconfigure`, after the bridge's state
is updated; they must not raise (exceptions are logged and swallowed).
"""
from __future__ import annotations

import logging
import os
import re
import uuid as uuid_mod
from dataclasses import dataclass, field, replace
from typing import Any, Callable

log = logging.getLogger("bridge")

OFPP_MAX = 0xff00              # first reserved OpenFlow port number
OFPP_LOCAL = 0xfffe            # the bridge's own internal port
AUTO_PORT_LIMIT = 32768        # automatic numbers stay in the lower half (ofproto.c)
PORT_REUSE_DELAY = 3600.0      # seconds before a freed number is handed out again
DEFAULT_MTU = 1500

DATAPATH_TYPES = ("dummy", "netdev")        # what we open (and report, as OVS --enable-dummy)
IFACE_TYPES = ("afxdp", "afxdp-nonpmd", "bareudp", "dummy", "dummy-internal", "dummy-pmd",
               "erspan", "geneve", "gre", "gtpu", "internal", "ip6erspan", "ip6gre", "lisp",
               "patch", "stt", "system", "tap", "vxlan")
TUNNEL_TYPES = frozenset(("bareudp", "erspan", "geneve", "gre", "gtpu", "ip6erspan", "ip6gre",
                          "lisp", "stt", "vxlan"))
DUMMY_TYPES = frozenset(("dummy", "dummy-internal", "dummy-pmd", "internal"))
# Types that name a kernel device: absent under --disable-system and with no
# datapath of our own for them yet.
SYSTEM_TYPES = frozenset(("", "system", "tap", "afxdp", "afxdp-nonpmd"))
# Of those, what a netdev bridge opens: existing interfaces (AF_PACKET) and taps it creates.
NETDEV_SYSTEM_TYPES = frozenset(("", "system"))
NETDEV_TAP_TYPES = frozenset(("tap",))
DATAPATH_VERSION = "<built-in>"
ZERO_STATS = {k: 0 for k in ("rx_bytes", "rx_custom_packets_1", "rx_custom_packets_2", "rx_packets",
                             "rx_q0_bytes", "rx_q0_packets", "tx_bytes", "tx_packets",
                             "tx_q0_bytes", "tx_q0_packets")}

ENODEV_TEXT = "No such device"
EAFNOSUPPORT_TEXT = "Address family not supported by protocol"

# OpenFlow port config/state bits (OFPPC_*, OFPPS_*), for PortInfo.
OFPPC_PORT_DOWN = 1 << 0
OFPPS_LINK_DOWN = 1 << 0
OFPPS_LIVE = 1 << 2


# ---------------------------------------------------------------------------
# Configuration snapshots (from the database)

@dataclass(frozen=True)
class IfaceConfig:
    uuid: str
    name: str
    type: str = ""
    ofport_request: int | None = None
    ofport: int | None = None            # current column value (for stable numbers)
    mac: str | None = None
    options: tuple = ()
    mtu_request: int | None = None
    other_config: tuple = ()             # lacp-port-id, lacp-port-priority, lacp-aggregation-key


@dataclass(frozen=True)
class PortConfig:
    uuid: str
    name: str
    interfaces: tuple[IfaceConfig, ...] = ()
    mac: str | None = None
    tag: int | None = None
    trunks: tuple = ()
    other_config: tuple = ()
    # Bonds (a Port with several Interfaces): see ofproto/bondglue.py.
    bond_mode: str | None = None
    lacp: str | None = None
    bond_updelay: int = 0
    bond_downdelay: int = 0
    bond_active_slave: str | None = None


@dataclass(frozen=True)
class ControllerConfig:
    uuid: str
    target: str
    connection_mode: str | None = None
    inactivity_probe: int | None = None
    max_backoff: int | None = None
    other_config: tuple = ()
    rate_limit: int | None = None        # controller_rate_limit (packets/s)
    burst_limit: int | None = None       # controller_burst_limit


@dataclass(frozen=True)
class BridgeConfig:
    uuid: str
    name: str
    datapath_type: str = ""
    fail_mode: str | None = None
    protocols: tuple[str, ...] = ()
    other_config: tuple = ()             # sorted (key, value) pairs
    ports: tuple[PortConfig, ...] = ()
    controllers: tuple[ControllerConfig, ...] = ()
    flow_tables: tuple = ()              # sorted (table_id, {column: value}) pairs
    flood_vlans: tuple = ()

    @property
    def other(self) -> dict[str, str]:
        return dict(self.other_config)


@dataclass(frozen=True)
class SSLConfig:
    """PKI files for ssl:/pssl: controllers: the SSL row, or --private-key etc."""
    private_key: str | None = None
    certificate: str | None = None
    ca_cert: str | None = None
    bootstrap_ca_cert: bool = False


@dataclass(frozen=True)
class SwitchConfig:
    uuid: str | None = None              # the Open_vSwitch row
    next_cfg: int = 0
    cur_cfg: int = 0
    bridges: tuple[BridgeConfig, ...] = ()
    other_config: tuple = ()
    ssl: SSLConfig | None = None         # Open_vSwitch.ssl (None: no SSL row)


# ---------------------------------------------------------------------------
# Live state the OpenFlow layer observes

@dataclass
class PortInfo:
    """One OpenFlow port (Open vSwitch's ofport: an interface in a bridge)."""
    name: str
    ofport: int
    hw_addr: str
    type: str
    iface_uuid: str = ""
    port_name: str = ""                  # the Port row (a bond has several interfaces)
    mtu: int | None = DEFAULT_MTU
    admin_up: bool = True
    link_up: bool = True
    config: int = 0                      # OFPPC_* bits
    state: int = OFPPS_LIVE              # OFPPS_* bits
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DeviceInfo:
    """What the probe reports about an existing Linux interface (netdev-linux's view)."""
    hw_addr: str
    ifindex: int
    mtu: int
    link_up: bool
    admin_up: bool


Probe = Callable[[str], "DeviceInfo | None"]


@dataclass(frozen=True)
class ControllerInfo:
    target: str
    connection_mode: str | None = None   # None: "in-band" (OVS's default)
    inactivity_probe: int | None = None  # ms; None: 5000
    max_backoff: int | None = None       # ms; None: 8000
    uuid: str = ""
    rate_limit: int | None = None        # packet-ins/s; None: unlimited (pinsched.py)
    burst_limit: int | None = None       # None: rate_limit / 4


class Hook:
    """A list of callbacks; calling the hook calls each, logging their exceptions."""

    def __init__(self):
        self.callbacks: list[Callable] = []

    def connect(self, cb: Callable) -> Callable:
        self.callbacks.append(cb)
        return cb

    def disconnect(self, cb: Callable) -> None:
        self.callbacks.remove(cb)

    def __call__(self, *args) -> None:
        for cb in list(self.callbacks):
            try:
                cb(*args)
            except Exception:
                log.exception("bridge observer %r failed", cb)


class OfportAllocator:
    """ofproto.c's alloc_ofp_port: requests win when free; else a forward cursor."""

    def __init__(self, max_ports: int = OFPP_MAX):
        self.max_ports = max_ports
        self.cursor = 0
        self.in_use: set[int] = set()
        self.freed_at: dict[int, float] = {}

    def alloc(self, request: int | None, now: float) -> int | None:
        if request is not None and 0 < request < self.max_ports and request not in self.in_use:
            return self._take(request)
        limit = min(self.max_ports, AUTO_PORT_LIMIT)
        end, lru, lru_port = self.cursor, None, 0
        while True:
            self.cursor += 1
            if self.cursor >= limit:
                self.cursor = 1
            n = self.cursor
            if n not in self.in_use:
                freed = self.freed_at.get(n)
                if freed is None or freed < now - PORT_REUSE_DELAY:
                    return self._take(n)
                if lru is None or freed < lru:
                    lru, lru_port = freed, n
            if n == end or (end == 0 and n == limit - 1):
                return self._take(lru_port) if lru_port else None

    def _take(self, n: int) -> int:
        self.in_use.add(n)
        self.freed_at.pop(n, None)
        return n

    def release(self, n: int, now: float) -> None:
        if n in self.in_use:
            self.in_use.discard(n)
            self.freed_at[n] = now


# ---------------------------------------------------------------------------
# MAC and datapath-id rules

_MAC_RE = re.compile(r"^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}$")


def parse_mac(text: str | None) -> bytes | None:
    if not text or not _MAC_RE.match(text.strip()):
        return None
    return bytes(int(x, 16) for x in text.strip().split(":"))


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def mac_is_usable(mac: bytes) -> bool:
    """Not multicast, not locally administered, not reserved (01:80:c2...), not zero."""
    return not (mac[0] & 1 or mac[0] & 2 or mac == bytes(6))


def uuid_mac(row_uuid: str) -> str:
    """The default bridge MAC: the UUID's first 6 bytes as stored in memory
    (four little-endian 32-bit words), marked local and unicast."""
    u = uuid_mod.UUID(str(row_uuid)).bytes
    words = u[0:4][::-1] + u[4:8][::-1]
    ea = bytearray(words[:6])
    ea[0] = (ea[0] & ~1) | 2
    return format_mac(bytes(ea))


def dpid_from_string(text: str | None) -> int | None:
    """lib/dpif.c dpid_from_string: exactly 16 hex digits, nonzero."""
    if text and len(text) == 16 and all(c in "0123456789abcdefABCDEF" for c in text):
        v = int(text, 16)
        return v or None
    return None


def random_local_mac(rand: Callable[[int], bytes] = os.urandom) -> str:
    ea = bytearray(rand(6))
    ea[0] = (ea[0] & ~1) | 2
    return format_mac(bytes(ea))


class DummyMacs:
    """netdev-dummy's process-wide counter: aa:55:aa:55:XX:XX."""

    def __init__(self, first: int = 1):
        self.next = first

    def take(self) -> str:
        n = 0xaa550000 + self.next
        self.next += 1
        return format_mac(bytes((0xaa, 0x55)) + n.to_bytes(4, "big"))


# ---------------------------------------------------------------------------
# Bridges

@dataclass
class _Iface:
    cfg: IfaceConfig
    port: PortConfig
    info: PortInfo


class Bridge:
    """One bridge (an ofproto): its ports by OpenFlow number, controllers and options."""

    def __init__(self, cfg: BridgeConfig):
        self.uuid = cfg.uuid
        self.name = cfg.name
        self.cfg = cfg
        self.datapath_type = cfg.datapath_type or "system"
        self.fail_mode = cfg.fail_mode or "standalone"
        self.protocols: tuple[str, ...] = cfg.protocols
        self.other_config: dict[str, str] = cfg.other
        self.flow_tables: dict[int, dict] = dict(cfg.flow_tables)
        self.flood_vlans: tuple = cfg.flood_vlans
        self.controllers: list[ControllerInfo] = []
        self.hwaddr = ""
        self.datapath_id = 0
        self.ports: dict[int, PortInfo] = {}
        self.allocator = OfportAllocator()
        self._ifaces: dict[str, _Iface] = {}          # by interface name
        self.on_port_added = Hook()                   # (bridge, PortInfo)
        self.on_port_removed = Hook()                 # (bridge, PortInfo)
        self.on_port_changed = Hook()                 # (bridge, old PortInfo, new PortInfo)
        self.on_config_changed = Hook()               # (bridge, set of changed attribute names)

    @property
    def datapath_id_str(self) -> str:
        return f"{self.datapath_id:016x}"

    def port_by_name(self, name: str) -> PortInfo | None:
        i = self._ifaces.get(name)
        return i.info if i else None

    def __repr__(self):
        return f"Bridge({self.name!r}, dpid={self.datapath_id_str}, ports={sorted(self.ports)})"


class Writes:
    """Columns to write back: {(table, uuid): {column: python value}}, in insertion order."""

    def __init__(self):
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}

    def set(self, table: str, row_uuid: str, **cols) -> None:
        self.rows.setdefault((table, str(row_uuid)), {}).update(cols)

    def get(self, table: str, row_uuid: str) -> dict[str, Any]:
        return self.rows.get((table, str(row_uuid)), {})

    def __iter__(self):
        for (table, row_uuid), cols in self.rows.items():
            yield table, row_uuid, cols

    def __len__(self):
        return len(self.rows)


class Switch:
    """All bridges of one ovs-vswitchd; `reconfigure` is bridge_reconfigure()."""

    def __init__(self, *, rand: Callable[[int], bytes] = os.urandom, probe: Probe | None = None):
        self.probe = probe                 # name -> DeviceInfo | None (None: no real devices)
        self.bridges: dict[str, Bridge] = {}
        self.failed_bridges: dict[str, BridgeConfig] = {}
        self.dummy_macs = DummyMacs()
        self.rand = rand
        self.initialized = False
        self.reconfigure_count = 0
        self.on_bridge_added = Hook()      # (Bridge)
        self.on_bridge_removed = Hook()    # (Bridge)

    # -- the entry point
    def reconfigure(self, cfg: SwitchConfig, now: float) -> Writes:
        writes = Writes()
        self.reconfigure_count += 1
        if cfg.uuid is None:
            return writes
        if not self.initialized:
            writes.set("Open_vSwitch", cfg.uuid, datapath_types=list(DATAPATH_TYPES),
                       iface_types=list(IFACE_TYPES), dpdk_version="none")
            self.initialized = True

        wanted, seen_ifaces = {}, {}
        for b in cfg.bridges:
            if b.name in wanted:
                log.warning("bridge %s specified twice", b.name)
                continue
            if (b.datapath_type or "system") not in DATAPATH_TYPES:
                if b.name not in self.failed_bridges:
                    log.error("failed to create bridge %s: %s", b.name, EAFNOSUPPORT_TEXT)
                self.failed_bridges[b.name] = b
                continue
            wanted[b.name] = b
        self.failed_bridges = {n: b for n, b in self.failed_bridges.items()
                               if n in {x.name for x in cfg.bridges} and n not in wanted}

        # Bridges that went away, or whose datapath type changed.
        for name in list(self.bridges):
            br = self.bridges[name]
            b = wanted.get(name)
            if b is None or b.uuid != br.uuid or (b.datapath_type or "system") != br.datapath_type:
                self._remove_bridge(br, now)

        # Interfaces: drop the ones that went away first (all bridges), then add.
        desired: dict[str, dict[str, tuple[PortConfig, IfaceConfig]]] = {}
        for name, b in wanted.items():
            d = desired[name] = {}
            for p in b.ports:
                for i in p.interfaces:
                    if i.name in seen_ifaces:
                        log.warning("bridge %s: %s interface is on multiple bridges, ignoring "
                                    "duplicate", name, i.name)
                        continue
                    seen_ifaces[i.name] = name
                    d[i.name] = (p, i)
        for name, br in self.bridges.items():
            for iname in list(br._ifaces):
                have = br._ifaces[iname]
                want = desired.get(name, {}).get(iname)
                if want is None or self._must_recreate(br, have, want[1]):
                    self._remove_iface(br, iname, now)

        for name, b in wanted.items():
            br = self.bridges.get(name)
            added = br is None
            if added:
                br = Bridge(b)
                self.bridges[name] = br
            self._configure_bridge(br, b, desired[name], now, writes)
            if added:
                self.on_bridge_added(br)
        return writes

    # -- helpers
    def _must_recreate(self, br: Bridge, have: _Iface, want: IfaceConfig) -> bool:
        if have.cfg.uuid != want.uuid or have.cfg.type != want.type:
            return True
        req = want.ofport_request
        return req is not None and req != have.info.ofport and req not in br.allocator.in_use

    def _remove_bridge(self, br: Bridge, now: float) -> None:
        for iname in list(br._ifaces):
            self._remove_iface(br, iname, now)
        del self.bridges[br.name]
        self.on_bridge_removed(br)

    def _remove_iface(self, br: Bridge, iname: str, now: float) -> None:
        have = br._ifaces.pop(iname)
        if have.info.ofport != OFPP_LOCAL:
            br.allocator.release(have.info.ofport, now)
        br.ports.pop(have.info.ofport, None)
        br.on_port_removed(br, have.info)

    def _open_error(self, br: Bridge, i: IfaceConfig) -> str | None:
        """The netdev_open() failure text for this interface type, or None."""
        t = i.type
        if br.datapath_type == "netdev" and self.probe is not None:
            if t in NETDEV_TAP_TYPES:
                return None
            if t in NETDEV_SYSTEM_TYPES and self._device(i.name) is not None:
                return None
        if t in SYSTEM_TYPES:
            return f"could not open network device {i.name} ({ENODEV_TEXT})"
        if t not in IFACE_TYPES:
            return f"could not open network device {i.name} ({EAFNOSUPPORT_TEXT})"
        return None

    def _device(self, name: str) -> DeviceInfo | None:
        """The probe's view of an existing Linux interface (None: no such device)."""
        try:
            return self.probe(name) if self.probe is not None else None
        except Exception:                 # noqa: BLE001  (the probe must not break reconfigure)
            log.exception("probing %s failed", name)
            return None

    def _is_real(self, br: Bridge, i: IfaceConfig) -> bool:
        """An existing Linux interface (or a tap) on a netdev bridge."""
        return (br.datapath_type == "netdev" and self.probe is not None
                and (i.type in NETDEV_SYSTEM_TYPES or i.type in NETDEV_TAP_TYPES))

    def _iface_mac(self, br: Bridge, i: IfaceConfig) -> str:
        if i.type in TUNNEL_TYPES or i.type == "patch":
            return random_local_mac(self.rand)
        if self._is_real(br, i):
            dev = self._device(i.name)
            if dev is not None:
                return dev.hw_addr
        return self.dummy_macs.take()

    def _configure_bridge(self, br: Bridge, b: BridgeConfig, desired, now: float,
                          writes: Writes) -> None:
        changed = set()
        for attr, value in (("cfg", b), ("fail_mode", b.fail_mode or "standalone"),
                            ("protocols", b.protocols), ("other_config", b.other),
                            ("flow_tables", dict(b.flow_tables)), ("flood_vlans", b.flood_vlans),
                            ("controllers", [ControllerInfo(c.target, c.connection_mode,
                                                            c.inactivity_probe, c.max_backoff,
                                                            c.uuid, rate_limit=c.rate_limit,
                                                            burst_limit=c.burst_limit)
                                             for c in b.controllers])):
            if getattr(br, attr) != value:
                setattr(br, attr, value)
                if attr != "cfg":
                    changed.add(attr)

        new_ports = []
        for iname, (p, i) in desired.items():
            have = br._ifaces.get(iname)
            if have is not None:
                have.cfg, have.port = i, p
                self._refresh_iface(br, have, writes)
                continue
            err = self._open_error(br, i)
            if err is not None:
                log.warning("%s", err)
                writes.set("Interface", i.uuid, ofport=-1, error=err)
                continue
            if iname == br.name and i.type == "internal":
                ofport = OFPP_LOCAL
            else:
                request = i.ofport_request
                if request is None and i.ofport is not None and 0 < i.ofport < OFPP_MAX:
                    request = i.ofport
                ofport = br.allocator.alloc(request, now)
                if ofport is None:
                    err = f"could not add network device {iname} to ofproto (No space left on device)"
                    log.warning("%s", err)
                    writes.set("Interface", i.uuid, ofport=-1, error=err)
                    continue
            mac = self._iface_mac(br, i)
            info = PortInfo(name=iname, ofport=ofport, hw_addr=mac, type=i.type or "system",
                            iface_uuid=i.uuid, port_name=p.name,
                            mtu=None if (i.type == "patch" or i.type in TUNNEL_TYPES) else DEFAULT_MTU,
                            options=dict(i.options))
            have = _Iface(i, p, info)
            br._ifaces[iname] = have
            br.ports[ofport] = info
            self._refresh_iface(br, have, writes, new=True)
            new_ports.append(info)

        # The bridge MAC and datapath id depend on all ports.
        hwaddr = self._pick_hwaddr(br, b)
        dpid = dpid_from_string(br.other_config.get("datapath-id")) or int(hwaddr.replace(":", ""), 16)
        if hwaddr != br.hwaddr:
            br.hwaddr = hwaddr
            changed.add("hwaddr")
        if dpid != br.datapath_id:
            br.datapath_id = dpid
            changed.add("datapath_id")
        local = br.ports.get(OFPP_LOCAL)
        if local is not None and local.hw_addr != hwaddr:
            old = replace(local)
            local.hw_addr = hwaddr
            writes.set("Interface", local.iface_uuid, mac_in_use=hwaddr)
            if local not in new_ports:
                br.on_port_changed(br, old, local)
        writes.set("Bridge", br.uuid, datapath_id=br.datapath_id_str, datapath_version=DATAPATH_VERSION)
        for info in new_ports:
            br.on_port_added(br, info)
        if changed:
            br.on_config_changed(br, changed)

    def _refresh_iface(self, br: Bridge, have: _Iface, writes: Writes, new: bool = False) -> None:
        i, info = have.cfg, have.info
        if i.type == "internal" and info.ofport != OFPP_LOCAL:
            mac = parse_mac(i.mac)
            if mac is not None and format_mac(mac) != info.hw_addr and not mac[0] & 1:
                old = replace(info)
                info.hw_addr = format_mac(mac)
                if not new:
                    br.on_port_changed(br, old, info)
        if dict(i.options) != info.options:
            old = replace(info)
            info.options = dict(i.options)
            if not new:
                br.on_port_changed(br, old, info)
        ifindex = 0
        if self._is_real(br, i):
            dev = self._device(i.name)
            if dev is not None:
                old = replace(info)
                info.hw_addr, info.mtu = dev.hw_addr, dev.mtu
                info.admin_up, info.link_up = dev.admin_up, dev.link_up
                info.state = OFPPS_LIVE if dev.link_up else OFPPS_LINK_DOWN
                ifindex = dev.ifindex
                if not new and old != info:
                    br.on_port_changed(br, old, info)
        row = dict(ofport=info.ofport, mac_in_use=info.hw_addr, ifindex=ifindex,
                   link_state="up" if info.link_up else "down",
                   admin_state="up" if info.admin_up else "down", link_resets=0,
                   statistics=dict(ZERO_STATS), error=[])
        if info.mtu is not None:
            row["mtu"] = info.mtu
        if i.type == "patch":
            peer = dict(i.options).get("peer")
            row["error"] = self._patch_error(br, i, peer)
        writes.set("Interface", i.uuid, **row)

    def _patch_error(self, br: Bridge, i: IfaceConfig, peer: str | None):
        if not peer:
            return f"{i.name}: patch type requires valid 'peer' argument"
        if peer == i.name:
            return f"{i.name}: patch peer must not be self"
        dp = br.datapath_type
        for other in self.bridges.values():
            if other.datapath_type != dp:
                continue
            p = other._ifaces.get(peer)
            if p is not None and p.cfg.type == "patch" and dict(p.cfg.options).get("peer") == i.name:
                return []
        return f"No usable peer '{peer}' exists in '{dp}' datapath."

    def _pick_hwaddr(self, br: Bridge, b: BridgeConfig) -> str:
        mac = parse_mac(br.other_config.get("hwaddr"))
        if mac is not None and not mac[0] & 1 and mac != bytes(6):
            return format_mac(mac)
        best = None
        by_port: dict[str, list[_Iface]] = {}
        for it in br._ifaces.values():
            by_port.setdefault(it.port.name, []).append(it)
        for pname, its in by_port.items():
            if pname == br.name:
                continue
            port_mac = parse_mac(its[0].port.mac)
            if port_mac is not None:
                cand = port_mac
            else:
                it = min(its, key=lambda x: x.cfg.name)
                if it.cfg.type == "internal":
                    continue
                cand = parse_mac(it.info.hw_addr)
            if cand is not None and mac_is_usable(cand) and (best is None or cand < best):
                best = cand
        return format_mac(best) if best is not None else uuid_mac(b.uuid)

    # -- views
    def bridge_names(self) -> list[str]:
        return sorted(self.bridges)

    def n_ports(self) -> int:
        return sum(len(b.ports) for b in self.bridges.values())

    def teardown(self, now: float) -> None:
        """Drop every bridge (we lost the lock)."""
        for br in list(self.bridges.values()):
            self._remove_bridge(br, now)


# ---------------------------------------------------------------------------
# Reading the IDL replica

def _opt(v):
    """python-ovs gives optional columns as [] or [x]."""
    if isinstance(v, list):
        return v[0] if v else None
    return v


def _pairs(d) -> tuple:
    return tuple(sorted((str(k), v) for k, v in (d or {}).items()))


def config_from_idl(tables) -> SwitchConfig:
    """Snapshot the replica (python-ovs `Idl.tables`) as a `SwitchConfig`."""
    ovs_rows = list(tables["Open_vSwitch"].rows.values())
    if not ovs_rows:
        return SwitchConfig()
    root = ovs_rows[0]

    def iface(r) -> IfaceConfig:
        return IfaceConfig(uuid=str(r.uuid), name=r.name, type=r.type,
                           ofport_request=_opt(r.ofport_request), ofport=_opt(r.ofport),
                           mac=_opt(r.mac), options=_pairs(r.options),
                           mtu_request=_opt(r.mtu_request),
                           other_config=_pairs(getattr(r, "other_config", {})))

    def port(r) -> PortConfig:
        return PortConfig(uuid=str(r.uuid), name=r.name,
                          interfaces=tuple(sorted((iface(i) for i in r.interfaces), key=lambda x: x.name)),
                          mac=_opt(r.mac), tag=_opt(r.tag), trunks=tuple(sorted(r.trunks)),
                          other_config=_pairs(r.other_config),
                          bond_mode=_opt(getattr(r, "bond_mode", None)),
                          lacp=_opt(getattr(r, "lacp", None)),
                          bond_updelay=_opt(getattr(r, "bond_updelay", 0)) or 0,
                          bond_downdelay=_opt(getattr(r, "bond_downdelay", 0)) or 0,
                          bond_active_slave=_opt(getattr(r, "bond_active_slave", None)))

    def controller(r) -> ControllerConfig:
        return ControllerConfig(uuid=str(r.uuid), target=r.target,
                                connection_mode=_opt(r.connection_mode),
                                inactivity_probe=_opt(r.inactivity_probe),
                                max_backoff=_opt(r.max_backoff), other_config=_pairs(r.other_config),
                                rate_limit=_opt(r.controller_rate_limit),
                                burst_limit=_opt(r.controller_burst_limit))

    def flow_table(r) -> dict:
        return {"name": _opt(r.name), "flow_limit": _opt(r.flow_limit),
                "overflow_policy": _opt(r.overflow_policy), "groups": tuple(r.groups)}

    def bridge(r) -> BridgeConfig:
        return BridgeConfig(uuid=str(r.uuid), name=r.name, datapath_type=r.datapath_type,
                            fail_mode=_opt(r.fail_mode), protocols=tuple(sorted(r.protocols)),
                            other_config=_pairs(r.other_config),
                            ports=tuple(sorted((port(p) for p in r.ports), key=lambda x: x.name)),
                            controllers=tuple(sorted((controller(c) for c in r.controller),
                                                     key=lambda x: x.target)),
                            flow_tables=tuple(sorted((k, flow_table(v)) for k, v in r.flow_tables.items())),
                            flood_vlans=tuple(sorted(r.flood_vlans)))

    ssl_row = _opt(root.ssl)
    ssl = None if ssl_row is None else SSLConfig(
        private_key=ssl_row.private_key, certificate=ssl_row.certificate, ca_cert=ssl_row.ca_cert,
        bootstrap_ca_cert=ssl_row.bootstrap_ca_cert)
    return SwitchConfig(uuid=str(root.uuid), next_cfg=root.next_cfg, cur_cfg=root.cur_cfg,
                        bridges=tuple(sorted((bridge(b) for b in root.bridges), key=lambda x: x.name)),
                        other_config=_pairs(root.other_config), ssl=ssl)


# Columns pyovs-vswitchd replicates, and those it only writes (no change alerts).
MONITORED = {
    "Open_vSwitch": ["bridges", "cur_cfg", "next_cfg", "datapath_types", "iface_types",
                     "dpdk_initialized", "dpdk_version", "other_config", "manager_options", "ssl",
                     "statistics", "datapaths"],
    "Bridge": ["name", "datapath_type", "datapath_id", "datapath_version", "fail_mode", "protocols",
               "other_config", "ports", "controller", "flow_tables", "flood_vlans", "status",
               "stp_enable", "rstp_enable", "mcast_snooping_enable"],
    "Port": ["name", "interfaces", "mac", "tag", "trunks", "vlan_mode", "other_config",
             "bond_mode", "lacp", "fake_bridge", "bond_updelay", "bond_downdelay",
             "bond_active_slave"],
    "Interface": ["name", "type", "options", "ofport", "ofport_request", "mac", "mac_in_use",
                  "ifindex", "link_state", "admin_state", "mtu", "mtu_request", "link_resets",
                  "statistics", "error", "status", "other_config", "lacp_current"],
    "Controller": ["target", "connection_mode", "inactivity_probe", "max_backoff", "other_config",
                   "controller_rate_limit", "controller_burst_limit",
                   "is_connected", "status", "role"],
    "Flow_Table": ["name", "flow_limit", "overflow_policy", "groups", "prefixes"],
    "Manager": ["target", "is_connected", "status"],
    "SSL": ["private_key", "certificate", "ca_cert", "bootstrap_ca_cert"],
}
WRITE_ONLY = {
    "Open_vSwitch": ["cur_cfg", "datapath_types", "iface_types", "dpdk_initialized", "dpdk_version",
                     "statistics"],
    "Bridge": ["datapath_id", "datapath_version", "status"],
    "Interface": ["mac_in_use", "ifindex", "link_state", "admin_state", "mtu", "link_resets",
                  "statistics", "error", "status", "ofport", "lacp_current"],
    "Controller": ["is_connected", "status", "role"],
    "Manager": ["is_connected", "status"],
}
