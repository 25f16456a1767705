"""Open vSwitch's datapath ("ODP") syntax: flow keys, masks, actions, test frames.

A thin facade kept so importers (``from datapath import odp``, ``from
datapath.odp import format_flow``) need not know how the code is split:

* :mod:`datapath.odp_keys` - flow keys and masks: ``format_key``,
  ``format_megaflow_match``, ``format_flow``, ``parse_key``;
* :mod:`datapath.odp_frame` - ``frame_from_key`` (OVS's ``flow_compose``);
* :mod:`datapath.odp_actions` - datapath action tuples: ``format_actions``,
  ``parse_actions`` (the action tuple vocabulary is documented there).
"""

from __future__ import annotations

from .odp_actions import format_actions, parse_actions
from .odp_frame import frame_from_key
from .odp_keys import (CT_STATE_NAMES, SLOW_PATH_REASONS, TCP_FLAG_NAMES, OdpParseError,
                       format_flow, format_key, format_megaflow_match, match_format,
                       packet_wildcards, parse_key)

__all__ = ["format_key", "format_megaflow_match", "format_flow", "parse_key",
           "frame_from_key", "format_actions", "parse_actions", "OdpParseError"]
