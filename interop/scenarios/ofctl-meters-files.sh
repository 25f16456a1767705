# needs: vswitchd
# timeout: 60
# Meters (add/mod/del, stats, a flow using one), add-flows/diff-flows/replace-flows with
# files (an error's line), packet-out in OF1.0 and OF1.3 (and a bad port), strict
# mod/del, --names, the standalone NORMAL flow's flags after a flush, and refusals
# (bad action, port, table, goto, group, meter; in a bundle too), Open vSwitch against ours.
m() {
  "$@" 2>&1 | sed -E -e 's/duration:[0-9.]+s/duration:<d>/g'
  return "${PIPESTATUS[0]}"
}
t ovs-vsctl add-br br0 -- set bridge br0 datapath_type=dummy protocols=OpenFlow10,OpenFlow13,OpenFlow14,OpenFlow15
t ovs-vsctl add-port br0 p1 -- set Interface p1 type=dummy ofport_request=1
t ovs-vsctl add-port br0 p2 -- set Interface p2 type=dummy ofport_request=2
t ovs-ofctl -O OpenFlow13 add-meter br0 meter=1,kbps,burst,band=type=drop,rate=1000,burst_size=100
t ovs-ofctl -O OpenFlow13 add-meter br0 meter=2,pktps,stats,band=type=dscp_remark,rate=10,prec_level=1
t ovs-ofctl -O OpenFlow13 dump-meters br0
t m ovs-ofctl -O OpenFlow13 meter-stats br0
t ovs-ofctl -O OpenFlow13 add-flow br0 "priority=5,in_port=1,actions=meter:1,output:2"
t ovs-ofctl -O OpenFlow13 mod-meter br0 meter=1,pktps,band=type=drop,rate=5
t ovs-ofctl -O OpenFlow13 dump-meters br0 meter=1
t ovs-ofctl -O OpenFlow13 del-meter br0 meter=1
t ovs-ofctl -O OpenFlow13 dump-flows br0
t ovs-ofctl -O OpenFlow13 del-meters br0
t ovs-ofctl -O OpenFlow13 dump-meters br0
printf 'priority=1,in_port=1,actions=output:2\npriority=2,in_port=2,actions=frob\npriority=3,actions=drop\n' > flows.txt
t ovs-ofctl add-flows br0 flows.txt
printf 'priority=1,in_port=1,actions=output:2\npriority=3,actions=drop\n' > flows2.txt
t ovs-ofctl add-flows br0 flows2.txt
t ovs-ofctl diff-flows br0 flows2.txt
printf 'priority=1,in_port=1,actions=output:1\npriority=4,actions=drop\n' > flows3.txt
t ovs-ofctl replace-flows br0 flows3.txt
ts ovs-ofctl dump-flows --no-stats br0
t ovs-ofctl diff-flows br0 flows2.txt
t ovs-ofctl packet-out br0 LOCAL 'in_port=1,actions=output:2' 505400000002505400000001080045000014000040000101000000000a0000010a000002
t ovs-ofctl -O OpenFlow13 packet-out br0 'in_port=1 packet=505400000002505400000001080045000014000040000101000000000a0000010a000002 actions=output:2'
t ovs-ofctl packet-out br0 99 'output:2' 5054
t ovs-ofctl dump-ports br0 2
ts ovs-ofctl --names dump-flows br0
t ovs-ofctl --strict del-flows br0 "priority=4"
t ovs-ofctl -O OpenFlow13 --strict mod-flows br0 "priority=1,in_port=1,actions=output:2"
ts ovs-ofctl dump-flows --no-stats br0
t ovs-ofctl -O OpenFlow14 --bundle add-flow br0 "priority=9,actions=frob"
t ovs-ofctl -O OpenFlow14 --bundle add-flow br0 "priority=9,in_port=9999,actions=drop"
t ovs-ofctl add-flow br0 "priority=9,actions=output:70000"
t ovs-ofctl add-flow br0 "table=255,priority=9,actions=drop"
t ovs-ofctl -O OpenFlow13 add-flow br0 "table=2,priority=9,actions=goto_table:1"
t ovs-ofctl -O OpenFlow13 add-flow br0 "priority=9,actions=group:7"
t ovs-ofctl -O OpenFlow13 add-flow br0 "priority=9,actions=meter:7"
