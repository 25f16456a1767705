"""Packet-in rate limiting (ofproto/pinsched.py, OVS's pinsched.c and token-bucket.c)
and its use by OFConn and packet_in.deliver.  Time is passed in: no clock, no trio."""
from __future__ import annotations

import struct
from types import SimpleNamespace

import pytest

from ofproto import ofconn as oc
from ofproto import packet_in as P
from ofproto import pinsched as PS
from ofproto.ofp import messages as M
from ofproto.ofproto import HmapOrder

MS = 0.001


def burst_of(ps, n, now, port=1, start=0):
    """Send messages start..start+n-1 from `port` at `now`; those that went out at once."""
    out = []
    for i in range(start, start + n):
        out += ps.send(port, i, now)
    return out


@pytest.mark.parametrize("given, used", [
    ((100, 0), (100, 25)),          # burst unset: a quarter of the rate
    ((100, 25), (100, 25)),
    ((1000, 7), (1000, 7)),
    ((0, 0), (1000, 250)),          # no rate: 1000/s
    ((3, 0), (3, 1)),               # at least 1
    ((-5, -1), (1000, 250)),
])
def test_adjust_limits(given, used):
    assert PS.adjust_limits(*given) == used
    assert PS.PinSched(*given).limits == used


def test_bucket_starts_full_then_refills_at_the_rate():
    ps = PS.PinSched(100, 25)
    assert burst_of(ps, 30, 0.0) == list(range(25))           # the burst goes at once
    assert ps.n_queued == 5 and ps.n_normal == 25 and ps.n_limited == 5
    # 100/s is 100 tokens a ms, 1000 a packet: one every 10 ms.  OVS wakes the
    # ms after the token is due (last_fill + need / rate + 1).
    assert ps.wake_time() == pytest.approx(11 * MS)
    assert ps.run(9 * MS) == []
    assert ps.run(10 * MS) == [25]
    assert ps.wake_time() == pytest.approx(21 * MS)
    assert ps.run(35 * MS) == [26, 27]                         # 25 ms: 2500 tokens, 2 packets
    assert ps.run(35 * MS) == []
    assert ps.bucket.tokens == 500
    assert ps.run(1.0) == [28, 29]
    assert ps.wake_time() is None and ps.n_queued == 0


def test_no_queue_no_limit_below_the_rate():
    ps = PS.PinSched(100, 25)
    for i in range(200):                                       # 50/s for 4 s: never queued
        assert ps.send(1, i, i * 20 * MS) == [i]
    assert (ps.n_normal, ps.n_limited, ps.n_queue_dropped) == (200, 0, 0)


def test_leftover_tokens_are_spent_before_the_idle_time_counts():
    """token_bucket_withdraw refills only when short of a packet: after a pause a
    partly used bucket lets 2 * burst - 1 packet-ins through at once, as OVS."""
    ps = PS.PinSched(100, 25)
    assert ps.send(1, "first", 0.0) == ["first"]
    assert len(burst_of(ps, 60, 10.0)) == 24 + 25
    assert ps.n_queued == 11


def test_queue_holds_burst_packets_and_drops_the_oldest():
    ps = PS.PinSched(100, 25)
    assert burst_of(ps, 100, 0.0) == list(range(25))
    assert ps.n_queued == 25
    assert (ps.n_normal, ps.n_limited, ps.n_queue_dropped) == (25, 75, 50)
    assert ps.status("action") == {"packet-in-action-backlog": "25",
                                   "packet-in-action-bypassed": "25",
                                   "packet-in-action-queued": "75",
                                   "packet-in-action-dropped": "50"}
    # 250 ms later the bucket holds 25 packets: the newest 25 come out in order.
    assert ps.run(0.25) == list(range(75, 100))
    assert ps.status("miss")["packet-in-miss-backlog"] == "0"


def test_queued_traffic_keeps_its_place_behind_the_queue():
    """With anything queued a new packet-in queues too, even when a token is there."""
    ps = PS.PinSched(100, 25)
    burst_of(ps, 26, 0.0)
    assert ps.send(1, "late", 0.5) == []                       # tokens are there, but 25 waits
    assert ps.run(0.5) == [25, "late"]


def test_ports_are_served_round_robin_in_hmap_order():
    ps = PS.PinSched(100, 25)
    burst_of(ps, 25, 0.0, port=9)                              # empty the bucket
    for port in (3, 1, 2):
        burst_of(ps, 4, 0.0, port=port, start=port * 10)
    h = HmapOrder()                                            # OVS's hmap of the three queues
    for port in (3, 1, 2):
        h.insert(port)
    order = list(h)
    assert list(ps.order) == order
    out = ps.run(1.0)
    assert [m // 10 for m in out] == order * 4
    assert [m for m in out if m // 10 == 1] == [10, 11, 12, 13]   # each port in its order


def test_a_full_queue_drops_from_the_longest_port():
    ps = PS.PinSched(100, 25)
    burst_of(ps, 25, 0.0, port=9)
    burst_of(ps, 20, 0.0, port=1, start=100)
    burst_of(ps, 5, 0.0, port=2, start=200)
    assert ps.send(2, 205, 0.0) == []                          # full: port 1 loses its oldest
    assert ps.n_queue_dropped == 1
    assert list(ps.queues[1])[0] == 101 and len(ps.queues[2]) == 6


@pytest.mark.parametrize("pick, loser", [(0, "second"), (1, "first")])
def test_equal_queues_drop_at_random(pick, loser):
    """Knuth's reservoir over equally long queues (random_range(n) == 0 takes the later)."""
    ps = PS.PinSched(100, 4, rand=lambda n: pick)
    burst_of(ps, 4, 0.0, port=9)
    h = HmapOrder()
    h.insert(5)
    h.insert(6)
    first, second = list(h)
    for port in (5, 6):
        burst_of(ps, 2, 0.0, port=port, start=port * 10)
    ps.send(7, 70, 0.0)
    lost = {"first": first, "second": second}[loser]
    assert len(ps.queues[lost]) == 1 and list(ps.queues[lost]) == [lost * 10 + 1]


def test_at_most_50_a_run_and_the_51st_token_is_spent():
    ps = PS.PinSched(1000, 250)
    burst_of(ps, 250, 0.0)
    burst_of(ps, 100, 0.0, start=250)
    assert len(ps.run(1.0)) == 50
    assert ps.bucket.tokens == 250_000 - 51_000
    assert len(ps.run(1.0)) == 50 and ps.n_queued == 0


def test_set_limits_keeps_the_queue_trimmed_to_the_new_burst():
    ps = PS.PinSched(100, 25)
    burst_of(ps, 45, 0.0)
    assert ps.n_queued == 20
    ps.set_limits(200, 0)                                      # burst 50: nothing lost
    assert ps.limits == (200, 50) and ps.n_queued == 20
    ps.set_limits(100, 10)
    assert ps.n_queued == 10 and ps.n_queue_dropped == 10
    assert list(ps.queues[1]) == list(range(35, 45))           # the oldest went
    assert ps.bucket.tokens <= 10_000


def test_wake_time_when_a_token_is_already_there():
    ps = PS.PinSched(100, 25)
    burst_of(ps, 30, 0.0)
    ps.set_limits(100, 25)
    ps.bucket.tokens = 1000                                    # e.g. limits raised
    assert ps.wake_time() == 0.0                               # due at once (a past time)


def test_milliseconds_floor_like_time_msec():
    base = 123456.789                                          # trio clocks are large numbers
    ms = PS._msec(base)
    assert PS._msec(ms / 1000.0) == ms                        # a wake-up at ms/1000 is that ms


# --------------------------------------------------------------- in an OFConn

def _conn(primary=True, version=1):
    c = oc.OFConn(SimpleNamespace(handlers={}), primary=primary, now=0.0)
    c.receive_data(M.make_hello(version, None, xid=1).encode(), 0.0)
    c.data_to_send()
    assert c.state is oc.State.ACTIVE
    return c


def _n_packet_ins(conn) -> int:
    data, n = conn.data_to_send(), 0
    while data:
        length = struct.unpack_from("!H", data, 2)[0]
        n += data[1] == 10                                     # OFPT_PACKET_IN
        data = data[length:]
    return n


def _event(reason=P.OFPR_ACTION, in_port=1):
    return P.PacketInEvent(packet=bytes(60), reason=reason, table_id=0, cookie=0,
                           metadata={"in_port": in_port})


def test_connection_limits_its_packet_ins_and_releases_them_on_its_timer():
    c = _conn()
    c.set_rate_limit(100, 25)
    for _ in range(100):
        P.deliver([c], _event(), 0.0)
    assert _n_packet_ins(c) == 25
    assert c.pinsched_status()["packet-in-action-backlog"] == "25" and c.pinsched_backlog == 25
    assert c.get_timer() == pytest.approx(11 * MS)            # the writer must wake then
    c.handle_timer(0.1)
    assert _n_packet_ins(c) == 10
    c.handle_timer(1.0)
    assert _n_packet_ins(c) == 15
    assert c.pinsched_status() == {
        "packet-in-action-backlog": "0", "packet-in-action-bypassed": "25",
        "packet-in-action-queued": "75", "packet-in-action-dropped": "50",
        "packet-in-miss-backlog": "0", "packet-in-miss-bypassed": "0",
        "packet-in-miss-queued": "0", "packet-in-miss-dropped": "0"}


def test_misses_and_actions_have_separate_buckets():
    c = _conn()
    c.set_rate_limit(100, 25)
    for _ in range(30):
        P.deliver([c], _event(P.OFPR_ACTION), 0.0)
    for reason in (P.OFPR_IMPLICIT_MISS, P.OFPR_NO_MATCH, P.OFPR_EXPLICIT_MISS):
        for _ in range(10):
            P.deliver([c], _event(reason), 0.0)
    assert _n_packet_ins(c) == 25 + 25
    st = c.pinsched_status()
    assert st["packet-in-action-backlog"] == "5" and st["packet-in-miss-backlog"] == "5"


def test_unlimited_and_service_connections_send_everything():
    ctl, mgmt = _conn(), _conn(primary=False)
    mgmt.miss_send_len = 0xFFFF                                # ovs-ofctl monitor
    for _ in range(300):
        P.deliver([ctl, mgmt], _event(), 0.0)
    assert _n_packet_ins(ctl) == 300 and _n_packet_ins(mgmt) == 300
    assert ctl.pinsched_status() == {} and ctl.get_timer() is None


def test_limits_change_live_and_go_away():
    c = _conn()
    c.set_rate_limit(100, 25)
    ps = c.schedulers[PS.ACTION]
    for _ in range(45):
        P.deliver([c], _event(), 0.0)
    c.set_rate_limit(100, None)                                # burst unset: 100 / 4
    assert c.schedulers[PS.ACTION] is ps and ps.n_queued == 20
    c.set_rate_limit(200, 0)
    assert ps.limits == (200, 50)
    c.set_rate_limit(None, 25)                                 # no rate: unlimited, queue gone
    assert c.schedulers == [None, None] and c.get_timer() is None
    c.data_to_send()
    P.deliver([c], _event(), 0.0)
    assert _n_packet_ins(c) == 1


def test_queueing_wakes_the_io_edge_once():
    c = _conn()
    woken = []
    c.on_output = lambda: woken.append(1)
    c.set_rate_limit(100, 25)
    for _ in range(25):
        P.deliver([c], _event(), 0.0)
    n = len(woken)                                             # one per message sent
    for _ in range(10):
        P.deliver([c], _event(), 0.0)
    assert len(woken) == n + 1
