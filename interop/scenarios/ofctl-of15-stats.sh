# needs: vswitchd
# timeout: 60
# OpenFlow 1.5 flow and aggregate statistics (OXS: duration, idle_time, packet and byte
# counts; flow_count for the aggregate), Open vSwitch against ours: the printed replies
# (flags, importance, idle_age; filters by table, cookie, out_port, match) and, for
# single-flow and aggregate replies, the bytes themselves (ovs-ofctl -mmmm hex dumps,
# the OXS duration and idle_time values zeroed).  The no_packet_counts/no_byte_counts
# flags are reported but the counters still count, as in ovs-vswitchd 3.1.
hx() {
  "$@" 2>&1 | python3 -c '
import re, sys
lines, dump = sys.stdin.read().splitlines(), bytearray()
def flush():
    for pat in (b"\x80\x02\x00\x08", b"\x80\x02\x02\x08"):       # OXS duration, idle_time
        i = dump.find(pat)
        while i >= 0:
            dump[i + 4:i + 12] = bytes(8)
            i = dump.find(pat, i + 12)
    for o in range(0, len(dump), 16):
        print("%08x  %s" % (o, dump[o:o + 16].hex(" ")))
    dump.clear()
for line in lines:
    m = re.match(r"[0-9a-f]{8}  ([0-9a-f -]+?) *\|", line)
    if m:
        dump.extend(bytes.fromhex(m.group(1).replace("-", " ")))
        continue
    flush()
    print(re.sub(r"duration[0-9.]+s", "duration<t>", line))
flush()
'
  return "${PIPESTATUS[0]}"
}
t ovs-vsctl add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure
t ovs-vsctl add-port br0 p1 -- set Interface p1 type=dummy ofport_request=1 -- add-port br0 p2 -- set Interface p2 type=dummy ofport_request=2
t ovs-ofctl -O OpenFlow15 add-flow br0 "priority=10,in_port=1,actions=output:2"
t ovs-ofctl -O OpenFlow15 add-flow br0 "cookie=0x5,table=1,priority=20,send_flow_rem,reset_counts,idle_timeout=50,hard_timeout=100,importance=7,ip,nw_dst=10.0.0.1,actions=drop"
t ovs-ofctl -O OpenFlow15 add-flow br0 "cookie=0x6,priority=3,no_packet_counts,no_byte_counts,ip,actions=normal"
t ovs-ofctl -O OpenFlow15 add-flow br0 "cookie=0x6,table=1,priority=30,hard_timeout=300,importance=65535,tcp,tp_dst=80,actions=set_field:8080->tcp_dst,push_vlan:0x8100,set_field:4196->vlan_vid,output:2,goto_table:2"
t ovs-ofctl -O OpenFlow13 add-flow br0 "cookie=0x7,table=2,priority=5,send_flow_rem,dl_src=02:00:00:00:00:01,actions=write_actions(output:1),write_metadata:0x5/0xff,goto_table:3"
t ovs-ofctl add-flow br0 "cookie=0x8,table=2,udp,actions=mod_tp_dst:53,resubmit(,3)"
t ovs-appctl netdev-dummy/receive p1 'in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)'
t ovs-appctl netdev-dummy/receive p2 'in_port(2),eth(src=00:00:00:00:00:02,dst=00:00:00:00:00:01),eth_type(0x0800),ipv4(src=10.0.0.2,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=0,code=0)'
t sleep 1
ts ovs-ofctl -O OpenFlow15 dump-flows br0
t ovs-ofctl -O OpenFlow15 --sort dump-flows br0
t ovs-ofctl -O OpenFlow15 --rsort=priority dump-flows br0 ip
ts ovs-ofctl -O OpenFlow15 dump-flows br0 table=1
ts ovs-ofctl -O OpenFlow15 dump-flows br0 cookie=0x6/-1
ts ovs-ofctl -O OpenFlow15 dump-flows br0 table=2,cookie=0x8/0xf
ts ovs-ofctl -O OpenFlow15 dump-flows br0 out_port=2
ts ovs-ofctl -O OpenFlow15 --no-stats dump-flows br0
t ovs-ofctl -O OpenFlow15 dump-flows br0 table=9
t ovs-ofctl -O OpenFlow15 dump-aggregate br0
t ovs-ofctl -O OpenFlow15 dump-aggregate br0 table=1
t ovs-ofctl -O OpenFlow15 dump-aggregate br0 cookie=0x6/-1
t ovs-ofctl -O OpenFlow15 dump-aggregate br0 ip
t ovs-ofctl -O OpenFlow15 dump-aggregate br0 table=9
# The bytes.
t hx ovs-ofctl -O OpenFlow15 -mmmm dump-flows br0 cookie=0x5/-1
t hx ovs-ofctl -O OpenFlow15 -mmmm dump-flows br0 in_port=1
t hx ovs-ofctl -O OpenFlow15 -mmmm dump-flows br0 table=1,tcp
t hx ovs-ofctl -O OpenFlow15 -mmmm dump-flows br0 cookie=0x7/-1
t hx ovs-ofctl -O OpenFlow15 -mmmm dump-flows br0 table=2,udp
t hx ovs-ofctl -O OpenFlow15 -mmmm dump-flows br0 table=9
t ovs-ofctl -O OpenFlow15 -mmmm dump-aggregate br0
t ovs-ofctl -O OpenFlow15 -mmmm dump-aggregate br0 table=2
t ovs-ofctl -O OpenFlow15 -mmmm dump-aggregate br0 table=9
# A modify changes the actions (and the encoded entry), not the statistics.
t ovs-ofctl -O OpenFlow15 mod-flows br0 "in_port=1,actions=output:2,output:LOCAL"
t hx ovs-ofctl -O OpenFlow15 -mmmm dump-flows br0 in_port=1
t ovs-ofctl -O OpenFlow15 del-flows br0 cookie=0x6/-1
ts ovs-ofctl -O OpenFlow15 dump-flows br0
t ovs-ofctl -O OpenFlow15 dump-aggregate br0
# OpenFlow 1.5 FLOW_REMOVED (OXS duration, packet and byte counts) to an OF1.5 monitor
# (ovs-ofctl monitor with a miss_send_len, so the service connection gets async messages):
# a delete and a hard timeout, printed and as bytes.
t ovs-vsctl del-br br0
t ovs-vsctl add-br br0 -- set bridge br0 datapath_type=dummy fail-mode=secure
t ovs-vsctl add-port br0 p1 -- set Interface p1 type=dummy ofport_request=1 -- add-port br0 p2 -- set Interface p2 type=dummy ofport_request=2
t ovs-ofctl -O OpenFlow15 add-flow br0 "cookie=0x5,table=1,priority=20,send_flow_rem,idle_timeout=50,hard_timeout=100,importance=7,ip,nw_dst=10.0.0.1,actions=drop"
t ovs-ofctl -O OpenFlow15 add-flow br0 "cookie=0x6,priority=20,send_flow_rem,hard_timeout=1,in_port=2,actions=drop"
t ovs-ofctl -O OpenFlow15 add-flow br0 "cookie=0x7,priority=21,in_port=1,actions=output:2"
ovs-ofctl -O OpenFlow15 -mmmm monitor br0 65534 > mon.txt 2>&1 &
MON=$!
t sleep 0.5
t ovs-appctl netdev-dummy/receive p2 'in_port(2),eth(src=00:00:00:00:00:02,dst=00:00:00:00:00:01),eth_type(0x0800),ipv4(src=10.0.0.2,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=0,code=0)'
t ovs-ofctl -O OpenFlow15 del-flows br0 table=1
t ovs-ofctl -O OpenFlow15 del-flows br0 cookie=0x7/-1
t sleep 2.5
kill $MON
t hx grep -v fatal_signal mon.txt
