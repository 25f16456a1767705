"""SSL controller targets (``ssl:``, ``pssl:``) of the switch daemon, ours against ovs-vswitchd.

A session-scoped PKI (``make_pki``: a CA with a "server" and a "client"
certificate, and a second CA with its own) stands in for ovs-pki.  The switch
takes its files from the SSL row (``ovs-vsctl set-ssl``) or from
``--private-key``/``--certificate``/``--ca-cert``; both ends of every
connection present a certificate and require the peer's to be signed by
their CA.

* passive ``pssl:PORT:127.0.0.1``: stock ``ovs-ofctl`` with a client
  certificate runs show / add-flow / dump-flows over SSL; a client whose
  certificate another CA signed is refused and the switch keeps serving;
* active ``ssl:127.0.0.1:PORT``: a small TLS controller in this process
  (`TlsController`) accepts the switch, exchanges HELLO and
  FEATURES_REQUEST/REPLY, and the Controller row shows ``is_connected``; a
  controller certificate from the other CA is refused by the switch;
* without any SSL configuration an ``ssl:`` target fails with "Protocol not
  available" in Controller.status and a ``pssl:`` one drops its clients, as
  ovs-vswitchd (observed: the same status, state BACKOFF);
* ours only: the command line's files are used until an SSL row exists,
  whose files then win, and changing them reconnects the controller with
  the new certificate (ovs-vswitchd keeps a live connection and uses new
  files from its next one).

Everything runs against our OVSDB server; parametrized tests run the same
steps against ovs-vswitchd, which keeps the expectations honest.
"""
from __future__ import annotations

import os
import queue
import socket
import ssl
import struct
import threading
import time

import pytest

import interop.test_vswitchd_config as vswitchd_config
from interop.conftest import requires_ovs
from interop.harness import OvsdbServer
from interop.test_controller import controllers, wait_controllers
from interop.test_ovsdb_server_daemon import free_port, make_pki
from interop.test_vswitchd_config import Switchd

pytestmark = [pytest.mark.slow, pytest.mark.needs_ovs, requires_ovs]

OFPT_HELLO, OFPT_ECHO_REQUEST, OFPT_ECHO_REPLY = 0, 2, 3
OFPT_FEATURES_REQUEST, OFPT_FEATURES_REPLY = 5, 6
OFP10 = 1
DPID = 0x5511
WAIT = 15.0


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """Our CA's files and, under "other", those of a CA the switch does not trust."""
    ours = str(tmp_path_factory.mktemp("pki"))
    other = os.path.join(ours, "other")
    os.mkdir(other)
    return dict(make_pki(ours), other=make_pki(other))


@pytest.fixture
def switch(short_tmp, monkeypatch):
    """start(impl, *switch_args): our OVSDB server, a switch daemon and br0 (OF1.0, two ports)."""
    started = []

    def start(impl="ours", *switch_args):
        server = OvsdbServer("ours", os.path.join(short_tmp, impl))
        started.append(server)
        server.start()
        server.vsctl("--no-wait", "init", check=True)
        base = vswitchd_config.our_vswitchd()
        monkeypatch.setattr(vswitchd_config, "our_vswitchd", lambda: base + list(switch_args))
        started.append(Switchd(impl, server).start())
        server.vsctl("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=dummy",
                     "fail-mode=secure", f"other-config:datapath-id={DPID:016x}",
                     "--", "add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=dummy",
                     "ofport_request=1",
                     "--", "add-port", "br0", "p2", "--", "set", "Interface", "p2", "type=dummy",
                     "ofport_request=2", check=True)
        return server

    yield start
    for thing in reversed(started):
        thing.stop()


def ofctl_ssl(server, pki_files, *args, key="ckey", cert="ccert", ca=None):
    return server.run("ovs-ofctl", f"--private-key={pki_files[key]}",
                      f"--certificate={pki_files[cert]}", f"--ca-cert={ca or pki_files['ca']}",
                      "--timeout=5", *args)


def wait_listening(port):
    deadline = time.monotonic() + WAIT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on {port}"
            time.sleep(0.1)


def msg(version, type_, xid, body=b""):
    return struct.pack("!BBHI", version, type_, 8 + len(body), xid) + body


class TlsController:
    """A one-port OpenFlow 1.0 controller over TLS (stdlib ssl, in threads).

    Every accepted connection: TLS handshake (the switch's certificate must be
    signed by `ca`), HELLO both ways, FEATURES_REQUEST; what it saw goes to
    `events` as ("connected", peer CN, datapath id) or ("refused", reason).
    Echo requests are answered so the switch keeps the connection."""

    def __init__(self, key, cert, ca):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.load_verify_locations(ca)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.events: queue.Queue = queue.Queue()
        self.stopped = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                raw, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(raw)
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        raw.settimeout(WAIT)
        try:
            conn = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.events.put(("refused", str(e)))
            raw.close()
            return
        self.conns.append(conn)
        try:
            peer = dict(x[0] for x in conn.getpeercert()["subject"])["commonName"]
            conn.sendall(msg(OFP10, OFPT_HELLO, 1))
            conn.sendall(msg(OFP10, OFPT_FEATURES_REQUEST, 2))
            buf = b""
            while not self.stopped.is_set():
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while len(buf) >= 8:
                    version, type_, length, xid = struct.unpack("!BBHI", buf[:8])
                    if len(buf) < length:
                        break
                    body, buf = buf[8:length], buf[length:]
                    if type_ == OFPT_ECHO_REQUEST:
                        conn.sendall(msg(version, OFPT_ECHO_REPLY, xid, body))
                    elif type_ == OFPT_FEATURES_REPLY:
                        self.events.put(("connected", peer, struct.unpack("!Q", body[:8])[0]))
        except OSError:
            return

    def wait(self, timeout=WAIT):
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("the switch did not connect")

    def stop(self):
        self.stopped.set()
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


@pytest.fixture
def tls_controller():
    made = []

    def make(key, cert, ca):
        c = TlsController(key, cert, ca)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


def set_ssl(server, pki_files, key="skey", cert="scert"):
    server.vsctl("set-ssl", pki_files[key], pki_files[cert], pki_files["ca"], check=True)


@pytest.mark.parametrize("impl", ["ours", "ref"])
def test_pssl_serves_ovs_ofctl_and_refuses_other_ca(switch, pki, impl):
    server = switch(impl)
    set_ssl(server, pki)
    port = free_port()
    target = f"ssl:127.0.0.1:{port}"
    server.vsctl("set-controller", "br0", f"pssl:{port}:127.0.0.1", check=True)
    wait_listening(port)

    r = ofctl_ssl(server, pki, "show", target)
    assert r.returncode == 0, r.stderr
    assert f"dpid:{DPID:016x}" in r.stdout and "1(p1)" in r.stdout
    r = ofctl_ssl(server, pki, "add-flow", target, "priority=7,in_port=1,actions=output:2")
    assert r.returncode == 0, r.stderr
    r = ofctl_ssl(server, pki, "dump-flows", target)
    assert r.returncode == 0 and "priority=7,in_port=1 actions=output:2" in r.stdout, r
    # The same flow table behind the bridge's management socket.
    assert "priority=7,in_port=1 actions=output:2" in server.run("ovs-ofctl", "dump-flows", "br0").stdout

    # A certificate signed by another CA (the client itself trusts the switch) is refused...
    other = pki["other"]
    r = server.run("ovs-ofctl", f"--private-key={other['ckey']}", f"--certificate={other['ccert']}",
                   f"--ca-cert={pki['ca']}", "--timeout=5", "show", target)
    assert r.returncode != 0 and "FEATURES_REPLY" not in r.stdout
    # ... and so is a switch certificate the client cannot verify.
    r = ofctl_ssl(server, pki, "show", target, ca=other["ca"])
    assert r.returncode != 0
    # The listener still serves trusted clients.
    r = ofctl_ssl(server, pki, "dump-flows", target)
    assert r.returncode == 0 and "priority=7,in_port=1" in r.stdout, r.stderr
    assert controllers(server)[f"pssl:{port}:127.0.0.1"] == dict(is_connected=False, role=None,
                                                                 status={})


@pytest.mark.parametrize("impl", ["ours", "ref"])
def test_active_ssl_controller_connects(switch, pki, tls_controller, impl):
    server = switch(impl)
    set_ssl(server, pki)
    ctl = tls_controller(pki["ckey"], pki["ccert"], pki["ca"])
    target = f"ssl:127.0.0.1:{ctl.port}"
    server.vsctl("set-controller", "br0", target, check=True)
    assert ctl.wait() == ("connected", "server", DPID)
    r = server.vsctl(f"--timeout={int(WAIT)}", "wait-until", "Controller", "br0", "is_connected=true")
    assert r.returncode == 0, r.stderr
    row = controllers(server)[target]
    assert row["role"] == "other" and row["status"]["state"] == "ACTIVE"


@pytest.mark.parametrize("impl", ["ours", "ref"])
def test_switch_refuses_controller_of_other_ca(switch, pki, tls_controller, impl):
    server = switch(impl)
    set_ssl(server, pki)
    other = pki["other"]
    # The controller would accept the switch; the switch must not accept the controller.
    ctl = tls_controller(other["skey"], other["scert"], pki["ca"])
    target = f"ssl:127.0.0.1:{ctl.port}"
    server.vsctl("set-controller", "br0", target, check=True)
    assert ctl.wait()[0] == "refused"
    rows = wait_controllers(server, lambda rows: rows[target]["status"].get("last_error"))
    # A failed handshake is a disconnection for rconn (the TCP connection was made).
    assert int(rows[target]["status"].pop("sec_since_disconnect")) >= 0
    assert rows[target] == dict(is_connected=False, role=None,
                                status={"state": "BACKOFF", "last_error": "Protocol error"})


@pytest.mark.parametrize("impl", ["ours", "ref"])
def test_ssl_targets_without_ssl_configuration(switch, pki, impl):
    server = switch(impl)
    port, pport = free_port(), free_port()
    server.vsctl("set-controller", "br0", f"ssl:127.0.0.1:{port}", f"pssl:{pport}:127.0.0.1",
                 check=True)
    rows = wait_controllers(server, lambda rows: rows[f"ssl:127.0.0.1:{port}"]["status"]
                            .get("last_error"))
    assert rows == {
        f"ssl:127.0.0.1:{port}": dict(is_connected=False, role=None,
                                      status={"state": "BACKOFF",
                                              "last_error": "Protocol not available"}),
        f"pssl:{pport}:127.0.0.1": dict(is_connected=False, role=None, status={}),
    }
    # pssl: listens anyway and drops each client; the bridge keeps working.
    wait_listening(pport)
    assert ofctl_ssl(server, pki, "show", f"ssl:127.0.0.1:{pport}").returncode != 0
    assert server.run("ovs-ofctl", "show", "br0").returncode == 0


def test_command_line_files_then_ssl_row_wins_and_reconnects(switch, pki, tls_controller):
    server = switch("ours", f"--private-key={pki['skey']}", f"--certificate={pki['scert']}",
                    f"--ca-cert={pki['ca']}")
    ctl = tls_controller(pki["skey"], pki["scert"], pki["ca"])
    server.vsctl("set-controller", "br0", f"ssl:127.0.0.1:{ctl.port}", check=True)
    assert ctl.wait() == ("connected", "server", DPID)
    # The SSL row replaces the command line's files: the switch reconnects as "client".
    set_ssl(server, pki, key="ckey", cert="ccert")
    assert ctl.wait() == ("connected", "client", DPID)
    r = server.vsctl(f"--timeout={int(WAIT)}", "wait-until", "Controller", "br0", "is_connected=true")
    assert r.returncode == 0, r.stderr
