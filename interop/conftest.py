"""Shared fixtures for the interop suites: short scratch folders and servers that always stop.

Unix socket paths must stay under 108 bytes, and pytest's `tmp_path` can be
long; `short_tmp` is a fresh folder directly under /tmp, removed afterwards.
`start_server(impl, name="db")` starts `harness.OvsdbServer` ("ours" or "ref")
in a subfolder of it and stops it (by the pid it started) when the test ends.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from interop.harness import OvsdbServer, have_ovs

# Our own checks first: a needs_ovs test is skipped, not failed, where the binaries are missing.
requires_ovs = pytest.mark.skipif(not have_ovs(), reason="Open vSwitch binaries not installed")


@pytest.fixture
def short_tmp(tmp_path):
    path = str(tmp_path)
    if len(path) > 60:
        path = tempfile.mkdtemp(prefix="pyvs-", dir="/tmp")
        yield path
        shutil.rmtree(path, ignore_errors=True)
    else:
        yield path


@pytest.fixture
def start_server(short_tmp):
    started = []

    def start(impl="ours", name=None):
        folder = os.path.join(short_tmp, name or f"{impl}{len(started)}")
        server = OvsdbServer(impl, folder)
        started.append(server)
        return server.start()

    yield start
    for server in reversed(started):
        server.stop()
