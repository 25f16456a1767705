"""The dpif boundary: one datapath object the upper layer drives (sans-I/O).

Theory of operation
-------------------
:class:`Datapath` is what OVS's ``dpif`` is to ofproto: ports, a megaflow
cache with put/get/del/dump/flush, ``execute`` (packet + actions) and
upcalls.  It never touches a socket or a clock: the I/O driver (a separate
trio module) reads a burst of frames from one port, calls
:meth:`Datapath.receive_batch` with ``now`` (ms), and sends the returned
``outputs``; the upper layer answers returned :class:`Upcall` objects.

Receive path, per frame (``receive_batch`` amortises the attribute look-ups
over a burst):

1. exact-match front: for untagged IPv4 TCP/UDP/ICMP without options or
   fragmentation and for ARP, the header bytes (plus in_port and length)
   are a complete, exact key of everything flow extraction could read, so a
   hit skips extraction *and* the masked search; entries of dead megaflows
   are ignored.
2. otherwise ``flow.extract(frame, in_port)``, then the masked subtables.
3. a hit counts (packets, bytes, used, tcp_flags) and executes the
   megaflow's actions (outputs-only action lists skip the interpreter);
4. a miss becomes an ``Upcall(MISS)``.  With an ``upcall_handler``
   installed (the synchronous callback of OVS's dpif-netdev), it is answered
   inline: the handler returns ``(actions, mask[, owner])`` or None, the
   megaflow is put (``EEXIST`` from a racing duplicate and ``ENOSPC`` from
   the flow limit only skip the install, as in OVS) and the packet executed,
   so the next frame of the burst already hits.  Without a handler the
   upcalls are returned and :meth:`handle_upcall_result` does the same later.

Port numbering follows dpif-netdev: port 0 is the datapath's own internal
port named after it (``ovs-dummy``/``ovs-netdev``); for the dummy
datapath a port whose name has digits gets that number (+100 when the name
starts with ``br``: ``br0`` is 100, ``p1`` is 1) if free, otherwise the
lowest free number.  Ports of type ``internal`` show as ``dummy-internal``
(dummy) or ``tap`` (netdev).

Statistics: ``hit`` counts megaflow and exact-match hits, ``missed`` counts
upcalls for misses, ``lost`` frames on unknown ports.  A megaflow counts
only the packets that hit it: the packet whose upcall installed it is not
counted (as in OVS), so its owner must credit that packet itself.
"""

from __future__ import annotations

import errno
import random

from . import execute as _ex
from .megaflow import (DEFAULT_FLOW_LIMIT, DEFAULT_MAX_IDLE, FlowPutError,
                       Megaflow, MegaflowCache)

__all__ = ["Datapath", "Port", "Upcall", "DpResult", "FlowPutError",
           "MISS", "ACTION", "MAX_RECIRC_DEPTH", "format_tcp_flags"]

MISS = "miss"                # DPIF_UC_MISS
ACTION = "action"            # DPIF_UC_ACTION (userspace action)
MAX_RECIRC_DEPTH = 6         # dpif-netdev's MAX_RECIRC_DEPTH
ODPP_LOCAL = 0


class Port:
    __slots__ = ("port_no", "name", "type", "rx_packets", "rx_bytes",
                 "tx_packets", "tx_bytes")

    def __init__(self, port_no: int, name: str, type: str):
        self.port_no = port_no
        self.name = name
        self.type = type
        self.rx_packets = self.rx_bytes = self.tx_packets = self.tx_bytes = 0

    def __repr__(self):
        return f"Port({self.port_no}, {self.name!r}, {self.type!r})"


class Upcall:
    """A packet handed to the upper layer: a miss, or a userspace action."""
    __slots__ = ("kind", "packet", "flow", "port", "userdata", "now")

    def __init__(self, kind, packet, flow, port, userdata=None, now=0):
        self.kind = kind
        self.packet = packet
        self.flow = flow
        self.port = port
        self.userdata = userdata
        self.now = now

    def __repr__(self):
        return (f"Upcall({self.kind}, port={self.port}, flow={self.flow}, "
                f"userdata={self.userdata})")


class DpResult:
    """What a receive/execute produced: frames to send and upcalls."""
    __slots__ = ("outputs", "upcalls")

    def __init__(self, outputs=None, upcalls=None):
        self.outputs: list[tuple[int, bytes]] = [] if outputs is None else outputs
        self.upcalls: list[Upcall] = [] if upcalls is None else upcalls

    def by_port(self) -> dict[int, list[bytes]]:
        """Outputs grouped per port, in order (one ``send_batch`` each)."""
        out: dict[int, list[bytes]] = {}
        for port, frame in self.outputs:
            lst = out.get(port)
            if lst is None:
                out[port] = [frame]
            else:
                lst.append(frame)
        return out

    def __repr__(self):
        return f"DpResult(outputs={self.outputs!r}, upcalls={self.upcalls!r})"


def _emc_key(frame, n):
    """Length of the header prefix that determines the whole flow key of
    ``frame``, or 0 when the frame is not eligible for the exact front.

    Eligible: untagged IPv4 with IHL 5, not a fragment, TCP (54 bytes) /
    UDP / ICMP (42); ARP (42).  Flow extraction reads nothing beyond that
    prefix except the frame length, which is part of the key."""
    if n < 42:
        return 0
    if frame[12] == 8:
        t = frame[13]
        if t == 0:
            if frame[14] != 0x45 or frame[20] & 0x3F or frame[21]:
                return 0
            p = frame[23]
            if p == 6:
                return 54 if n >= 54 else 0
            if p == 17 or p == 1:
                return 42
            return 0
        if t == 6:
            return 42
    return 0


class Datapath:
    """A userspace datapath: ports, megaflow cache, receive, execute."""

    def __init__(self, name: str = "ovs-dummy", type: str = "dummy", *,
                 extract=None, upcall_handler=None,
                 max_idle: int = DEFAULT_MAX_IDLE,
                 flow_limit: int = DEFAULT_FLOW_LIMIT,
                 emc: bool = True, rng=random.random):
        self.name = name
        self.type = type
        self.cache = MegaflowCache(max_idle=max_idle, flow_limit=flow_limit)
        if extract is None:
            from .flow import extract        # the real parser
        self.extract = extract
        self.upcall_handler = upcall_handler
        self.use_emc = emc
        self.rng = rng
        self.ports: dict[int, Port] = {}
        self.n_hit = 0
        self.n_missed = 0
        self.n_lost = 0
        self.port_add(name, "internal", ODPP_LOCAL)

    # -- ports -----------------------------------------------------------------
    def _open_type(self, type: str) -> str:
        if type != "internal":
            return type
        return "tap" if self.type == "netdev" else "dummy-internal"

    def _choose_port(self, name: str) -> int:
        if self.type != "netdev":
            start = 100 if name.startswith("br") else 0
            for i, ch in enumerate(name):
                if ch.isdigit():
                    j = i
                    while j < len(name) and name[j].isdigit():
                        j += 1
                    no = start + int(name[i:j])
                    if 0 < no < 0xFFFFFFFF and no not in self.ports:
                        return no
                    break
        no = 1
        while no in self.ports:
            no += 1
        if no > 0xFFFF:
            raise FlowPutError(errno.EFBIG, "no free port number")
        return no

    def port_add(self, name: str, type: str = "dummy", port_no: int | None = None) -> int:
        """Add a port; returns its datapath port number."""
        if any(p.name == name for p in self.ports.values()):
            raise FlowPutError(errno.EEXIST, f"port {name} exists")
        if port_no is None:
            port_no = self._choose_port(name)
        elif port_no in self.ports:
            raise FlowPutError(errno.EBUSY, f"port number {port_no} in use")
        self.ports[port_no] = Port(port_no, name, self._open_type(type))
        return port_no

    def port_del(self, port_no: int) -> None:
        if port_no == ODPP_LOCAL:
            raise FlowPutError(errno.EINVAL, "cannot delete the local port")
        if self.ports.pop(port_no, None) is None:
            raise FlowPutError(errno.ENOENT)

    def port_list(self) -> list[Port]:
        return [self.ports[k] for k in sorted(self.ports)]

    def port_by_name(self, name: str) -> Port | None:
        for p in self.ports.values():
            if p.name == name:
                return p
        return None

    # -- flows ---------------------------------------------------------------------
    def flow_put(self, flow, mask, actions, now=0, ufid=None, owner=None,
                 modify=False) -> Megaflow:
        return self.cache.put(flow, mask, tuple(actions), now, ufid=ufid,
                              owner=owner, modify=modify)

    def flow_get(self, ufid=None, flow=None, mask=None) -> Megaflow | None:
        """By ufid, by exact key+mask, or (flow only) the megaflow a packet
        with that flow would hit."""
        if ufid is not None:
            return self.cache.get(ufid)
        if mask is not None:
            return self.cache.find(flow, mask)
        return self.cache.lookup(flow)

    def flow_del(self, ufid=None, flow=None, mask=None) -> Megaflow:
        mf = self.flow_get(ufid, flow, mask)
        if mf is None:
            raise FlowPutError(errno.ENOENT)
        return self.cache.delete(mf)

    def flow_dump(self) -> list[Megaflow]:
        return self.cache.dump()

    def flow_flush(self) -> list[Megaflow]:
        return self.cache.flush()

    def run(self, now: int) -> list[Megaflow]:
        """Periodic work: idle expiry and subtable re-sorting.  Returns the
        expired megaflows (final statistics for the upper layer)."""
        gone = self.cache.expire(now)
        self.cache.optimize(now)
        return gone

    def revalidate(self, fn):
        return self.cache.revalidate(fn)

    # -- packets ---------------------------------------------------------------------
    def execute(self, packet, actions, now=0, in_port=None) -> DpResult:
        """Execute ``actions`` on ``packet`` (PACKET_OUT, upcall replies)."""
        res = DpResult()
        self._exec(packet, actions, in_port, now, res, 0)
        return res

    def _exec(self, packet, actions, in_port, now, res, depth):
        ex = _ex.Executed()
        ex.outputs = res.outputs
        _ex.run(packet, actions, ex, self.rng)
        for pkt, userdata in ex.upcalls:
            res.upcalls.append(Upcall(ACTION, pkt, None, in_port, userdata, now))
        for rid, pkt in ex.recircs:
            if depth >= MAX_RECIRC_DEPTH or in_port is None:
                self.n_lost += 1
                continue
            self._recirc(pkt, in_port, rid, now, res, depth + 1)

    def _recirc(self, frame, in_port, recirc_id, now, res, depth):
        try:
            flow = dict(self.extract(frame, in_port))
        except Exception:               # parser bug: drop, don't crash
            self.n_lost += 1
            return
        flow["recirc_id"] = recirc_id
        self._classify(frame, flow, in_port, now, res, depth, None)

    def receive(self, port_no: int, frame, now: int) -> DpResult:
        return self.receive_batch(port_no, (frame,), now)

    def receive_batch(self, port_no: int, frames, now: int) -> DpResult:
        """Process a burst of frames received on ``port_no``."""
        res = DpResult()
        port = self.ports.get(port_no)
        if port is None:
            self.n_lost += len(frames)
            return res
        outputs = res.outputs
        extract = self.extract
        lookup = self.cache.lookup
        emc = self.cache.emc if self.use_emc else None
        nbytes = 0
        hits = 0
        for frame in frames:
            n = len(frame)
            nbytes += n
            ekey = None
            if emc is not None:
                el = _emc_key(frame, n)
                if el:
                    ekey = (port_no, n, frame[:el])
                    mf = emc.get(ekey)
                    if mf is not None and not mf.dead:
                        hits += 1
                        mf.packets += 1
                        mf.bytes += n
                        mf.used = now
                        if el == 54:
                            mf.tcp_flags |= ((frame[46] & 0x0F) << 8) | frame[47]
                        fast = mf.fast
                        if fast is not None:
                            for p in fast:
                                outputs.append((p, frame))
                        else:
                            self._exec(frame, mf.actions, port_no, now, res, 0)
                        continue
            try:
                flow = extract(frame, port_no)
            except Exception:           # parser bug: drop, don't crash
                self.n_lost += 1
                continue
            mf = lookup(flow)
            if mf is None:
                self._miss(frame, flow, port_no, now, res, 0, ekey)
                continue
            hits += 1
            mf.packets += 1
            mf.bytes += n
            mf.used = now
            mf.tcp_flags |= flow.get("tcp_flags", 0)
            if ekey is not None:
                if len(emc) >= self.cache.emc_max:
                    emc.clear()
                emc[ekey] = mf
            fast = mf.fast
            if fast is not None:
                for p in fast:
                    outputs.append((p, frame))
            else:
                self._exec(frame, mf.actions, port_no, now, res, 0)
        self.n_hit += hits
        port.rx_packets += len(frames)
        port.rx_bytes += nbytes
        return res

    def _classify(self, frame, flow, in_port, now, res, depth, ekey):
        mf = self.cache.lookup(flow)
        if mf is None:
            self._miss(frame, flow, in_port, now, res, depth, ekey)
            return
        self.n_hit += 1
        mf.packets += 1
        mf.bytes += len(frame)
        mf.used = now
        mf.tcp_flags |= flow.get("tcp_flags", 0)
        self._exec(frame, mf.actions, in_port, now, res, depth)

    def _miss(self, frame, flow, in_port, now, res, depth, ekey):
        self.n_missed += 1
        up = Upcall(MISS, frame, flow, in_port, None, now)
        handler = self.upcall_handler
        if handler is None:
            res.upcalls.append(up)
            return
        answer = handler(up)
        if answer is None:
            return
        self._install(up, answer, now, res, depth)

    def handle_upcall_result(self, upcall: Upcall, actions, mask, now: int,
                             owner=None) -> DpResult:
        """Install the upper layer's answer to a MISS upcall and execute the
        packet.  A refused put (EEXIST: already installed by an earlier
        answer; ENOSPC: flow limit) still executes the packet."""
        res = DpResult()
        self._install(upcall, (actions, mask, owner), now, res, 0)
        return res

    def _install(self, up, answer, now, res, depth):
        actions, mask = tuple(answer[0]), answer[1]
        owner = answer[2] if len(answer) > 2 else None
        mf = None
        if mask is not None:
            try:
                mf = self.cache.put(up.flow, mask, actions, now, owner=owner)
            except FlowPutError as e:
                if e.errno == errno.EEXIST:
                    mf = self.cache.lookup(up.flow)
                elif e.errno != errno.ENOSPC:
                    raise
        if mf is not None:
            # As dpif-netdev's handle_packet_upcall: the upcall's own packet
            # is executed but not counted in the megaflow (``dpctl/dump-flows``
            # shows packets:N-1 after N packets); the upper layer credits it
            # to the OpenFlow rules itself.
            if mf.fast is not None and mf.actions == actions:
                for p in mf.fast:
                    res.outputs.append((p, up.packet))
                return
        self._exec(up.packet, actions, up.port, now, res, depth)

    # -- statistics and text -------------------------------------------------------------
    @property
    def stats(self) -> dict:
        return dict(hit=self.n_hit, missed=self.n_missed, lost=self.n_lost,
                    flows=len(self.cache), masks=self.cache.n_masks)

    def show_header(self) -> str:
        """First line of ``dpif/show``: ``dummy@ovs-dummy: hit:N missed:N``."""
        return f"{self.type}@{self.name}: hit:{self.n_hit} missed:{self.n_missed}"

    def format_flow(self, mf: Megaflow, now: int, verbose: bool = False,
                    ports=None) -> str:
        """One megaflow as ``dpctl/dump-flows [-m]`` prints it; ``ports``
        maps datapath port numbers to names (``-m``)."""
        from . import odp
        parts = []
        if verbose:
            parts.append(f"ufid:{mf.ufid}, ")
        parts.append(odp.format_key(mf.key, mf.mask, ports, verbose))
        parts.append(", ")
        parts.append(format_stats(mf, now))
        parts.append(", actions:")
        parts.append(odp.format_actions(mf.actions, ports))
        return "".join(parts)

    def format_dump_flows(self, now: int, verbose: bool = False,
                          main_thread_header: bool = True, ports=None) -> str:
        """``dpctl/dump-flows`` text (``dpif/dump-flows`` without the header)."""
        lines = []
        for mf in self.cache.dump():
            if main_thread_header and not lines:
                lines.append("flow-dump from the main thread:")
            lines.append(self.format_flow(mf, now, verbose, ports))
        return "".join(line + "\n" for line in lines)


def format_stats(mf: Megaflow, now: int) -> str:
    """``packets:N, bytes:N, used:X.XXXs|never[, flags:...]`` as OVS."""
    s = f"packets:{mf.packets}, bytes:{mf.bytes}, used:"
    s += f"{(now - mf.used) / 1000.0:.3f}s" if mf.used else "never"
    if mf.tcp_flags:
        s += ", flags:" + format_tcp_flags(mf.tcp_flags)
    return s


_TCP_FLAG_CHARS = ((0x002, "S"), (0x001, "F"), (0x008, "P"), (0x004, "R"),
                   (0x020, "U"), (0x010, "."), (0x040, "E"), (0x080, "C"),
                   (0x100, "N"), (0x200, "[200]"), (0x400, "[400]"),
                   (0x800, "[800]"))


def format_tcp_flags(flags: int) -> str:
    """OVS's ``packet_format_tcp_flags``."""
    if not flags:
        return "none"
    return "".join(c for bit, c in _TCP_FLAG_CHARS if flags & bit)
