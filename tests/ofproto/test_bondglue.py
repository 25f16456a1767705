"""Bonds in translation (NORMAL output member, admissibility, bundle liveness) and the
LACPDU filter of ofproto/bondglue.py."""
from datapath.odp import format_actions
from ofproto.bond import Bond
from ofproto.bondglue import Bonding, is_slow_protocol
from ofproto.lacp import LacpInfo, LacpPdu, lacp_frame
from ofproto.normal import MacLearning
from ofproto.xlate import XPort, translate
from tests.ofproto.test_xlate import make_ctx, pflow

NAMES = {100: "br0", 1: "vm0", 2: "vm1", 3: "b1", 4: "b2"}


def bond_ctx(mode="active-backup", flows="priority=0,actions=NORMAL"):
    ctx = make_ctx(flows, 0)
    ctx.ports.update({1: XPort(1, 1, "vm0"), 2: XPort(2, 2, "vm1"),
                      3: XPort(3, 3, "b1", bundle="bond0"), 4: XPort(4, 4, "b2", bundle="bond0")})
    ctx.mac = MacLearning()
    bond = Bond("bond0", mode)
    bond.add_member(3, "b1", 0x3)
    bond.add_member(4, "b2", 0x4)
    bond.run(0.0)
    ctx.bonds = {"bond0": bond}
    return ctx, bond


def acts(ctx, f, **kw):
    return format_actions(translate(ctx, pflow(f), **kw).actions, NAMES)


def test_flood_uses_one_member_of_the_bond():
    ctx, bond = bond_ctx()
    assert bond.active_member == 3
    assert acts(ctx, "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff") == "br0,vm1,b1"
    bond.set_active_member("b2")
    assert acts(ctx, "in_port=2,dl_src=00:00:00:00:00:02,dl_dst=ff:ff:ff:ff:ff:ff") == "br0,vm0,b2"


def test_only_the_active_member_receives_broadcast():
    ctx, bond = bond_ctx()
    bc = "dl_src=00:00:00:00:00:09,dl_dst=ff:ff:ff:ff:ff:ff"
    assert acts(ctx, "in_port=3," + bc) == "br0,vm0,vm1"
    assert acts(ctx, "in_port=4," + bc) == "drop"


def test_learned_mac_on_the_bond_follows_failover():
    ctx, bond = bond_ctx()
    translate(ctx, pflow("in_port=3,dl_src=00:00:00:00:00:09,dl_dst=ff:ff:ff:ff:ff:ff"))
    assert acts(ctx, "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:09") == "b1"
    bond.set_carrier(3, False, 1.0)
    assert bond.run(1.0) is True                       # revalidate: the member changed
    assert acts(ctx, "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:09") == "b2"


def test_balance_slb_hashes_the_source_mac_and_records_accounting():
    ctx, bond = bond_ctx("balance-slb")
    r1 = translate(ctx, pflow("in_port=1,dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff"))
    r2 = translate(ctx, pflow("in_port=2,dl_src=00:00:00:00:00:02,dl_dst=ff:ff:ff:ff:ff:ff"))
    out1 = format_actions(r1.actions, NAMES).split(",")[-1]
    out2 = format_actions(r2.actions, NAMES).split(",")[-1]
    assert {out1, out2} == {"b1", "b2"}
    assert r1.bond_accounts and r1.bond_accounts[0][0] is bond
    # SLB: a MAC learned elsewhere that comes back in on the bond looped: dropped.
    translate(ctx, pflow("in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:05"))
    assert acts(ctx, "in_port=3,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:05") == "drop"


def test_bundle_action_skips_members_that_may_not_be_enabled():
    ctx, _bond = bond_ctx(flows="priority=0,actions=bundle(eth_src,0,active_backup,ofport,"
                                "members:3,4)")
    assert acts(ctx, "in_port=1") == "b1"
    ctx.ports[3].may_enable = False
    assert acts(ctx, "in_port=1") == "b2"


class _Glue:
    clock = staticmethod(lambda: 0.0)
    bridges: dict = {}


def test_lacpdus_are_taken_out_of_the_batch():
    pdu = LacpPdu(LacpInfo(1, 2, 3, 4, 5, 0x3D), LacpInfo()).encode()
    frame = lacp_frame(0x020000000001, pdu)
    other = b"\xff" * 6 + b"\x02" + b"\x00" * 5 + b"\x08\x06" + b"\x00" * 28
    assert is_slow_protocol(frame) and not is_slow_protocol(other)
    bonding = Bonding(_Glue())
    assert bonding.take_lacp("netdev", 1, [frame, other]) == [frame, other]   # not a LACP member

    class BP:
        pass
    got = []
    bp = BP()
    bp.lacp = type("L", (), {"receive": lambda self, m, f, now: got.append((m, f)) or False})()
    bonding.lacp_rx[("netdev", 1)] = (bp, 7)
    assert bonding.take_lacp("netdev", 1, [frame, other]) == [other]
    assert got == [(7, frame)]
