"""The glue that makes packets flow through pyovs-vswitchd.

Theory of operation
-------------------
One :class:`DpGlue` per daemon.  It owns, per datapath type, one
:class:`datapath.dpif.Datapath` shared by every bridge of that type (OVS's
``ovs-dummy`` / ``ovs-netdev``), the ports' netdevs and the trio
:class:`datapath.ioloop.PortDriver` that reads them.

* **Ports** follow the `bridge.Bridge` hooks.  A port gets a datapath port
  number from the shared datapath (dpif-netdev's numbering: ``p1`` is 1,
  ``br0`` 100, else the lowest free) and a netdev opened by Interface type
  (``dummy``; ``internal`` -> dummy-internal on dummy bridges, tap on netdev
  ones; ``system`` -> AF_PACKET) with the Interface options (``tx_pcap`` etc.
  resolve against the daemon's working directory, as ovs-vswitchd's fopen()).
* **Receive**: the driver hands a batch of frames of one port to
  :meth:`DpGlue.on_frames` -> ``Datapath.receive_batch`` -> outputs grouped
  per port, one ``send_batch`` each.  Misses are answered inline by
  :meth:`DpGlue._upcall` (the dpif-netdev model): the bridge that owns the
  in_port translates the flow (classifier + actions + NORMAL), learn side
  effects become flow-mods, and the megaflow ``(actions, mask)`` is
  installed unless the translation must stay in userspace ("slow path": set
  actions the datapath cannot do).
* **Packet-ins** follow OVS's path: a controller action (or a table miss
  with an OF1.0-1.2 controller) is a ``userspace(controller(...))`` datapath
  action, installed in the megaflow like any other; every time the datapath
  runs it (miss, megaflow hit, PACKET_OUT) it returns an ACTION upcall with
  the frame as modified so far, and :meth:`DpGlue._action_upcall` looks up
  the frozen state of its ``recirc_id`` (bridge, table, metadata; ids are
  shared by all bridges, as OVS's) and hands a
  :class:`~.packet_in.PacketInEvent` to that bridge's connections
  (``packet_in.deliver``: controller id, async config, version, format).
* **Revalidation**: any change of a bridge's flow tables (flow-mods,
  bundles, groups, expiry, learn), its ports or its MAC table marks the
  bridge dirty.  Before the next batch is processed (and from the timer)
  every megaflow of a dirty bridge is re-translated from its masked key;
  changed actions are replaced, a wider mask deletes the megaflow.  So a
  stale megaflow never forwards a packet.
* **Statistics**: the upcall's own packet is credited to the rules at once
  (the megaflow does not count it, as OVS); every megaflow's owner remembers
  what was already credited; :meth:`push_stats` credits the packet/byte deltas to the OpenFlow rules the
  translation visited (``FlowTables.credit``) - at expiry, revalidation and
  every ``STATS_INTERVAL``.  Port counters come from the netdevs
  (``OFProto.port_stats_hook``).
* **Expiry**: ``Datapath.run(now)`` with ``other_config:max-idle`` (default
  10 s) from the Open_vSwitch row.

Translation is ``ofproto/xlate.py``'s :func:`translate` over an
:class:`~.xlate.XlateContext` built per bridge (ports in creation order,
the local port first; cached until the bridge is marked dirty).

Concurrency: everything runs in the daemon's trio thread; the only async
parts are :meth:`run` (driver + timer).  Nothing here blocks.
"""
from __future__ import annotations

import logging
import time

from datapath import flow as dpflow
from datapath import odp
from datapath.dpif import Datapath

from . import bridge as bridge_mod
from . import packet_in as pin_mod
from . import trace as trace_mod
from . import ofputil as U
from .ofp import actions as A
from . import xlate
from .normal import MacLearning

log = logging.getLogger("dpif")

VLAN_LIMIT = 1                 # ovs-vswitchd's default other_config:vlan-limit
STATS_INTERVAL = 0.5           # s between statistics pushes (OVS revalidator: 500 ms)
DEFAULT_MAX_IDLE = 10_000      # ms
OFPP_IN_PORT, OFPP_TABLE, OFPP_NORMAL, OFPP_FLOOD = 0xFFF8, 0xFFF9, 0xFFFA, 0xFFFB
OFPP_ALL, OFPP_CONTROLLER, OFPP_LOCAL, OFPP_NONE = 0xFFFC, 0xFFFD, 0xFFFE, 0xFFFF
VLAN_CFI, VLAN_VID_MASK, VLAN_PCP_MASK = 0x1000, 0x0FFF, 0xE000
MAX_RESUBMIT_DEPTH = 64        # ofproto-dpif-xlate's MAX_DEPTH
MAC_AGING = 300                # s, mac-aging-time default
OFPR_NO_MATCH, OFPR_ACTION = 0, 1


class Owner:
    """What a megaflow's ``owner`` holds: the bridge and the rules to credit."""
    __slots__ = ("bg", "rules", "packets", "bytes", "bonds")

    def __init__(self, bg, rules, bonds=()):
        self.bg = bg
        self.rules = rules
        self.packets = 0
        self.bytes = 0
        self.bonds = bonds              # (Bond, flow, vlan) to account bytes to


class Backend:
    """One datapath type: the shared Datapath, its netdevs and port owners."""

    def __init__(self, dp_type: str, glue):
        name = "ovs-netdev" if dp_type == "netdev" else "ovs-dummy"
        self.type = dp_type
        self.dp = Datapath(name, dp_type, extract=_extract, upcall_handler=glue._upcall)
        self.netdevs: dict[int, object] = {}            # dp port -> Netdev
        self.owner: dict[int, tuple] = {}               # dp port -> (BridgeGlue, ofport)


def _extract(frame, in_port):
    return dpflow.extract(frame, in_port, VLAN_LIMIT)


class BridgeGlue:
    """One bridge's view: its ports' datapath numbers, MAC table, dirtiness."""

    def __init__(self, br, mgr, backend):
        self.bridge = br
        self.name = br.name
        self.mgr = mgr
        self.backend = backend
        self.of2dp: dict[int, int] = {}
        self.dp2of: dict[int, int] = {}
        self.order: list[int] = []          # ofports in the order they were added (flooding)
        self.macs = MacLearning(flood_vlans=br.flood_vlans)
        self.sync_config()
        self.dirty = False
        self.xports = None                  # ofport -> xlate.XPort, rebuilt when dirty
        self.bonds: dict = {}               # Port name -> bond.Bond (bondglue keeps it)
        self.miss_to_controller = False     # as the cached xlate context has it

    def sync_config(self) -> None:
        """flood-vlans, mac-aging-time, mac-table-size from the Bridge row."""
        br = self.bridge
        self.macs.flood_vlans = frozenset(br.flood_vlans)
        other = br.other_config
        try:
            self.macs.aging = int(other.get("mac-aging-time", MAC_AGING))
            self.macs.max_entries = int(other.get("mac-table-size", 8192))
        except ValueError:
            pass

    @property
    def ofproto(self):
        return self.mgr.ofproto if self.mgr is not None else None

    def port_cfg(self, ofport):
        """(tag, trunks) of the Port row of ``ofport``."""
        info = self.bridge.ports.get(ofport)
        if info is None:
            return None, ()
        it = self.bridge._ifaces.get(info.name)
        if it is None:
            return None, ()
        return it.port.tag, tuple(it.port.trunks)

    def port_names(self) -> dict[int, str]:
        """dp port -> interface name, for ``--names`` / ``-m``."""
        out = {}
        for dp_no, of_no in self.dp2of.items():
            info = self.bridge.ports.get(of_no)
            if info is not None:
                out[dp_no] = info.name
        return out


class DpGlue:
    """Packets through the daemon (see the module docstring)."""

    def __init__(self, *, clock=None, cwd: str | None = None):
        self.clock = clock or time.monotonic
        self.cwd = cwd
        self.backends: dict[str, Backend] = {}
        self.bridges: dict[str, BridgeGlue] = {}
        self.max_idle = DEFAULT_MAX_IDLE
        self.driver = None
        self.vswitchd = None
        self.n_upcalls = 0
        self._stats_due = 0.0
        self.recirc = xlate.RecircIds()      # frozen states of controller actions
        self.n_packet_ins = 0
        from .bondglue import Bonding
        self.bonding = Bonding(self)         # bonds and LACP (ofproto/bondglue.py)
        from datapath.ioloop import PortDriver
        self.driver = PortDriver(self._frames_from_driver)

    # ------------------------------------------------------------------ wiring
    def attach(self, vswitchd) -> None:
        """Hook into a `vswitchd.Vswitchd` (bridges, unixctl, reconfiguration)."""
        import trio
        self.vswitchd = vswitchd
        self.clock = trio.current_time
        vswitchd.switch.on_bridge_added.connect(self._bridge_added_hook)
        vswitchd.switch.on_bridge_removed.connect(self.bridge_removed)
        vswitchd.on_reconfigured.connect(self._reconfigured)

    def _bridge_added_hook(self, br) -> None:
        mgr = self.vswitchd.openflow.get(br.name) if self.vswitchd else None
        self.bridge_added(br, mgr)

    def _reconfigured(self, vswitchd) -> None:
        cfg = vswitchd.applied_cfg
        if cfg is None:
            return
        other = dict(cfg.other_config)
        try:
            self.max_idle = int(other.get("max-idle", DEFAULT_MAX_IDLE))
        except ValueError:
            self.max_idle = DEFAULT_MAX_IDLE
        for be in self.backends.values():
            be.dp.cache.max_idle = self.max_idle

    async def run(self, *, task_status=None) -> None:
        """The port driver and the periodic timer (expiry, stats, revalidation)."""
        import trio
        async with trio.open_nursery() as n:
            await n.start(self.driver.run)
            if task_status is not None:
                task_status.started()
            while True:
                await trio.sleep(0.1)
                self.run_timers()

    def dp_now(self) -> int:
        """The datapath's clock: ms, never 0."""
        return int(self.clock() * 1000) + 1

    # ------------------------------------------------------------------ bridges
    def backend_for(self, dp_type: str) -> Backend:
        dp_type = "netdev" if dp_type == "netdev" else "dummy"
        be = self.backends.get(dp_type)
        if be is None:
            be = self.backends[dp_type] = Backend(dp_type, self)
            be.dp.cache.max_idle = self.max_idle
        return be

    def bridge_added(self, br, mgr) -> BridgeGlue:
        bg = BridgeGlue(br, mgr, self.backend_for(br.datapath_type))
        self.bridges[br.name] = bg
        br.on_port_added.connect(lambda b, info: self.port_added(bg, info))
        br.on_port_removed.connect(lambda b, info: self.port_removed(bg, info))
        br.on_port_changed.connect(lambda b, old, new: self.port_changed(bg, old, new))
        br.on_config_changed.connect(lambda b, changed: (bg.sync_config(), self.mark_dirty(bg)))
        if mgr is not None:
            ofp = mgr.ofproto
            ofp.packet_out_hook = lambda ofproto, msg, now: self.packet_out(bg, msg)
            ofp.port_stats_hook = lambda ofport: self.port_stats(bg, ofport)
            hook = getattr(ofp, "on_flows_changed", None)
            if hook is not None:
                hook.connect(lambda *a: self.mark_dirty(bg))
        local = [p for p in br.ports if p == OFPP_LOCAL]
        for ofport in local + [p for p in br.ports if p != OFPP_LOCAL]:
            self.port_added(bg, br.ports[ofport])
        return bg

    def bridge_removed(self, br) -> None:
        bg = self.bridges.pop(br.name, None)
        if bg is None:
            return
        for ofport in list(bg.of2dp):
            info = br.ports.get(ofport)
            self._del_port(bg, ofport)
        self._purge_bridge(bg)

    def mark_dirty(self, bg) -> None:
        bg.dirty = True
        bg.xports = None

    # ------------------------------------------------------------------ ports
    def port_added(self, bg: BridgeGlue, info) -> None:
        if info.ofport in bg.of2dp:
            return
        be = bg.backend
        iface_type = info.type if info.type != "system" else ""
        try:
            dp_no = be.dp.port_add(info.name, "internal" if iface_type == "internal" else
                                   (iface_type or "system"))
        except Exception as e:            # noqa: BLE001  (EEXIST: a name on two bridges)
            log.warning("%s: could not add port %s (%s)", bg.name, info.name, e)
            return
        netdev = None
        try:
            from datapath.netdev import open_netdev
            netdev = open_netdev(info.name, iface_type, datapath_type=be.type,
                                 options=info.options,
                                 hw_addr=bridge_mod.parse_mac(info.hw_addr),
                                 cwd=self.cwd)
        except Exception as e:            # noqa: BLE001  (NetdevError, OSError)
            log.warning("could not open network device %s (%s)", info.name, e)
        be.owner[dp_no] = (bg, info.ofport)
        bg.of2dp[info.ofport] = dp_no
        bg.dp2of[dp_no] = info.ofport
        bg.order.append(info.ofport)
        if netdev is not None:
            be.netdevs[dp_no] = netdev
            netdev._dp_port = dp_no
            self.driver.add_port(netdev)
        self.mark_dirty(bg)

    def port_removed(self, bg: BridgeGlue, info) -> None:
        self._del_port(bg, info.ofport)
        self.mark_dirty(bg)

    def _del_port(self, bg, ofport) -> None:
        dp_no = bg.of2dp.pop(ofport, None)
        if dp_no is None:
            return
        bg.dp2of.pop(dp_no, None)
        if ofport in bg.order:
            bg.order.remove(ofport)
        be = bg.backend
        be.owner.pop(dp_no, None)
        nd = be.netdevs.pop(dp_no, None)
        if nd is not None:
            self.driver.close_port(nd)
        try:
            be.dp.port_del(dp_no)
        except Exception:                 # noqa: BLE001
            pass

    def port_changed(self, bg: BridgeGlue, old, new) -> None:
        if old.options != new.options:
            nd = self.netdev(bg, new.ofport)
            if nd is not None:
                try:
                    nd.set_config(new.options, cwd=self.cwd)
                except Exception as e:    # noqa: BLE001
                    log.warning("%s: %s", new.name, e)
        self.mark_dirty(bg)

    def netdev(self, bg, ofport):
        dp_no = bg.of2dp.get(ofport)
        return None if dp_no is None else bg.backend.netdevs.get(dp_no)

    def netdevs_by_name(self) -> dict:
        return {nd.name: nd for be in self.backends.values() for nd in be.netdevs.values()}

    def port_stats(self, bg, ofport):
        nd = self.netdev(bg, ofport)
        return None if nd is None else nd.get_stats()

    def interface_statistics(self) -> dict[str, dict]:
        """Interface row uuid -> the ``statistics`` column OVS writes (the
        netdev's counters, netdev-dummy's custom and per-queue ones too)."""
        out = {}
        for bg in self.bridges.values():
            for ofport in bg.of2dp:
                info = bg.bridge.ports.get(ofport)
                it = bg.bridge._ifaces.get(info.name) if info is not None else None
                nd = self.netdev(bg, ofport)
                if it is None or nd is None:
                    continue
                try:
                    out[str(it.cfg.uuid)] = nd.statistics()
                except Exception:         # noqa: BLE001 (a device that went away)
                    continue
        return out

    def set_admin_state(self, nd, up: bool) -> None:
        """After a dummy port's admin state changed: port status, PORT_STATUS, database."""
        for bg in self.bridges.values():
            for ofport, dp_no in bg.of2dp.items():
                if bg.backend.netdevs.get(dp_no) is not nd:
                    continue
                info = bg.bridge.ports.get(ofport)
                if info is None:
                    continue
                from dataclasses import replace
                old = replace(info)
                info.admin_up = info.link_up = up
                if up:
                    info.config &= ~bridge_mod.OFPPC_PORT_DOWN
                    info.state = bridge_mod.OFPPS_LIVE
                else:
                    info.config |= bridge_mod.OFPPC_PORT_DOWN
                    info.state = bridge_mod.OFPPS_LINK_DOWN
                if (old.config, old.state) != (info.config, info.state) and bg.ofproto:
                    bg.ofproto.port_changed(old, info, self.clock())
                self.mark_dirty(bg)
        if self.vswitchd is not None:
            self.vswitchd.request_reconfigure()

    # ------------------------------------------------------------------ packets
    def _frames_from_driver(self, netdev, frames) -> None:
        dp_no = getattr(netdev, "_dp_port", None)
        for be in self.backends.values():
            if be.netdevs.get(dp_no) is netdev:
                self.receive(be, dp_no, frames)
                return

    def receive(self, be: Backend, dp_no: int, frames) -> None:
        if self.bonding.lacp_rx:
            frames = self.bonding.take_lacp(be.type, dp_no, frames)
            if not frames:
                return
        self._revalidate_dirty()
        res = be.dp.receive_batch(dp_no, frames, self.dp_now())
        self._send(be, res)
        self._action_upcalls(res)

    def _send(self, be: Backend, res) -> None:
        if not res.outputs:
            return
        ports = be.dp.ports
        for p, batch in res.by_port().items():
            nd = be.netdevs.get(p)
            dport = ports.get(p)
            if nd is None or dport is None:
                continue
            n = nd.send_batch(batch)
            dport.tx_packets += n
            dport.tx_bytes += sum(len(f) for f in batch[:n])

    def _upcall(self, up):
        """The datapath's miss handler: (actions, mask, owner) or None."""
        self.n_upcalls += 1
        be = None
        for b in self.backends.values():
            if up.port in b.owner:
                be = b
                break
        if be is None:
            return None
        bg, ofport = be.owner[up.port]
        xr = self.translate(bg, up.flow, up.packet, may_learn=True)
        if xr is None:
            return None
        self._side_effects(bg, xr)
        owner = Owner(bg, xr.rules, xr.bond_accounts)
        for b, f, vlan in xr.bond_accounts:
            b.account(f, len(up.packet), vlan)
        # The upcall's own packet is credited here (OVS: xlate with stats);
        # the megaflow does not count it.
        self._credit(bg, xr.rules, 1, len(up.packet))
        if xr.slow:
            res = be.dp.execute(up.packet, xr.actions, up.now, up.port)
            self._send(be, res)
            self._action_upcalls(res)
            return None
        mask = dict(xr.wc)
        mask["in_port"] = 0xFFFFFFFF
        return xr.actions, mask, owner

    def _side_effects(self, bg, xr) -> None:
        """Apply the flow-mods of ``learn`` actions (packet-ins come from the
        datapath's ACTION upcalls, see :meth:`_action_upcall`)."""
        ofp = bg.ofproto
        if ofp is None:
            return
        now = self.clock()
        for spec in xr.learned_flows:
            try:
                ofp.flows.apply_learned(spec, now)
            except Exception as e:        # noqa: BLE001 (OFPError: table full...)
                log.info("%s: learn failed (%s)", bg.name, e)
            self.mark_dirty(bg)

    def _action_upcalls(self, res, reason_override=None) -> None:
        for up in res.upcalls:
            if up.kind == "action":
                self._action_upcall(up, reason_override)

    def _action_upcall(self, up, reason_override=None) -> None:
        """A ``userspace(controller(...))`` action ran: a packet-in (OVS's
        process_upcall, CONTROLLER_UPCALL)."""
        ctl = (up.userdata or {}).get("controller") if isinstance(up.userdata, dict) else None
        if ctl is None or ctl.get("dont_send"):
            return
        state = self.recirc.states.get(ctl.get("recirc_id"))
        if state is None:
            return
        br_name, table_id, meta, userdata = state
        bg = self.bridges.get(br_name)
        if bg is None or bg.ofproto is None:
            return
        reason = ctl.get("reason", pin_mod.OFPR_ACTION)
        if reason_override is not None and reason == pin_mod.OFPR_ACTION:
            reason = reason_override
        ev = pin_mod.PacketInEvent(
            packet=bytes(up.packet), reason=reason, table_id=table_id,
            cookie=ctl.get("rule_cookie", 0), metadata=dict(meta),
            max_len=ctl.get("max_len", 0xFFFF), controller_id=ctl.get("controller_id", 0),
            userdata=userdata)
        self.n_packet_ins += 1
        pin_mod.deliver(bg.ofproto.conns, ev, self.clock())

    def packet_out(self, bg: BridgeGlue, msg) -> None:
        """PACKET_OUT: translate the message's actions for its packet, execute."""
        in_port = msg.in_port
        if msg.version >= 6 and getattr(msg, "match", None) is not None:
            in_port = msg.match.to_flow().value("in_port", OFPP_CONTROLLER)
        in_port = in_port - 0xFFFF0000 if in_port >= 0xFFFFFF00 else in_port
        be = bg.backend
        dp_in = bg.of2dp.get(in_port)
        flow = dict(_extract(msg.data, dp_in if dp_in is not None else 0xFFFFFFFF))
        acts = U.canonical_actions(A.iter_actions(msg.actions)) if msg.actions else []
        xr = self.translate(bg, flow, msg.data, may_learn=True, ofpacts=acts, of_in_port=in_port)
        if xr is None:
            return
        self._side_effects(bg, xr)
        self._credit(bg, xr.rules, 1, len(msg.data))     # actions=table visits rules
        res = be.dp.execute(msg.data, xr.actions, self.dp_now(), dp_in)
        self._send(be, res)
        self._action_upcalls(res, pin_mod.OFPR_PACKET_OUT)

    # ------------------------------------------------------------------ translation
    def xlate_context(self, bg: BridgeGlue) -> xlate.XlateContext:
        if bg.xports is None:
            ports = {}
            for ofport in bg.order:
                info = bg.bridge.ports.get(ofport)
                if info is None:
                    continue
                tag, trunks = bg.port_cfg(ofport)
                ports[ofport] = xlate.XPort(
                    ofport=ofport, dp_port=bg.of2dp[ofport], name=info.name,
                    admin_up=info.admin_up, link_up=info.link_up,
                    no_flood=bool(info.config & 0x10), no_fwd=bool(info.config & 0x20),
                    no_packet_in=bool(info.config & 0x40), tag=tag, trunks=trunks,
                    bundle=info.port_name or info.name,
                    may_enable=self.bonding.may_enable(bg, ofport))
            bg.xports = ports
        ofp = bg.ofproto
        miss = bg.miss_to_controller = self._miss_to_controller(bg)
        return xlate.XlateContext(bridge=bg.name, flows=ofp.flows.tables if ofp else None,
                                  groups=ofp.flows.groups if ofp else None, ports=bg.xports,
                                  mac=bg.macs, now=self.clock(), miss_to_controller=miss,
                                  recirc=self.recirc, bonds=bg.bonds)

    @staticmethod
    def _miss_to_controller(bg) -> bool:
        """connmgr_wants_packet_in_on_miss: any OF1.0-1.2 session (controller
        or service) makes a table miss a packet-in."""
        ofp = bg.ofproto
        return bool(ofp and any(pin_mod.wants_packet_in_on_miss(c) for c in ofp.conns))

    def translate(self, bg: BridgeGlue, flow, packet=None, *, may_learn=False, ofpacts=None,
                  of_in_port=None, trace=False):
        """Translate a datapath flow (in_port = datapath port) on bridge ``bg``."""
        f = dict(flow)
        f["in_port"] = (of_in_port if of_in_port is not None
                        else bg.dp2of.get(f.get("in_port", 0), OFPP_NONE))
        if bg.ofproto is None:
            return None
        xr = xlate.translate(self.xlate_context(bg), f, packet, trace=trace,
                             side_effects=may_learn, ofpacts=ofpacts,
                             send_packet_ins=not trace)
        if xr.mac_changed:
            self.mark_dirty(bg)
        return xr

    def _credit(self, bg, rules, packets, nbytes) -> None:
        ofp = bg.ofproto
        if ofp is None or not packets:
            return
        now = self.clock()
        credit = ofp.flows.tables.credit
        for r in rules:
            if r.removed is None:
                credit(r, packets, nbytes, now)

    def push_stats(self, megaflows=None) -> None:
        """Credit megaflow deltas to the OpenFlow rules they came from."""
        for be in self.backends.values():
            for mf in (be.dp.flow_dump() if megaflows is None else megaflows):
                self._push_one(mf)

    def _push_one(self, mf) -> None:
        o = mf.owner
        if not isinstance(o, Owner):
            return
        dp_, db = mf.packets - o.packets, mf.bytes - o.bytes
        if dp_ > 0:
            o.packets, o.bytes = mf.packets, mf.bytes
            self._credit(o.bg, o.rules, dp_, db)
            for b, f, vlan in o.bonds:
                b.account(f, db, vlan)

    # ------------------------------------------------------------------ revalidation
    def _revalidate_dirty(self) -> None:
        for bg in self.bridges.values():
            if bg.xports is not None and \
                    self._miss_to_controller(bg) != bg.miss_to_controller:
                self.mark_dirty(bg)         # sessions came or went: misses change
            if bg.dirty:
                self.revalidate(bg)

    def revalidate(self, bg: BridgeGlue | None = None) -> None:
        """Re-translate every megaflow of ``bg`` (all bridges: None)."""
        targets = [bg] if bg is not None else list(self.bridges.values())
        for t in targets:
            t.dirty = False
        for be in self.backends.values():
            def fn(mf):
                o = mf.owner
                if not isinstance(o, Owner) or o.bg not in targets:
                    return mf.actions
                self._push_one(mf)
                if o.bg.name not in self.bridges:
                    return None
                xr = self.translate(o.bg, mf.key)
                if xr is None or xr.slow:
                    return None
                o.rules = xr.rules
                o.bonds = xr.bond_accounts
                mask = dict(xr.wc)
                mask["in_port"] = 0xFFFFFFFF
                return tuple(xr.actions), mask
            be.dp.revalidate(fn)

    def _purge_bridge(self, bg) -> None:
        for be in self.backends.values():
            be.dp.revalidate(lambda mf: None if isinstance(mf.owner, Owner)
                             and mf.owner.bg is bg else mf.actions)

    def purge(self) -> None:
        """revalidator/purge: every megaflow goes (statistics credited first)."""
        for be in self.backends.values():
            self.push_stats()
            be.dp.flow_flush()

    def run_timers(self) -> None:
        if self.bonding.ports:
            self.bonding.run()
        self._revalidate_dirty()
        now = self.clock()
        dpnow = self.dp_now()
        for bg in self.bridges.values():
            if bg.macs.expire(now):
                bg.dirty = True
        for be in self.backends.values():
            gone = be.dp.run(dpnow)
            for mf in gone:
                self._push_one(mf)
        if now >= self._stats_due:
            self._stats_due = now + STATS_INTERVAL
            self.push_stats()

    # ------------------------------------------------------------------ text
    def trace(self, bg: BridgeGlue, flow, packet=None, names=False) -> str:
        """``ofproto/trace`` text for a datapath flow (``ofproto/trace.py``).
        With a packet, ``learn`` side effects happen, as in OVS; nothing is
        executed, so no packet-in is sent."""
        f = dict(flow)
        f["in_port"] = bg.dp2of.get(flow.get("in_port", 0), flow.get("in_port", 0))
        if bg.ofproto is None:
            return ""
        text, xr = trace_mod.trace(self.xlate_context(bg), f, packet, names=names)
        if xr.mac_changed:
            self.mark_dirty(bg)
        if packet is not None:
            self._side_effects(bg, xr)
        return text


def _format_of_flow(flow) -> str:
    try:
        return odp.format_flow(flow)
    except Exception:                     # noqa: BLE001
        return ",".join(f"{k}={v}" for k, v in flow.items())
