"""LACP state machines with a mock clock; texts and bytes from real OVS 3.1.

Expected texts were captured from ovs-vswitchd 3.1.0 (--enable-dummy) with two
bonds on dummy ports joined by netdev-dummy streams (br0 bond0 b1/b2 ofports
11/12, br1 bond1 c1/c2 ofports 21/22, lacp=active, balance-slb); the LACPDU
bytes come from ``options:tx_pcap`` on b1 read with ``ovs-pcap``.
"""
import re

from ofproto.lacp import (Lacp, LacpInfo, LacpPdu, lacp_frame, show, show_stats, LacpError,
                          STATE_SYNC, STATE_TIME)
import pytest

SYS0, SYS1 = 0x1A6246B8654B, 0x66E41D06B946
MAC_B1 = 0xAA55AA550004

# First LACPDU ovs-vswitchd sent on b1 (no partner yet: expired, partner TIME set).
OVS_FIRST_PDU = bytes.fromhex(
    "0180c2000002aa55aa550004880901010114fffe1a6246b8654b000cffff000bbd000000"
    "02140000000000000000000000000000020000000310" + "00" * 66)
# Third one, after negotiation with bond1.
OVS_NEGOTIATED_PDU = bytes.fromhex(
    "0180c2000002aa55aa550004880901010114fffe1a6246b8654b000cffff000b3d000000"
    "0214fffe66e41d06b9460016ffff00153d0000000310" + "00" * 66)

OVS_SHOW_NEGOTIATED = """\
---- bond0 ----
  status: active negotiated
  sys_id: 1a:62:46:b8:65:4b
  sys_priority: 65534
  aggregation key: 12
  lacp_time: slow

member: b1: current attached
  port_id: 11
  port_priority: 65535
  may_enable: true

  actor sys_id: 1a:62:46:b8:65:4b
  actor sys_priority: 65534
  actor port_id: 11
  actor port_priority: 65535
  actor key: 12
  actor state: activity aggregation synchronized collecting distributing

  partner sys_id: 66:e4:1d:06:b9:46
  partner sys_priority: 65534
  partner port_id: 21
  partner port_priority: 65535
  partner key: 22
  partner state: activity aggregation synchronized collecting distributing

member: b2: current attached
  port_id: 12
  port_priority: 65535
  may_enable: true

  actor sys_id: 1a:62:46:b8:65:4b
  actor sys_priority: 65534
  actor port_id: 12
  actor port_priority: 65535
  actor key: 12
  actor state: activity aggregation synchronized collecting distributing

  partner sys_id: 66:e4:1d:06:b9:46
  partner sys_priority: 65534
  partner port_id: 22
  partner port_priority: 65535
  partner key: 22
  partner state: activity aggregation synchronized collecting distributing
"""

# From captures/appctl.txt: a bond whose members have no partner.
OVS_SHOW_DEFAULTED = """\
---- bond0 ----
  status: active
  sys_id: ba:94:cd:c5:25:4e
  sys_priority: 65534
  aggregation key: 11
  lacp_time: slow

member: b1: defaulted detached
  port_id: 11
  port_priority: 65535
  may_enable: false

  actor sys_id: ba:94:cd:c5:25:4e
  actor sys_priority: 65534
  actor port_id: 11
  actor port_priority: 65535
  actor key: 11
  actor state: activity aggregation collecting distributing defaulted

  partner sys_id: 00:00:00:00:00:00
  partner sys_priority: 0
  partner port_id: 0
  partner port_priority: 0
  partner key: 0
  partner state:

member: b2: defaulted detached
  port_id: 12
  port_priority: 65535
  may_enable: false

  actor sys_id: ba:94:cd:c5:25:4e
  actor sys_priority: 65534
  actor port_id: 12
  actor port_priority: 65535
  actor key: 11
  actor state: activity aggregation collecting distributing defaulted

  partner sys_id: 00:00:00:00:00:00
  partner sys_priority: 0
  partner port_id: 0
  partner port_priority: 0
  partner key: 0
  partner state:
"""

# lacp=passive, lacp-time=fast, lacp-fallback-ab=true, no partner.
OVS_SHOW_PASSIVE_FALLBACK_MEMBER = """\
member: t1: defaulted attached
  port_id: 41
  port_priority: 65535
  may_enable: true

  actor sys_id: 1a:62:46:b8:65:4b
  actor sys_priority: 65534
  actor port_id: 41
  actor port_priority: 65535
  actor key: 42
  actor state: timeout aggregation synchronized collecting distributing defaulted
"""

OVS_STATS_HEAD = """\
---- bond0 statistics ----

member: b1:
  TX PDUs: 2
  RX PDUs: 2
  RX Bad PDUs: 0
  RX Marker Request PDUs: 0
  Link Expired: 0
  Link Defaulted: 0
  Carrier Status Changed: 0
"""


def _mask(text):
    return re.sub(r"\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b", "MAC", text)


class Wire:
    """Two LACP objects joined member-by-member in memory, on a mock clock."""

    def __init__(self, a, b, links):
        self.a, self.b, self.links = a, b, dict(links)
        self.back = {v: k for k, v in self.links.items()}
        self.cut = set()
        self.now = 0.0

    def step(self, dt=0.1):
        self.now += dt
        for src, dst, peer_of in ((self.a, self.b, self.links), (self.b, self.a, self.back)):
            for member, pdu in src.run(self.now):
                if member not in self.cut and peer_of[member] not in self.cut:
                    dst.receive(peer_of[member], lacp_frame(0x020000000000 | member, pdu),
                                self.now)

    def advance(self, seconds, dt=0.1):
        for _ in range(int(round(seconds / dt))):
            self.step(dt)


def make(name, sysid, ports, **kw):
    lacp = Lacp(name, sysid, **kw)
    for port, mname in ports:
        lacp.add_member(port, port, name=mname)
    return lacp


def pair(**kw):
    a = make("bond0", SYS0, [(12, "b2"), (11, "b1")], **kw)
    b = make("bond1", SYS1, [(22, "c2"), (21, "c1")], **kw)
    return Wire(a, b, {11: 21, 12: 22})


def test_first_pdu_bytes_match_ovs():
    a = make("bond0", SYS0, [(12, "b2"), (11, "b1")])
    tx = dict(a.run(0.0))
    assert lacp_frame(MAC_B1, tx[11]) == OVS_FIRST_PDU


def test_negotiation_in_memory_matches_ovs_show_and_pdu():
    w = pair()
    w.advance(1.0)
    for lacp in (w.a, w.b):
        assert lacp.status == "negotiated"
        for m in lacp.members:
            assert lacp.may_enable(m) and lacp.is_current(m) and lacp.is_attached(m)
            assert {"collecting", "distributing", "synchronized"} <= lacp.actor_state(m)
    assert w.a.partner(11).sys_id == SYS1 and w.a.partner(11).port_id == 21
    assert show([w.a, w.b], "bond0") == OVS_SHOW_NEGOTIATED
    # After negotiation a PDU carries partner info exactly as OVS's did.
    pdu = LacpPdu(w.a.actor(11), w.a.partner(11)).encode()
    assert lacp_frame(MAC_B1, pdu) == OVS_NEGOTIATED_PDU
    stats = show_stats([w.a], "bond0")
    assert stats.startswith("---- bond0 statistics ----\n\nmember: b1:\n  TX PDUs: ")
    assert "RX Bad PDUs: 0" in stats and stats.count("member:") == 2


def test_show_defaulted_matches_ovs_capture():
    a = make("bond0", 0xBA94CDC5254E, [(11, "b1"), (12, "b2")])
    a.run(0.0)
    a.run(3.0)    # expired -> defaulted after 3 x fast
    assert show([a]) == OVS_SHOW_DEFAULTED
    assert a.status == "configured"
    assert not a.is_current(11) and not a.may_enable(11)
    assert a.stats(11)["link_defaulted"] == 1


def test_partner_never_answers_passive_fallback():
    t = Lacp("bondtcp", SYS0, active=False, fast=True, fallback_ab=True)
    t.add_member(42, 42, name="t2")
    t.add_member(41, 41, name="t1")
    assert t.run(0.0) == []        # passive and defaulted: silent
    assert t.may_enable(41) and t.may_enable(42)
    # OVS prints "status: passive" and bond lacp_status "configured" here:
    # fallback-attached members never become the lead.
    assert t.status == "configured"
    assert t.show().startswith("---- bondtcp ----\n  status: passive\n")
    assert OVS_SHOW_PASSIVE_FALLBACK_MEMBER in t.show()


def test_active_without_partner_defaults_after_timeout():
    a = make("bond0", SYS0, [(11, "b1"), (12, "b2")])
    assert len(a.run(0.0)) == 2
    assert a.member_status(11) == "expired"
    assert a.next_wake(0.0) == pytest.approx(1.0)   # partner TIME set: fast tx
    a.run(2.9)
    assert a.member_status(11) == "expired"
    a.run(3.0)
    assert a.member_status(11) == "defaulted" and a.status == "configured"
    assert not a.may_enable(11)


@pytest.mark.parametrize("fast,timeout", [(True, 3.0), (False, 90.0)])
def test_rx_timeout_fast_and_slow(fast, timeout):
    w = pair(fast=fast)
    w.advance(1.0)
    assert w.a.member_status(11) == "current"
    w.cut.add(11)
    t0 = w.now
    while w.a.member_status(11) == "current":
        w.step(0.5)
    # The last PDU arrived at or slightly before t0; expiry 3x the rx period later.
    assert timeout - 1.5 <= w.now - t0 <= timeout + 0.5
    assert not w.a.may_enable(11) and w.a.may_enable(12)
    t1 = w.now
    while w.a.member_status(11) == "expired":
        w.step(0.5)
    assert w.a.member_status(11) == "defaulted"
    assert 2.5 <= w.now - t1 <= 3.5         # expired state always lasts 3 x fast
    assert w.a.stats(11)["link_expired"] == 1 and w.a.stats(11)["link_defaulted"] == 1
    # b2 keeps working; the peer sees c1 go away too.
    assert w.a.may_enable(12) and w.a.status == "negotiated"
    # Defaulted partner info has no "timeout" bit: the next PDU is only due
    # 30 s after the last one (OVS's behaviour), so recovery takes that long.
    w.cut.clear()
    w.advance(31.0, dt=0.5)
    assert w.a.may_enable(11) and w.b.may_enable(21)


def test_tx_rate_follows_partner_timeout_bit():
    w = pair(fast=True)
    w.advance(1.0)
    before = w.a.stats(11)["tx_pdus"]
    w.advance(5.0)
    assert 4 <= w.a.stats(11)["tx_pdus"] - before <= 6     # 1 PDU/s
    w2 = pair()
    w2.advance(2.0)      # first PDUs at the fast rate while the partner is expired
    before = w2.a.stats(11)["tx_pdus"]
    w2.advance(28.0)
    assert w2.a.stats(11)["tx_pdus"] - before == 0          # every 30 s
    assert w2.a.should_transmit(11, w2.now + 2.0) is True
    assert w2.a.next_wake(w2.now) <= w2.now + 30.0


def test_partner_change_different_system_not_aggregated():
    a = make("bond0", SYS0, [(11, "b1"), (12, "b2")])
    b = make("bond1", SYS1, [(21, "c1")])
    c = make("other", 0x0A0000000001, [(31, "d1")])
    now = 0.0
    for _ in range(10):
        now += 0.1
        for m, pdu in a.run(now):
            (b if m == 11 else c).receive(21 if m == 11 else 31, lacp_frame(1, pdu), now)
        for m, pdu in b.run(now):
            a.receive(11, lacp_frame(2, pdu), now)
        for m, pdu in c.run(now):
            a.receive(12, lacp_frame(3, pdu), now)
    att = {m: a.is_attached(m) for m in (11, 12)}
    assert list(att.values()).count(True) == 1     # only one partner system wins
    assert a.may_enable(11) != a.may_enable(12)
    assert a.partner(11).sys_id == SYS1 and a.partner(12).sys_id == 0x0A0000000001


def test_partner_key_change_detaches():
    """b1 and b2 reach the same partner system but two of its bonds (keys)."""
    a = make("bond0", SYS0, [(11, "b1"), (12, "b2")])
    b = make("bond1", SYS1, [(21, "c1")])
    c = Lacp("bond2", SYS1)
    c.add_member(22, 22, name="c2", key=7)
    now = 0.0
    for _ in range(20):
        now += 0.1
        for m, pdu in a.run(now):
            (b if m == 11 else c).receive(21 if m == 11 else 22, lacp_frame(1, pdu), now)
        for m, pdu in b.run(now):
            a.receive(11, lacp_frame(2, pdu), now)
        for m, pdu in c.run(now):
            a.receive(12, lacp_frame(3, pdu), now)
    assert a.partner(11).key == 21 and a.partner(12).key == 7
    assert [a.is_attached(m) for m in (11, 12)].count(True) == 1
    assert [a.may_enable(m) for m in (11, 12)].count(True) == 1


def test_loopback_not_attached():
    a = make("bond0", SYS0, [(11, "b1"), (12, "b2")])
    now = 0.1
    for m, pdu in a.run(now):
        a.receive(12 if m == 11 else 11, lacp_frame(1, pdu), now)
    a.run(0.2)
    assert not a.is_attached(11) and not a.may_enable(11)


def test_malformed_pdus_dropped_without_exception():
    w = pair()
    w.advance(1.0)
    good = lacp_frame(1, LacpPdu(w.b.actor(21), w.b.partner(21)).encode())
    bad = [
        good[:60],                                     # truncated
        good[:14],                                     # header only
        b"",                                           # empty
        good[:14] + b"\x03" + good[15:],               # wrong subtype
        good[:16] + b"\x05" + good[17:],               # actor TLV type
        good[:17] + b"\x13" + good[18:],               # actor TLV length 19
        good[:37] + b"\x15" + good[38:],               # partner TLV length 21
        good[:12] + b"\x08\x00" + good[14:],           # not Slow Protocols
        b"\x00" * 3,
    ]
    before = w.a.stats(11)
    for frame in bad:
        assert w.a.receive(11, frame, w.now) is False
    after = w.a.stats(11)
    assert after["rx_bad_pdus"] - before["rx_bad_pdus"] == len(bad)
    assert after["rx_pdus"] - before["rx_pdus"] == len(bad)
    assert w.a.member_status(11) == "current"
    # Marker PDU: counted separately, not bad.
    w.a.receive(11, good[:14] + b"\x02\x01" + bytes(108), w.now)
    assert w.a.stats(11)["rx_marker_pdus"] == 1
    assert w.a.receive(42, good, w.now) is False          # unknown member
    assert LacpPdu.decode(b"")[1] is None


def test_carrier_down_expires_and_stops_tx():
    w = pair()
    w.advance(1.0)
    w.a.set_carrier(11, False, w.now)
    assert w.a.member_status(11) == "expired" and not w.a.may_enable(11)
    assert not w.a.should_transmit(11, w.now + 100)
    assert all(m != 11 for m, _ in w.a.run(w.now + 100))
    assert w.a.stats(11)["carrier_changed"] == 1
    # PDUs arriving while carrier is down are ignored.
    w.a.set_carrier(11, True, w.now)
    assert w.a.stats(11)["carrier_changed"] == 2


def test_info_roundtrip_and_state_bits():
    i = LacpInfo(1, SYS0, 2, 3, 4, STATE_SYNC | STATE_TIME)
    assert LacpInfo.unpack(i.pack()) == i and len(i.pack()) == 15
    p = LacpPdu(i, LacpInfo())
    assert LacpPdu.decode(p.encode()) == (1, p)


def test_unknown_port_errors():
    with pytest.raises(LacpError, match="no such lacp object"):
        show([], "nosuch")
    with pytest.raises(LacpError):
        show_stats([], "nosuch")
