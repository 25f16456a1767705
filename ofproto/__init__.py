"""pyvswitch: ofproto."""
