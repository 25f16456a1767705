"""Framing and message validation of the JSON-RPC layer."""
import json

import pytest
from hypothesis import given, settings, strategies as st

from ovsdb_server import jsonrpc
from ovsdb_server.jsonrpc import Framer, ProtocolError, classify

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
messages = st.dictionaries(st.sampled_from(["id", "method", "params", "x"]), json_values, min_size=1)


@settings(max_examples=200, deadline=None)
@given(st.lists(messages, min_size=1, max_size=6), st.lists(st.integers(1, 50), max_size=30), st.data())
def test_any_split_of_concatenated_messages_gives_the_same_messages(msgs, cuts, data):
    stream = b"".join(json.dumps(m, ensure_ascii=data.draw(st.booleans())).encode() for m in msgs)
    framer, out, pos = Framer(), [], 0
    for c in cuts:
        out += framer.feed(stream[pos:pos + c])
        pos += c
    out += framer.feed(stream[pos:])
    assert out == msgs
    assert framer.buffered == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_give_messages_or_protocol_error(data):
    try:
        for msg in Framer().feed(data):
            assert isinstance(msg, dict)
    except ProtocolError:
        pass


def test_partial_utf8_sequence_across_reads():
    raw = '{"é":"ü"}'.encode()
    f = Framer()
    assert f.feed(raw[:3]) == []
    assert f.feed(raw[3:]) == [{"é": "ü"}]


@pytest.mark.parametrize("bad", [b'{"a":1,}', b'{"a":[}', b'["list_dbs"]', b'{"a":tx}', b"\xff\xfe{}"])
def test_malformed_input_is_a_protocol_error(bad):
    with pytest.raises(ProtocolError):
        Framer().feed(bad)


def test_incomplete_literals_and_strings_wait_for_more():
    f = Framer()
    for piece in [b'{"a":tr', b'ue,"b":"x}', b'yz","c":-', b'1}']:
        got = f.feed(piece)
    assert got == [{"a": True, "b": "x}yz", "c": -1}]


def test_nesting_limit():
    ok = b'{"a":' + b"[" * 990 + b"]" * 990 + b"}"
    assert len(Framer().feed(ok)) == 1
    deep = b'{"a":' + b"[" * 1100 + b"]" * 1100 + b"}"
    with pytest.raises(ProtocolError, match="nesting"):
        Framer().feed(deep)


def test_size_limit():
    f = Framer(max_size=1000)
    with pytest.raises(ProtocolError, match="size limit"):
        f.feed(b'{"a":"' + b"x" * 2000)


@pytest.mark.parametrize("msg,kind", [
    ({"id": 1, "method": "echo", "params": []}, jsonrpc.REQUEST),
    ({"id": None, "method": "update", "params": []}, jsonrpc.NOTIFY),
    ({"method": "cancel", "params": [1]}, jsonrpc.NOTIFY),
    ({"id": 1, "result": [], "error": None}, jsonrpc.REPLY),
    ({"id": 1, "error": "x"}, jsonrpc.ERROR),
])
def test_classify(msg, kind):
    assert classify(msg) == kind


@pytest.mark.parametrize("msg", [
    {"id": 1, "method": "echo"},                       # no params
    {"id": 1, "method": "echo", "params": {}},         # params not an array
    {"id": 1, "method": 5, "params": []},              # method not a string
    {"id": 1, "method": "echo", "params": [], "extra": 1},
    {"result": 1},                                      # reply without id
])
def test_classify_rejects_what_ovsdb_server_rejects(msg):
    with pytest.raises(ProtocolError):
        classify(msg)
