"""TLS contexts for ``ssl:``/``pssl:`` connections, as Open vSwitch's stream-ssl.c makes them.

Both sides are authenticated (stream-ssl sets ``SSL_VERIFY_PEER |
SSL_VERIFY_FAIL_IF_NO_PEER_CERT`` for clients and servers alike): each end
presents its certificate and requires the peer's, signed by the CA
certificate.  Host names are not checked - any certificate the CA signed is
trusted, as in OVS.  A CA file named ``none`` turns peer verification off
(``--ca-cert=none``).

What is not configured or cannot be read is logged as stream-ssl logs it
("Private key must be configured to use SSL") and raises
``OSError(ENOPROTOOPT)`` - "Protocol not available", the error a connection
attempt then reports (rconn's ``last_error``) - so callers treat it like any
other failed connect.  Files are read when the context is made: the
switch makes one per connection attempt, so changed files count from the
next one (as stream-ssl rereads files whose mtime changed).
"""
from __future__ import annotations

import errno
import os
import ssl

from .daemon import get_logger

log = get_logger("stream_ssl")


def _unavailable() -> OSError:
    return OSError(errno.ENOPROTOOPT, os.strerror(errno.ENOPROTOOPT))


def make_context(server_side: bool, private_key: str | None, certificate: str | None,
                 ca_cert: str | None, *, bootstrap_ca_cert: bool = False) -> ssl.SSLContext:
    """An SSLContext for one side of a connection (see the module docstring)."""
    missing = False
    for what, value in (("Private key", private_key), ("Certificate", certificate),
                        ("CA certificate", ca_cert)):
        if not value:
            log.error("%s must be configured to use SSL", what)
            missing = True
    if missing:
        raise _unavailable()
    if bootstrap_ca_cert and ca_cert != "none" and not os.path.exists(ca_cert):
        # OVS would fetch the peer's CA certificate on the first connection
        # (trust on first use); we only use a CA file that already exists.
        log.error("%s: bootstrapping the CA certificate from the peer is not supported", ca_cert)
        raise _unavailable()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    try:
        ctx.load_cert_chain(certificate, private_key)
        if ca_cert == "none":
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx.load_verify_locations(ca_cert)
            ctx.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ValueError) as e:          # ssl.SSLError is an OSError
        log.error("%s, %s, %s: could not load (%s)", private_key, certificate, ca_cert,
                  getattr(e, "reason", None) or getattr(e, "strerror", None) or e)
        raise _unavailable() from e
    return ctx
