"""``ovs-ofctl --bundle add-flows`` against pyovs-vswitchd and ovs-vswitchd.

A file of flow_mods (adds of the benchmark's shapes, replacements, a
modify, deletes) with one refused flow in the middle goes to a bridge that
already holds flows, in OF1.4 (BUNDLE_ADD_MESSAGE) and OF1.3 (ONF's form):
both switches must answer with the same errors (ovs-ofctl's text) and keep
exactly the flows they had; the same file without the bad line must leave
the same flows on both.
"""
from __future__ import annotations

import os
import re
import shutil

import pytest

from interop.conftest import requires_ovs
from interop.harness import OvsdbServer
from interop.test_vswitchd_config import Switchd

pytestmark = [pytest.mark.slow, pytest.mark.needs_ovs, requires_ovs,
              pytest.mark.skipif(not shutil.which("ovs-vswitchd"),
                                 reason="ovs-vswitchd not installed")]

BEFORE = [f"priority=5,in_port={p},actions=output:{1 + p % 2}" for p in (1, 2)] + [
    "send_flow_rem,priority=7,ip,nw_src=10.9.0.1,actions=output:2",
    "table=1,cookie=0x5,priority=9,udp,tp_dst=53,actions=output:1"]
BODY = [f"priority=10,in_port={1 + i % 2},dl_src=02:00:00:00:00:{i:02x},actions=output:2"
        for i in range(20)] + [
    "priority=20,ip,nw_src=10.0.0.1,nw_dst=172.16.0.0/24,actions=output:2",
    "table=1,priority=40,udp,nw_src=10.0.0.3,tp_dst=54,actions=mod_dl_dst:02:00:00:00:00:01,"
    "output:1",
    "priority=5,in_port=1,actions=output:1",                  # replaces a flow that was there
    # (Only the flow that was there: OVS's loose modify in a bundle skips a flow
    # the bundle added with a new mask while another flow matches.)
    "modify table=1,udp,tp_dst=53 actions=output:2",
    "delete_strict priority=7,ip,nw_src=10.9.0.1",
    "delete table=1,cookie=0x5/-1"]
BAD = "priority=30,tcp,tp_dst=80,actions=group:99"


def _dump(server, version):
    out = server.run("ovs-ofctl", "-O", version, "--no-stats", "dump-flows", "br0",
                     check=True).stdout
    return sorted(line.strip() for line in out.splitlines() if line.strip())


def scenario(impl: str, folder: str) -> dict:
    server = OvsdbServer("ours", folder)
    sw = None
    out = {}
    try:
        server.start()
        server.vsctl("--no-wait", "init", check=True)
        sw = Switchd(impl, server).start()
        server.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=dummy",
                     "fail-mode=secure", "protocols=OpenFlow13,OpenFlow14", check=True)
        for p in (1, 2):
            server.vsctl("add-port", "br0", f"p{p}", "--", "set", "Interface", f"p{p}",
                         "type=dummy", f"ofport_request={p}", check=True)
        for version in ("OpenFlow14", "OpenFlow13"):
            server.run("ovs-ofctl", "-O", version, "del-flows", "br0", check=True)
            for line in BEFORE:
                server.run("ovs-ofctl", "-O", version, "add-flow", "br0", line, check=True)
            out[version, "before"] = _dump(server, version)
            for name, lines in (("bad", BODY[:12] + [BAD] + BODY[12:]), ("good", BODY)):
                path = os.path.join(folder, f"{name}.txt")
                with open(path, "w") as f:
                    f.write("\n".join(lines) + "\n")
                r = server.run("ovs-ofctl", "-O", version, "--bundle", "add-flows", "br0",
                               path)
                # ovs-ofctl prints the echoed requests (its own xids: the same in
                # both runs) and the switch's name (the folders differ).
                text = re.sub(r"\s+", " ", r.stderr.replace(folder, "DIR")).strip()
                out[version, name] = (r.returncode, text, _dump(server, version))
    finally:
        if sw is not None:
            sw.stop()
        server.stop()
    return out


def test_bundle_add_flows_with_a_bad_flow_as_ovs(short_tmp):
    ours = scenario("ours", os.path.join(short_tmp, "o"))
    ref = scenario("ref", os.path.join(short_tmp, "r"))
    for version in ("OpenFlow14", "OpenFlow13"):
        code, text, flows = ref[version, "bad"]
        assert code != 0 and "OFPBAC_BAD_OUT_GROUP" in text and "OFPBFC_MSG_FAILED" in text
        assert flows == ref[version, "before"]              # nothing of the bundle stayed
        assert ours[version, "before"] == ref[version, "before"]
        assert ours[version, "bad"] == ref[version, "bad"], version
        assert ours[version, "good"] == ref[version, "good"], version
        assert ref[version, "good"][0] == 0 and len(ref[version, "good"][2]) == 24
