"""The OpenFlow classifier: tuple space search that reports what it looked at.

Theory of operation
-------------------
A :class:`Classifier` holds :class:`Rule` objects.  A rule is a match (a
:class:`~.ofp.match.FlowMatch`, ``member -> (value, mask)``, members named
like Open vSwitch's ``struct flow``), a priority 0..65535 and an opaque
``payload`` (the flow table keeps its actions, counters and timeouts there).
A rule's identity is ``(match, priority)``: inserting a rule with the
identity of a present one replaces it and returns the displaced rule, as
``classifier_replace()`` does.  A packet is a plain ``dict member -> int``;
absent members are 0, and values must fit their member's width (parsed
packets always do).  A rule matches a packet when, for every member of its
match, ``packet[member] & mask == value``.

The megaflow contract
~~~~~~~~~~~~~~~~~~~~~
``lookup(flow, wc)`` returns the highest-priority matching rule (or None)
and ORs into ``wc`` (``dict member -> mask``) every bit of ``flow`` that the
search examined to reach that answer.  The guarantee the datapath relies on:
**any packet that agrees with ``flow`` on every bit of ``wc`` gets the same
answer** - the same rule, or no rule.  Examining a bit that did not need
examining is safe (the datapath installs a narrower megaflow and takes more
upcalls); leaving out a bit that was examined is a bug (another packet would
be forwarded by the wrong rule).  Every decision the lookup takes below is a
function of bits it has already put into ``wc``, so a packet agreeing on
``wc`` retraces the same decisions and ends at the same rule - this is why
the argument holds for ties too.

Tuple space search
~~~~~~~~~~~~~~~~~~
Rules are grouped by their mask into *subtables*; each subtable is one dict
keyed by the tuple of the rule's values under that mask, so finding whether
any rule of a subtable matches costs one dict probe on the packet's masked
values.  Rules of one subtable that have the same values (same match,
different priorities) form a chain, highest priority first; the dict holds
the head.  Subtables are visited in decreasing order of the highest priority
they contain; once a rule of priority P has been found, subtables whose
maximum is <= P cannot beat it and are neither probed nor un-wildcarded.
Among overlapping rules of *equal* priority OpenFlow leaves the winner
undefined; here the first one found wins: subtables with the same maximum
priority are visited oldest (first-created) first.  Deterministic for a
given classifier state, but callers must not rely on which one it is.

Keeping megaflows wide
~~~~~~~~~~~~~~~~~~~~~~
Probing a subtable examines every bit of its mask, so a naive lookup
un-wildcards the union of the masks of all subtables it visits.  Two of Open
vSwitch's tricks narrow that:

* **Staged lookup.**  A subtable's members are split into four stages in
  ``struct flow`` order - metadata (in_port, registers, tunnel, metadata,
  conntrack), L2, L3, L4 (tp_src/tp_dst).  For every stage but the last the
  subtable keeps a count of its rules per values-tuple of the members up to
  and including that stage.  The lookup probes stage by stage; if the
  packet's prefix is absent, no rule of the subtable can match, and only the
  members of the stages probed so far are un-wildcarded.  So a TCP packet
  that misses a ``udp,tp_dst=53`` subtable at the L3 stage (nw_proto)
  contributes no tp_dst bits.

* **Prefix tracking.**  For each prefix field (default nw_dst, nw_src,
  tp_dst, tp_src) a path-compressed binary trie holds the prefix of every
  rule whose mask on that field is a CIDR prefix.  Walking the trie with the
  packet's value tells which prefix lengths match it and how many leading
  bits the walk needed to tell (up to and including the first bit where the
  packet left every stored prefix).  Before probing a stage that contains a
  prefix field, if no stored prefix of the subtable's length matches the
  packet, the subtable is skipped and only ``min(walk bits, prefix length)``
  leading bits of the field are un-wildcarded: a /24 rule no longer forces
  a /32 on packets that miss it.  Open vSwitch does the same for nw_src and
  nw_dst (``trie_lookup``) and keeps a per-subtable trie for the transport
  ports, used after the final stage misses; here tp_src/tp_dst simply get
  classifier-wide tries like the address fields (same correctness argument,
  somewhat different widths).

Without ``wc`` the lookup skips both tricks: one probe per visited subtable.
Both paths visit subtables in the same order and the tricks only skip
subtables that have no match, so they return the same rule.

Not done (yet): rule versions (Open vSwitch's classifier makes bundles and
flow-mod batches atomic by versioning rules; the flow table must apply a
batch in one go instead), conjunctive matches (``conjunction`` actions),
partitioning by ``metadata``, per-subtable ports tries, and IPv6 prefix
tries by default (pass ``prefix_fields`` to enable them).

Updates
~~~~~~~
Insert, replace and remove are O(number of members + depth of the tries)
and keep every index exact: the stage counts and the tries count distinct
values-tuples, a subtable's maximum priority is kept from a per-priority
count, a subtable whose last rule leaves is dropped, and the visiting order
is re-sorted lazily by the next lookup after a change of any maximum.
:meth:`Classifier.clear` empties the classifier in one pass (delete-all).
Nothing here blocks or does I/O; the classifier is not thread-safe, and
:meth:`Classifier.rules` and the other iterators must be drained before the
classifier is modified.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .ofp.fields import MEMBERS
from .ofp.match import FlowMatch

# ---------------------------------------------------------------------------
# Stages (Open vSwitch's flow segments: metadata | L2 | L3 | L4).

_L2 = ("dl_dst", "dl_src", "dl_type", "vlan_tci", "mpls_label", "mpls_tc", "mpls_bos",
       "mpls_ttl")
_L3 = ("nw_src", "nw_dst", "ipv6_src", "ipv6_dst", "ipv6_label", "nw_frag", "nw_tos",
       "nw_ttl", "nw_proto", "nd_target", "arp_sha", "arp_tha", "tcp_flags",
       "nd_reserved", "nd_options_type")
_L4 = ("tp_src", "tp_dst")
_STAGE = {m: 0 for m in MEMBERS}
_STAGE.update({m: 1 for m in _L2})
_STAGE.update({m: 2 for m in _L3})
_STAGE.update({m: 3 for m in _L4})
N_STAGES = 4
# Canonical member order inside a subtable: by stage, then struct-flow-ish.
_RANK = {m: (_STAGE[m], i) for i, m in enumerate((*_L2, *_L3, *_L4, *MEMBERS))}

DEFAULT_PREFIX_FIELDS = ("nw_dst", "nw_src", "tp_dst", "tp_src")
MAX_PRIORITY = 0xFFFF


def _rank(member: str):
    return _RANK.get(member, (0, len(_RANK), member))


def _width(member: str) -> int:
    return MEMBERS.get(member, 0)


# ---------------------------------------------------------------------------
# Rules


class Rule:
    """One classifier rule.  ``match`` is a FlowMatch (plain dicts are
    converted), ``priority`` 0..65535, ``payload`` belongs to the caller.
    A rule lives in at most one classifier at a time."""

    __slots__ = ("match", "priority", "payload", "_next", "_subtable")

    def __init__(self, match, priority: int, payload=None):
        if not isinstance(match, FlowMatch):
            match = FlowMatch(match)
        if not 0 <= priority <= MAX_PRIORITY:
            raise ValueError(f"priority {priority} out of range 0..{MAX_PRIORITY}")
        self.match = match
        self.priority = priority
        self.payload = payload
        self._next = None         # next lower-priority rule with the same values
        self._subtable = None     # the subtable holding this rule, if any

    def __repr__(self):
        from .ofp.render import format_match
        return f"Rule(priority={self.priority},{format_match(self.match) or ' *'})"

    def matches(self, flow: Mapping) -> bool:
        """True if this rule matches packet ``flow`` (absent members are 0)."""
        get = flow.get
        return all(get(m, 0) & mk == v for m, (v, mk) in self.match.items())


def megaflow(flow: Mapping, wc: Mapping) -> FlowMatch:
    """The megaflow a lookup stands for: ``flow``'s values under ``wc``."""
    return FlowMatch({m: (flow.get(m, 0) & mk, mk) for m, mk in wc.items()})


# ---------------------------------------------------------------------------
# Key functions: (member, mask) tuples compiled into one tuple-building call.

_KEYFNS: dict[tuple, object] = {}


def _keyfn(spec: tuple):
    """``f -> (f.get(m0, 0) & mask0, ...)``, compiled once per spec.  Full
    masks skip the ``&`` (packet values fit their width)."""
    fn = _KEYFNS.get(spec)
    if fn is None:
        parts = []
        for m, mk in spec:
            w = _width(m)
            get = f"g({m!r}, 0)"
            parts.append(get if w and mk == (1 << w) - 1 else f"{get} & {mk}")
        body = f"({', '.join(parts)},)" if parts else "()"
        src = f"def key(f):\n    g = f.get\n    return {body}\n"
        ns = {}
        exec(src, ns)  # noqa: S102 - members are repr()'d identifiers, masks ints
        fn = _KEYFNS[spec] = ns["key"]
    return fn


# ---------------------------------------------------------------------------
# Prefix tries

# Node layout (a list, for memory and speed): the node's prefix as a
# full-width value and mask, its length (depth), the number of stored
# prefixes ending here, child for bit 0, child for bit 1.  Absolute values
# make a lookup step one XOR-and-mask, and a merge a mere re-link.
_VAL, _MASK, _DEPTH, _NRULES, _C0 = 0, 1, 2, 3, 4


class PrefixTrie:
    """Path-compressed binary trie of prefixes of one ``width``-bit field.

    A prefix is given as ``(p, plen)`` with ``p`` the leading ``plen`` bits.
    Insertions are counted, so equal prefixes from several rules share a
    node."""

    __slots__ = ("width", "root", "masks")

    def __init__(self, width: int):
        self.width = width
        self.root = [0, 0, 0, 0, None, None]
        # The mask of each prefix length, one int object per length for every
        # node of every trie of this width (a 32-bit int is 32 bytes; memory).
        self.masks = _prefix_masks(width)

    def _leaf(self, pv, plen):
        return [pv, self.masks[plen], plen, 1, None, None]

    def insert(self, p: int, plen: int) -> None:
        w = self.width
        pv = p << (w - plen)
        pmask = ((1 << plen) - 1) << (w - plen)
        node = self.root
        while node[_DEPTH] < plen:
            b = (pv >> (w - node[_DEPTH] - 1)) & 1
            child = node[_C0 + b]
            if child is None:
                node[_C0 + b] = self._leaf(pv, plen)
                return
            x = (pv ^ child[_VAL]) & child[_MASK] & pmask
            if not x and child[_DEPTH] <= plen:
                node = child
                continue
            # Split: a new node at the length both agree on (> node's depth).
            e = w - x.bit_length() if x else plen
            m = self.masks[e]
            mid = [pv & m, m, e, 0, None, None]
            mid[_C0 + ((child[_VAL] >> (w - e - 1)) & 1)] = child
            node[_C0 + b] = mid
            if e == plen:
                mid[_NRULES] = 1
            else:
                mid[_C0 + ((pv >> (w - e - 1)) & 1)] = self._leaf(pv, plen)
            return
        node[_NRULES] += 1

    def remove(self, p: int, plen: int) -> None:
        """Remove one insertion of ``(p, plen)``, which must be present."""
        w = self.width
        pv = p << (w - plen)
        node = self.root
        path = []
        while node[_DEPTH] < plen:
            b = (pv >> (w - node[_DEPTH] - 1)) & 1
            path.append((node, b))
            node = node[_C0 + b]
        node[_NRULES] -= 1
        while path and not node[_NRULES]:
            parent, b = path.pop()
            c0, c1 = node[_C0], node[_C0 + 1]
            if c0 is None and c1 is None:
                parent[_C0 + b] = None          # drop the leaf; parent may go next
                node = parent
            else:
                if c0 is None or c1 is None:    # one child: it takes this node's place
                    parent[_C0 + b] = c0 or c1
                break

    def lookup(self, v: int) -> tuple[int, int]:
        """Walk with the full-width value ``v``.  Returns ``(plens, nbits)``:
        bit L of ``plens`` is set if a stored prefix of length L matches
        ``v``; the leading ``nbits`` bits of ``v`` determine every such
        answer (for lengths > nbits the answer is "no match")."""
        w = self.width
        node = self.root
        plens = 0
        while True:
            d = node[_DEPTH]
            if d == w:
                return plens, w
            child = node[_C0 + ((v >> (w - d - 1)) & 1)]
            if child is None:
                # Left the trie: the bit that chose the missing branch
                # matters only if the other branch exists.
                if node[_C0] is None and node[_C0 + 1] is None:
                    return plens, d
                return plens, d + 1
            x = (v ^ child[_VAL]) & child[_MASK]
            if x:                               # includes the first differing bit
                return plens, w - x.bit_length() + 1
            if child[_NRULES]:
                plens |= 1 << child[_DEPTH]
            node = child


_PREFIX_MASKS: dict = {}


def _prefix_masks(width: int) -> tuple:
    masks = _PREFIX_MASKS.get(width)
    if masks is None:
        masks = _PREFIX_MASKS[width] = tuple(((1 << n) - 1) << (width - n)
                                             for n in range(width + 1))
    return masks


def _cidr_len(mask: int, width: int):
    """Prefix length if ``mask`` is ``width``-bit CIDR, else None."""
    n = width - (((1 << width) - 1) & ~mask).bit_length()
    return n if mask == ((1 << n) - 1) << (width - n) else None


# ---------------------------------------------------------------------------
# Subtables


class _Subtable:
    """All rules with one mask.  ``stages`` is a list of
    ``(keyfn, index, wc_items, trie_checks)``: ``keyfn`` gives the stage's
    part of the key, ``index`` counts key prefixes up to this stage (None
    for the last stage, whose probe is ``table`` itself), ``wc_items`` the
    ``(member, mask)`` bits the stage examines, ``trie_checks`` the
    ``(field, plen, trie)`` prefix fields of the stage."""

    __slots__ = ("mask", "maskd", "members", "keyfn", "table", "stages", "ends", "tries",
                 "max_priority", "priorities", "n_rules", "seq", "memo")

    def __init__(self, mask: tuple, seq: int, tries: dict):
        self.mask = mask
        self.memo = {}                        # callers' per-mask caches (flow stats encoders)
        self.maskd = dict(mask)
        self.members = tuple(m for m, _ in mask)
        self.keyfn = _keyfn(mask)
        self.table = {}
        self.max_priority = -1
        self.priorities = {}
        self.n_rules = 0
        self.seq = seq
        # Trie fields usable here: CIDR mask on a prefix field.
        self.tries = []                       # (key position, field, plen, trie)
        for i, (m, mk) in enumerate(mask):
            trie = tries.get(m)
            plen = trie and _cidr_len(mk, trie.width)
            if plen:
                self.tries.append((i, m, plen, trie))
        by_stage = {}
        for m, mk in mask:
            by_stage.setdefault(_STAGE.get(m, 0), []).append((m, mk))
        self.stages = []
        self.ends = []                        # key length after each non-final stage
        end = 0
        groups = [tuple(by_stage[s]) for s in sorted(by_stage)] or [()]
        for n, spec in enumerate(groups):
            end += len(spec)
            last = n == len(groups) - 1
            checks = tuple((f, plen, trie) for _, f, plen, trie in self.tries
                           if any(f == m for m, _ in spec))
            self.stages.append((_keyfn(spec), None if last else {}, spec, checks))
            if not last:
                self.ends.append(end)

    def add_key(self, key: tuple) -> None:
        """Account for a values-tuple new to ``table``."""
        for (_, index, _, _), end in zip(self.stages, self.ends):
            k = key[:end]
            index[k] = index.get(k, 0) + 1
        for i, _, plen, trie in self.tries:
            trie.insert(key[i] >> (trie.width - plen), plen)

    def drop_key(self, key: tuple) -> None:
        for (_, index, _, _), end in zip(self.stages, self.ends):
            k = key[:end]
            n = index[k] - 1
            if n:
                index[k] = n
            else:
                del index[k]
        for i, _, plen, trie in self.tries:
            trie.remove(key[i] >> (trie.width - plen), plen)

    def chains(self) -> Iterator[Rule]:
        for r in self.table.values():
            while r is not None:
                yield r
                r = r._next


# ---------------------------------------------------------------------------
# The classifier


class Classifier:
    """Rules in subtables searched in priority order; see the module doc."""

    def __init__(self, prefix_fields=DEFAULT_PREFIX_FIELDS):
        self._subtables: dict[tuple, _Subtable] = {}   # canonical mask -> subtable
        self._order: list[_Subtable] = []              # by max priority, then age
        self._dirty = False
        self._seq = 0
        self._n = 0
        self._canon: dict[tuple, tuple] = {}           # raw (member, mask) order -> canonical
        self._last_mask: tuple = (None, None)          # (FlowMatch, its canonical mask)
        self._tries = {f: PrefixTrie(_width(f)) for f in prefix_fields if _width(f)}

    # -- counts -------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    @property
    def n_subtables(self) -> int:
        return len(self._subtables)

    def __contains__(self, rule: Rule) -> bool:
        st = rule._subtable
        return st is not None and self._subtables.get(st.mask) is st

    def __iter__(self) -> Iterator[Rule]:
        return self.rules()

    # -- locating -----------------------------------------------------------
    def _mask_of(self, match: FlowMatch) -> tuple:
        last = self._last_mask
        if last[0] is match:                # find_exactly then insert: the same match
            return last[1]
        raw = tuple([(m, vm[1]) for m, vm in match.items()])
        canon = self._canon.get(raw)
        if canon is None:
            if len(self._canon) > 4096:
                self._canon.clear()
            canon = self._canon[raw] = tuple(sorted(raw, key=lambda x: _rank(x[0])))
        if type(match) is FlowMatch:        # immutable: may be remembered
            self._last_mask = (match, canon)
        return canon

    def _locate(self, match: FlowMatch):
        """(subtable or None, key) for ``match``."""
        st = self._subtables.get(self._mask_of(match))
        if st is None:
            return None, None
        return st, tuple([match[m][0] for m in st.members])

    # -- updates ------------------------------------------------------------
    def insert(self, rule: Rule) -> Rule | None:
        """Add ``rule``; if a rule with the same match and priority is
        present, put ``rule`` in its place and return the displaced one."""
        if rule._subtable is not None:
            raise ValueError("rule is already in a classifier")
        match, pri = rule.match, rule.priority
        mask = self._mask_of(match)
        st = self._subtables.get(mask)
        if st is None:
            st = self._subtables[mask] = _Subtable(mask, self._seq, self._tries)
            self._seq += 1
            self._dirty = True
        key = tuple([match[m][0] for m in st.members])
        table = st.table
        prev, cur = None, table.get(key)
        new_key = cur is None
        while cur is not None and cur.priority > pri:
            prev, cur = cur, cur._next
        rule._subtable = st
        if cur is not None and cur.priority == pri:           # replace
            rule._next, cur._next, cur._subtable = cur._next, None, None
            if prev is None:
                table[key] = rule
            else:
                prev._next = rule
            return cur
        rule._next = cur
        if prev is None:
            table[key] = rule
        else:
            prev._next = rule
        if new_key:
            st.add_key(key)
        prios = st.priorities
        prios[pri] = prios.get(pri, 0) + 1
        if pri > st.max_priority:
            st.max_priority = pri
            self._dirty = True
        st.n_rules += 1
        self._n += 1
        return None

    replace = insert

    def add(self, match, priority: int, payload=None) -> Rule:
        """Convenience: build a :class:`Rule`, insert it, return it (any
        displaced rule is dropped)."""
        rule = Rule(match, priority, payload)
        self.insert(rule)
        return rule

    def remove(self, rule: Rule) -> bool:
        """Remove exactly ``rule`` (by identity); False if it is not here."""
        if rule not in self:
            return False
        st = rule._subtable
        key = tuple([rule.match[m][0] for m in st.members])
        table = st.table
        prev, cur = None, table[key]
        while cur is not rule:
            prev, cur = cur, cur._next
        if prev is not None:
            prev._next = rule._next
        elif rule._next is not None:
            table[key] = rule._next
        else:
            del table[key]
            st.drop_key(key)
        rule._next = rule._subtable = None
        pri = rule.priority
        n = st.priorities[pri] - 1
        st.n_rules -= 1
        self._n -= 1
        if n:
            st.priorities[pri] = n
        else:
            del st.priorities[pri]
            if not st.n_rules:
                del self._subtables[st.mask]
                self._dirty = True
            elif pri == st.max_priority:
                st.max_priority = max(st.priorities)
                self._dirty = True
        return True

    def clear(self, graveyard: list | None = None) -> list:
        """Remove every rule at once; returns them in :meth:`rules` order.
        With ``graveyard``, the old index structures are appended to it
        instead of being freed now (the caller frees them later, off the
        request's path)."""
        out = []
        add = out.append
        for st in self._subtables.values():
            for r in st.table.values():
                while r is not None:
                    add(r)
                    nxt = r._next
                    r._next = r._subtable = None
                    r = nxt
        if graveyard is not None:
            graveyard.append((self._subtables, self._tries))
        self._subtables = {}
        self._order = []
        self._dirty = False
        self._n = 0
        self._tries = {f: PrefixTrie(t.width) for f, t in self._tries.items()}
        return out

    # -- undoing removals (flow table transactions) -------------------------
    def order_mark(self, rule: Rule, marks: dict) -> None:
        """Before removing ``rule`` when the removal may be undone: note in
        ``marks`` what :meth:`restore_order` needs to put its subtable and
        values-tuple back in their places (re-inserting appends them).  Once
        per subtable, O(its rules)."""
        st = rule._subtable
        if st.mask not in marks:
            marks[st.mask] = (st.seq, list(st.table))

    def restore_order(self, marks: dict) -> None:
        """After the removals were undone by re-inserting their rules (and
        every other change since the marks undone too): subtables get their
        age back and their values-tuples their order, so iteration (dumps,
        loose modify/delete) and equal-priority ties are as before."""
        for mask, (seq, keys) in marks.items():
            st = self._subtables.get(mask)
            if st is None:
                continue
            table = st.table
            st.seq = seq
            st.table = {k: table[k] for k in keys if k in table}
        self._subtables = dict(sorted(self._subtables.items(), key=lambda kv: kv[1].seq))
        self._dirty = True

    # -- queries ------------------------------------------------------------
    def find_exactly(self, match, priority: int) -> Rule | None:
        """The rule with exactly this match and priority (OpenFlow strict)."""
        if not isinstance(match, FlowMatch):
            match = FlowMatch(match)
        st, key = self._locate(match)
        r = st and st.table.get(key)
        while r is not None and r.priority > priority:
            r = r._next
        return r if r is not None and r.priority == priority else None

    def rules(self, loose=None) -> Iterator[Rule]:
        """Every rule, or with ``loose`` (a match) the rules at least as
        specific as it: each member's rule mask covers the filter's mask and
        the values agree under the filter's mask.  This is OpenFlow's
        non-strict modify/delete and the dump-flows filter.  Order: by
        subtable age, unspecified within a subtable."""
        if loose is None:
            for st in list(self._subtables.values()):
                yield from st.chains()
            return
        if not isinstance(loose, FlowMatch):
            loose = FlowMatch(loose)
        want = tuple(loose.items())
        for st in list(self._subtables.values()):
            maskd = st.maskd
            if any(maskd.get(m, 0) & mk != mk for m, (_, mk) in want):
                continue
            for r in st.chains():
                rm = r.match
                if all(rm[m][0] & mk == v for m, (v, mk) in want):
                    yield r

    def find_overlap(self, match, priority: int, exclude: Rule | None = None) -> Rule | None:
        """A rule of the same priority that some packet could match together
        with ``match`` (OFPFF_CHECK_OVERLAP), or None.  A rule identical to
        ``match`` counts as overlapping, as in Open vSwitch, unless it is
        ``exclude`` (the rule an add would replace)."""
        if not isinstance(match, FlowMatch):
            match = FlowMatch(match)
        tgt = dict(match.items())
        for st in list(self._subtables.values()):
            if priority not in st.priorities:
                continue
            if all(tgt.get(m, (0, 0))[1] & mk == mk for m, mk in st.mask):
                # The target is at least as specific as the subtable: a rule
                # overlaps iff its values equal the target's under the mask.
                r = st.table.get(tuple([tgt[m][0] & mk for m, mk in st.mask]))
                while r is not None and r.priority > priority:
                    r = r._next
                if r is not None and r.priority == priority and r is not exclude:
                    return r
                continue
            common = [(m, mk & tgt[m][1], tgt[m][0]) for m, mk in st.mask if m in tgt]
            for r in st.chains():
                if r.priority == priority and r is not exclude:
                    rm = r.match
                    if all((rm[m][0] ^ tv) & cm == 0 for m, cm, tv in common):
                        return r
        return None

    # -- lookup -------------------------------------------------------------
    def _resort(self) -> None:
        self._order = sorted(self._subtables.values(),
                             key=lambda s: (-s.max_priority, s.seq))
        self._dirty = False

    def lookup(self, flow: Mapping, wc: dict | None = None) -> Rule | None:
        """The highest-priority rule matching packet ``flow``, or None.
        With ``wc``, OR into it every bit examined (the megaflow mask)."""
        if self._dirty:
            self._resort()
        best = None
        best_pri = -1
        if wc is None:
            for st in self._order:
                if st.max_priority <= best_pri:
                    break
                r = st.table.get(st.keyfn(flow))
                if r is not None and r.priority > best_pri:
                    best, best_pri = r, r.priority
            return best
        trie_ctx = {}
        get = wc.get
        for st in self._order:
            if st.max_priority <= best_pri:
                break
            key = ()
            for keyfn, index, spec, checks in st.stages:
                if checks:
                    # Prefix tries: can one prove no rule here matches?
                    for field, plen, trie in checks:
                        res = trie_ctx.get(field)
                        if res is None:
                            res = trie_ctx[field] = trie.lookup(flow.get(field, 0))
                        if not (res[0] >> plen) & 1:
                            nbits = res[1] if res[1] < plen else plen
                            w = trie.width
                            wc[field] = get(field, 0) | (((1 << nbits) - 1) << (w - nbits))
                            break
                    else:
                        checks = None
                    if checks:
                        break
                for m, mk in spec:
                    wc[m] = get(m, 0) | mk
                key += keyfn(flow)
                if index is None:
                    r = st.table.get(key)
                    if r is not None and r.priority > best_pri:
                        best, best_pri = r, r.priority
                elif key not in index:
                    break
        return best
