# needs: vswitchd
# timeout: 60
# Cookie filters of OpenFlow 1.0 flow_mods (NXM_NX_COOKIE_W in a Nicira flow_mod match): loose
# and strict delete, modify, Open vSwitch against ours.
t ovs-vsctl add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure
t ovs-ofctl add-flow br0 "cookie=1,priority=5,in_port=1,actions=drop"
t ovs-ofctl add-flow br0 "cookie=2,priority=6,in_port=1,actions=drop"
t ovs-ofctl add-flow br0 "cookie=3,priority=7,in_port=2,actions=drop"
t ovs-ofctl del-flows br0 cookie=1/-1
ts ovs-ofctl dump-flows --no-stats br0
t ovs-ofctl mod-flows br0 cookie=2/-1,actions=output:3
ts ovs-ofctl dump-flows --no-stats br0
t ovs-ofctl del-flows br0 cookie=0/1
ts ovs-ofctl dump-flows --no-stats br0
t ovs-ofctl --strict del-flows br0 cookie=3/-1,priority=7,in_port=2
ts ovs-ofctl dump-flows --no-stats br0
