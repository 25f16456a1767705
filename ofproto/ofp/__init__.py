"""pyvswitch's OpenFlow wire codec: OpenFlow 1.0-1.5 plus Open vSwitch's
Nicira (NX) and ONF extensions.  Sans-I/O: bytes in, frozen dataclasses
out, and back.

Public API
----------
``decode(data) -> Message``
    Decode exactly one complete message (``len(data)`` must equal the
    header's length).  Raises :class:`OFPError` - and nothing else - for
    any malformed input.
``encode(msg) -> bytes``
    Serialize a message; header length and type are computed.
``split(buffer) -> (list[bytes], rest)``
    Cut a receive buffer into complete messages.
``OFPError(name, data=b"", detail="")``
    The codec's only exception; ``err.name`` is OVS's error name
    (``"OFPBRC_BAD_LEN"``) and ``err.wire(version)`` the ``(type, code,
    experimenter)`` to put in the OFPT_ERROR reply.

Messages live in :mod:`.messages` (core), :mod:`.multipart` (stats),
:mod:`.nicira` (NX/ONF).  Matches: :class:`Match10` (OF1.0 ``ofp_match``),
:class:`OxmMatch` (NXM/OXM TLVs), both convertible to the version-independent
:class:`FlowMatch` (``member -> (value, mask)``) via ``to_flow()`` /
``from_flow()``.  Actions: :mod:`.actions`; instructions: :mod:`.instructions`.

Multipart list replies (:mod:`.bodies`) carry typed entries in ``stats``
(PortStats, TableStats, QueueStats, TableFeatures, and from :mod:`.groups`
GroupDesc/Bucket, GroupStats, MeterConfig/MeterBand, MeterStats); GroupMod,
NxGroupMod and MeterMod carry typed ``buckets``/``bands``.  :mod:`.learn`
types NX learn specs and NAT ranges.

Text: :func:`~.render.format_match`, :func:`~.render.format_actions`,
:func:`~.render.format_flow_mod` render in ovs-ofctl's syntax;
:mod:`.parse` reads it (:func:`~.parse.parse_flow`, ``parse_match``,
``parse_actions``, ``parse_packet_flow``).
"""

from .errors import OFPError
from .header import Message, decode, encode, split, VERSION_NAMES
from . import messages, multipart, nicira, bodies, groups, learn  # noqa: F401  (register)
from .match import FlowMatch, Match10, OxmMatch, Tlv
from .messages import *  # noqa: F401,F403
from .multipart import *  # noqa: F401,F403
from .nicira import *  # noqa: F401,F403

__all__ = ["OFPError", "Message", "decode", "encode", "split", "FlowMatch", "Match10",
           "OxmMatch", "Tlv", "VERSION_NAMES"]
