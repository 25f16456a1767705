# needs: vswitchd
# timeout: 60
# Flow monitors (ovs-ofctl monitor br0 watch:...), Open vSwitch against ours: the initial
# dump and the ADDED/DELETED/MODIFIED updates that adds, replacements, mod-flows (with and
# without a change), deletes, an eviction, group and meter deletes, a bundle, idle and hard
# timeouts and flushes make, through filters (table, out_port, match, !initial, !actions,
# !add/!delete/!modify, two monitors on one connection), in NX (OpenFlow 1.0 and 1.2),
# ONF (1.3) and OpenFlow 1.4/1.5 form; a monitor's own flow_mods (ofctl/send) in full or
# as ABBREV (!own); cancels; a delete of 7000 flows cut into multipart replies.  Updates
# that several flows make in one go come in hash order: each message's lines are sorted.
show() {
  python3 -c '
import sys
out, block = [], []
for line in open(sys.argv[1]).read().splitlines():
    if "fatal_signal" in line:
        continue
    if line.startswith(" event="):
        block.append(line.rstrip())   # ovs-ofctl chomps a trailing space only at the end
        continue
    out += sorted(block) + [line]
    block = []
print("\n".join(out + sorted(block)))
' "$1"
}
mon() {   # mon NAME OVS-OFCTL-ARGS...: a monitor in the background, with its own unixctl
  local name=$1; shift
  ovs-ofctl --unixctl="$PWD/$name.ctl" "$@" > "$name.out" 2>&1 &
  for i in $(seq 50); do [ -e "$name.ctl" ] && break; sleep 0.1; done
  ovs-appctl -t "$PWD/$name.ctl" ofctl/barrier
}
barrier() { for n in "$@"; do ovs-appctl -t "$PWD/$n.ctl" ofctl/barrier; done; }
MONS="all own t1 op2 noact in1 of12 of13 of14 of15 multi"
t ovs-vsctl add-br br0 -- set bridge br0 datapath_type=dummy
t ovs-vsctl add-port br0 p1 -- set Interface p1 type=dummy ofport_request=1 -- add-port br0 p2 -- set Interface p2 type=dummy ofport_request=2
t ovs-ofctl add-flow br0 "priority=7,in_port=2,actions=output:1"
t ovs-ofctl add-flow br0 "table=1,priority=9,ip,nw_dst=10.0.0.1,actions=output:2,resubmit(,2)"
t ovs-ofctl add-flow br0 "table=2,priority=100,tcp,tp_dst=80,actions=mod_nw_src:10.1.1.1,mod_vlan_vid:5,output:2"
t mon all monitor br0 watch:
t mon own monitor br0 'watch:!initial,!own'
t mon t1 monitor br0 watch:table=1
t mon op2 monitor br0 watch:out_port=2
t mon noact monitor br0 'watch:!actions'
t mon in1 monitor br0 watch:in_port=1
t mon of12 -O OpenFlow12 monitor br0 watch:
t mon of13 -O OpenFlow13 monitor br0 watch:
t mon of14 -O OpenFlow14 monitor br0 watch:
t mon of15 -O OpenFlow15 monitor br0 watch:tcp
t mon multi monitor br0 'watch:!add,!delete' 'watch:!modify,!delete,!initial,!actions'
# Adds, a replacement, mod-flows that change nothing, the cookie, the actions; a strict
# modify that matches nothing adds (OpenFlow 1.0).
t ovs-ofctl add-flow br0 "priority=5,in_port=1,actions=drop"
t ovs-ofctl add-flow br0 "priority=5,in_port=1,actions=drop"
t ovs-ofctl add-flow br0 "priority=5,in_port=1,actions=output:2"
t ovs-ofctl mod-flows br0 "in_port=1,actions=output:2"
t ovs-ofctl mod-flows br0 "cookie=0x9,in_port=1,actions=output:2"
t ovs-ofctl mod-flows br0 "in_port=1,actions=output:3"
t ovs-ofctl mod-flows --strict br0 "table=1,priority=10,ip,actions=output:2"
t ovs-ofctl -O OpenFlow13 mod-flows br0 "table=2,tcp,tp_dst=80,actions=push_vlan:0x8100,set_field:4100->vlan_vid,output:3"
t barrier $MONS
# Groups and meters take their flows along; an evicting table drops its oldest flow
# (the add that evicted is not reported, as in ovs-vswitchd 3.1).
t ovs-ofctl -O OpenFlow13 add-group br0 "group_id=1,type=all,bucket=output:2"
t ovs-ofctl -O OpenFlow13 add-flow br0 "table=4,in_port=1,actions=group:1"
t ovs-ofctl -O OpenFlow13 del-groups br0 group_id=1
t ovs-ofctl -O OpenFlow13 add-meter br0 "meter=1,pktps,band=type=drop,rate=10"
t ovs-ofctl -O OpenFlow13 add-flow br0 "table=5,in_port=1,actions=meter:1,output:2"
t ovs-ofctl -O OpenFlow13 del-meter br0 meter=1
t ovs-vsctl -- --id=@ft create Flow_Table flow_limit=2 overflow_policy=evict -- set Bridge br0 flow_tables:3=@ft
t ovs-ofctl add-flow br0 "table=3,priority=1,hard_timeout=100,in_port=1,actions=drop"
t ovs-ofctl add-flow br0 "table=3,priority=1,hard_timeout=100,in_port=2,actions=drop"
t ovs-ofctl add-flow br0 "table=3,priority=1,hard_timeout=100,in_port=3,actions=drop"
t barrier $MONS
# A bundle reports after its commit, in one message, each flow as that message left it.
printf 'add table=7,in_port=1,actions=drop\nmodify table=7,in_port=1,actions=output:3\nadd table=7,in_port=2,actions=output:2\n' > bundle.txt
t ovs-ofctl -O OpenFlow14 --bundle add-flows br0 bundle.txt
t barrier $MONS
# The "own" monitor's own flow_mods (OpenFlow 1.0, xids 0x12345678 and 0x1234567a): ABBREV.
t ovs-appctl -t "$PWD/own.ctl" ofctl/send 010e005012345678003ffffe00090000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000008000ffffffffffff00000000000800020000
t barrier own
t ovs-appctl -t "$PWD/own.ctl" ofctl/send 010e00481234567a003ffffe00090000000000000000000000000000000000000000000000000000000000000000000000000000000000000003000000008000ffffffffffff0000
t barrier $MONS
# Cancels: in1's monitor (id 0) and one that does not exist.
t ovs-appctl -t "$PWD/in1.ctl" ofctl/send 0104001400000042000023200000001500000000
t ovs-appctl -t "$PWD/in1.ctl" ofctl/send 0104001400000043000023200000001500000005
t ovs-appctl -t "$PWD/of14.ctl" ofctl/send 0512002800000044001000000000000000000000ffffffffffffffff0000ff020001000400000000
t barrier in1 of14
t ovs-ofctl add-flow br0 "priority=6,in_port=1,actions=drop"
t ovs-ofctl del-flows br0 "table=1"
t ovs-ofctl del-flows br0 "in_port=1"
t barrier $MONS
# Timeouts: one message per flow.
t ovs-ofctl add-flow br0 "table=8,idle_timeout=1,udp,actions=output:2"
t ovs-ofctl add-flow br0 "table=9,hard_timeout=3,tcp,cookie=0x55,actions=output:1"
t sleep 4.5
t barrier $MONS
# Flushes (a first active controller, then none): one message per table, then the
# standalone NORMAL flow.
t ovs-vsctl set-controller br0 tcp:127.0.0.1:1
t ovs-vsctl del-controller br0
t sleep 0.5
t barrier $MONS
for n in $MONS; do
  ovs-appctl -t "$PWD/$n.ctl" exit
  t show $n.out
done
# 7000 deletions: multipart replies with REPLY_MORE, no pause on a monitor that keeps up.
python3 -c 'print("\n".join("cookie=1,reg1=%d,actions=output:1" % i for i in range(7000)))' > flows.txt
t ovs-ofctl add-flows br0 flows.txt
t mon burst monitor br0 'watch:!initial'
t ovs-ofctl -O OpenFlow13 del-flows br0 cookie=1/-1
t ovs-ofctl add-flow br0 in_port=1,actions=drop
t barrier burst
ovs-appctl -t "$PWD/burst.ctl" exit
t grep -c 'DELETED.*reg1=' burst.out
t grep -v 'reg1=' burst.out
