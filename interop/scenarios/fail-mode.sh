# needs: vswitchd
# timeout: 60
# When ovs-vswitchd flushes a bridge's flows (first active controller set, last one
# removed, fail mode changed without controllers; passive ptcp: does not count), the
# ordinary priority=0 NORMAL flow of a standalone bridge without controllers, and the
# hidden fail-open rule once an unreachable controller has been gone for three probe
# intervals: not in dump-flows, only in bridge/dump-flows.  In-band rules (OVS's default
# connection mode) are not implemented: filtered out.
noinband() {
  "$@" 2>&1 | grep -v 'priority=1800[0-9][0-9]*,'
  return "${PIPESTATUS[0]}"
}
t ovs-vsctl add-br br0 -- set bridge br0 datapath_type=dummy
t ovs-appctl bridge/dump-flows br0
t ovs-ofctl add-flow br0 "priority=10,in_port=1,actions=drop"
t ovs-vsctl set-controller br0 tcp:127.0.0.1:1 -- set controller br0 inactivity_probe=1000
ts ovs-ofctl dump-flows --no-stats br0
t ovs-ofctl add-flow br0 "priority=11,in_port=1,actions=drop"
t ovs-vsctl set-controller br0 tcp:127.0.0.1:2 -- set controller br0 inactivity_probe=1000
ts ovs-ofctl dump-flows --no-stats br0
sleep 4
ts ovs-ofctl dump-flows --no-stats br0
ts noinband ovs-appctl bridge/dump-flows br0
t ovs-vsctl set-fail-mode br0 secure
ts noinband ovs-appctl bridge/dump-flows br0
t ovs-vsctl set-fail-mode br0 standalone
t ovs-vsctl del-controller br0
ts ovs-ofctl dump-flows --no-stats br0
t ovs-ofctl add-flow br0 "priority=12,in_port=1,actions=drop"
t ovs-vsctl set-fail-mode br0 secure
ts ovs-ofctl dump-flows --no-stats br0
t ovs-ofctl add-flow br0 "priority=13,in_port=1,actions=drop"
t ovs-vsctl set-fail-mode br0 standalone
ts ovs-ofctl dump-flows --no-stats br0
t ovs-vsctl set-controller br0 ptcp:0:127.0.0.1
ts ovs-ofctl dump-flows --no-stats br0
t ovs-ofctl add-flow br0 "priority=14,in_port=1,actions=drop"
t ovs-vsctl set-fail-mode br0 secure
ts ovs-ofctl dump-flows --no-stats br0
t ovs-vsctl del-controller br0
ts ovs-ofctl dump-flows --no-stats br0
