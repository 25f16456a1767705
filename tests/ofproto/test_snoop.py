"""Snoopers (ofproto/snoop.py): the snooper's vconn, the controller's tap, which
controller a snooper watches, and copies of a controller's traffic end to end."""
import os
import shutil
import struct
import tempfile

import pytest
import trio

from ofproto import bridge as bridge_mod
from ofproto import connmgr
from ofproto import ofconn as oc
from ofproto import snoop as snoop_mod
from ovsdb_server.ovsjson import hash_string


def _msg(version, type_, xid, body=b""):
    return struct.pack("!BBHI", version, type_, 8 + len(body), xid) + body


def test_snoop_handshake_as_ovs_vconn():
    sn = snoop_mod.SnoopConn("unix#1")
    assert sn.txbuf == _msg(6, 0, 0)                  # 1.0-1.5: no bitmap needed
    sn.sent(8)
    assert not sn.copy(_msg(4, 2, 1))                 # no copies before the peer's HELLO
    sn.receive_data(_msg(1, 0, 9)[:5])
    sn.receive_data(_msg(1, 0, 9)[5:])                # an OF1.0 snooper: 1.0 negotiated
    assert (sn.state, sn.version) == ("active", 1)
    assert sn.copy(_msg(4, 2, 1)) and not sn.copy(_msg(4, 3, 1))   # one at a time: dropped
    sn.sent(4)
    assert sn.txbuf == _msg(4, 2, 1)[4:] and not sn.copy(_msg(4, 3, 1))
    sn.sent(4)
    assert sn.copy(_msg(4, 3, 1))                     # copies keep the controller's version
    sn.sent(8)
    sn.receive_data(b"")
    assert sn.closed and not sn.copy(_msg(4, 2, 1))
    # Stray messages are drained; another version is OFPBRC_BAD_VERSION (as captured from
    # ovs-vswitchd 3.1), except HELLO/ERROR/ECHO.
    sn = snoop_mod.SnoopConn("unix#2")
    sn.sent(8)
    sn.receive_data(_msg(6, 0, 1))
    assert sn.version == 6
    sn.receive_data(_msg(6, 2, 7) + _msg(4, 2, 7) + _msg(6, 5, 8) + _msg(1, 5, 9))
    assert sn.txbuf == bytes.fromhex("01010014000000090001000001050008 00000009".replace(" ", ""))
    sn.sent(len(sn.txbuf))
    sn.receive_data(_msg(4, 20, 10))
    assert sn.txbuf == bytes.fromhex("040100140000000a00010000041400080000000a")
    assert not sn.closed


def test_snoop_handshake_failures():
    sn = snoop_mod.SnoopConn()
    sn.sent(8)
    sn.receive_data(_msg(7, 0, 5, struct.pack("!HHI", 1, 8, 1 << 7)))   # only OF1.6
    assert sn.closed
    text = b"We support version 0x06 and earlier, you support version 0x07, no common versions."
    assert sn.txbuf == bytes.fromhex("0101005e000000000000") + b"\0\0" + text   # as OVS 3.1
    sn = snoop_mod.SnoopConn()
    sn.sent(8)
    sn.receive_data(_msg(6, 2, 5))                    # not a HELLO: closed without a word
    assert sn.closed and sn.txbuf == b""
    sn = snoop_mod.SnoopConn()
    sn.receive_data(_msg(4, 0, 1, struct.pack("!HHI", 1, 8, 0x12)))    # bitmap {1, 4}
    assert sn.version == 4
    sn.receive_data(b"\x04\x02\x00\x04\0\0\0\0")      # a header length below 8
    assert sn.closed


def test_tap_cuts_the_controller_stream_after_each_message():
    tap = snoop_mod._Tap()
    hello, echo, barrier = _msg(4, 0, 1), _msg(4, 2, 2, b"abcd"), _msg(4, 20, 3)
    assert tap.cut(hello + echo[:3], False) == []     # tracking only: nobody snoops
    pieces = tap.cut(echo[3:] + barrier + echo[:9], True)
    assert pieces == [(echo[3:], echo), (barrier, barrier), (echo[:9], None)]
    assert tap.cut(echo[9:], True) == [(echo[9:], echo)]
    tap = snoop_mod._Tap()
    assert tap.cut(hello + echo, True) == [(hello, None), (echo, echo)]   # HELLO: vconn's
    bad = b"\x04\x02\x00\x04\0\0\0\0"
    assert tap.cut(echo + bad + echo, True) == [(echo, echo), (bad + echo, None)]
    assert tap.cut(echo, True) == [(echo, None)]      # the stream is lost after a bad header


def _mgr_with(controllers, rundir="/nonexistent"):
    br = bridge_mod.Bridge(bridge_mod.BridgeConfig(uuid="u", name="br0"))
    br.controllers = controllers
    mgr = connmgr.BridgeConnMgr(br, rundir)
    mgr.snoopers.set_controllers(controllers)
    for c in controllers:
        mgr.controllers[c.target] = connmgr.ControllerState(c)
    return mgr


def _bucket(target, mask=3):
    return hash_string(target) & mask


async def test_snoop_picks_the_controller_as_ovs_vswitchd():
    # Observed with ovs-vswitchd 3.1: the highest role wins; on a tie the first in
    # connmgr's hmap of services (hash bucket; in one bucket the smallest Controller uuid).
    ports = iter(range(1000, 60000))
    a = next(p for p in ports if _bucket(f"tcp:127.0.0.1:{p}") == 0)
    b = next(p for p in ports if _bucket(f"tcp:127.0.0.1:{p}") == 2 and p > a)
    ta, tb = f"tcp:127.0.0.1:{a}", f"tcp:127.0.0.1:{b}"
    info = bridge_mod.ControllerInfo
    mgr = _mgr_with([info(tb, uuid="1"), info(ta, uuid="2"), info("ptcp:6653", uuid="0")])
    assert mgr._snoop_target() == ta                  # neither connected: bucket order
    conn_b = mgr.ofproto.new_conn(primary=True, now=0.0)
    mgr.controllers[tb].conn = conn_b
    assert mgr._snoop_target() == tb                  # connected beats not connected
    conn_a = mgr.ofproto.new_conn(primary=True, now=0.0)
    mgr.controllers[ta].conn = conn_a
    assert mgr._snoop_target() == ta                  # both equal: bucket order again
    conn_a.role = oc.ROLE_SLAVE
    assert mgr._snoop_target() == tb
    conn_a.role, conn_b.role = oc.ROLE_MASTER, oc.ROLE_SLAVE
    assert mgr._snoop_target() == ta
    # Same bucket: the smaller uuid, whatever the target's name.
    c = next(p for p in ports if _bucket(f"tcp:127.0.0.1:{p}") == 0)
    tc = f"tcp:127.0.0.1:{c}"
    for ua, uc, want in (("9", "1", tc), ("1", "9", ta)):
        mgr = _mgr_with([info(ta, uuid=ua), info(tc, uuid=uc)])
        assert mgr._snoop_target() == want
    # Passive controllers and the management socket have no rconn: nobody to snoop.
    assert _mgr_with([info("ptcp:6653")])._snoop_target() is None
    assert _mgr_with([])._snoop_target() is None


async def _read_msgs(stream, n, buf=b""):
    out = []
    while len(out) < n:
        while len(buf) < 8 or len(buf) < struct.unpack_from("!H", buf, 2)[0]:
            data = await stream.receive_some(1 << 20)
            assert data, f"end of stream after {out}"
            buf += data
        ln = struct.unpack_from("!H", buf, 2)[0]
        out.append(buf[:ln])
        buf = buf[ln:]
    return out, buf


async def test_snoopers_get_both_directions_and_never_stall_the_controller():
    rundir = tempfile.mkdtemp(prefix="pyvs-", dir="/tmp")
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    target = f"tcp:127.0.0.1:{listeners[0].socket.getsockname()[1]}"
    br = bridge_mod.Bridge(bridge_mod.BridgeConfig(uuid="u", name="br0"))
    br.controllers = [bridge_mod.ControllerInfo(target, inactivity_probe=0)]
    mgr = connmgr.BridgeConnMgr(br, rundir)
    try:
        async with trio.open_nursery() as n:
            await n.start(mgr.run)
            ctl = await listeners[0].accept()
            await ctl.send_all(_msg(4, 0, 1))
            assert (await _read_msgs(ctl, 1))[0][0][1] == 0          # its HELLO
            path = os.path.join(rundir, "br0.snoop")
            snoop, slow = await trio.open_unix_socket(path), await trio.open_unix_socket(path)
            for s in (snoop, slow):
                await s.send_all(_msg(6, 0, 1))
                assert (await _read_msgs(s, 1))[0] == [_msg(6, 0, 0)]
            with trio.fail_after(5):
                while [s.conn.state for s in mgr.snoopers.monitors.get(target, ())] != ["active"] * 2:
                    await trio.sleep(0.01)
            # One write of three requests: each request, then its reply (as OVS's rconn).
            echo, barrier, bad = _msg(4, 2, 7, b"hi"), _msg(4, 20, 8), _msg(1, 5, 9)
            await ctl.send_all(echo + bad + barrier)
            replies, _ = await _read_msgs(ctl, 3)
            assert [r[:2] for r in replies] == [b"\x04\x03", b"\x01\x01", b"\x04\x15"]
            got, _ = await _read_msgs(snoop, 4)
            assert got == [echo, replies[0], barrier, replies[2]]   # no BAD_VERSION (vconn's)
            # A snooper that does not read: the controller's replies still all come, the
            # snooper's stream stays whole messages, the copies that did not fit dropped.
            big = _msg(4, 2, 0, bytes(60000))
            seen = []

            async def reading():
                buf = b""
                while len(seen) < 600:
                    msgs, buf = await _read_msgs(snoop, 1, buf)
                    seen.extend(msgs)
            n.start_soon(reading)
            with trio.fail_after(20):
                for i in range(200):
                    await ctl.send_all(big)
                    assert (await _read_msgs(ctl, 1))[0][0][1] == 3
                while len(seen) < 400:                   # a reader keeps up: it got them all
                    await trio.sleep(0.01)
            assert [m[1] for m in seen[:400]] == [2, 3] * 200
            with trio.move_on_after(0.5):
                buf = b""
                while True:
                    buf += await slow.receive_some(1 << 20)
            msgs = list(snoop_mod._messages(buf))
            assert sum(len(m) for m in msgs) == len(buf) and 6 <= len(msgs) < 404
            assert msgs[:4] == [echo, replies[0], barrier, replies[2]]
            assert {m[1] for m in msgs[4:]} == {2, 3}
            # The controller goes away from the configuration: its snoopers are closed,
            # also one whose socket is full.
            for i in range(100):
                await ctl.send_all(big)
                assert (await _read_msgs(ctl, 1))[0][0][1] == 3
            br.controllers = []
            mgr.reconfigure()
            await trio.sleep(0.3)
            with pytest.raises(trio.BrokenResourceError):       # closed on our side, unread
                await slow.send_all(_msg(6, 2, 1))
            with trio.fail_after(5):
                while len(seen) < 600:
                    await trio.sleep(0.01)
                assert await snoop.receive_some(100) == b""
                while await slow.receive_some(1 << 20):
                    pass
            assert not mgr.snoopers.monitors
            mgr.stop()
    finally:
        shutil.rmtree(rundir, ignore_errors=True)
