"""ovs-appctl commands of the datapath side, with Open vSwitch's output formats.

Theory of operation
-------------------
:func:`register` adds the commands to a unixctl server; every handler is a
synchronous ``fn(args) -> str`` over one :class:`~.dpglue.DpGlue` and raises
``UnixctlError`` with OVS's error text.  Commands:

* ``ofproto/trace [--names] BRIDGE FLOW [PACKET]`` (FLOW in OpenFlow syntax,
  ``in_port`` an OpenFlow port number or name) and
  ``ofproto/trace [--names] ODP_FLOW [PACKET]`` (datapath syntax,
  ``in_port(N)`` a datapath port; the bridge is the port's owner);
* ``dpctl/dump-flows [-m] [DP]``, ``dpif/dump-flows [-m] BRIDGE``,
  ``dpctl/del-flows [DP]``, ``dpif/show``;
* ``fdb/show BRIDGE``, ``fdb/flush [BRIDGE]``, ``fdb/stats-show BRIDGE``,
  ``fdb/stats-clear [BRIDGE]``, ``dpif/show-dp-features BRIDGE``;
* what OVS answers for protocols nothing has enabled (not implemented here):
  ``mdb/show``, ``mdb/flush``, ``stp/show``, ``rstp/show``, ``cfm/show``, ``bfd/show``;
* ``netdev-dummy/receive PORT HEX|FLOW [--len N]...``,
  ``netdev-dummy/set-admin-state [PORT] up|down``;
* ``revalidator/purge``, ``revalidator/wait``, ``upcall/show``;
* the ``bond/*`` and ``lacp/*`` commands of :mod:`.bondglue`.
"""
from __future__ import annotations

import re

from datapath import odp

from .ofp.parse import parse_packet_flow

try:
    from ovsdb_server.unixctl import UnixctlError
except ImportError:                      # pragma: no cover
    class UnixctlError(Exception):
        pass


def register(unixctl, glue) -> None:
    cmds = Commands(glue)
    r = unixctl.register
    r("ofproto/trace", "{[dp_name] odp_flow | bridge br_flow} [OPTIONS...] [-generate|packet]",
      1, 4, cmds.trace)
    r("dpctl/dump-flows", "[-m] [--names | --no-names] [dp] [filter=..] [type=..]", 0, 4,
      cmds.dpctl_dump_flows)
    r("dpif/dump-flows", "[-m] [--names | --no-names] bridge", 1, 4, cmds.dpif_dump_flows)
    r("dpctl/del-flows", "[dp]", 0, 1, cmds.dpctl_del_flows)
    r("dpif/show", "", 0, 0, cmds.dpif_show)
    r("fdb/show", "bridge", 1, 1, cmds.fdb_show)
    r("fdb/flush", "[bridge]", 0, 1, cmds.fdb_flush)
    r("fdb/stats-show", "bridge", 1, 1, cmds.fdb_stats_show)
    r("fdb/stats-clear", "[bridge]", 0, 1, cmds.fdb_stats_clear)
    r("dpif/show-dp-features", "bridge", 1, 1, cmds.show_dp_features)
    # Protocols not implemented here answer as Open vSwitch does when nothing enables them.
    r("mdb/show", "bridge", 1, 1, cmds.mdb_disabled)
    r("mdb/flush", "[bridge]", 0, 1, cmds.mdb_disabled)
    for cmd, usage, missing in (("stp/show", "[bridge]", "no such stp object"),
                                ("rstp/show", "[bridge]", "No such RSTP object"),
                                ("cfm/show", "[interface]", "no such CFM object"),
                                ("bfd/show", "[interface]", "no such bfd object")):
        r(cmd, usage, 0, 1, _nothing_configured(missing))
    r("netdev-dummy/receive", "name [--qid queue_id] packet|flow [--len packet_len]", 2,
      1 << 16, cmds.receive)
    r("netdev-dummy/set-admin-state", "[netdev] up|down", 1, 2, cmds.set_admin_state)
    r("revalidator/purge", "", 0, 0, cmds.purge)
    r("revalidator/wait", "", 0, 0, cmds.wait)
    r("upcall/show", "", 0, 0, cmds.upcall_show)
    from .bondglue import register as register_bond_commands
    register_bond_commands(unixctl, glue.bonding)
    return cmds


class Commands:
    def __init__(self, glue):
        self.glue = glue

    # ------------------------------------------------------------ trace
    def trace(self, args) -> str:
        args = list(args)
        names = False
        for opt in ("--names", "--no-names", "-generate"):
            while opt in args:
                args.remove(opt)
                names = names or opt == "--names"
        if not args:
            raise UnixctlError("syntax error")
        glue = self.glue
        packet = None
        if args[0] in glue.bridges:
            bg = glue.bridges[args[0]]
            if len(args) < 2:
                raise UnixctlError("Must specify bridge name")
            text = args[1]
            if len(args) > 2:
                packet = _hex(args[2])
            text = _names_to_numbers(text, bg)
            try:
                match = parse_packet_flow(text)
            except Exception as e:        # noqa: BLE001
                raise UnixctlError(str(e)) from e
            flow = {k: v for k, (v, m) in match.items()}
            of_in = flow.get("in_port", 0)
            flow["in_port"] = bg.of2dp.get(of_in, 0xFFFFFFFF)
            if flow["in_port"] == 0xFFFFFFFF:
                return self._unknown_port(bg, flow, of_in)
        else:
            text = args[0]
            if len(args) > 1:
                packet = _hex(args[1])
            try:
                flow, _mask = odp.parse_key(text)
            except Exception as e:        # noqa: BLE001
                raise UnixctlError(str(e)) from e
            bg = None
            for be in glue.backends.values():
                own = be.owner.get(flow.get("in_port", 0))
                if own is not None:
                    bg = own[0]
            if bg is None:
                raise UnixctlError("no OpenFlow port for datapath port "
                                   f"{flow.get('in_port', 0)}")
        if packet is not None:
            from .dpglue import _extract
            flow = dict(_extract(packet, flow["in_port"]))
        return glue.trace(bg, flow, packet, names=names)

    def _unknown_port(self, bg, flow, of_in) -> str:
        f = dict(flow)
        f["in_port"] = of_in
        from .dpglue import _format_of_flow
        return (f"Flow: {_format_of_flow(f)}\n\nbridge(\"{bg.name}\")\n-------------\n"
                f" 0. No match.\n    drop\n\nFinal flow: unchanged\n"
                f"Megaflow: recirc_id=0,eth,in_port={of_in},dl_type=0x0000\n"
                f"Datapath actions: drop\n")

    # ------------------------------------------------------------ flows
    def _backend(self, dp_name=None):
        glue = self.glue
        for be in glue.backends.values():
            if dp_name is None or dp_name in (be.dp.name, f"{be.type}@{be.dp.name}"):
                return be
        if dp_name is None:
            return None
        raise UnixctlError(f"datapath not found")

    def dpctl_dump_flows(self, args) -> str:
        verbose = "-m" in args or "--more" in args
        rest = [a for a in args if not a.startswith("-") and "=" not in a]
        be = self._backend(rest[0] if rest else None)
        if be is None:
            return ""
        self.glue.push_stats()
        ports = _all_port_names(self.glue, be) if verbose else None
        return be.dp.format_dump_flows(self.glue.dp_now(), verbose, True, ports)

    def dpif_dump_flows(self, args) -> str:
        verbose = "-m" in args
        rest = [a for a in args if not a.startswith("-")]
        if not rest or rest[-1] not in self.glue.bridges:
            raise UnixctlError("no such bridge")
        bg = self.glue.bridges[rest[-1]]
        dp = bg.backend.dp
        now = self.glue.dp_now()
        ports = bg.port_names() if verbose else None
        out = []
        for mf in dp.flow_dump():
            if mf.key.get("in_port") in bg.dp2of:
                out.append(dp.format_flow(mf, now, verbose, ports) + "\n")
        return "".join(out)

    def dpctl_del_flows(self, args) -> str:
        self.glue.purge()
        return ""

    def dpif_show(self, args) -> str:
        out = []
        for be in self.glue.backends.values():
            out.append(be.dp.show_header() + "\n")
            for name in sorted(self.glue.bridges):
                bg = self.glue.bridges[name]
                if bg.backend is not be:
                    continue
                out.append(f"  {name}:\n")
                rows = []
                for ofport, dp_no in bg.of2dp.items():
                    info = bg.bridge.ports.get(ofport)
                    p = be.dp.ports.get(dp_no)
                    if info is None or p is None:
                        continue
                    rows.append((info.name, f"    {info.name} {ofport}/{dp_no}: ({p.type})\n"))
                out.extend(r for _, r in sorted(rows))
        return "".join(out)

    # ------------------------------------------------------------ fdb
    def fdb_show(self, args) -> str:
        bg = self._bridge(args[0])

        def name(p):
            if isinstance(p, str):                 # xlate learns bundles by Port name
                bond = bg.bonds.get(p)
                if bond is not None and bond.members:
                    return str(bond.members[0])    # OVS: ofbundle_get_a_port()
                info = bg.bridge.port_by_name(p)
                p = info.ofport if info is not None else p
            return "LOCAL" if p == 0xFFFE else str(p)
        return bg.macs.fdb_show(self.glue.clock(), name)

    def fdb_flush(self, args) -> str:
        for bg in self._bridges(args):
            bg.macs.flush()
            self.glue.mark_dirty(bg)
        return "table successfully flushed"

    def _bridge(self, name):
        bg = self.glue.bridges.get(name)
        if bg is None:
            raise UnixctlError("no such bridge")
        return bg

    def _bridges(self, args) -> list:
        """``[BRIDGE]`` arguments: that bridge, or all of them."""
        return [self._bridge(args[0])] if args else list(self.glue.bridges.values())

    def fdb_stats_show(self, args) -> str:
        bg = self._bridge(args[0])
        m = bg.macs
        return (f'Statistics for bridge "{args[0]}":\n'
                f"  Current/maximum MAC entries in the table: {len(m)}/{m.max_entries}\n"
                f"  Current static MAC entries in the table : 0\n"
                f"  Total number of learned MAC entries     : {m.total_learned}\n"
                f"  Total number of expired MAC entries     : {m.total_expired}\n"
                f"  Total number of evicted MAC entries     : {m.total_evicted}\n"
                f"  Total number of port moved MAC entries  : {m.total_moved}\n")

    def fdb_stats_clear(self, args) -> str:
        for bg in self._bridges(args):
            m = bg.macs
            m.total_learned = m.total_expired = m.total_evicted = m.total_moved = 0
        return "statistics successfully cleared"

    def show_dp_features(self, args) -> str:
        self._bridge(args[0])
        return "".join(f"{k}: {v}\n" for k, v in _DP_FEATURES)

    def mdb_disabled(self, args) -> str:
        if args:
            self._bridge(args[0])
        raise UnixctlError("multicast snooping is disabled")

    # ------------------------------------------------------------ netdev-dummy
    def receive(self, args) -> str:
        from datapath.netdev import NetdevError
        from datapath.netdev_dummy import receive_command
        self.glue.run_timers()
        try:
            return receive_command(self.glue.netdevs_by_name(), list(args),
                                   frame_from_key=_frame_from_key)
        except NetdevError as e:
            raise UnixctlError(str(e)) from e

    def set_admin_state(self, args) -> str:
        from datapath.netdev import NetdevError
        from datapath.netdev_dummy import set_admin_state_command
        ports = self.glue.netdevs_by_name()
        before = {n: nd.admin_up for n, nd in ports.items()}
        try:
            text = set_admin_state_command(ports, list(args))
        except NetdevError as e:
            raise UnixctlError(str(e)) from e
        for n, nd in ports.items():
            if nd.admin_up != before[n]:
                self.glue.set_admin_state(nd, nd.admin_up)
        return text

    # ------------------------------------------------------------ revalidator
    def purge(self, args) -> str:
        self.glue.purge()
        return ""

    def wait(self, args) -> str:
        self.glue.revalidate()
        self.glue.push_stats()
        return ""

    def upcall_show(self, args) -> str:
        out = []
        for be in self.glue.backends.values():
            n = len(be.dp.cache)
            out.append(f"{be.type}@{be.dp.name}:\n"
                       f"  flows         : (current {n}) (avg {n}) (max {n}) "
                       f"(limit {be.dp.cache.flow_limit})\n"
                       f"  dump duration : 1ms\n  ufid enabled : true\n\n"
                       f"  0: (keys {n})\n")
        return "".join(out)


def _nothing_configured(missing: str):
    """stp/rstp/cfm/bfd show: nothing to list, and no object by any name."""
    def show(args) -> str:
        if args:
            raise UnixctlError(missing)
        return ""
    return show


# dpif/show-dp-features of Open vSwitch 3.1's userspace (dummy/netdev) datapath.
_DP_FEATURES = (
    ("Masked set action", "Yes"), ("Tunnel push pop", "Yes"), ("Ufid", "Yes"),
    ("Truncate action", "Yes"), ("Clone action", "Yes"), ("Sample nesting", "10"),
    ("Conntrack eventmask", "Yes"), ("Conntrack clear", "Yes"), ("Max dp_hash algorithm", "1"),
    ("Check pkt length action", "Yes"), ("Conntrack timeout policy", "Yes"),
    ("Explicit Drop action", "Yes"), ("Optimized Balance TCP mode", "Yes"),
    ("Conntrack all-zero IP SNAT", "Yes"), ("MPLS Label add", "Yes"), ("Max VLAN headers", "1"),
    ("Max MPLS depth", "3"), ("Recirc", "Yes"), ("CT state", "Yes"), ("CT zone", "Yes"),
    ("CT mark", "Yes"), ("CT label", "Yes"), ("CT state NAT", "Yes"), ("CT orig tuple", "Yes"),
    ("CT orig tuple for IPv6", "Yes"), ("IPv6 ND Extension", "Yes"))


def _frame_from_key(text, length):
    return odp.frame_from_key(text, length)


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError as e:
        raise UnixctlError("Trailing garbage in packet data") from e


def _names_to_numbers(text: str, bg) -> str:
    """``in_port=NAME`` -> the OpenFlow port number (``--names`` style input)."""
    def sub(m):
        v = m.group(2)
        if v.isdigit() or v.startswith("0x"):
            return m.group(0)
        info = bg.bridge.port_by_name(v)
        if v == "LOCAL":
            return f"{m.group(1)}65534"
        return f"{m.group(1)}{info.ofport}" if info is not None else m.group(0)
    return re.sub(r"(in_port=)([^,\s]+)", sub, text)


def _all_port_names(glue, be) -> dict:
    return {no: p.name for no, p in be.dp.ports.items()}
