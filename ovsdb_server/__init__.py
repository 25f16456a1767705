"""pyvswitch: ovsdb_server."""
