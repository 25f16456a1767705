"""The classifier against a linear-scan oracle, and the megaflow contract.

The oracle (as Open vSwitch's tests/test-classifier.c) checks every rule in
priority order.  For each lookup we check the winner, then build packets
that agree with the looked-up packet on every bit of the returned wildcards
and differ elsewhere - taking, for the free bits, the values of each rule in
turn, which is the way a missing bit would show - and require that the same
rule is a correct answer for them too.
"""
import subprocess
import sys
import time

from hypothesis import HealthCheck, given, settings, strategies as st

from ofproto.classifier import Classifier, PrefixTrie, Rule, megaflow
from ofproto.ofp.fields import MEMBERS
from ofproto.ofp.match import FlowMatch
from ofproto.ofp.render import format_match

FULL = {m: (1 << w) - 1 for m, w in MEMBERS.items()}


def ip(s):
    a, b, c, d = (int(x) for x in s.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def cidr(n, width=32):
    return ((1 << n) - 1) << (width - n)


def exact(**kw):
    return FlowMatch.exact(**kw)


# ---------------------------------------------------------------------------
# Oracle


class Linear:
    """Linear scan: the rules, checked one by one."""

    def __init__(self):
        self.rules = {}                          # (match, priority) -> Rule

    def insert(self, rule):
        return self.rules.pop((rule.match, rule.priority), None), \
            self.rules.__setitem__((rule.match, rule.priority), rule)

    def remove(self, rule):
        del self.rules[(rule.match, rule.priority)]

    def matching(self, flow):
        """(top priority, [rules at that priority]) or (None, [])."""
        hits = [r for r in self.rules.values() if r.matches(flow)]
        if not hits:
            return None, []
        top = max(r.priority for r in hits)
        return top, [r for r in hits if r.priority == top]


# ---------------------------------------------------------------------------
# Strategies: a small pool of members and values, so rules overlap.

NETS = [ip("10.0.0.0"), ip("10.1.1.0"), ip("10.1.2.0"), ip("10.1.1.5"), ip("192.168.0.0"),
        ip("128.0.0.0")]
PORTS = [22, 53, 80, 443, 0x1234]
POOL = {
    "in_port": st.sampled_from([1, 2, 3]),
    "dl_type": st.sampled_from([0x0800, 0x0806, 0x86DD]),
    "nw_proto": st.sampled_from([1, 6, 17]),
    "dl_dst": st.sampled_from([0x01005E000001, 0x0A0000000001, 0xFFFFFFFFFFFF]),
    "nw_src": st.one_of(st.sampled_from(NETS), st.integers(0, 0xFFFFFFFF)),
    "nw_dst": st.one_of(st.sampled_from(NETS), st.integers(0, 0xFFFFFFFF)),
    "tp_src": st.sampled_from(PORTS),
    "tp_dst": st.one_of(st.sampled_from(PORTS), st.integers(0, 0xFFFF)),
    "reg0": st.integers(0, 15),
    "metadata": st.integers(0, 7),
}


def mask_for(member):
    w = MEMBERS[member]
    if member in ("nw_src", "nw_dst"):
        return st.one_of(st.integers(1, 32).map(cidr),
                         st.integers(1, 0xFFFFFFFF))          # sometimes not CIDR
    if member in ("tp_src", "tp_dst"):
        return st.sampled_from([0xFFFF, 0xFFFF, 0xFF00, 0xFFF0, 0x8000, 0x00FF])
    if member == "dl_dst":
        return st.sampled_from([FULL["dl_dst"], 0x010000000000])
    if member in ("reg0", "metadata"):
        return st.integers(1, 15)
    return st.just((1 << w) - 1)


@st.composite
def matches(draw):
    members = draw(st.sets(st.sampled_from(sorted(POOL)), max_size=4))
    return FlowMatch({m: (draw(POOL[m]), draw(mask_for(m))) for m in members})


priorities = st.sampled_from([0, 1, 5, 10, 10, 20, 100, 0xFFFF])


@st.composite
def packets(draw):
    return {m: draw(s) for m, s in POOL.items() if draw(st.booleans()) or m == "dl_type"}


@st.composite
def scenarios(draw):
    """A classifier and its oracle after random inserts, replacements and
    removals."""
    prefix_fields = draw(st.sampled_from([("nw_dst", "nw_src", "tp_dst", "tp_src"),
                                          ("nw_dst",), ()]))
    cls, lin = Classifier(prefix_fields), Linear()
    present = []
    for i in range(draw(st.integers(1, 25))):
        op = draw(st.sampled_from(["insert"] * 5 + ["replace", "remove"]))
        if op == "remove" and present:
            r = present.pop(draw(st.integers(0, len(present) - 1)))
            assert cls.remove(r)
            assert not cls.remove(r)
            lin.remove(r)
            continue
        if op == "replace" and present:
            old = draw(st.sampled_from(present))
            r = Rule(old.match, old.priority, f"r{i}")
        else:
            r = Rule(draw(matches()), draw(priorities), f"r{i}")
        displaced = cls.insert(r)
        expect, _ = lin.insert(r)
        assert displaced is expect
        if displaced is not None:
            present.remove(displaced)
        present.append(r)
    assert len(cls) == len(lin.rules)
    return cls, lin


def variants(flow, wc, rules, rnd):
    """Packets agreeing with ``flow`` on ``wc``; free bits from each rule's
    values, then random."""
    members = set(POOL) | set(wc)
    for r in rules:
        yield {m: (flow.get(m, 0) & wc.get(m, 0))
               | (r.match.get(m, (flow.get(m, 0), 0))[0] & ~wc.get(m, 0))
               for m in members}
    for _ in range(4):
        yield {m: (flow.get(m, 0) & wc.get(m, 0))
               | (rnd.getrandbits(MEMBERS[m]) & ~wc.get(m, 0)) for m in members}


def check_lookup(cls, lin, flow, rnd):
    wc = {}
    got = cls.lookup(flow, wc)
    top, winners = lin.matching(flow)
    if top is None:
        assert got is None
    else:
        assert got is not None and got.priority == top and got in winners
        if len(winners) == 1:
            assert got is winners[0]
    assert cls.lookup(flow) is got, "with and without wc must agree"
    assert all(wc[m] & ~FULL[m] == 0 for m in wc)
    for v in variants(flow, wc, list(lin.rules.values()), rnd):
        top2, winners2 = lin.matching(v)
        if got is None:
            assert top2 is None, f"megaflow {megaflow(flow, wc)} too wide: {v} hits {winners2}"
        else:
            assert got.matches(v) and top2 == got.priority, \
                f"megaflow {megaflow(flow, wc)} too wide for {v}"
        # The classifier itself agrees.  (Its wildcards for ``v`` may differ:
        # when several prefix tries could each prove a subtable empty, the
        # first that can is used, and that may be another one for ``v``.)
        assert cls.lookup(v, {}) is got


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.lists(packets(), min_size=1, max_size=6), st.randoms())
def test_lookup_matches_oracle_and_wildcards_suffice(scenario, flows, rnd):
    cls, lin = scenario
    # Packets that hit rules exactly, too: each rule's values as a packet.
    for r in list(lin.rules.values())[:6]:
        flows.append({m: v for m, (v, _) in r.match.items()})
    for flow in flows:
        check_lookup(cls, lin, flow, rnd)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.data())
def test_queries_match_oracle(scenario, data):
    cls, lin = scenario
    # Strict find.
    for (m, p), r in lin.rules.items():
        assert cls.find_exactly(m, p) is r
        assert cls.find_exactly(dict(m), p) is r
    m, p = data.draw(matches()), data.draw(priorities)
    assert cls.find_exactly(m, p) is lin.rules.get((m, p))
    # Loose iteration.
    assert sorted(map(id, cls.rules())) == sorted(map(id, lin.rules.values()))
    flt = data.draw(matches())
    want = [r for r in lin.rules.values()
            if all(r.match.get(f, (0, 0))[1] & fm == fm
                   and r.match.get(f, (0, 0))[0] & fm == fv for f, (fv, fm) in flt.items())]
    assert sorted(map(id, cls.rules(flt))) == sorted(map(id, want))
    # Overlap: some packet matches both, same priority.
    def overlaps(a, b):
        return all((a[f][0] ^ b[f][0]) & a[f][1] & b[f][1] == 0 for f in a if f in b)
    got = cls.find_overlap(m, p)
    expect = [r for r in lin.rules.values() if r.priority == p and overlaps(r.match, m)]
    assert (got is None) == (not expect)
    if got is not None:
        assert got in expect
    # Subtables: one per distinct mask of the present rules.
    masks = {frozenset((f, mk) for f, (_, mk) in r.match.items()) for r in lin.rules.values()}
    assert cls.n_subtables == len(masks)


# ---------------------------------------------------------------------------
# Megaflow width: each would fail if its trick broke.


def wcs(cls, flow):
    wc = {}
    rule = cls.lookup(flow, wc)
    return rule, format_match(megaflow(flow, wc))


TCP = dict(in_port=1, dl_type=0x0800, nw_proto=6, nw_src=ip("10.0.0.1"),
           nw_dst=ip("192.168.0.1"), tp_src=1234, tp_dst=53)


def test_staged_lookup_stops_at_nw_proto():
    cls = Classifier(prefix_fields=())
    x = cls.add(exact(in_port=1), 10, "x")
    cls.add(exact(dl_type=0x0800, nw_proto=17, tp_dst=53), 20, "y")
    rule, mf = wcs(cls, TCP)
    assert rule is x
    assert mf == "tcp,in_port=1"          # no tp_dst: the L3 stage missed


def test_staged_lookup_stops_at_l2():
    cls = Classifier(prefix_fields=())
    cls.add(exact(dl_type=0x0800, nw_src=ip("10.0.0.1"), tp_dst=80), 20, "y")
    assert wcs(cls, dict(TCP, dl_type=0x86DD)) == (None, "ipv6")


def test_hit_unwildcards_whole_mask():
    cls = Classifier(prefix_fields=())
    y = cls.add(exact(dl_type=0x0800, nw_proto=6, tp_dst=53), 20, "y")
    assert wcs(cls, TCP) == (y, "tcp,tp_dst=53")


def test_lower_priority_subtables_are_not_examined():
    cls = Classifier()
    x = cls.add(exact(in_port=1), 100, "x")
    cls.add(exact(dl_type=0x0800, nw_proto=6, tp_dst=53), 20, "y")
    cls.add({"nw_dst": (ip("192.168.0.0"), cidr(16))}, 99, "z")
    assert wcs(cls, TCP) == (x, "in_port=1")


def test_prefix_trie_keeps_nw_dst_wide():
    cls = Classifier()
    z = cls.add({"dl_type": (0x0800, 0xFFFF), "nw_dst": (ip("10.1.1.0"), cidr(24))}, 10, "z")
    d = cls.add({}, 0, "default")
    # 192.x differs from 10.x in the first bit: one bit decides.
    assert wcs(cls, TCP) == (d, "ip,nw_dst=128.0.0.0/1")
    # 10.1.2.1 leaves 10.1.1.0/24 at bit 22.
    assert wcs(cls, dict(TCP, nw_dst=ip("10.1.2.1"))) == (d, "ip,nw_dst=10.1.2.0/23")
    assert wcs(cls, dict(TCP, nw_dst=ip("10.1.1.9"))) == (z, "ip,nw_dst=10.1.1.0/24")
    # Without the trie the whole /24 is examined.
    plain = Classifier(prefix_fields=())
    plain.add(z.match, 10)
    plain.add({}, 0)
    assert wcs(plain, TCP)[1] == "ip,nw_dst=192.168.0.0/24"


def test_prefix_trie_longer_prefix_elsewhere():
    """A /32 in another subtable lengthens the walk; the /16 subtable still
    un-wildcards no more than its own 16 bits."""
    cls = Classifier()
    cls.add({"nw_dst": (ip("10.1.1.5"), cidr(32))}, 20, "host")
    cls.add({"nw_dst": (ip("10.2.0.0"), cidr(16))}, 30, "net")
    wc = {}
    assert cls.lookup({"nw_dst": ip("10.1.1.6")}, wc) is None
    assert wc == {"nw_dst": cidr(31)}   # .6 leaves .5 at bit 30


def test_ports_trie_keeps_tp_dst_wide():
    cls = Classifier()
    x = cls.add(exact(in_port=1), 10, "x")
    cls.add(exact(dl_type=0x0800, nw_proto=6, tp_dst=53), 20, "y")
    rule, mf = wcs(cls, dict(TCP, tp_dst=80))
    assert rule is x and mf == "tcp,in_port=1,tp_dst=0x40/0xffc0"   # 80 leaves 53 at bit 9
    plain = Classifier(prefix_fields=())
    plain.add(exact(in_port=1), 10)
    plain.add(exact(dl_type=0x0800, nw_proto=6, tp_dst=53), 20)
    assert wcs(plain, dict(TCP, tp_dst=80))[1] == "tcp,in_port=1,tp_dst=80"


def test_wc_accumulates_into_callers_bits():
    cls = Classifier()
    cls.add(exact(in_port=1), 10)
    wc = {"reg0": 0xF, "in_port": 0}
    cls.lookup(TCP, wc)
    assert wc == {"reg0": 0xF, "in_port": 0xFFFF}


# ---------------------------------------------------------------------------
# Prefix trie on its own.


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0xFF), st.integers(1, 8)), max_size=20),
       st.integers(0, 0xFF), st.data())
def test_prefix_trie_lookup(prefixes, v, data):
    trie = PrefixTrie(8)
    stored = [(p >> (8 - n), n) for p, n in prefixes]
    for p, n in stored:
        trie.insert(p, n)
    removed = data.draw(st.lists(st.sampled_from(stored), unique=True)) if stored else []
    for p, n in removed:
        trie.remove(p, n)
        stored.remove((p, n))

    def brute(x):
        return sum(1 << n for p, n in set(stored) if x >> (8 - n) == p)

    plens, nbits = trie.lookup(v)
    assert plens == brute(v)
    # Any value agreeing on the first nbits bits gets the same answer.
    free = (1 << (8 - nbits)) - 1
    for x in range(0, free + 1, max(1, free // 15)):
        assert brute((v & ~free) | x) == plens
    # ... and never more bits than the longest stored prefix.
    assert nbits <= max((n for _, n in stored), default=0)
    for p, n in list(stored):
        trie.remove(p, n)
    assert trie.root == [0, 0, 0, 0, None, None]


# ---------------------------------------------------------------------------
# Semantics


def test_replace_returns_displaced_rule():
    cls = Classifier()
    a = cls.add(exact(in_port=1), 5, "a")
    b = Rule({"in_port": (1, 0xFFFF)}, 5, "b")
    assert cls.insert(b) is a
    assert len(cls) == 1 and a not in cls and b in cls
    assert cls.lookup({"in_port": 1}) is b
    assert cls.insert(a) is b                 # the displaced rule can come back


def test_same_match_different_priorities_chain():
    cls = Classifier()
    lo = cls.add(exact(in_port=1), 5)
    hi = cls.add(exact(in_port=1), 50)
    mid = cls.add(exact(in_port=1), 20)
    assert len(cls) == 3 and cls.n_subtables == 1
    assert cls.lookup({"in_port": 1}) is hi
    assert cls.find_exactly(exact(in_port=1), 20) is mid
    cls.remove(hi)
    assert cls.lookup({"in_port": 1}) is mid
    cls.remove(mid)
    assert cls.lookup({"in_port": 1}) is lo


def test_strict_find_needs_mask_and_priority():
    cls = Classifier()
    r = cls.add({"nw_dst": (ip("10.0.0.0"), cidr(8))}, 7)
    assert cls.find_exactly({"nw_dst": (ip("10.0.0.0"), cidr(8))}, 7) is r
    assert cls.find_exactly({"nw_dst": (ip("10.0.0.0"), cidr(8))}, 8) is None
    assert cls.find_exactly({"nw_dst": (ip("10.0.0.0"), cidr(16))}, 7) is None
    assert cls.find_exactly({"nw_dst": (ip("10.9.9.9"), cidr(8))}, 7) is r  # value masked


def test_loose_iteration():
    cls = Classifier()
    a = cls.add(exact(dl_type=0x0800, nw_proto=6), 1)
    b = cls.add({"dl_type": (0x0800, 0xFFFF), "nw_dst": (ip("10.1.0.0"), cidr(16))}, 2)
    c = cls.add({"dl_type": (0x0800, 0xFFFF), "nw_dst": (ip("10.0.0.0"), cidr(4))}, 3)
    d = cls.add(exact(in_port=1), 4)
    ids = lambda it: sorted(id(r) for r in it)
    assert ids(cls.rules()) == ids([a, b, c, d])
    assert ids(cls.rules({})) == ids([a, b, c, d])
    assert ids(cls.rules(exact(dl_type=0x0800))) == ids([a, b, c])
    assert ids(cls.rules({"nw_dst": (ip("10.0.0.0"), cidr(8))})) == ids([b])
    assert ids(cls.rules(exact(in_port=2))) == []


def test_find_overlap():
    cls = Classifier()
    a = cls.add(exact(in_port=1), 10)
    b = cls.add({"nw_dst": (ip("10.0.0.0"), cidr(8))}, 20)
    assert cls.find_overlap(exact(tp_dst=80), 10) is a           # disjoint members overlap
    assert cls.find_overlap(exact(in_port=2), 10) is None        # values disagree
    assert cls.find_overlap(exact(in_port=1), 11) is None        # other priority
    assert cls.find_overlap(exact(in_port=1), 10) is a           # identical counts
    assert cls.find_overlap({"nw_dst": (ip("10.1.0.0"), cidr(16))}, 20) is b
    assert cls.find_overlap({"nw_dst": (ip("11.0.0.0"), cidr(16))}, 20) is None
    assert cls.find_overlap({"nw_dst": (0, cidr(1))}, 20) is b   # 0/1 contains 10/8


def test_removal_drops_subtable_and_reorders():
    cls = Classifier()
    x = cls.add(exact(in_port=1), 10, "x")
    y = cls.add(exact(dl_type=0x0800), 50, "y")
    y2 = cls.add(exact(dl_type=0x86DD), 5, "y2")
    flow = {"in_port": 1, "dl_type": 0x0800}
    assert cls.lookup(flow) is y and cls.n_subtables == 2
    cls.remove(y)                         # dl_type subtable's max drops to 5
    wc = {}
    assert cls.lookup(flow, wc) is x
    assert wc == {"in_port": 0xFFFF}       # dl_type subtable now visited after x
    cls.remove(y2)
    assert cls.n_subtables == 1
    cls.remove(x)
    assert cls.n_subtables == 0 and len(cls) == 0 and cls.lookup(flow) is None
    assert not cls.remove(x)


def test_rule_validation():
    import pytest
    with pytest.raises(ValueError):
        Rule({}, 65536)
    cls = Classifier()
    r = cls.add({}, 0)
    with pytest.raises(ValueError):
        Classifier().insert(r)
    assert r not in Classifier()


def test_equal_priority_ties_are_deterministic():
    cls = Classifier()
    first = cls.add(exact(in_port=1), 10)
    cls.add(exact(dl_type=0x0800), 10)
    flow = {"in_port": 1, "dl_type": 0x0800}
    assert cls.lookup(flow) is first and cls.lookup(flow, {}) is first


def test_inserts_are_fast():
    cls = Classifier()
    ms = [FlowMatch.exact(in_port=i & 0xFF, dl_type=0x0800, nw_proto=6,
                          nw_dst=0x0A000000 + i, tp_dst=80) for i in range(20000)]
    t = time.perf_counter()
    for m in ms:
        cls.insert(Rule(m, 100))
    assert time.perf_counter() - t < 2.0        # ~0.2 s expected; bench/ has figures
    assert len(cls) == 20000


def test_core_does_not_import_trio():
    out = subprocess.run([sys.executable, "-c",
                          "import sys, ofproto.classifier; print('trio' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_clear_returns_every_rule_and_leaves_an_empty_classifier():
    c = Classifier()
    rules = [c.add({"nw_dst": (0x0A000000 + i, 0xFFFFFF00), "in_port": (i % 3, 0xFFFF)}, i % 5)
             for i in range(40)]
    c.add({"nw_dst": (0x0A000000, 0xFFFFFF00), "in_port": (0, 0xFFFF)}, 7)   # a chain
    order = list(c.rules())
    gone = c.clear()
    assert gone == order and len(c) == 0 and c.n_subtables == 0
    assert all(r not in c and r._next is None for r in gone)
    assert c.lookup({"nw_dst": 0x0A000000, "in_port": 0}, {}) is None
    r = c.add({"nw_dst": (0x0A000000, 0xFFFFFF00)}, 1)
    assert c.lookup({"nw_dst": 0x0A000001}) is r and len(rules) == 40
