"""A controller of ours (os-ken, `interop/osken_app.py`) against the switch over TCP.

What a controller relies on, checked against our switch and, for comparison,
against Open vSwitch's ovs-vswitchd (same steps, same expectations):

* the switch dials ``tcp:127.0.0.1:PORT`` from ``ovs-vsctl set-controller``
  and negotiates OpenFlow 1.3 (``Bridge.protocols=OpenFlow13``);
* FEATURES (datapath id from ``other-config:datapath-id``, 254 tables,
  no buffers) and PORT_DESC (numbers from ``ofport_request``, names,
  ``hw_addr`` = ``Interface.mac_in_use``, live);
* PORT_STATUS ADD / MODIFY (``ovs-ofctl mod-port ... down``) / DELETE;
* flows from the controller (table-miss to CONTROLLER, L2 flows, goto_table
  into table 1) answered by the BARRIER and shown by ``ovs-ofctl dump-flows``;
* gauge's polls: OFPMP_FLOW for all tables (matches echoed as installed, as
  OpenDaylight requires) and OFPMP_PORT_STATS for OFPP_ANY;
* a second controller added later leaves the first one connected, and plays
  OpenDaylight's mastership handshake: ROLE_REQUEST NOCHANGE (generation id
  read), MASTER with id+1; the first connection becomes slave, gets ROLE_STATUS
  (the ONF 1911 extension in OF1.3), has writes refused with OFPBRC_IS_SLAVE
  and a stale generation id refused with OFPRRFC_STALE;
* ``Controller`` rows: ``is_connected``, ``role`` and ``status`` written back.

os-ken runs on eventlet, so the application is a subprocess that reports
JSON lines (see its docstring); everything started here is stopped by pid.
"""
from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time

import pytest

from interop.conftest import requires_ovs
from interop.harness import ROOT, OvsdbServer
from interop.test_vswitchd_config import Switchd

pytestmark = [pytest.mark.slow, pytest.mark.needs_ovs, requires_ovs]

APP = os.path.join(ROOT, "interop", "osken_app.py")
OFPP_LOCAL = 0xFFFFFFFE
OFPPR_ADD, OFPPR_DELETE, OFPPR_MODIFY = 0, 1, 2
OFPPC_PORT_DOWN = 1
OFPPS_LINK_DOWN, OFPPS_LIVE = 1, 4
ROLE_NOCHANGE, ROLE_EQUAL, ROLE_MASTER, ROLE_SLAVE = 0, 1, 2, 3
OFPET_BAD_REQUEST, OFPBRC_IS_SLAVE = 1, 10
OFPET_ROLE_REQUEST_FAILED, OFPRRFC_STALE = 11, 0
U64 = (1 << 64) - 1
DPID = 0xA1
WAIT = 10.0                 # s for anything the switch should do promptly
STATUS_WAIT = 8.0           # s for Controller rows (ovs-vswitchd refreshes them every 5 s)


class OsKenApp:
    """The os-ken subprocess: commands in on stdin, observations out as JSON lines."""

    def __init__(self, folder: str):
        self.proc = subprocess.Popen([sys.executable, "-W", "ignore", APP], cwd=folder,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     stderr=open(os.path.join(folder, "osken.err"), "w"))
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.ports = self.wait("listening")

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def wait(self, ev: str, timeout: float = WAIT, where=lambda e: True, **fields) -> dict:
        """The first not yet taken observation `ev` whose fields include `fields`."""
        def match(e):
            return e["ev"] == ev and all(e.get(k) == v for k, v in fields.items()) and where(e)
        for e in self.seen:
            if match(e):
                self.seen.remove(e)
                return e
        deadline = time.monotonic() + timeout
        while True:
            try:
                e = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {ev} {fields} within {timeout} s; unclaimed: {self.seen}")
            assert e is not None, f"os-ken app exited waiting for {ev} {fields}"
            if match(e):
                return e
            self.seen.append(e)

    def drain(self) -> list[dict]:
        """Everything observed so far and not yet taken."""
        while True:
            try:
                e = self.lines.get_nowait()
            except queue.Empty:
                break
            if e is not None:
                self.seen.append(e)
        out, self.seen = self.seen, []
        return out

    def cmd(self, cmd: str, conn: str = "main", **args) -> None:
        self.proc.stdin.write(json.dumps(dict(cmd=cmd, conn=conn, **args)) + "\n")
        self.proc.stdin.flush()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture(params=["ours", "ref"])
def stack(request, short_tmp):
    """Our OVSDB server, a switch daemon (ours or ovs-vswitchd), br0 with p1 and p2, os-ken."""
    server = OvsdbServer("ours", os.path.join(short_tmp, "s"))
    started = [server]
    try:
        server.start()
        server.vsctl("--no-wait", "init", check=True)
        started.append(Switchd(request.param, server).start())
        server.vsctl("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=dummy",
                     "fail-mode=secure", "protocols=OpenFlow13",
                     f"other-config:datapath-id={DPID:016x}",
                     "--", "add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=dummy",
                     "ofport_request=1",
                     "--", "add-port", "br0", "p2", "--", "set", "Interface", "p2", "type=dummy",
                     "ofport_request=2", check=True)
        app = OsKenApp(server.folder)
        started.append(app)
        yield server, app
    finally:
        for thing in reversed(started):
            thing.stop()


def mac_in_use(server, iface: str) -> str:
    return server.vsctl("get", "Interface", iface, "mac_in_use", check=True).stdout.strip().strip('"')


def controllers(server) -> dict[str, dict]:
    """Controller rows by target: is_connected, role, status (as ovs-vsctl prints them)."""
    r = server.vsctl("--format=json", "--columns=target,is_connected,role,status", "list",
                     "Controller", check=True)
    out = {}
    for target, connected, role, status in json.loads(r.stdout)["data"]:
        out[target] = dict(is_connected=connected, role=role if isinstance(role, str) else None,
                           status=dict(status[1]))
    return out


def wait_controllers(server, want) -> dict:
    deadline = time.monotonic() + STATUS_WAIT
    while True:
        rows = controllers(server)
        if want(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def dump_flows(server) -> list[str]:
    r = server.run("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br0", check=True)
    drop = re.compile(r"(cookie|duration|n_packets|n_bytes|reset_counts)=?[^ ,]*,? ?")
    return sorted(drop.sub("", line).strip().rstrip(",") for line in r.stdout.splitlines()[1:])


def test_osken_controller(stack):
    server, app = stack
    main, second = (f"tcp:127.0.0.1:{app.ports[n]}" for n in ("main", "second"))
    server.vsctl("set-controller", "br0", main, check=True)

    # Handshake: FEATURES, then PORT_DESC (os-ken's ofp_handler asks for it).
    f = app.wait("features", conn="main")
    assert (f["version"], f["dpid"], f["n_tables"], f["n_buffers"], f["auxiliary_id"]) == \
        (4, DPID, 254, 0, 0)
    ports = {p["port_no"]: p for p in app.wait("port_desc", conn="main")["body"]}
    assert {n: p["name"] for n, p in ports.items()} == {1: "p1", 2: "p2", OFPP_LOCAL: "br0"}
    for n, name in ((1, "p1"), (2, "p2"), (OFPP_LOCAL, "br0")):
        assert ports[n]["hw_addr"] == mac_in_use(server, name)
        assert (ports[n]["config"], ports[n]["state"]) == (0, OFPPS_LIVE)
    app.wait("connected", conn="main", dpid=DPID)

    # Port changes become PORT_STATUS.  ovs-vswitchd reports a new port with state 0, then
    # a MODIFY when it goes live, and a port brought down in two MODIFYs (config, then
    # state); we send the final state at once.  Both end the same.
    port = lambda n, **want: lambda e: e["desc"]["port_no"] == n and all(
        e["desc"][k] == v for k, v in want.items())
    server.vsctl("add-port", "br0", "p3", "--", "set", "Interface", "p3", "type=dummy",
                 "ofport_request=3", check=True)
    e = app.wait("port_status", conn="main", reason=OFPPR_ADD)
    assert (e["desc"]["port_no"], e["desc"]["name"]) == (3, "p3")
    assert e["desc"]["hw_addr"] == mac_in_use(server, "p3")
    if e["desc"]["state"] != OFPPS_LIVE:
        app.wait("port_status", conn="main", reason=OFPPR_MODIFY, where=port(3, state=OFPPS_LIVE))
    server.run("ovs-ofctl", "-O", "OpenFlow13", "mod-port", "br0", "p1", "down", check=True)
    app.wait("port_status", conn="main", reason=OFPPR_MODIFY,
             where=port(1, config=OFPPC_PORT_DOWN, state=OFPPS_LINK_DOWN))
    server.vsctl("del-port", "br0", "p2", check=True)
    e = app.wait("port_status", conn="main", reason=OFPPR_DELETE)
    assert (e["desc"]["port_no"], e["desc"]["name"]) == (2, "p2")

    # The first controller takes mastership as OpenDaylight does: ROLE_REQUEST NOCHANGE
    # with generation id 0 reads the current id, then MASTER with id+1.
    app.cmd("odl_role")
    r = app.wait("role_reply", conn="main")
    assert r["role"] == ROLE_EQUAL
    r = app.wait("role_reply", conn="main")
    gen = r["generation_id"]
    assert r["role"] == ROLE_MASTER

    # Flows: installed, acknowledged by the barrier, visible to ovs-ofctl.
    app.cmd("install_flows")
    xid = app.wait("sent", what="flows")["xid"]
    app.wait("barrier", conn="main", xid=xid)
    assert dump_flows(server) == sorted([
        "table=0, priority=0 actions=CONTROLLER:65535",
        "table=0, priority=10,in_port=1,dl_dst=00:00:00:00:00:03 actions=output:3",
        "table=0, priority=10,in_port=3,dl_dst=00:00:00:00:00:01 actions=output:1",
        "table=0, priority=5,ip actions=goto_table:1",
        "table=1, priority=20,dl_dst=00:00:00:00:00:03 actions=output:3",
        "table=1, priority=0 actions=drop",
    ])

    # gauge's poll.
    app.cmd("stats")
    flows = app.wait("flow_stats", conn="main")["body"]
    assert sorted((s["table_id"], s["priority"], json.dumps(s["match"], sort_keys=True))
                  for s in flows) == [
        (0, 0, "{}"),
        (0, 5, '{"eth_type": 2048}'),
        (0, 10, '{"eth_dst": "00:00:00:00:00:01", "in_port": 3}'),
        (0, 10, '{"eth_dst": "00:00:00:00:00:03", "in_port": 1}'),
        (1, 0, "{}"),
        (1, 20, '{"eth_dst": "00:00:00:00:00:03"}'),
    ]
    for s in flows:
        assert (s["packet_count"], s["byte_count"], s["cookie"]) == (0, 0, 0)
        assert (s["idle_timeout"], s["hard_timeout"]) == (0, 0)
        assert 0 <= s["duration_sec"] < 60
    assert any("OFPInstructionGotoTable" in i and "table_id=1" in i
               for s in flows for i in s["instructions"])
    stats = {s["port_no"]: s for s in app.wait("port_stats", conn="main")["body"]}
    assert set(stats) == {1, 3, OFPP_LOCAL}
    for s in stats.values():
        assert 0 <= s["duration_sec"] < 60
        for k in ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes"):
            assert s[k] in (0, U64), (s["port_no"], k, s[k])   # nothing sent yet; U64: n/a

    # The first controller is reported connected (bridge.c refresh_controller_status).
    rows = wait_controllers(server, lambda r: r[main]["role"] == "master")
    assert rows[main]["is_connected"] is True and rows[main]["role"] == "master"
    assert rows[main]["status"]["state"] == "ACTIVE"
    assert int(rows[main]["status"]["sec_since_connect"]) >= 0

    # A second controller: the first keeps its connection.
    server.vsctl("set-controller", "br0", main, second, check=True)
    app.wait("features", conn="second")
    app.wait("connected", conn="second", dpid=DPID)

    # OpenDaylight's mastership handshake on the second: NOCHANGE reads the generation
    # id, MASTER with id+1 is accepted; the first (master until now) is demoted to slave.
    app.cmd("odl_role", conn="second")
    r = app.wait("role_reply", conn="second")
    assert (r["role"], r["generation_id"]) == (ROLE_EQUAL, gen)
    r = app.wait("role_reply", conn="second")
    assert (r["role"], r["generation_id"]) == (ROLE_MASTER, (gen + 1) & U64)
    s = app.wait("role_status", conn="main")          # ONF 1911: OF1.3's ROLE_STATUS
    assert (s["role"], s["reason"], s["generation_id"]) == (ROLE_SLAVE, 0, (gen + 1) & U64)
    # The first, now slave: writes refused; its old (smaller) generation id is stale.
    app.cmd("flow_mod", conn="main")
    xid = app.wait("sent", what="flow_mod")["xid"]
    e = app.wait("error", conn="main", xid=xid)
    assert (e["type"], e["code"]) == (OFPET_BAD_REQUEST, OFPBRC_IS_SLAVE)
    app.cmd("role", conn="main", role=ROLE_MASTER, generation_id=gen)
    xid = app.wait("sent", what="role", conn="main")["xid"]
    e = app.wait("error", conn="main", xid=xid)
    assert (e["type"], e["code"]) == (OFPET_ROLE_REQUEST_FAILED, OFPRRFC_STALE)
    assert not [f for f in dump_flows(server) if "priority=100" in f]

    rows = wait_controllers(server, lambda r: r.get(second, {}).get("role") == "master"
                            and r[main]["role"] == "slave")
    assert rows[main]["is_connected"] and rows[second]["is_connected"]
    assert (rows[main]["role"], rows[second]["role"]) == ("slave", "master")

    # Nothing else went wrong: no errors, no reconnection of the first controller.
    rest = app.drain()
    assert not [e for e in rest if e["ev"] in ("error", "disconnected", "connected",
                                               "bad_command", "command_failed")], rest

    # The controllers go away: the rows say so (rconn's state, last error, times).
    app.stop()
    rows = wait_controllers(server, lambda r: not any(c["is_connected"] for c in r.values())
                            and all("sec_since_disconnect" in c["status"] for c in r.values()))
    for c in rows.values():
        assert (c["is_connected"], c["role"]) == (False, None)
        assert c["status"]["state"] in ("BACKOFF", "CONNECTING")
        assert c["status"]["last_error"] in ("Connection refused", "End of file")
        assert "sec_since_connect" in c["status"]
