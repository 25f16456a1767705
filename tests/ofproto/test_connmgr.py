"""connmgr's controller status (the Controller row's is_connected/role/status)."""
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
