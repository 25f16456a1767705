"""Our os-ken application, run as a subprocess: a controller that reports what it sees.

Usage: ``python3 -W ignore interop/osken_app.py`` (no arguments).  os-ken runs on
eventlet, so it lives in its own process, away from pytest and trio.

Theory of operation
-------------------
The runner opens two OpenFlow 1.3 listeners on 127.0.0.1 (ports chosen by the
kernel) and prints ``{"ev": "listening", "main": PORT, "second": PORT}``.  A
switch connection is named after the listener it came in on: ``main`` plays
the controller (and gauge's statistics poller), ``second`` plays
OpenDaylight's mastership handshake.

Output: one JSON object per line on stdout, ``{"ev": NAME, "conn": ..., ...}``
for every message the application observes (features, port_desc,
port_status, flow_stats, port_stats, role_reply, role_status, error,
barrier, disconnected ...).  Multipart replies are joined before they are
reported.

Input: one JSON command per line on stdin, ``{"cmd": NAME, "conn": "main"}``:

* ``install_flows``: table 0 table-miss to CONTROLLER, two L2 flows, an IPv4
  flow with goto_table:1, and in table 1 an L2 flow and a drop table-miss;
  then a BARRIER (reported as ``barrier`` with ``tag`` "flows").
* ``stats``: gauge's poll: OFPMP_FLOW for all tables and OFPMP_PORT_STATS for
  OFPP_ANY.
* ``odl_role``: ROLE_REQUEST NOCHANGE generation 0; on the reply, MASTER
  with generation+1 (OpenDaylight's openflowplugin does exactly this).
* ``role``: ROLE_REQUEST with the given ``role`` and ``generation_id``.
* ``flow_mod``: one ADD (a write a slave must be refused).
* ``port_desc``: OFPMP_PORT_DESC again.
Unknown commands are answered with ``{"ev": "bad_command"}``.
"""
import json
import os
import sys
import warnings

warnings.simplefilter("ignore")

from os_ken import cfg                                         # noqa: E402
from os_ken.base import app_manager                            # noqa: E402
from os_ken.controller import controller, ofp_event, ofp_handler           # noqa: E402
from os_ken.controller.handler import (CONFIG_DISPATCHER, DEAD_DISPATCHER,  # noqa: E402
                                       MAIN_DISPATCHER, set_ev_cls)
from os_ken.lib import hub                                     # noqa: E402
from os_ken.ofproto import ofproto_v1_3                        # noqa: E402

LISTENERS: dict[int, str] = {}                 # local port -> connection name
ANY_DISPATCHER = [CONFIG_DISPATCHER, MAIN_DISPATCHER]
ONF_EXPERIMENTER = 0x4F4E4600                  # ONF's experimenter id
ONFT_ROLE_STATUS = 1911                        # ROLE_STATUS for OF1.3 (ONF extension 1911)


def emit(ev: str, **fields) -> None:
    sys.stdout.write(json.dumps(dict(ev=ev, **fields), sort_keys=True) + "\n")
    sys.stdout.flush()


def conn_name(dp) -> str:
    try:
        return LISTENERS.get(dp.socket.getsockname()[1], "?")
    except OSError:
        return "?"


def port_json(p) -> dict:
    return dict(port_no=p.port_no, name=p.name.decode() if isinstance(p.name, bytes) else p.name,
                hw_addr=p.hw_addr, config=p.config, state=p.state, curr_speed=p.curr_speed)


class Observer(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dps: dict[str, object] = {}
        self.partial: dict[tuple, list] = {}    # (conn, kind) -> multipart bodies so far
        self.odl_xid: dict[int, str] = {}       # xid of the NOCHANGE request -> conn

    # ------------------------------------------------------------ what we observe
    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def state_change(self, ev):
        dp, name = ev.datapath, conn_name(ev.datapath)
        if ev.state == MAIN_DISPATCHER:
            self.dps[name] = dp
            emit("connected", conn=name, dpid=dp.id)
        elif self.dps.get(name) is dp:
            del self.dps[name]
            emit("disconnected", conn=name)

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def features(self, ev):
        m = ev.msg
        emit("features", conn=conn_name(m.datapath), version=m.version, dpid=m.datapath_id,
             n_buffers=m.n_buffers, n_tables=m.n_tables, auxiliary_id=m.auxiliary_id,
             capabilities=m.capabilities)

    def _multipart(self, ev, kind, convert):
        m = ev.msg
        name = conn_name(m.datapath)
        bodies = self.partial.setdefault((name, kind), [])
        bodies.extend(convert(b) for b in m.body)
        if not m.flags & m.datapath.ofproto.OFPMPF_REPLY_MORE:
            del self.partial[(name, kind)]
            emit(kind, conn=name, body=bodies)

    @set_ev_cls(ofp_event.EventOFPPortDescStatsReply, ANY_DISPATCHER)
    def port_desc(self, ev):
        self._multipart(ev, "port_desc", port_json)

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def port_status(self, ev):
        m = ev.msg
        emit("port_status", conn=conn_name(m.datapath), reason=m.reason, desc=port_json(m.desc))

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, MAIN_DISPATCHER)
    def flow_stats(self, ev):
        self._multipart(ev, "flow_stats", lambda s: dict(
            table_id=s.table_id, priority=s.priority, cookie=s.cookie, flags=s.flags,
            idle_timeout=s.idle_timeout, hard_timeout=s.hard_timeout,
            duration_sec=s.duration_sec, packet_count=s.packet_count, byte_count=s.byte_count,
            match=dict(s.match.items()), instructions=[str(i) for i in s.instructions]))

    @set_ev_cls(ofp_event.EventOFPPortStatsReply, MAIN_DISPATCHER)
    def port_stats(self, ev):
        self._multipart(ev, "port_stats", lambda s: dict(
            port_no=s.port_no, rx_packets=s.rx_packets, tx_packets=s.tx_packets,
            rx_bytes=s.rx_bytes, tx_bytes=s.tx_bytes, rx_dropped=s.rx_dropped,
            tx_dropped=s.tx_dropped, rx_errors=s.rx_errors, duration_sec=s.duration_sec))

    @set_ev_cls(ofp_event.EventOFPRoleReply, MAIN_DISPATCHER)
    def role_reply(self, ev):
        m = ev.msg
        name = conn_name(m.datapath)
        emit("role_reply", conn=name, role=m.role, generation_id=m.generation_id, xid=m.xid)
        if self.odl_xid.pop(m.xid, None) == name:
            # OpenDaylight: the current generation id read, claim mastership with id+1.
            gen = (m.generation_id + 1) & 0xFFFFFFFFFFFFFFFF
            self._role(m.datapath, m.datapath.ofproto.OFPCR_ROLE_MASTER, gen)

    @set_ev_cls(ofp_event.EventOFPExperimenter, MAIN_DISPATCHER)
    def experimenter(self, ev):
        m = ev.msg
        fields = dict(conn=conn_name(m.datapath), experimenter=m.experimenter,
                      exp_type=m.exp_type, data=bytes(m.data).hex())
        if m.experimenter == ONF_EXPERIMENTER and m.exp_type == ONFT_ROLE_STATUS:
            data = bytes(m.data)     # role (4), reason (1), pad (3), generation id (8)
            fields.update(role=int.from_bytes(data[0:4], "big"), reason=data[4],
                          generation_id=int.from_bytes(data[8:16], "big"))
            emit("role_status", **fields)
        else:
            emit("experimenter", **fields)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, ANY_DISPATCHER)
    def error(self, ev):
        m = ev.msg
        emit("error", conn=conn_name(m.datapath), type=m.type, code=m.code, xid=m.xid)

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def barrier(self, ev):
        m = ev.msg
        emit("barrier", conn=conn_name(m.datapath), xid=m.xid)

    # ------------------------------------------------------------ what we do
    def _send(self, dp, msg) -> int:
        dp.set_xid(msg)
        dp.send_msg(msg)
        return msg.xid

    def _role(self, dp, role, gen) -> int:
        return self._send(dp, dp.ofproto_parser.OFPRoleRequest(dp, role, gen))

    def _flow(self, dp, table_id=0, priority=0, match=None, inst=()):
        p = dp.ofproto_parser
        return self._send(dp, p.OFPFlowMod(dp, table_id=table_id, priority=priority,
                                           match=match or p.OFPMatch(), instructions=list(inst)))

    def install_flows(self, dp) -> None:
        ofp, p = dp.ofproto, dp.ofproto_parser
        apply = lambda *acts: p.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, list(acts))
        to_ctl = p.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)
        self._flow(dp, 0, 0, inst=[apply(to_ctl)])                               # table-miss
        self._flow(dp, 0, 10, p.OFPMatch(in_port=1, eth_dst="00:00:00:00:00:03"),
                   [apply(p.OFPActionOutput(3))])
        self._flow(dp, 0, 10, p.OFPMatch(in_port=3, eth_dst="00:00:00:00:00:01"),
                   [apply(p.OFPActionOutput(1))])
        self._flow(dp, 0, 5, p.OFPMatch(eth_type=0x0800), [p.OFPInstructionGotoTable(1)])
        self._flow(dp, 1, 20, p.OFPMatch(eth_dst="00:00:00:00:00:03"),
                   [apply(p.OFPActionOutput(3))])
        self._flow(dp, 1, 0)                                                     # drop
        emit("sent", what="flows", conn=conn_name(dp),
             xid=self._send(dp, p.OFPBarrierRequest(dp)))

    def command(self, c: dict) -> None:
        dp = self.dps.get(c.get("conn", "main"))
        if dp is None:
            emit("bad_command", why="not connected", cmd=c)
            return
        ofp, p = dp.ofproto, dp.ofproto_parser
        what = c["cmd"]
        if what == "install_flows":
            self.install_flows(dp)
        elif what == "stats":
            self._send(dp, p.OFPFlowStatsRequest(dp, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY,
                                                 ofp.OFPG_ANY, 0, 0, p.OFPMatch()))
            self._send(dp, p.OFPPortStatsRequest(dp, 0, ofp.OFPP_ANY))
        elif what == "odl_role":
            xid = self._role(dp, ofp.OFPCR_ROLE_NOCHANGE, 0)
            self.odl_xid[xid] = c.get("conn", "main")
        elif what == "role":
            xid = self._role(dp, c["role"], c["generation_id"])
            emit("sent", what="role", conn=c.get("conn", "main"), xid=xid)
        elif what == "flow_mod":
            xid = self._flow(dp, 0, 100, p.OFPMatch(in_port=1), [])
            emit("sent", what="flow_mod", conn=c.get("conn", "main"), xid=xid)
        elif what == "port_desc":
            self._send(dp, p.OFPPortDescStatsRequest(dp, 0))
        else:
            emit("bad_command", why="unknown", cmd=c)


def read_commands(app: Observer) -> None:
    """Commands from stdin, read without blocking the eventlet hub."""
    from eventlet.hubs import trampoline
    fd, buf = sys.stdin.fileno(), b""
    os.set_blocking(fd, False)
    while True:
        trampoline(fd, read=True)
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            continue
        if not data:
            os._exit(0)                         # the test went away: so do we
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                try:
                    app.command(json.loads(line))
                except Exception as e:          # report, keep serving
                    emit("command_failed", cmd=line.decode(), why=repr(e))


def main() -> None:
    cfg.CONF(args=[], project="os_ken")
    # os-ken's OpenFlow handler would open its own listener on 6653/6633: keep the handler
    # (handshake, echo, port bookkeeping) and open our two listeners below instead.
    ofp_handler.OFPHandler.start = app_manager.OSKenApp.start
    mgr = app_manager.AppManager.get_instance()
    mgr.load_apps([__name__, "os_ken.controller.ofp_handler"])
    services = mgr.instantiate_apps(**mgr.create_contexts())
    ports = {}
    for name in ("main", "second"):
        server = hub.StreamServer(("127.0.0.1", 0), controller.datapath_connection_factory)
        port = server.server.getsockname()[1]
        LISTENERS[port] = name
        ports[name] = port
        services.append(hub.spawn(server.serve_forever))
    app = next(a for a in mgr.applications.values() if isinstance(a, Observer))
    services.append(hub.spawn(read_commands, app))
    emit("listening", **ports)
    hub.joinall(services)


if __name__ == "__main__":
    main()
