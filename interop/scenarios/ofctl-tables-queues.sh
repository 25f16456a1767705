# needs: vswitchd
# timeout: 80
# Tables and queues through ovs-ofctl and ovs-appctl, Open vSwitch against ours: queue
# statistics and configuration (netdev-dummy's queue 0, errors, OF1.0-1.5, QoS rows that a
# dummy port ignores), table features and table statistics per version (meta-flow's field
# lists, Flow_Table names and limits), OF1.4 table descriptions and TABLE_MOD (eviction,
# vacancy, OF1.1/1.2 table-miss config), eviction of a full table, vacancy events
# (TABLE_STATUS to a monitor that asked for them), IPFIX statistics without IPFIX, and
# memory/show.  Masked: durations and flow ages, and the transient idl-outstanding-txns.
m() {
  "$@" 2>&1 | sed -E -e 's/duration=[0-9.]+s/duration=<d>/g' -e 's/(hard|idle)_age=[0-9]+/\1_age=<n>/g'
  return "${PIPESTATUS[0]}"
}
mem() {
  ovs-appctl memory/show 2>&1 | sed -E 's/idl-outstanding-txns-Open_vSwitch:[0-9]+ //'
  return "${PIPESTATUS[0]}"
}
desc() {    # the first N tables of dump-table-desc
  ovs-ofctl -O OpenFlow14 dump-table-desc br0 2>&1 | head -"$1"
  return "${PIPESTATUS[0]}"
}
t ovs-vsctl add-br br0 -- set bridge br0 datapath_type=dummy protocols=OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15
t ovs-vsctl add-port br0 p1 -- set Interface p1 type=dummy ofport_request=1
t ovs-vsctl add-port br0 p2 -- set Interface p2 type=dummy ofport_request=2
t mem

# Queue statistics: every dummy port (LOCAL too) has queue 0, counters unknown.
t ovs-ofctl queue-stats br0
t ovs-ofctl queue-stats br0 1
t ovs-ofctl queue-stats br0 1 0
t ovs-ofctl queue-stats br0 1 5
t ovs-ofctl queue-stats br0 9
t ovs-ofctl queue-stats br0 ALL 5
t ovs-ofctl queue-stats br0 LOCAL
t ovs-ofctl -O OpenFlow11 queue-stats br0
t ovs-ofctl -O OpenFlow13 queue-stats br0
t ovs-ofctl -O OpenFlow13 queue-stats br0 2 5
t ovs-ofctl -O OpenFlow13 queue-stats br0 9
t ovs-ofctl -O OpenFlow14 queue-stats br0
t ovs-ofctl -O OpenFlow15 queue-stats br0 LOCAL 0
# Queue configuration: OFPT_QUEUE_GET_CONFIG (OF1.0 refuses LOCAL), OF1.4's queue desc.
t ovs-ofctl queue-get-config br0
t ovs-ofctl queue-get-config br0 1
t ovs-ofctl queue-get-config br0 9
t ovs-ofctl queue-get-config br0 LOCAL
t ovs-ofctl -O OpenFlow11 queue-get-config br0 1
t ovs-ofctl -O OpenFlow12 queue-get-config br0 2
t ovs-ofctl -O OpenFlow13 queue-get-config br0
t ovs-ofctl -O OpenFlow13 queue-get-config br0 9
t ovs-ofctl -O OpenFlow14 queue-get-config br0
t ovs-ofctl -O OpenFlow14 queue-get-config br0 1 0
t ovs-ofctl -O OpenFlow14 queue-get-config br0 1 5
t ovs-ofctl -O OpenFlow14 queue-get-config br0 9
t ovs-ofctl -O OpenFlow15 queue-get-config br0 LOCAL
# QoS rows do not change a dummy port's queues.
t sh -c 'ovs-vsctl -- set Port p1 qos=@q -- --id=@q create QoS type=linux-htb other-config:max-rate=1000000 queues:0=@q0 queues:7=@q7 -- --id=@q0 create Queue other-config:min-rate=100 -- --id=@q7 create Queue other-config:max-rate=500 >/dev/null'
t ovs-vsctl set Open_vSwitch . external_ids:x=1
t ovs-ofctl queue-stats br0 1
t ovs-ofctl queue-stats br0 1 7
t ovs-ofctl -O OpenFlow14 queue-get-config br0 1 7
t ovs-appctl qos/show p1
t ovs-appctl qos/show-types p1
t ovs-appctl qos/show nosuch
t ovs-vsctl clear Port p1 qos

# Table features and statistics: meta-flow's matchable/maskable/writable fields, each
# version's actions and instructions, Flow_Table names and flow limits.
t ovs-vsctl -- --id=@t create Flow_Table flow_limit=3 name=small -- set bridge br0 flow_tables:1=@t
t ovs-vsctl -- --id=@t create Flow_Table flow_limit=2 overflow_policy=evict -- set bridge br0 flow_tables:2=@t
t ovs-ofctl -O OpenFlow13 dump-table-features br0
t ovs-ofctl -O OpenFlow14 dump-table-features br0
t ovs-ofctl -O OpenFlow15 dump-table-features br0
t ovs-ofctl dump-tables br0
t ovs-ofctl -O OpenFlow11 dump-tables br0
t ovs-ofctl -O OpenFlow12 dump-tables br0
t ovs-ofctl -O OpenFlow13 dump-tables br0

# OF1.4 table descriptions and TABLE_MOD.
t ovs-ofctl -O OpenFlow14 dump-table-desc br0
t ovs-ofctl -O OpenFlow14 mod-table br0 0 evict
t desc 8
t ovs-ofctl -O OpenFlow14 mod-table br0 0 vacancy:10,20
t ovs-ofctl -O OpenFlow14 mod-table br0 1 vacancy:20,80
t desc 12
t ovs-ofctl -O OpenFlow14 mod-table br0 0 novacancy
t ovs-ofctl -O OpenFlow14 mod-table br0 0 noevict
t desc 8
t ovs-ofctl -O OpenFlow15 mod-table br0 all evict
t sh -c 'ovs-ofctl -O OpenFlow14 dump-table-desc br0 | tail -8'
t ovs-ofctl -O OpenFlow14 mod-table br0 all noevict
t ovs-ofctl -O OpenFlow14 mod-table br0 254 evict
t ovs-ofctl -O OpenFlow14 mod-table br0 0 vacancy:30,20
t ovs-ofctl -O OpenFlow13 mod-table br0 0 evict
# OF1.1/1.2 table-miss config, as OVS reports it back (OF1.1 sends its internal enum).
t ovs-ofctl -O OpenFlow11 mod-table br0 3 drop
t ovs-ofctl -O OpenFlow12 mod-table br0 4 continue
t ovs-ofctl -O OpenFlow11 mod-table br0 5 controller
t sh -c 'ovs-ofctl -O OpenFlow11 dump-tables br0 | grep -E "^  table|config="'
t sh -c 'ovs-ofctl -O OpenFlow12 dump-tables br0 | grep -E "^  table|config="'

# Eviction: table 1 holds 3 flows; only flows with a timeout are evictable, the
# least important first, then the one that expires first.
t ovs-ofctl add-flow br0 "table=1,priority=1,hard_timeout=100,actions=drop"
t ovs-ofctl add-flow br0 "table=1,priority=2,hard_timeout=50,actions=drop"
t ovs-ofctl add-flow br0 "table=1,priority=3,hard_timeout=200,actions=drop"
t ovs-ofctl add-flow br0 "table=1,priority=4,hard_timeout=300,actions=drop"
t ovs-ofctl -O OpenFlow14 mod-table br0 1 evict
t ovs-ofctl add-flow br0 "table=1,priority=4,hard_timeout=300,actions=drop"
t m ovs-ofctl --sort dump-flows br0 table=1
t ovs-ofctl -O OpenFlow14 add-flow br0 "table=1,priority=5,importance=9,hard_timeout=10,actions=drop"
t ovs-ofctl -O OpenFlow14 add-flow br0 "table=1,priority=6,idle_timeout=20,actions=drop"
t m ovs-ofctl -O OpenFlow14 --sort dump-flows br0 table=1
t ovs-ofctl add-flow br0 "table=1,priority=7,actions=drop"
t ovs-ofctl add-flow br0 "table=1,priority=8,actions=drop"
t m ovs-ofctl -O OpenFlow14 --sort dump-flows br0 table=1
t ovs-ofctl add-flow br0 "table=1,priority=9,hard_timeout=5,actions=drop"
t desc 8
t ovs-ofctl -O OpenFlow14 mod-table br0 1 noevict
t ovs-ofctl add-flow br0 "table=1,priority=10,actions=drop"
t ovs-ofctl add-flow br0 "table=2,priority=1,actions=drop"
t ovs-ofctl add-flow br0 "table=2,priority=2,actions=drop"
t ovs-ofctl add-flow br0 "table=2,priority=3,hard_timeout=10,actions=drop"
t ovs-ofctl --strict del-flows br0 "table=2,priority=2"
t ovs-ofctl add-flow br0 "table=2,priority=4,hard_timeout=10,actions=drop"
t ovs-ofctl add-flow br0 "table=2,priority=5,hard_timeout=20,actions=drop"
t m ovs-ofctl --sort dump-flows br0 table=2
t ovs-ofctl -O OpenFlow14 dump-aggregate br0
t mem

# Vacancy events: a monitor that asks for TABLE_STATUS (OF1.4 SET_ASYNC, table status
# property) gets VACANCY_DOWN below vacancy_down, then VACANCY_UP above vacancy_up.
t ovs-ofctl del-flows br0 table=1
t ovs-vsctl -- --id=@t create Flow_Table flow_limit=10 -- set bridge br0 flow_tables:1=@t
t ovs-ofctl -O OpenFlow14 monitor br0 --detach --no-chdir --pidfile
t ovs-appctl -t ovs-ofctl ofctl/send 051c0010000000020009000800000018
t ovs-appctl -t ovs-ofctl ofctl/set-output-file $OVS_RUNDIR/monitor.log
t ovs-ofctl -O OpenFlow14 mod-table br0 1 vacancy:20,80
t sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do ovs-ofctl -O OpenFlow14 add-flow br0 table=1,in_port=$i,actions=drop; done'
t ovs-ofctl -O OpenFlow14 add-flow br0 table=1,in_port=11,actions=drop
t ovs-appctl -t ovs-ofctl ofctl/barrier
t cat $OVS_RUNDIR/monitor.log
t sh -c 'for i in 1 2 3 4 5 6 7 8 9; do ovs-ofctl -O OpenFlow14 del-flows br0 table=1,in_port=$i; done'
t ovs-ofctl -O OpenFlow14 mod-table br0 1 novacancy
t sh -c 'for i in 1 2 3 4 5 6 7 8; do ovs-ofctl -O OpenFlow14 add-flow br0 table=1,in_port=$i,actions=drop; done'
t ovs-ofctl -O OpenFlow14 mod-table br0 1 vacancy:20,80
t ovs-ofctl -O OpenFlow14 add-flow br0 table=1,in_port=9,actions=drop
t ovs-ofctl -O OpenFlow14 del-flows br0 table=1
t mem
t ovs-appctl -t ovs-ofctl ofctl/barrier
t cat $OVS_RUNDIR/monitor.log
t ovs-appctl -t ovs-ofctl exit

# IPFIX statistics without IPFIX (Nicira errors are vendor errors before OF1.2).
t ovs-ofctl dump-ipfix-bridge br0
t ovs-ofctl dump-ipfix-flow br0
t ovs-ofctl -O OpenFlow11 dump-ipfix-bridge br0
t ovs-ofctl -O OpenFlow13 dump-ipfix-flow br0
t ovs-vsctl del-br br0
t mem
