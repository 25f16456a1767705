# needs: vswitchd
# timeout: 60
# bond/show, bond/list, lacp/show and the bond columns after the same configuration
# (dummy ports, OpenFlow numbers pinned), Open vSwitch against ours.  MACs (the bridge's
# and the dummies' depend on creation order) and times are masked.
m() {
  "$@" 2>&1 | sed -E -e 's/([0-9a-f]{2}:){5}[0-9a-f]{2}/<mac>/g' \
    -e 's/next rebalance: [0-9]+ ms/next rebalance: <n> ms/' -e 's/expires in [0-9]+ ms/expires in <n> ms/'
  return "${PIPESTATUS[0]}"
}
l() {
  "$@" 2>&1 | sed -e 's/p2, p1$/p1, p2/'
  return "${PIPESTATUS[0]}"
}
t ovs-vsctl add-br br0 -- set bridge br0 datapath_type=dummy
t ovs-vsctl add-bond br0 bond0 p1 p2 -- set Interface p1 type=dummy ofport_request=1 -- set Interface p2 type=dummy ofport_request=2 -- add-port br0 p3 -- set Interface p3 type=dummy ofport_request=3
# Which member a new bond makes active, and bond/list's member order, follow Open vSwitch's
# hash of the members' addresses in memory: pick the active member by hand and sort the list.
t sh -c 'ovs-appctl bond/set-active-slave bond0 p2 >/dev/null'
t ovs-appctl bond/set-active-slave bond0 p2
t m ovs-appctl bond/show
t l ovs-appctl bond/list
t ovs-appctl lacp/show
t m ovs-vsctl get Port bond0 bond_active_slave
t m ovs-appctl bond/show bond0
t ovs-appctl netdev-dummy/set-admin-state p2 down
t sleep 0.5
t m ovs-appctl bond/show bond0
t m ovs-vsctl get Port bond0 bond_active_slave
t ovs-appctl netdev-dummy/set-admin-state p2 up
t sleep 0.5
t m ovs-appctl bond/show bond0
# Errors, with Open vSwitch's texts.
t ovs-appctl bond/show nosuch
t ovs-appctl bond/set-active-slave nosuch p2
t ovs-appctl bond/set-active-slave bond0 nosuch
t ovs-appctl bond/enable-slave nosuch p1
t ovs-appctl bond/migrate bond0 3 p1
t ovs-appctl bond/migrate bond0 x p1
t ovs-appctl lacp/show nosuch
t ovs-appctl lacp/show-stats nosuch
t ovs-appctl bond/hash 00:00:00:00:00:01
t ovs-appctl bond/hash 00:00:00:00:00:01 10 3
# Delays and a primary member.
t ovs-vsctl set Port bond0 bond_updelay=200 bond_downdelay=100 other_config:bond-primary=p1
t m ovs-appctl bond/show bond0
# balance-slb with LACP (no partner: members expire, then are defaulted).
# The aggregation key is the first registered member's port id (registration order is the
# Interface rows' UUID order in OVS): give both members the same key.
t ovs-vsctl set Interface p1 other_config:lacp-aggregation-key=7 -- set Interface p2 other_config:lacp-aggregation-key=7
t ovs-vsctl set Port bond0 bond_mode=balance-slb lacp=active other_config:lacp-time=fast -- remove Port bond0 other_config bond-primary
t m ovs-appctl bond/show
t l ovs-appctl bond/list
ts ovs-vsctl --columns=name,lacp_current list Interface
t sleep 4
t m ovs-appctl bond/show
t m ovs-appctl lacp/show
t m ovs-appctl lacp/show bond0
ts ovs-vsctl --columns=name,lacp_current list Interface
t ovs-appctl bond/enable-slave bond0 p1
t ovs-appctl bond/migrate bond0 7 p1
t ovs-appctl bond/disable-slave bond0 p1
t m ovs-appctl bond/show bond0
# Passive LACP with fallback to active-backup.
t ovs-vsctl set Port bond0 lacp=passive other_config:lacp-fallback-ab=true bond_mode=active-backup
t sleep 0.5
t sh -c 'ovs-appctl bond/set-active-slave bond0 p2 >/dev/null'
t m ovs-appctl bond/show bond0
t m ovs-appctl lacp/show bond0
t ovs-vsctl set Port bond0 lacp=off
ts ovs-vsctl --columns=name,lacp_current list Interface
t ovs-appctl lacp/show
t ovs-vsctl del-port br0 bond0
t l ovs-appctl bond/list
