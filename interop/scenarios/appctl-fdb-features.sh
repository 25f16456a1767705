# needs: vswitchd
# timeout: 60
# ovs-appctl commands of the bridge's side: MAC learning statistics, datapath features,
# and the answers for protocols no configuration has enabled (multicast snooping, STP,
# RSTP, CFM, BFD), with their error texts, Open vSwitch against ours.
t ovs-vsctl add-br br0 -- set bridge br0 datapath_type=dummy
t ovs-vsctl add-port br0 p1 -- set Interface p1 type=dummy ofport_request=1
t ovs-vsctl add-port br0 p2 -- set Interface p2 type=dummy ofport_request=2
t ovs-appctl dpif/show-dp-features br0
t ovs-appctl dpif/show-dp-features nobr
t ovs-appctl mdb/show br0
t ovs-appctl mdb/show nobr
t ovs-appctl mdb/flush br0
t ovs-appctl stp/show
t ovs-appctl stp/show br0
t ovs-appctl rstp/show
t ovs-appctl rstp/show br0
t ovs-appctl cfm/show
t ovs-appctl cfm/show p1
t ovs-appctl bfd/show
t ovs-appctl bfd/show p1
t ovs-appctl fdb/stats-show br0
t ovs-appctl fdb/stats-show nobr
t ovs-appctl netdev-dummy/receive p1 'in_port(1),eth(src=50:54:00:00:00:01,dst=50:54:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)'
t ovs-appctl netdev-dummy/receive p1 'in_port(1),eth(src=50:54:00:00:00:03,dst=50:54:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)'
t ovs-appctl netdev-dummy/receive p2 'in_port(2),eth(src=50:54:00:00:00:03,dst=50:54:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)'
t ovs-appctl fdb/stats-show br0
t ovs-appctl fdb/flush br0
t ovs-appctl fdb/stats-show br0
t ovs-appctl fdb/stats-clear br0
t ovs-appctl fdb/stats-show br0
t ovs-appctl fdb/stats-clear nobr
t ovs-appctl fdb/stats-clear
