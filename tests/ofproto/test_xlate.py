"""Translation checked against ovs-vswitchd 3.1 (``ofproto/trace`` on a dummy
bridge: Datapath actions and Megaflow lines), plus the megaflow property."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
from hypothesis import given, settings, strategies as st

from ofproto import ofputil as U
from ofproto.flowtable import FlowTables
from ofproto.groups import GroupTable
from ofproto.normal import MacLearning
from ofproto.ofp.parse import parse_flow, parse_packet_flow
from ofproto.trace import trace
from ofproto.xlate import XPort, XlateContext, hmap_order, translate
from datapath.odp import format_actions

FLOW_ACTIONS = """\
priority=10,in_port=1,dl_vlan=100 actions=mod_vlan_vid:200,output:2
priority=20,in_port=1,ip,nw_dst=10.0.1.5 actions=mod_dl_src:00:00:00:00:00:aa,mod_dl_dst:00:00:00:00:00:bb,mod_nw_src:10.0.0.9,mod_nw_dst:10.0.1.9,output:3
priority=30,in_port=1,tcp,tp_dst=80 actions=mod_tp_src:4321,mod_tp_dst:8080,output:4
priority=40,in_port=2,udp,tp_dst=53 actions=strip_vlan,output:1
priority=15,in_port=2,ip actions=mod_vlan_vid:7,output:4
priority=5,in_port=3 actions=resubmit(,1)
table=1,priority=1 actions=learn(table=2,priority=5,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),output:4
priority=1 actions=drop
"""
FLOW_ACTIONS_TRACES = ["in_port=1,dl_vlan=100", "in_port=1,ip,nw_dst=10.0.1.5",
                       "in_port=1,tcp,nw_dst=10.0.2.2,tp_dst=80",
                       "in_port=2,dl_vlan=9,tcp,tp_dst=53", "in_port=2,dl_vlan=9,tcp,tp_dst=54",
                       "in_port=3,dl_src=00:00:00:00:00:33", "in_port=1,icmp,nw_dst=10.0.1.5,nw_ttl=64",
                       "in_port=4", "in_port=2,udp,udp_dst=53", "in_port=2,dl_vlan=3,udp,udp_dst=53"]
MISC = """\
in_port=1,udp actions=strip_vlan,output:2
in_port=1,tcp actions=mod_dl_src:00:00:00:00:00:aa,output:1,output:in_port,output:3
in_port=2 actions=flood
in_port=3 actions=all
in_port=4,tcp actions=controller,output:1
in_port=4,udp actions=dec_ttl,output:1,controller:100
in_port=4,icmp actions=resubmit(,1)
table=1 actions=resubmit(,1)
in_port=4,arp actions=mod_nw_tos:16,mod_vlan_vid:5,output:2
in_port=4,sctp actions=set_field:3->ip_ecn,mod_nw_ttl:9,output:2
in_port=1,ip,nw_src=10.0.0.1 actions=mod_nw_tos:32,mod_tp_dst:9,load:5->NXM_NX_REG0[],output:3
in_port=1,ip,nw_src=10.0.0.2 actions=mod_nw_dst:1.2.3.4,mod_vlan_pcp:3,local
in_port=1,icmp,nw_src=10.0.0.3 actions=set_field:7->icmp_type,output:2
"""
MISC_TRACES = ["in_port=1,udp", "in_port=1,udp,dl_vlan=5", "in_port=1,tcp", "in_port=2", "in_port=3",
               "in_port=4,tcp", "in_port=4,udp,nw_ttl=1", "in_port=4,udp,nw_ttl=5", "in_port=4,arp",
               "in_port=4,sctp,nw_tos=0xfc", "in_port=4,icmp", "in_port=1,udp,nw_src=10.0.0.1",
               "in_port=1,tcp,nw_src=10.0.0.1,nw_ttl=3", "in_port=1,ip,nw_src=10.0.0.2,nw_proto=1",
               "in_port=1,ip,nw_src=10.0.0.2,dl_vlan=4", "in_port=1,icmp,nw_src=10.0.0.3"]


def specs(text):
    return [U.decode_flow_mod(parse_flow(l, 1).to_flow_mod(0), table_id_ext=True)
            for l in text.splitlines() if l.strip()]


def make_ctx(text, nports=4, **kw):
    ft = FlowTables()
    for s in specs(text):
        ft.apply(s, 0)
    ports = {0xFFFE: XPort(0xFFFE, 100, "br0")}
    for i in range(1, nports + 1):
        ports[i] = XPort(i, i, f"p{i}")
    return XlateContext("br0", ft, ports=ports, mac=MacLearning(), **kw)


def pflow(text):
    return {k: v for k, (v, m) in parse_packet_flow(text).items()}


def ours(ctx, f):
    text, _ = trace(ctx, pflow(f))
    return _lines(text)


def _lines(text):
    out = {}
    for line in text.splitlines():
        for k in ("Datapath actions", "Megaflow"):
            if line.startswith(k + ":"):
                out[k] = re.sub(r"recirc_id=\d+,rule", "recirc_id=N,rule", line)
    return out


# --------------------------------------------------------------------- oracle
@pytest.fixture(scope="module")
def ovs():
    if not shutil.which("ovs-vswitchd"):
        pytest.skip("Open vSwitch not installed")
    schema = next((p for p in ("/usr/share/openvswitch/vswitch.ovsschema",) if os.path.exists(p)), None)
    if schema is None:
        pytest.skip("no vswitch.ovsschema")
    d = tempfile.mkdtemp(prefix="xlate-ovs-")
    env = dict(os.environ, OVS_RUNDIR=d, OVS_DBDIR=d, OVS_LOGDIR=d, OVS_SYSCONFDIR=d)
    run = lambda *a: subprocess.run(a, env=env, cwd=d, capture_output=True, text=True, timeout=20)
    procs = []
    try:
        run("ovsdb-tool", "create", f"{d}/conf.db", schema)
        procs.append(subprocess.Popen(["ovsdb-server", f"--remote=punix:{d}/db.sock", "--pidfile",
                                       f"{d}/conf.db"], env=env, cwd=d, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        for _ in range(200):
            if os.path.exists(f"{d}/db.sock"):
                break
            time.sleep(0.02)
        run("ovs-vsctl", "--no-wait", "init")
        procs.append(subprocess.Popen(["ovs-vswitchd", "--enable-dummy", "--disable-system",
                                       "--pidfile", f"unix:{d}/db.sock"], env=env, cwd=d,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        r = run("ovs-vsctl", "--timeout=20", "add-br", "br0", "--", "set", "bridge", "br0",
                "datapath_type=dummy", "fail-mode=secure")
        assert r.returncode == 0, r.stderr
        for i in range(1, 5):
            run("ovs-vsctl", "add-port", "br0", f"p{i}", "--", "set", "Interface", f"p{i}",
                "type=dummy", f"ofport_request={i}")

        def load(text):
            run("ovs-ofctl", "del-flows", "br0")
            with open(f"{d}/f.txt", "w") as f:
                f.write(text)
            r = run("ovs-ofctl", "add-flows", "br0", f"{d}/f.txt")
            assert r.returncode == 0, r.stderr

        def tr(flow):
            return _lines(run("ovs-appctl", "ofproto/trace", "br0", flow).stdout)
        yield load, tr
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("table,flows", [(FLOW_ACTIONS, FLOW_ACTIONS_TRACES), (MISC, MISC_TRACES)])
def test_against_ovs(ovs, table, flows):
    load, tr = ovs
    load(table)
    ctx = make_ctx(table)
    bad = []
    for f in flows:
        theirs, mine = tr(f), ours(ctx, f)
        if theirs != mine:
            bad.append((f, theirs, mine))
    assert not bad, "\n".join(f"{f}\n  ovs:  {t}\n  ours: {m}" for f, t, m in bad)


# --------------------------------------------------------------------- units
def test_scenario_datapath_actions():
    ctx = make_ctx(FLOW_ACTIONS)
    got = [format_actions(translate(ctx, pflow(f), side_effects=False).actions)
           for f in FLOW_ACTIONS_TRACES[:6]]
    assert got == ["pop_vlan,push_vlan(vid=200,pcp=0),2",
                   "set(eth(src=00:00:00:00:00:aa,dst=00:00:00:00:00:bb)),3",
                   "set(tcp(src=4321,dst=8080)),4", "pop_vlan,push_vlan(vid=7,pcp=0),4",
                   "pop_vlan,push_vlan(vid=7,pcp=0),4", "4"]


def test_learn_is_a_side_effect_and_unwildcards_source():
    ctx = make_ctx(FLOW_ACTIONS)
    r = translate(ctx, pflow("in_port=3,dl_src=00:00:00:00:00:33"))
    assert len(r.learned_flows) == 1
    s = r.learned_flows[0]
    assert (s.table_id, s.priority, dict(s.match)) == (2, 5, {"dl_dst": (0x33, (1 << 48) - 1)})
    assert s.ofpacts[0].port == 3
    assert r.wc["dl_src"] == (1 << 48) - 1
    assert translate(ctx, pflow("in_port=3"), side_effects=False).learned_flows == []


def test_resubmit_depth_limit():
    ctx = make_ctx("table=0 actions=resubmit(,0)")
    r = translate(ctx, pflow("in_port=1"))
    assert r.error == "Recursion too deep" and r.actions == ()


def test_controller_packet_in_record():
    ctx = make_ctx("cookie=0x5,in_port=1 actions=output:2,controller:77")
    r = translate(ctx, pflow("in_port=1"))
    (pi,) = r.packet_ins
    assert (pi.reason, pi.cookie, pi.max_len, pi.action_index) == (1, 5, 77, 1)
    assert r.actions[1][1]["controller"]["dont_send"] is False


def test_groups_all_ff_select():
    from ofproto.ofp.groups import Bucket
    from ofproto.groups import GroupModSpec
    from ofproto.ofp import actions as A
    gt = GroupTable()
    out = lambda p: (A.Output10(port=p, max_len=0),)
    gt.apply(GroupModSpec(command="add", type=0, group_id=1,
                          buckets=(Bucket(bucket_id=0, actions=out(2)),
                                   Bucket(bucket_id=1, actions=out(3)))), 0)
    gt.apply(GroupModSpec(command="add", type=3, group_id=2,
                          buckets=(Bucket(bucket_id=0, watch_port=2, actions=out(2)),
                                   Bucket(bucket_id=1, watch_port=3, actions=out(3)))), 0)
    gt.apply(GroupModSpec(command="add", type=1, group_id=3,
                          buckets=(Bucket(bucket_id=0, weight=1, actions=out(2)),
                                   Bucket(bucket_id=1, weight=1, actions=out(3)))), 0)
    ctx = make_ctx("in_port=1,tcp actions=group:1\nin_port=1,udp actions=group:2\n"
                   "in_port=1,icmp actions=group:3")
    ctx.groups = gt
    assert translate(ctx, pflow("in_port=1,tcp")).actions == (("output", 2), ("output", 3))
    assert translate(ctx, pflow("in_port=1,udp")).actions == (("output", 2),)
    ctx.ports[2].link_up = False
    assert translate(ctx, pflow("in_port=1,udp")).actions == (("output", 3),)
    r = translate(ctx, pflow("in_port=1,icmp,nw_src=1.2.3.4"))
    assert len(r.actions) == 1 and r.wc["nw_src"] == 0xFFFFFFFF


def test_flood_order_is_ovs_hmap_order():
    assert hmap_order([0xFFFE, 1, 2, 3, 4]) == [4, 0xFFFE, 1, 2, 3]


# --------------------------------------------------------------------- megaflow property
_RULE_MATCHES = ["in_port=1", "in_port=2", "ip", "tcp", "udp", "tcp,tp_dst=80", "ip,nw_dst=10.0.0.0/24",
                 "dl_vlan=5", "dl_src=00:00:00:00:00:01", "ip,nw_src=10.0.0.1", ""]
_RULE_ACTIONS = ["output:2", "mod_vlan_vid:9,output:3", "strip_vlan,output:1", "mod_nw_src:1.1.1.1,output:2",
                 "mod_tp_dst:7,output:3", "resubmit(,1)", "drop", "dec_ttl,output:4", "flood",
                 "mod_dl_dst:00:00:00:00:00:09,in_port", "normal"]


@st.composite
def _flows(draw):
    f = {"in_port": draw(st.sampled_from([1, 2, 3])),
         "dl_src": draw(st.sampled_from([1, 2])), "dl_dst": draw(st.sampled_from([1, 3, (1 << 48) - 1]))}
    if draw(st.booleans()):
        f["vlan_tci"] = 0x1000 | draw(st.sampled_from([0, 5, 9]))
    if draw(st.booleans()):
        f.update(dl_type=0x0800, nw_src=draw(st.sampled_from([0x0A000001, 0x0A000002])),
                 nw_dst=draw(st.sampled_from([0x0A000005, 0x0B000005])),
                 nw_proto=draw(st.sampled_from([6, 17, 1])), nw_ttl=draw(st.sampled_from([1, 64])),
                 tp_src=draw(st.sampled_from([1, 2])), tp_dst=draw(st.sampled_from([80, 81])))
    return f


@settings(max_examples=60, deadline=None)
@given(rules=st.lists(st.tuples(st.integers(0, 1), st.integers(1, 5), st.sampled_from(_RULE_MATCHES),
                                st.sampled_from(_RULE_ACTIONS)), max_size=6),
       f1=_flows(), f2=_flows())
def test_megaflow_property(rules, f1, f2):
    text = "\n".join(f"table={t},priority={p},{m + ',' if m else ''}actions={a}"
                     for t, p, m, a in rules)
    ctx = make_ctx(text, nports=3)
    r1 = translate(ctx, f1, side_effects=False)
    # Build f2 agreeing with f1 on every bit of wc.
    g = dict(f2)
    for k in set(f1) | set(f2) | set(r1.wc):
        m = r1.wc.get(k, 0)
        g[k] = (f1.get(k, 0) & m) | (f2.get(k, 0) & ~m)
    if g.get("dl_type") != 0x0800:
        for k in ("nw_src", "nw_dst", "nw_proto", "nw_ttl", "tp_src", "tp_dst"):
            g.pop(k, None)
    g = {k: v for k, v in g.items() if v}
    r2 = translate(ctx, g, side_effects=False)
    assert r2.actions == r1.actions, (text, f1, g, r1.wc)
