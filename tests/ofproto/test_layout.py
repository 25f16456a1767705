"""The struct fast path agrees with construct on every declared layout."""
import gc
import os

import pytest

import ofproto.ofp as ofp  # noqa: F401  (imports every module)
from ofproto.ofp.layout import Layout

LAYOUTS = sorted({id(o): o for o in gc.get_objects() if isinstance(o, Layout)}.values(),
                 key=lambda l: l.name)


def test_many_layouts():
    assert len(LAYOUTS) > 60


@pytest.mark.parametrize("lay", LAYOUTS, ids=lambda l: l.name)
def test_construct_agrees(lay):
    data = bytes((i * 37 + 11) & 0xFF for i in range(lay.size))
    assert lay.decl.sizeof() == lay.size
    parsed = lay.decl.parse(data)
    assert tuple(parsed[n] for n in lay.names) == lay.unpack(data, 0)
    values = lay.unpack(data, 0)
    built = lay.decl.build(dict(zip(lay.names, values)))
    assert built == lay.pack(*values)


def test_no_trio_in_codec():
    import sys
    assert "trio" not in {m.split(".")[0] for m in sys.modules if m.startswith("ofproto.ofp")}
    src = os.path.dirname(ofp.__file__)
    for f in os.listdir(src):
        if f.endswith(".py"):
            text = open(os.path.join(src, f)).read()
            assert "import trio" not in text and "import socket" not in text


def test_module_sizes():
    src = os.path.dirname(ofp.__file__)
    for f in os.listdir(src):
        if f.endswith(".py"):
            assert sum(1 for _ in open(os.path.join(src, f))) < 800, f
