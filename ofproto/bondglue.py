"""Bonds and LACP in the running switch (ofproto-dpif's bundle_run and bridge.c's bond parts).

Theory of operation
-------------------
One :class:`Bonding` per daemon, owned by :class:`~.dpglue.DpGlue`.  It keeps
a :class:`BondPort` for every Port row with more than one opened Interface:
a sans-I/O :class:`~.bond.Bond` and, with ``lacp=active|passive``, a
:class:`~.lacp.Lacp`.  Nothing here does I/O but sending frames on netdevs.

* **Configuration** (:meth:`Bonding.reconfigure`, after every
  ``Switch.reconfigure``): ``bond_mode`` (default active-backup),
  ``bond_updelay``/``bond_downdelay``, ``other_config`` ``bond-primary``,
  ``bond-rebalance-interval`` (0 or at least 1000 ms), ``bond-hash-basis``,
  ``lacp-fallback-ab``, ``lacp-time``, ``lacp-system-id`` (default the bridge
  MAC), ``lacp-system-priority`` (default 65534 for a bond); per Interface
  ``lacp-port-id`` (default the OpenFlow port), ``lacp-port-priority``,
  ``lacp-aggregation-key``.  Members are added in OVS's hmap order of their
  OpenFlow numbers (``xlate.hmap_order``), so "the first enabled member"
  and ``bond/list`` agree with ovs-vswitchd.  A change of mode or of LACP
  on/off rebuilds the bond; the rest is reconfigured in place.
* **LACPDUs**: :meth:`take_lacp` removes frames of ethertype 0x8809 received
  on a member of a LACP bond from the batch before the datapath sees them
  and feeds them to ``Lacp.receive`` (OVS: ``process_special``, slow path);
  ``Lacp.run`` output goes straight to the member's netdev with its MAC as
  source.
* **Timers** (:meth:`run`, from the glue's 100 ms timer): carrier is read
  from each member's netdev (a dummy's admin state, a veth's IFF_RUNNING)
  and handed to ``Bond.set_carrier``; then ``Lacp.run``, ``Bond.run``,
  gratuitous RARPs after a failover (balance-slb / active-backup without
  LACP, one per MAC learned on another port) and ``Bond.rebalance``.  Any
  change of a member's ``may_enable`` or a bond's decisions marks the bridge
  dirty, so every megaflow is re-translated before the next packet.
* **Database**: :meth:`writes` adds ``Port.bond_active_slave`` (the active
  member's MAC, written when it changes, as bridge.c) and
  ``Interface.lacp_current`` (``[true|false]`` on LACP members, ``[]``
  elsewhere); a change asks the daemon for a reconfiguration pass.
* **unixctl**: ``bond/show``, ``bond/list``, ``bond/set-active-member``,
  ``bond/enable-member``, ``bond/disable-member``, ``bond/migrate``,
  ``bond/hash`` (and the ``-slave`` spellings), ``lacp/show``,
  ``lacp/show-stats``, with OVS's texts.

Concurrency: everything runs in the daemon's trio thread.
"""
from __future__ import annotations

import logging

from . import bond as bond_mod
from . import lacp as lacp_mod
from .xlate import hmap_order

log = logging.getLogger("bond")

MODES = ("active-backup", "balance-slb", "balance-tcp")

try:
    from ovsdb_server.unixctl import UnixctlError
except ImportError:                      # pragma: no cover
    class UnixctlError(Exception):
        pass


def _int(cfg: dict, key: str, default: int = 0) -> int:
    try:
        return int(cfg.get(key, default))
    except (TypeError, ValueError):
        return default


def _mac_int(text: str | None) -> int:
    try:
        return int(text.replace(":", ""), 16) if text else 0
    except ValueError:
        return 0


def _mac_text(mac: int) -> str:
    return ":".join(f"{b:02x}" for b in mac.to_bytes(6, "big"))


def is_slow_protocol(frame) -> bool:
    et = frame[12:14]
    return et == b"\x88\x09" or (et == b"\x81\x00" and frame[16:18] == b"\x88\x09")


class BondPort:
    """One bonded Port of one bridge."""

    def __init__(self, bg, name: str):
        self.bg = bg
        self.name = name
        self.port_uuid = ""
        self.settings = None              # what forces a rebuild
        self.bond: bond_mod.Bond | None = None
        self.lacp: lacp_mod.Lacp | None = None
        self.ifaces: dict[int, str] = {}  # ofport -> Interface uuid
        self.carrier: dict[int, bool] = {}
        self.may_enable: dict[int, bool] = {}
        self.written: dict = {}           # column values last handed to the database
        self.active_mac: str | None = None


class Bonding:
    """All bonds of the daemon (see module doc)."""

    def __init__(self, glue):
        self.glue = glue
        self.ports: dict[tuple[str, str], BondPort] = {}
        self.lacp_rx: dict[tuple[str, int], tuple[BondPort, int]] = {}   # (dp type, dp port)
        self.n_lacp_rx = 0

    # ------------------------------------------------------------------ config
    def reconfigure(self) -> None:
        now = self.glue.clock()
        seen = set()
        for bg in list(self.glue.bridges.values()):
            by_port: dict[str, list] = {}
            for it in bg.bridge._ifaces.values():
                if it.info.ofport in bg.of2dp:
                    by_port.setdefault(it.port.name, []).append(it)
            for pname, its in by_port.items():
                if len(its) < 2:
                    continue
                key = (bg.name, pname)
                seen.add(key)
                bp = self.ports.get(key)
                if bp is None or bp.bg is not bg:
                    bp = self.ports[key] = BondPort(bg, pname)
                self._configure(bp, its[0].port, its, now)
        for key in [k for k in self.ports if k not in seen]:
            bp = self.ports.pop(key)
            if bp.bg.name in self.glue.bridges:
                self.glue.mark_dirty(bp.bg)
        self._index()

    def _configure(self, bp: BondPort, port, its, now: float) -> None:
        bg = bp.bg
        other = dict(port.other_config)
        mode = port.bond_mode or "active-backup"
        if mode not in MODES:
            log.warning("port %s: unknown bond_mode %s, defaulting to active-backup",
                        bp.name, mode)
            mode = "active-backup"
        lacp_cfg = port.lacp if port.lacp in ("active", "passive") else None
        rebalance = _int(other, "bond-rebalance-interval", 10000)
        if 0 < rebalance < 1000:
            rebalance = 1000
        all_active = other.get("bond-slb-all-members-active",
                               other.get("all-members-active", "false")) == "true"
        settings = (mode, lacp_cfg is not None, all_active)
        bp.port_uuid = port.uuid
        fallback = other.get("lacp-fallback-ab", "false") == "true"
        if lacp_cfg is not None:
            sys_id = _mac_int(other.get("lacp-system-id")) or _mac_int(bg.bridge.hwaddr)
            prio = _int(other, "lacp-system-priority", 0)
            if not 0 < prio <= 0xFFFF:
                prio = 0xFFFF - 1            # UINT16_MAX - !list_is_short: a bond has 2+
            if bp.lacp is None:                  # kept across bond mode changes, as OVS
                bp.lacp = lacp_mod.Lacp(bp.name, sys_id or 1, prio, active=lacp_cfg == "active",
                                        fast=other.get("lacp-time") == "fast",
                                        fallback_ab=fallback)
            else:
                bp.lacp.configure(sys_id=sys_id or 1, sys_priority=prio,
                                  active=lacp_cfg == "active",
                                  fast=other.get("lacp-time") == "fast", fallback_ab=fallback)
        else:
            bp.lacp = None
        primary = other.get("bond-primary")
        rebuilt = bp.bond is None or bp.settings != settings
        if rebuilt:
            old_active = bp.bond.active_member_mac if bp.bond is not None else 0
            recirc = 0
            if mode != "active-backup":
                recirc = self.glue.recirc.alloc(("bond", bg.name, bp.name))
            bp.bond = bond_mod.Bond(bp.name, mode, bp.lacp, updelay=max(0, port.bond_updelay),
                                    downdelay=max(0, port.bond_downdelay),
                                    rebalance_interval=rebalance, primary=primary,
                                    fallback_ab=fallback, basis=_int(other, "bond-hash-basis"),
                                    all_members_active=all_active, recirc_id=recirc,
                                    active_member_mac=old_active, now=now)
            # bp.carrier stays: it is what Bond and Lacp were last told, and a change
            # seen by the next run_one must reach the (kept) Lacp.
            bp.ifaces, bp.may_enable, bp.written = {}, {}, {}
            bp.settings = settings
            self.glue.mark_dirty(bg)
        else:
            b = bp.bond
            b.updelay, b.downdelay = max(0, port.bond_updelay), max(0, port.bond_downdelay)
            if b.rebalance_interval != rebalance:
                b.rebalance_interval = rebalance
                b.next_rebalance = now + rebalance / 1000 if rebalance else float("inf")
            b.basis = _int(other, "bond-hash-basis")
            if b.fallback_ab != fallback or b.primary != primary:
                b.fallback_ab, b.primary = fallback, primary
                b.revalidate = True
        by_ofport = {it.info.ofport: it for it in its}
        for ofport in list(bp.ifaces):
            if ofport not in by_ofport:
                bp.bond.remove_member(ofport)
                if bp.lacp is not None:
                    bp.lacp.remove_member(ofport)
                del bp.ifaces[ofport]
                bp.carrier.pop(ofport, None)
        for ofport in hmap_order(sorted(by_ofport)):
            it = by_ofport[ofport]
            info = it.info
            carrier = bp.carrier.get(ofport)
            if carrier is None:
                carrier = bp.carrier[ofport] = self._carrier(bg, ofport)
            bp.bond.add_member(ofport, info.name, _mac_int(info.hw_addr), carrier)
            if bp.lacp is not None:
                iother = dict(it.cfg.other_config)
                pid = _int(iother, "lacp-port-id")
                pprio = _int(iother, "lacp-port-priority")
                bp.lacp.add_member(ofport, pid if 0 < pid <= 0xFFFF else ofport,
                                   pprio if 0 < pprio <= 0xFFFF else 0xFFFF, name=info.name,
                                   key=_int(iother, "lacp-aggregation-key"),
                                   carrier_up=carrier, now=now)
            bp.ifaces[ofport] = it.cfg.uuid
        self.run_one(bp, now)
        if rebuilt and bp.active_mac is not None and \
                _mac_text(bp.bond.active_member_mac) != bp.active_mac:
            bp.bond.active_member_changed = True  # OVS reconfigures in place: a change to note
        if rebuilt and bp.bond.active_member is None:
            bp.bond.active_member_mac = 0         # the carried-over MAC did not take

    def _index(self) -> None:
        for bg in self.glue.bridges.values():
            bonds = self.bonds_for(bg)
            if bonds != bg.bonds:
                bg.bonds = bonds
                self.glue.mark_dirty(bg)
        self.lacp_rx = {}
        for bp in self.ports.values():
            if bp.lacp is None:
                continue
            for ofport in bp.ifaces:
                dp_no = bp.bg.of2dp.get(ofport)
                if dp_no is not None:
                    self.lacp_rx[(bp.bg.backend.type, dp_no)] = (bp, ofport)

    def _carrier(self, bg, ofport) -> bool:
        nd = self.glue.netdev(bg, ofport)
        if nd is None:
            return False
        try:
            return bool(nd.admin_up and nd.carrier)
        except Exception:                 # noqa: BLE001 (a device that went away)
            return False

    # ------------------------------------------------------------------ views for xlate
    def bonds_for(self, bg) -> dict:
        return {bp.name: bp.bond for bp in self.ports.values() if bp.bg is bg}

    def may_enable(self, bg, ofport) -> bool:
        """OVS ofport->may_enable for a bond member: carrier and LACP."""
        for bp in self.ports.values():
            if bp.bg is bg and ofport in bp.ifaces:
                return bp.may_enable.get(ofport, True)
        return True

    # ------------------------------------------------------------------ packets
    def take_lacp(self, be_type: str, dp_no: int, frames) -> list:
        """Frames of ``frames`` that are not LACPDUs for a LACP member (those
        are consumed here)."""
        hit = self.lacp_rx.get((be_type, dp_no))
        if hit is None:
            return frames
        bp, ofport = hit
        rest = []
        now = self.glue.clock()
        for f in frames:
            if is_slow_protocol(f):
                self.n_lacp_rx += 1
                if bp.lacp.receive(ofport, f, now):
                    self.run_one(bp, now)     # OVS: bond_member_set_may_enable at once
            else:
                rest.append(f)
        return rest

    def _send(self, bg, ofport, frame) -> None:
        nd = self.glue.netdev(bg, ofport)
        if nd is None:
            return
        try:
            nd.send_batch([frame])
        except Exception as e:            # noqa: BLE001 (link down, device gone)
            log.debug("%s: send failed (%s)", nd.name, e)

    # ------------------------------------------------------------------ timers
    def run(self) -> None:
        now = self.glue.clock()
        for bp in list(self.ports.values()):
            self.run_one(bp, now)

    def run_one(self, bp: BondPort, now: float) -> None:
        bg, b, lacp = bp.bg, bp.bond, bp.lacp
        changed = False
        for ofport in bp.ifaces:
            c = self._carrier(bg, ofport)
            if c != bp.carrier.get(ofport):
                bp.carrier[ofport] = c
                b.set_carrier(ofport, c, now)
                changed = True
                if self.glue.vswitchd is not None:
                    self.glue.vswitchd.request_reconfigure()     # link_state, PORT_STATUS
        if lacp is not None:
            info = bg.bridge.ports
            for member, pdu in lacp.run(now):
                pi = info.get(member)
                if pi is not None:
                    self._send(bg, member, lacp_mod.lacp_frame(_mac_int(pi.hw_addr), pdu))
        for ofport in bp.ifaces:
            me = bp.carrier.get(ofport, False) and (lacp is None or lacp.may_enable(ofport))
            if bp.may_enable.get(ofport) != me:
                bp.may_enable[ofport] = me
                changed = True
        if b.run(now):
            changed = True
        if b.rebalance(now):
            changed = True
            b.revalidate = False
        if changed:
            self.glue.mark_dirty(bg)
        macs = [(e.mac, e.vlan) for e in bg.macs.entries() if e.port != bp.name]
        for member, frame in b.gratuitous_learning_packets(macs):
            if member is not None:
                self._send(bg, member, frame)
        if self._status(bp) != bp.written and self.glue.vswitchd is not None:
            self.glue.vswitchd.request_reconfigure()

    # ------------------------------------------------------------------ database
    def _status(self, bp: BondPort) -> dict:
        out = {}
        key = ("Port", bp.port_uuid, "bond_active_slave")
        if bp.bond.active_member_changed:
            out[key] = _mac_text(bp.bond.active_member_mac)
        elif bp.active_mac is not None:
            out[key] = bp.active_mac
        for ofport, iface_uuid in bp.ifaces.items():
            cur = [bp.lacp.is_current(ofport)] if bp.lacp is not None else []
            out[("Interface", iface_uuid, "lacp_current")] = cur
        return out

    def writes(self, writes) -> None:
        """Adds the bond columns to a `bridge.Writes`."""
        for bp in self.ports.values():
            mac = bp.bond.take_active_member_change()
            if mac is not None:
                bp.active_mac = _mac_text(mac)
            st = self._status(bp)
            for (table, row, col), value in st.items():
                writes.set(table, row, **{col: value})
            bp.written = st

    # ------------------------------------------------------------------ unixctl
    def bonds(self) -> list:
        return [bp.bond for _, bp in sorted(self.ports.items(), key=lambda kv: kv[0][1])]

    def lacps(self) -> list:
        return [bp.lacp for bp in self.ports.values() if bp.lacp is not None]

    def _bond(self, name: str) -> BondPort:
        for bp in self.ports.values():
            if bp.name == name:
                return bp
        raise UnixctlError("no such bond")

    def cmd_show(self, args) -> str:
        try:
            return bond_mod.show(self.bonds(), self.glue.clock(), args[0] if args else None)
        except bond_mod.BondError as e:
            raise UnixctlError(str(e)) from e

    def cmd_list(self, args) -> str:
        return bond_mod.list_(self.bonds())

    def _member_cmd(self, args, fn) -> str:
        bp = self._bond(args[0])
        try:
            text = fn(bp.bond, args[1])
        except bond_mod.BondError as e:
            raise UnixctlError(str(e)) from e
        self.run_one(bp, self.glue.clock())
        self.glue.mark_dirty(bp.bg)
        return text

    def cmd_set_active(self, args) -> str:
        return self._member_cmd(args, lambda b, m: b.set_active_member(m))

    def cmd_enable(self, args) -> str:
        return self._member_cmd(args, lambda b, m: b.enable_member(m))

    def cmd_disable(self, args) -> str:
        return self._member_cmd(args, lambda b, m: b.disable_member(m))

    def cmd_migrate(self, args) -> str:
        bp = self._bond(args[0])
        if bp.bond.mode != "balance-slb":
            raise UnixctlError("not an SLB bond")
        if not args[1].isdigit():
            raise UnixctlError("bad hash")
        bucket = int(args[1])
        try:
            text = bp.bond.migrate(bucket, args[2])
        except bond_mod.BondError as e:
            raise UnixctlError(str(e)) from e
        self.glue.mark_dirty(bp.bg)
        return text

    def cmd_hash(self, args) -> str:
        mac = _mac_int(args[0]) if len(args[0].split(":")) == 6 else None
        if mac is None:
            raise UnixctlError("invalid mac")
        try:
            vlan = int(args[1]) if len(args) > 1 else 0
            basis = int(args[2]) if len(args) > 2 else 0
        except ValueError:
            raise UnixctlError("invalid vlan" if len(args) < 3 else "invalid basis") from None
        return f"{bond_mod.hash_mac(mac, vlan, basis) & bond_mod.BOND_MASK}"

    def cmd_lacp_show(self, args) -> str:
        try:
            return lacp_mod.show(self.lacps(), args[0] if args else None)
        except lacp_mod.LacpError as e:
            raise UnixctlError(str(e)) from e

    def cmd_lacp_stats(self, args) -> str:
        try:
            return lacp_mod.show_stats(self.lacps(), args[0] if args else None)
        except lacp_mod.LacpError as e:
            raise UnixctlError(str(e)) from e


def register(unixctl, bonding: Bonding) -> None:
    r = unixctl.register
    r("bond/show", "[port]", 0, 1, bonding.cmd_show)
    r("bond/list", "", 0, 0, bonding.cmd_list)
    r("bond/hash", "mac [vlan] [basis]", 1, 3, bonding.cmd_hash)
    r("bond/migrate", "port hash member", 3, 3, bonding.cmd_migrate)
    for new, old, fn in (("bond/set-active-member", "bond/set-active-slave", bonding.cmd_set_active),
                         ("bond/enable-member", "bond/enable-slave", bonding.cmd_enable),
                         ("bond/disable-member", "bond/disable-slave", bonding.cmd_disable)):
        r(new, "port member", 2, 2, fn)
        r(old, None, 2, 2, fn)              # hidden alias, as in OVS 3.1
    r("lacp/show", "[port]", 0, 1, bonding.cmd_lacp_show)
    r("lacp/show-stats", "[port]", 0, 1, bonding.cmd_lacp_stats)
