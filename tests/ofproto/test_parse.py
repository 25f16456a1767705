"""ovs-ofctl flow syntax: our parse + render agrees with `ovs-ofctl parse-flow`."""
import glob
import re
import shutil
import subprocess

import pytest

from ofproto.ofp import actions as A
from ofproto.ofp import instructions as I
from ofproto.ofp.match import FlowMatch
from ofproto.ofp.parse import (FlowSyntaxError, parse_actions, parse_flow, parse_match,
                               parse_packet_flow)
from ofproto.ofp.render import format_flow_mod

needs_ovs = pytest.mark.skipif(not shutil.which("ovs-ofctl"), reason="needs ovs-ofctl")
DOCS = "/work/shared/docs/openflow-scripts"
# Where we knowingly differ: OVS refuses these protocol combinations or
# rejects its own encoding.
KNOWN = ("strip_vlan", "write_metadata:0x5/0xff,goto_table:3", "push_vlan:0x8100,set_field",
         "meter:1", "clear_actions", "write_metadata:0x1/0xff,goto_table:2")
# Actions beyond the captured corpus: NX hashing/sampling/controller actions,
# per-protocol mod_tp_*, sub-byte fields.  OVS has no OF1.3 encoding of
# dec_ttl(ids) ("no usable protocol"), so that one is OF1.0 only.
EXTRA = [
    "actions=multipath(eth_src,50,modulo_n,1,0,NXM_NX_REG0[0..1])",
    "actions=multipath(symmetric_l3l4+udp,1024,iter_hash,5000,5000,NXM_NX_REG0[0..12])",
    "actions=multipath(nw_src,0,hrw,12,0,NXM_NX_REG1[0..3])",
    "actions=bundle(eth_src,0,hrw,ofport,members:1,2)",
    "actions=bundle(symmetric_l4,60,active_backup,ofport,members:4,8,LOCAL)",
    "actions=bundle_load(symmetric_l4,60,active_backup,ofport,NXM_NX_REG0[],members:4,8)",
    "actions=bundle_load(eth_src,0,hrw,ofport,NXM_NX_REG1[0..15],members:1)",
    "actions=sample(probability=100,collector_set_id=1)",
    "actions=sample(probability=65535,collector_set_id=2,obs_domain_id=3,obs_point_id=4)",
    "actions=controller(reason=no_match,max_len=100,userdata=01.02)",
    "actions=controller(pause,id=3)", "actions=controller(reason=invalid_ttl)",
    "actions=controller(max_len=10)", "actions=controller(id=2,max_len=64)",
    "actions=controller(userdata=00.11.22.33.44.55.66.77.88)",
    "udp,actions=mod_tp_src:5,mod_tp_dst:6", "sctp,actions=mod_tp_dst:6",
    "tcp,actions=mod_tp_src:7", "ip,actions=set_field:3->ip_ecn",
    "ip,actions=load:2->NXM_NX_IP_ECN[]", "ip,actions=set_field:1->nw_ecn,output:1",
    "ip,actions=load:0x5->NXM_OF_VLAN_TCI[13..15]",
]
EXTRA10 = ["actions=dec_ttl(1,2)", "actions=dec_ttl(3)"]


def corpus():
    flows = []
    for f in sorted(glob.glob("/work/shared/difftest/scenarios/*.sh")):
        flows += re.findall(r'add-flow br0 "([^"]+)"', open(f).read())
    flows += [line.strip() for line in open(f"{DOCS}/flows10.txt") if line.strip()]
    flows += EXTRA
    for line in open(f"{DOCS}/captures/flowsyntax.txt"):
        m = re.match(r"### \[(default|-O OpenFlow13)\] (.*)", line)
        if m:
            flows.append(m.group(2))
    return list(dict.fromkeys(flows))


def ovs_parse(text, version):
    args = ["ovs-ofctl"] + (["-O", "OpenFlow13"] if version == 4 else []) + \
        ["parse-flow", text]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode:
        return "ERR " + r.stderr.strip().replace("ovs-ofctl: ", "")
    line = [x for x in r.stdout.splitlines() if "FLOW_MOD" in x][0]
    return line.split("): ", 1)[1]


def ours(text, version):
    try:
        return format_flow_mod(parse_flow(text, version).to_flow_mod())
    except FlowSyntaxError as e:
        return "ERR " + str(e)


@needs_ovs
@pytest.mark.parametrize("version", [1, 4])
def test_corpus_matches_ovs(version):
    flows = [f for f in corpus() if not any(k in f for k in KNOWN)]
    assert len(flows) > 80
    bad = [(f, ovs_parse(f, version), ours(f, version)) for f in flows]
    bad = [b for b in bad if b[1] != b[2]]
    assert not bad


def ofp_print_flow_mod(fm):
    r = subprocess.run(["ovs-ofctl", "ofp-print", fm.encode().hex()], capture_output=True,
                       text=True)
    return r.stdout.split("\n")[0].split("): ", 1)[1]


@needs_ovs
@pytest.mark.parametrize("version", [1, 4])
def test_extra_actions_encode_like_ovs(version):
    """Our bytes for the extra actions decode, in Open vSwitch, to what
    ovs-ofctl parse-flow itself produces from the text."""
    for f in EXTRA + (EXTRA10 if version == 1 else []):
        assert ofp_print_flow_mod(parse_flow(f, version).to_flow_mod()) == \
            ovs_parse(f, version), f


def test_sub_byte_fields_load_their_width():
    """set_field:3->ip_ecn is a 2-bit load (OVS: NXM_NX_IP_ECN[] is 2 bits)."""
    (a,), _ = parse_actions("set_field:3->ip_ecn", 1)
    assert isinstance(a, A.NxRegLoad) and a.ofs_nbits == 1 and a.value == 3


def test_corpus_encodes():
    for f in corpus():
        for v in (1, 4, 5):
            try:
                fm = parse_flow(f, v).to_flow_mod()
            except FlowSyntaxError:
                continue
            fm.encode()


@pytest.mark.parametrize("text,msg", [
    ("actions=frobnicate", "unknown action frobnicate"),
    ("priority=10,actions=frobnicate", "unknown action frobnicate"),
    ("foo=1,actions=drop", "unknown keyword foo"),
    ("in_port=1", "must specify an action"),
    ("cookie=0x1/0xff,actions=drop", "flow additions cannot use a cookie mask"),
])
def test_errors_like_ovs(text, msg):
    with pytest.raises(FlowSyntaxError) as e:
        parse_flow(text)
    assert str(e.value) == msg


def test_parse_match():
    m = parse_match("in_port=1,dl_vlan=100,tcp,nw_dst=10.0.0.0/24,tp_dst=80")
    assert m == FlowMatch({"in_port": (1, 0xFFFF), "vlan_tci": (0x1064, 0x1FFF),
                           "dl_type": (0x0800, 0xFFFF), "nw_proto": (6, 0xFF),
                           "nw_dst": (0x0A000000, 0xFFFFFF00), "tp_dst": (80, 0xFFFF)})
    assert parse_match("dl_dst=01:00:00:00:00:00/01:00:00:00:00:00") == \
        FlowMatch({"dl_dst": (1 << 40, 1 << 40)})
    assert parse_match("vlan_tci=0x1000/0x1000")["vlan_tci"] == (0x1000, 0x1000)
    assert parse_match("reg0=5,metadata=0x5/0xff") == \
        FlowMatch({"reg0": (5, 0xFFFFFFFF), "metadata": (5, 0xFF)})
    assert parse_match("icmp6")["nw_proto"] == (58, 0xFF)
    assert parse_match("arp")["dl_type"] == (0x0806, 0xFFFF)
    assert parse_match("tp_dst=80") == FlowMatch()       # prerequisite missing: dropped


def test_parse_actions_per_version():
    a, i = parse_actions("mod_vlan_vid:5,output:2", 1)
    assert a == (A.SetVlanVid(vlan_vid=5), A.Output10(port=2, max_len=0)) and i == ()
    a, i = parse_actions("output:2,goto_table:3,write_metadata:0x5/0xff", 4)
    assert a == () and i == (I.ApplyActions((A.Output(port=2, max_len=0),)),
                             I.WriteMetadata(5, 0xFF), I.GotoTable(3))
    a, _ = parse_actions("goto_table:3", 1)
    assert a == (A.NxResubmitTable(in_port=0xFFF8, table=3),)
    a, _ = parse_actions("learn(table=2,NXM_OF_VLAN_TCI[0..11],output:NXM_OF_IN_PORT[])", 1)
    assert [s.dst for s in a[0].specs] == ["match", "output"]


def test_parse_packet_flow():
    m = parse_packet_flow("in_port=1,tcp,nw_src=10.0.0.1,tp_dst=80")
    assert m.value("nw_src") == 0x0A000001 and m.value("tp_dst") == 80
    with pytest.raises(FlowSyntaxError):
        parse_packet_flow("nw_src=10.0.0.0/8")
