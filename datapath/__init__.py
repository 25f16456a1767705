"""pyvswitch: datapath."""
