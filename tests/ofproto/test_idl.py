"""ofproto.idl: python-ovs's IDL driven from trio, against our server and Open vSwitch's."""
import os
import shutil
import tempfile

import pytest
import trio

from interop.harness import SCHEMA, OvsdbServer, have_ovs
from ofproto.idl import (NOT_LOCKED, SUCCESS, UNCHANGED, QueueSession, TrioIdl, make_schema_helper,
                         parse_remote)

IMPLS = ["ours", pytest.param("ref", marks=pytest.mark.skipif(not have_ovs(), reason="needs Open vSwitch"))]


def test_parse_remote():
    assert parse_remote("unix:/tmp/x") == ("unix", "/tmp/x")
    assert parse_remote("tcp:127.0.0.1:6640") == ("tcp", "127.0.0.1:6640")
    for bad in ("ptcp:6640", "tcp:127.0.0.1", "x"):
        with pytest.raises(ValueError):
            parse_remote(bad)


def test_queue_session_answers_echo_and_counts_connects():
    import ovs.jsonrpc
    s = QueueSession("unix:x")
    assert s.send(ovs.jsonrpc.Message.create_notify("x", [])) != 0       # ENOTCONN
    s.set_connected(True)
    assert s.get_seqno() == 1 and s.is_connected()
    s.inbox.append(ovs.jsonrpc.Message(ovs.jsonrpc.Message.T_REQUEST, "echo", [1], None, None, 7))
    assert s.recv() is None
    assert b'"result":[1]' in s.take_output()
    s.set_connected(False)
    assert s.get_seqno() == 2


@pytest.fixture(params=IMPLS)
def server(request):
    if not have_ovs():
        pytest.skip("needs ovsdb-tool")
    folder = tempfile.mkdtemp(prefix="pyvs-idl-", dir="/tmp")
    srv = OvsdbServer(request.param, folder)
    srv.start()
    srv.vsctl("--no-wait", "init", check=True)
    yield srv
    srv.stop()
    shutil.rmtree(folder, ignore_errors=True)


def helper():
    return make_schema_helper(SCHEMA, {"Open_vSwitch": ["bridges", "next_cfg", "cur_cfg", "external_ids"],
                                       "Bridge": ["name", "ports", "datapath_id"],
                                       "Port": ["name", "interfaces"], "Interface": ["name", "type"]})


async def test_replica_commit_and_change(server):
    async with TrioIdl(server.remote, helper()) as idl:
        with trio.fail_after(5):
            await idl.wait_connected()
        root = next(iter(idl.tables["Open_vSwitch"].rows.values()))
        seqno = idl.change_seqno

        def build(txn):
            row = txn.insert(idl.tables["Bridge"])
            row.name = "br9"
            root.addvalue("bridges", row.uuid)
        with trio.fail_after(5):
            assert await idl.commit(build) == SUCCESS
            await idl.wait_for_change(seqno)
        assert [b.name for b in idl.tables["Bridge"].rows.values()] == ["br9"]
        # An external change wakes the waiter.
        seqno = idl.change_seqno
        await trio.to_thread.run_sync(lambda: server.vsctl("--no-wait", "set", "Open_vSwitch", ".",
                                                          "external_ids:k=v", check=True))
        with trio.fail_after(5):
            await idl.wait_for_change(seqno)
        assert root.external_ids == {"k": "v"}
        # Writing the same write-only value again sends nothing.
        assert await idl.commit(lambda txn: None) == UNCHANGED


async def test_lock_contention(server):
    async with TrioIdl(server.remote, helper()) as a, TrioIdl(server.remote, helper()) as b:
        a.set_lock("ovs_vswitchd")
        with trio.fail_after(5):
            while not a.has_lock:
                await a.wait_for_change()
        b.set_lock("ovs_vswitchd")
        with trio.fail_after(5):
            while not b.is_lock_contended:
                await b.wait_for_change()
            await b.wait_connected()
        assert not b.has_lock

        def build(txn):
            next(iter(b.tables["Open_vSwitch"].rows.values())).external_ids = {"x": "y"}
        assert await b.commit(build) == NOT_LOCKED
        a.set_lock(None)           # releasing hands the lock over
        with trio.fail_after(5):
            while not b.has_lock:
                await b.wait_for_change()
        assert await b.commit(build) == SUCCESS


async def test_reconnects_after_server_restart(server):
    async with TrioIdl(server.remote, helper()) as idl:
        with trio.fail_after(5):
            await idl.wait_connected()
        await trio.to_thread.run_sync(server.stop)
        with trio.fail_after(5):
            while idl.is_connected:
                await trio.sleep(0.02)
        await trio.to_thread.run_sync(server.start)
        with trio.fail_after(15):
            while not idl.is_connected:
                await trio.sleep(0.05)
            seqno = idl.change_seqno
            await trio.to_thread.run_sync(lambda: server.vsctl("--no-wait", "add-br", "brx", check=True))
            while "brx" not in [b.name for b in idl.tables["Bridge"].rows.values()]:
                await idl.wait_for_change(seqno)
                seqno = idl.change_seqno
