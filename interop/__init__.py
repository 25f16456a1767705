"""pyvswitch: interop."""
