"""pyovs-vswitchd: the trio edge of our ovs-vswitchd (database side).

Theory of operation
-------------------
`main()` parses Open vSwitch's options, applies the daemon conventions
(`ovsdb_server.daemon`: pidfile ``ovs-vswitchd.pid``, log file, --detach)
and runs `Vswitchd.run()` under trio:

* a `TrioIdl` replica of the Open_vSwitch database (default
  ``unix:$OVS_RUNDIR/db.sock``) holding the ``ovs_vswitchd`` lock;
* the reconfiguration loop: on every change of the replica (or of the lock)
  it snapshots the configuration (`bridge.config_from_idl`), lets the
  sans-I/O `bridge.Switch` apply it, and writes back the status columns with
  ``cur_cfg = next_cfg`` in one transaction (python-ovs adds the
  ``{"op":"assert","lock":"ovs_vswitchd"}``).  Without the lock it logs
  "another ovs-vswitchd process is running..." once, drops its bridges and
  writes nothing, as bridge.c does;
* the unixctl socket ``ovs-vswitchd.<pid>.ctl`` (exit, version, vlog/*,
  memory/show, ofproto/list, coverage/show, bridge/dump-flows).

SSL for controllers (bridge.c bridge_run): the PKI files start as
``--private-key``/``--certificate``/``--ca-cert`` (``--bootstrap-ca-cert=F``
is ``--ca-cert=F`` with bootstrapping, which we do not do: F must exist).
When ``Open_vSwitch.ssl`` points to an SSL row, its files replace them,
before the bridges are reconfigured; as in OVS nothing unsets them, so
removing the row keeps the last files.  Every bridge's connection manager
gets the files (`BridgeConnMgr.set_ssl`: its ssl:/pssl: controllers
reconnect with new ones).

Extension point for the OpenFlow layer: `Vswitchd.nursery` is the daemon's
nursery and `Vswitchd.switch` the `bridge.Switch`; register on
``switch.on_bridge_added`` to start per-bridge tasks (``vswitchd.nursery.
start_soon(...)``) and on the `Bridge` hooks for ports.  `Vswitchd.unixctl`
takes more commands; `Vswitchd.request_reconfigure()` reruns the loop (e.g.
to publish changed port state).
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time

import trio

from ovsdb_server import daemon
from ovsdb_server.daemon import DaemonConfig, get_logger
from ovsdb_server.unixctl import ExitController, UnixctlError, UnixctlServer

from . import bridge as bridge_mod
from .idl import NOT_LOCKED, SUCCESS, TRY_AGAIN, UNCHANGED, TrioIdl, make_schema_helper

PROGRAM = "ovs-vswitchd"
LOCK_NAME = "ovs_vswitchd"
GC_THRESHOLD = 20000        # allocations between young collections (CPython default 700)
STATS_INTERVAL = 5.0        # s: bridge.c's default other_config:stats-update-interval
SCHEMA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "ovsdb_server", "schemas", "vswitch.ovsschema")
log = get_logger("bridge")
for _m in ("reconnect", "jsonrpc", "ofproto", "netdev", "memory", "coverage"):
    get_logger(_m)


def parse_args(argv):
    p = argparse.ArgumentParser(prog=PROGRAM, description="Open vSwitch daemon (pyvswitch)")
    p.add_argument("database", nargs="?", help="unix:PATH or tcp:IP:PORT (default unix:$OVS_RUNDIR/db.sock)")
    p.add_argument("--enable-dummy", nargs="?", const="", metavar="override",
                   help="enable dummy network devices")
    p.add_argument("--disable-system", action="store_true", help="disable system datapath (implied)")
    p.add_argument("--disable-system-route", action="store_true")
    p.add_argument("--mlockall", action="store_true")
    p.add_argument("--n-handler-threads", type=int)
    p.add_argument("--n-revalidator-threads", type=int)
    p.add_argument("-p", "--private-key")
    p.add_argument("-c", "--certificate")
    p.add_argument("-C", "--ca-cert")
    p.add_argument("--bootstrap-ca-cert")
    daemon.add_options(p, PROGRAM)
    return p.parse_args(argv)


_SCHEMA_COLUMNS: dict = {}


def _schema_columns(path: str) -> dict:
    """{table: number of columns} of the schema (the C IDL's n_columns)."""
    cols = _SCHEMA_COLUMNS.get(path)
    if cols is None:
        import json
        try:
            with open(path) as f:
                tables = json.load(f)["tables"]
            cols = {name: len(t["columns"]) for name, t in tables.items()}
        except (OSError, ValueError, KeyError):
            cols = {}
        _SCHEMA_COLUMNS[path] = cols
    return cols


def _replicated(path: str) -> dict:
    """What the IDL replicates: bridge.MONITORED, and one column of every
    other table of the schema, so that their rows are there as in
    ovs-vswitchd (which monitors everything; memory/show counts them)."""
    out = dict(bridge_mod.MONITORED)
    try:
        import json
        with open(path) as f:
            tables = json.load(f)["tables"]
    except (OSError, ValueError, KeyError):
        return out
    for name, t in tables.items():
        if name not in out and t.get("columns"):
            out[name] = [min(t["columns"])]
    return out


def udpif_threads(other_config: dict) -> tuple[int, int]:
    """(handlers, revalidators) as ofproto-dpif-upcall.c udpif_set_threads sizes
    them for a datapath that does not dictate its handlers (dpif-netdev):
    other_config ``n-handler-threads`` / ``n-revalidator-threads``, else
    from the CPUs this process may run on (count_cpu_cores, at least 2)."""
    def get(key):
        try:
            return max(int(other_config.get(key, 0)), 0)
        except ValueError:
            return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    threads = max(cores, 2)
    handlers, revalidators = get("n-handler-threads"), get("n-revalidator-threads")
    if not revalidators:
        revalidators = max(threads - handlers, 1) if handlers else threads // 4 + 1
    if not handlers:
        handlers = max(threads - revalidators, 1)
    return handlers, revalidators


class Coverage:
    """A few named event counters in coverage/show's format."""

    def __init__(self):
        self.counters: dict[str, int] = {}

    def inc(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def show(self) -> str:
        lines = ["Event coverage, avg rate over last: 5 seconds, last minute, last hour,  hash=00000000:"]
        for name, total in self.counters.items():
            if total:
                lines.append("%-26s %5.1f/sec %9.3f/sec %13.4f/sec   total: %d" % (name, 0, 0, 0, total))
        never = sum(1 for v in self.counters.values() if not v)
        lines.append(f"{never} events never hit")
        return "\n".join(lines)


class Vswitchd:
    def __init__(self, remote: str, *, schema: str = SCHEMA,
                 ssl: bridge_mod.SSLConfig | None = None):
        self.remote = remote
        self.schema = schema
        self.ssl = ssl                               # PKI files for ssl:/pssl: controllers
        self.switch = bridge_mod.Switch(probe=_probe_device)
        self.coverage = Coverage()
        self.idl: TrioIdl | None = None
        self.nursery: trio.Nursery | None = None
        self.unixctl: UnixctlServer | None = None
        self._kick = trio.Event()
        self._lock_warned = False
        self.applied_cfg = None
        self.on_reconfigured = bridge_mod.Hook()     # (Vswitchd) after each applied change
        self.openflow: dict = {}                     # bridge name -> connmgr.BridgeConnMgr
        self.switch.on_bridge_added.connect(self._bridge_added)
        self.switch.on_bridge_removed.connect(self._bridge_removed)
        from .dpglue import DpGlue                   # packets: datapaths, ports, upcalls
        self.dpglue = DpGlue()
        self._stats_written: dict[str, dict] = {}     # Interface uuid -> statistics written
        self.dpglue.attach(self)

    # -- OpenFlow (ofproto/connmgr.py): one BridgeConnMgr per bridge
    def _bridge_added(self, br) -> None:
        if self.nursery is None:
            return
        from .connmgr import BridgeConnMgr
        mgr = BridgeConnMgr(br, daemon.rundir(), on_change=self.request_reconfigure, ssl=self.ssl)
        self.openflow[br.name] = mgr
        now = trio.current_time
        br.on_port_added.connect(lambda b, info: mgr.ofproto.port_added(info, now()))
        br.on_port_removed.connect(lambda b, info: mgr.ofproto.port_removed(info, now()))
        br.on_port_changed.connect(lambda b, old, new: mgr.ofproto.port_changed(old, new, now()))
        br.on_config_changed.connect(lambda b, changed: mgr.reconfigure())
        self.nursery.start_soon(mgr.run)

    def _bridge_removed(self, br) -> None:
        mgr = self.openflow.pop(br.name, None)
        if mgr is not None:
            mgr.stop()

    def request_reconfigure(self) -> None:
        self._kick.set()

    # -- unixctl
    def register_commands(self, unixctl: UnixctlServer, exit_ctl: ExitController) -> None:
        self.unixctl = unixctl
        unixctl.register("exit", "[--cleanup]", 0, 1, exit_ctl.exit)
        unixctl.register("memory/show", "", 0, 0, self._memory_show)
        unixctl.register("ofproto/list", "", 0, 0,
                         lambda args: "".join(f"{n}\n" for n in self.switch.bridge_names()))
        unixctl.register("coverage/show", "", 0, 0, lambda args: self.coverage.show())
        unixctl.register("bridge/dump-flows", "[--offload-stats] bridge", 1, 2, self._dump_flows)
        unixctl.register("qos/show-types", "interface", 1, 1, self._qos_show_types)
        unixctl.register("qos/show", "interface", 1, 1, self._qos_show)
        daemon.register_vlog_commands(unixctl)
        from . import appctl_dp
        appctl_dp.register(unixctl, self.dpglue)

    def _memory_show(self, args) -> str:
        """memory/show: ovs-vswitchd's memory_report of name:count pairs, sorted
        by name, zero counts left out (simap_increase adds nothing for 0):

        * ``idl-cells-Open_vSwitch``: rows times the columns their table has in
          the schema (ovsdb_idl_get_memory_usage), for the tables replicated;
        * ``ports`` and ``rules`` (ofproto_get_memory_usage): every bridge's
          ports (LOCAL too) and flows of every table, the hidden ones included
          (table 254's internal rules, the fail-open rule);
        * ``ofconns`` (connmgr_get_memory_usage): live OpenFlow connections
          (an active controller's once it is connected);
        * ``handlers`` and ``revalidators`` (udpif_get_memory_usage): the
          threads of each datapath type in use (one backer each), as
          udpif_set_threads sizes them for a userspace datapath.
        """
        usage: dict[str, int] = {}

        def add(key, n):
            if n:
                usage[key] = usage.get(key, 0) + n
        if self.idl is not None:
            cols = _schema_columns(self.schema)
            add("idl-cells-Open_vSwitch", sum(len(t.rows) * cols.get(name, len(t.columns))
                                              for name, t in self.idl.tables.items()))
        for name in self.switch.bridge_names():
            br = self.switch.bridges[name]
            add("ports", len(br.ports))
            mgr = self.openflow.get(name)
            if mgr is not None:
                add("rules", mgr.ofproto.n_rules())
                add("ofconns", len(mgr.ofproto.conns))
        other = dict(self.applied_cfg.other_config) if self.applied_cfg else {}
        for _ in {self.switch.bridges[n].datapath_type for n in self.switch.bridge_names()}:
            handlers, revalidators = udpif_threads(other)
            add("handlers", handlers)
            add("revalidators", revalidators)
        return " ".join(f"{k}:{usage[k]}" for k in sorted(usage))

    def _iface_find(self, name: str):
        for bname in self.switch.bridge_names():
            for info in self.switch.bridges[bname].ports.values():
                if info.name == name:
                    return info
        raise UnixctlError("no such interface")

    # qos/show and qos/show-types (bridge.c): none of our netdevs has QoS (as
    # netdev-dummy and the vports: no get_qos/get_qos_types), whatever the
    # QoS and Queue rows say; queue 0 of a dummy port is what OpenFlow reports.
    def _qos_show_types(self, args) -> str:
        info = self._iface_find(args[0])
        return f"No QoS types supported for interface: {info.name}\n"

    def _qos_show(self, args) -> str:
        info = self._iface_find(args[0])
        return f"QoS not configured on {info.name}\n"

    def _dump_flows(self, args) -> str:
        name = args[-1]
        if name not in self.switch.bridges:
            raise UnixctlError("Unknown bridge")
        mgr = self.openflow.get(name)
        if mgr is None:
            return ""
        return mgr.ofproto.flows.dump_text(trio.current_time())

    # -- the reconfiguration loop
    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        helper = make_schema_helper(self.schema, _replicated(self.schema))
        async with TrioIdl(self.remote, helper, write_only=bridge_mod.WRITE_ONLY) as idl:
            self.idl = idl
            idl.set_lock(LOCK_NAME)
            task_status.started()
            if self.nursery is not None:
                self.nursery.start_soon(self._refresh_status)
            token = None
            while True:
                if token is not None:
                    async with trio.open_nursery() as n:
                        async def changed():
                            await idl.wait_for_change(token)
                            n.cancel_scope.cancel()

                        async def kicked():
                            await self._kick.wait()
                            n.cancel_scope.cancel()
                        n.start_soon(changed)
                        n.start_soon(kicked)
                    self._kick = trio.Event()
                token = idl.state_token()
                if not idl.idl.has_ever_connected() or not idl.is_connected:
                    continue
                if not idl.has_lock:
                    if idl.is_lock_contended and not self._lock_warned:
                        log.error("another ovs-vswitchd process is running, disabling this process "
                                   "(pid %d) until it goes away", os.getpid())
                        self._lock_warned = True
                        self.switch.teardown(trio.current_time())
                    continue
                self._lock_warned = False
                status = await self._reconfigure_once()
                if status == TRY_AGAIN:
                    await trio.sleep(0.01)
                    token = None

    async def _reconfigure_once(self) -> int:
        idl = self.idl
        cfg = bridge_mod.config_from_idl(idl.tables)
        if cfg.ssl is not None and cfg.ssl != self.ssl:     # before bridges start controllers
            self._set_ssl(cfg.ssl)
        self.coverage.inc("bridge_reconfigure")
        writes = self.switch.reconfigure(cfg, time.monotonic())
        self.dpglue.bonding.reconfigure()
        self.dpglue.bonding.writes(writes)
        if cfg.uuid is not None and cfg.cur_cfg != cfg.next_cfg:
            writes.set("Open_vSwitch", cfg.uuid, cur_cfg=cfg.next_cfg)
        self._controller_writes(cfg, writes)
        self._statistics_writes(writes)

        def build(txn):
            for table, row_uuid, cols in writes:
                row = _find_row(idl.tables[table], row_uuid)
                if row is None:
                    continue
                for col, value in cols.items():
                    setattr(row, col, value)

        status = await idl.commit(build)
        if status not in (SUCCESS, UNCHANGED, TRY_AGAIN, NOT_LOCKED):
            log.warning("database transaction failed (%s)", getattr(idl, "last_txn", None)
                        and idl.last_txn.get_error())
        self.applied_cfg = cfg
        self.on_reconfigured(self)
        return status

    def _set_ssl(self, ssl: bridge_mod.SSLConfig) -> None:
        self.ssl = ssl
        if ssl.bootstrap_ca_cert:
            log.warning("SSL: bootstrap_ca_cert is not supported: %s must exist", ssl.ca_cert)
        for mgr in self.openflow.values():
            mgr.set_ssl(ssl)

    def _controller_writes(self, cfg, writes) -> None:
        """Controller.is_connected/role/status, as bridge.c refresh_controller_status."""
        now = trio.current_time()
        for b in cfg.bridges:
            mgr = self.openflow.get(b.name)
            for c in b.controllers:
                connected, role, status = (mgr.controller_status(c.target, now) if mgr
                                           else (False, None, {}))
                writes.set("Controller", c.uuid, is_connected=connected,
                           role=[role] if role else [], status=status)

    def _statistics_writes(self, writes) -> None:
        """Interface.statistics from the netdevs' counters (bridge.c
        iface_refresh_stats), overriding the zeros the bridge writes; only
        rows whose counters changed since the last write."""
        stats = self.dpglue.interface_statistics()
        written = self._stats_written
        for row_uuid, st in stats.items():
            if written.get(row_uuid) != st or writes.get("Interface", row_uuid):
                writes.set("Interface", row_uuid, statistics=dict(st))
        self._stats_written = stats

    def stats_interval(self) -> float:
        """other_config:stats-update-interval (ms, at least 5000, as bridge.c)."""
        cfg = self.applied_cfg
        try:
            ms = int(dict(cfg.other_config).get("stats-update-interval", 5000)) if cfg else 5000
        except ValueError:
            ms = 5000
        return max(STATS_INTERVAL, ms / 1000.0)

    async def _refresh_status(self) -> None:
        """Every stats-update-interval, rewrite controller status (sec_since_connect
        moves on) and changed Interface statistics, as bridge.c's stats timer does;
        connection and role changes are written at once."""
        while True:
            await trio.sleep(self.stats_interval())
            if any(mgr.bridge.controllers for mgr in self.openflow.values()) or \
                    self.dpglue.interface_statistics() != self._stats_written:
                self.request_reconfigure()


def ssl_from_args(args) -> bridge_mod.SSLConfig | None:
    """The command line's PKI files (None if it names none)."""
    if not (args.private_key or args.certificate or args.ca_cert or args.bootstrap_ca_cert):
        return None
    if args.bootstrap_ca_cert:
        log.warning("--bootstrap-ca-cert: bootstrapping is not supported: %s must exist",
                    args.bootstrap_ca_cert)
    return bridge_mod.SSLConfig(private_key=args.private_key, certificate=args.certificate,
                                ca_cert=args.bootstrap_ca_cert or args.ca_cert,
                                bootstrap_ca_cert=bool(args.bootstrap_ca_cert))


def _probe_device(name: str):
    """bridge.Switch's probe: an existing Linux interface of our namespace, or None."""
    from datapath.netdev_linux import probe_device
    d = probe_device(name)
    if d is None:
        return None
    return bridge_mod.DeviceInfo(hw_addr=bridge_mod.format_mac(d["hw_addr"]), ifindex=d["ifindex"],
                                 mtu=d["mtu"], link_up=d["carrier"], admin_up=d["admin_up"])


def _find_row(table, row_uuid: str):
    import uuid as _uuid
    return table.rows.get(_uuid.UUID(row_uuid))


async def run(args, config: DaemonConfig):
    remote = args.database or f"unix:{daemon.rundir()}/db.sock"
    if not (remote.startswith("unix:") or remote.startswith("tcp:")):
        daemon.fatal(f"{remote}: unsupported database remote (use unix:PATH or tcp:IP:PORT)")
    vswitchd = Vswitchd(remote, ssl=ssl_from_args(args))
    async with trio.open_nursery() as nursery:
        vswitchd.nursery = nursery
        exit_ctl = ExitController(nursery.cancel_scope)
        await nursery.start(exit_ctl.watch_signals)
        unixctl = UnixctlServer(PROGRAM)
        vswitchd.register_commands(unixctl, exit_ctl)
        path = config.unixctl_path
        if path:
            await nursery.start(unixctl.serve, path)
        await nursery.start(vswitchd.dpglue.run)
        await nursery.start(vswitchd.run)
        daemon.daemonize_complete()
    return exit_ctl.signum


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    config = DaemonConfig.from_args(args, PROGRAM)
    daemon.start_daemon(config)
    log.info("pyovs-vswitchd starting (database %s)", args.database or "default")
    # Flow tables are many long-lived, acyclic objects: the modules loaded so far
    # are never collected, and young collections are rarer (GC was ~15% of a
    # flow_mod with the default threshold of 700).
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)
    signum = trio.run(run, args, config)
    daemon.exit_process(signum)


if __name__ == "__main__":
    main()
