"""``ovs-appctl ofproto/trace`` text, as Open vSwitch 3.1 prints it.

Theory of operation
-------------------
:func:`~.xlate.translate` with ``trace=True`` records a tree of
:class:`~.xlate.TraceNode` exactly where OVS's translation reports one
(``xlate_report``): a ``bridge`` node holds the table nodes; a table node
holds its actions *and* the table nodes its resubmits reach (they are
reported while that table is the current trace list); an action node holds
its details (``-> ...``), warnings (``>> ...``) and errors
(``>>>> ... <<<<``); group buckets are nodes of their own.
:func:`format_nodes` is ``oftrace_node_print_details``: a node is indented
by ``(level + more) * 4`` where ``more`` is 1 unless the node is the last of
its list and not terminal (tables and bridges), and its children print at
``level + 2*more``.  That is why a table reached by a resubmit that is the
last action prints flush left, and one reached from the middle of a list is
nested.

:func:`format_trace` assembles the whole reply: ``Flow:``, the tree,
``Final flow:`` (``unchanged`` when translation left the flow as it was),
``Megaflow:``, ``Datapath actions:`` and, on failure, ``Translation failed
(...), packet is dropped.``  Like OVS's reply it ends without a newline
unless that last line is present.
"""

from __future__ import annotations

from datapath.odp import format_actions, format_flow, format_megaflow_match

from .xlate import XlateContext, XlateResult, translate

_TERMINAL = {"action", "detail", "warn", "error", "bucket"}
SLOW_EXPLANATION = "Uses action(s) not supported by datapath"


def format_nodes(nodes, level: int = 0) -> str:
    out = []
    _print(nodes, level, out)
    return "".join(out)


def _print(nodes, level, out) -> None:
    for i, n in enumerate(nodes):
        if n.type == "bridge":
            out.append("\n")
        more = int(i != len(nodes) - 1 or n.type in _TERMINAL)
        pad = " " * ((level + more) * 4)
        if n.type == "detail":
            out.append(f"{pad} -> {n.text}\n")
        elif n.type == "warn":
            out.append(f"{pad} >> {n.text}\n")
        elif n.type == "error":
            out.append(f"{pad} >>>> {n.text} <<<<\n")
        elif n.type == "bridge":
            out.append(f"{pad}{n.text}\n{pad}{'-' * len(n.text)}\n")
        else:
            out.append(f"{pad}{n.text}\n")
        _print(n.subs, level + 2 * more, out)


def _norm(flow) -> dict:
    return {k: v for k, v in flow.items() if v}


def format_trace(flow: dict, result: XlateResult, port_names=None, dp_port_names=None) -> str:
    """The ofproto/trace reply for ``flow`` translated into ``result``.
    ``port_names``: ofport -> name (``--names``); ``dp_port_names``: datapath
    port -> name for the actions."""
    s = "Flow: " + format_flow(flow, port_names) + "\n"
    s += format_nodes(result.trace)
    final = result.final_flow
    s += "\nFinal flow: " + ("unchanged" if _norm(final) == _norm(flow)
                             else format_flow(final, port_names)) + "\n"
    s += "Megaflow: " + format_megaflow_match(flow, result.megaflow_wc, port_names) + "\n"
    s += "Datapath actions: " + format_actions(result.actions, dp_port_names, flow)
    if result.error:
        s += f"\nTranslation failed ({result.error}), packet is dropped.\n"
    elif result.slow:
        s += "\nThis flow is handled by the userspace slow path because it:"
        s += f"\n  - {SLOW_EXPLANATION}."
    return s


def trace(ctx: XlateContext, flow: dict, packet: bytes | None = None, *,
          names: bool = False) -> tuple[str, XlateResult]:
    """Run ``ofproto/trace``: translate without side effects unless a
    packet is given (as OVS), and render.  Returns (text, result)."""
    result = translate(ctx, flow, packet, trace=True, side_effects=packet is not None)
    pn = dn = None
    if names:
        pn = {p.ofport: p.name for p in ctx.ports.values() if p.name}
        dn = {p.dp_port: p.name for p in ctx.ports.values() if p.name}
    return format_trace(flow, result, pn, dn), result
