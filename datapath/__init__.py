"""pyvswitch: the datapath, the fast tier of the switch.

A frame arriving on a port is parsed into a flow key (:mod:`.flow`:
``dict member -> int``, members named like the OpenFlow codec's), looked up
in the megaflow cache (:mod:`.megaflow`: one dict probe per mask), and the
cached datapath actions run on it (:mod:`.execute`); a miss goes up to
``ofproto`` as an upcall through the dpif interface (:mod:`.dpif`), whose
answer is installed as a new megaflow.  :mod:`.odp` speaks Open vSwitch's
datapath syntax (keys, masks, actions as ``dpctl/dump-flows`` prints them,
and frames built from keys for ``netdev-dummy/receive``); ports live in
:mod:`.netdev`.  Everything but the port I/O is sans-I/O.
"""
