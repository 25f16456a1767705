"""connmgr's controller status (the Controller row's is_connected/role/status) and SSL targets."""
import errno

import trio

from ofproto import bridge as bridge_mod
from ofproto import connmgr


def test_error_text_finds_the_errno_under_trios_wrapper():
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed")
    wrapper = OSError("all attempts to connect to 127.0.0.1:1 failed")
    wrapper.__cause__ = ExceptionGroup("attempts", [refused])
    assert connmgr._error_text(wrapper) == "Connection refused"
    assert connmgr._error_text(OSError("odd")) == "odd"


async def test_controller_status_as_ovs_writes_it():
    br = bridge_mod.Bridge(bridge_mod.BridgeConfig(uuid="u", name="br0"))
    mgr = connmgr.BridgeConnMgr(br, "/nonexistent")
    assert mgr.controller_status("tcp:127.0.0.1:1", 0.0) == (False, None, {})
    st = mgr.controllers["tcp:127.0.0.1:1"] = connmgr.ControllerState(
        bridge_mod.ControllerInfo("tcp:127.0.0.1:1"))
    st.state, st.last_error, st.last_connection, st.last_disconnect = "BACKOFF", "End of file", 1.0, 7.5
    assert mgr.controller_status("tcp:127.0.0.1:1", 10.0) == (False, None, {
        "state": "BACKOFF", "last_error": "End of file", "sec_since_connect": "9",
        "sec_since_disconnect": "2"})
    conn = mgr.ofproto.new_conn(primary=True, now=trio.current_time())
    st.conn, st.state = conn, "ACTIVE"
    assert mgr.controller_status("tcp:127.0.0.1:1", 10.0)[:2] == (True, "other")
    st.active = False                       # passive targets: nothing, as OVS
    assert mgr.controller_status("tcp:127.0.0.1:1", 10.0) == (False, None, {})


def test_ssl_targets_default_to_the_openflow_port():
    assert connmgr.parse_target("ssl:10.0.0.1") == ("ssl", "10.0.0.1", 6653, True)
    assert connmgr.parse_target("ssl:10.0.0.1:6633") == ("ssl", "10.0.0.1", 6633, True)
    assert connmgr.parse_target("pssl:") == ("pssl", "", 6653, False)
    assert connmgr.parse_target("pssl:6634:127.0.0.1") == ("pssl", "127.0.0.1", 6634, False)
    assert connmgr._server_name("10.0.0.1") is None and connmgr._server_name("ctl.example") == "ctl.example"


async def test_ssl_without_files_is_protocol_not_available():
    br = bridge_mod.Bridge(bridge_mod.BridgeConfig(uuid="u", name="br0"))
    for ssl in (None, bridge_mod.SSLConfig(private_key="k.pem", certificate="c.pem"),
                bridge_mod.SSLConfig("/nonexistent/k", "/nonexistent/c", "/nonexistent/ca"),
                bridge_mod.SSLConfig("k", "c", "/nonexistent/ca", bootstrap_ca_cert=True)):
        mgr = connmgr.BridgeConnMgr(br, "/nonexistent", ssl=ssl)
        try:
            mgr._ssl_context(False)
        except OSError as e:
            assert e.errno == errno.ENOPROTOOPT
            assert connmgr._error_text(e) == "Protocol not available"     # Controller.status
        else:
            raise AssertionError(f"{ssl}: no error")


async def test_new_ssl_files_restart_only_the_ssl_controllers():
    br = bridge_mod.Bridge(bridge_mod.BridgeConfig(uuid="u", name="br0"))
    br.controllers = [bridge_mod.ControllerInfo("tcp:127.0.0.1:1"),
                      bridge_mod.ControllerInfo("ssl:127.0.0.1:1"),
                      bridge_mod.ControllerInfo("pssl:0:127.0.0.1")]
    mgr = connmgr.BridgeConnMgr(br, "/nonexistent")
    async with trio.open_nursery() as n:
        mgr._nursery = n
        mgr._start_controllers()
        before = dict(mgr.controllers)
        mgr.set_ssl(None)                                   # no change: nothing restarts
        assert mgr.controllers == before
        mgr.set_ssl(bridge_mod.SSLConfig("k.pem", "c.pem", "ca.pem"))
        assert mgr.controllers["tcp:127.0.0.1:1"] is before["tcp:127.0.0.1:1"]
        for t in ("ssl:127.0.0.1:1", "pssl:0:127.0.0.1"):
            assert mgr.controllers[t] is not before[t] and before[t].scope.cancel_called
        n.cancel_scope.cancel()
