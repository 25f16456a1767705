"""Malformed input: only OFPError escapes, with the error OVS would send."""
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import ofproto.ofp as ofp
from ofproto.ofp import actions as A
from ofproto.ofp.instructions import ApplyActions

from .conftest import capture_messages

SAMPLES = [bytes.fromhex(h) for _, h in capture_messages()][:400]


def hdr(version, type_, body):
    return struct.pack("!BBHI", version, type_, 8 + len(body), 1) + body


def err(data):
    with pytest.raises(ofp.OFPError) as e:
        ofp.decode(data)
    return e.value.name


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_ofperror(data):
    try:
        ofp.decode(data)
    except ofp.OFPError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.data())
def test_mutated_captures_only_raise_ofperror(sample, data):
    b = bytearray(sample)
    for _ in range(data.draw(st.integers(1, 4))):
        if len(b) > 8:
            i = data.draw(st.integers(8, len(b) - 1))
            b[i] = data.draw(st.integers(0, 255))
    try:
        m = ofp.decode(bytes(b))
    except ofp.OFPError:
        return
    ofp.encode(m)           # whatever decodes must encode again


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_split_never_crashes(data):
    try:
        msgs, rest = ofp.split(data)
    except ofp.OFPError as e:
        assert e.name == "OFPBRC_BAD_LEN"
        return
    assert b"".join(msgs) + rest == data


# ---------------------------------------------------------------- known bad shapes
def test_queue_property_shorter_than_header():
    queue = struct.pack("!IH2x", 1, 8 + 4) + struct.pack("!HH", 1, 4)   # prop len 4 < 8
    body = struct.pack("!H6x", 1) + queue
    assert err(hdr(1, 21, body)) == "OFPBRC_BAD_LEN"
    queue = struct.pack("!IIH6x", 1, 1, 16 + 8) + struct.pack("!HH4x", 1, 2)
    assert err(hdr(4, 23, struct.pack("!I4x", 1) + queue)) == "OFPBRC_BAD_LEN"


def test_queue_desc_property_overruns_queue():
    q = struct.pack("!IIH6x", 1, 1, 24) + struct.pack("!HH4x", 1, 64)
    body = struct.pack("!HH4x", 15, 0) + q
    assert err(hdr(5, 19, body)) == "OFPBPC_BAD_LEN"


def test_unknown_group_type():
    body = struct.pack("!HBxI", 0, 7, 1)
    assert err(hdr(4, 15, body)) == "OFPGMFC_BAD_TYPE"
    nx = struct.pack("!II", 0x2320, 31) + struct.pack("!HBxIH2xI", 0, 9, 1, 0, 0xFFFFFFFF)
    assert err(hdr(1, 4, nx)) == "OFPGMFC_BAD_TYPE"


def test_properties_inside_raw_encap():
    # NXAST_ENCAP with a property whose length (2) is below its 4-byte header.
    encap = struct.pack("!HHIHHI", 0xFFFF, 24, 0x2320, 46, 0, 1) + struct.pack("!HBB4x", 4, 1, 2)
    fm = ofp.FlowMod(version=4).encode()[:-0 or None]
    inst = struct.pack("!HH4x", 4, 8 + len(encap)) + encap
    data = bytearray(fm + inst)
    data[2:4] = struct.pack("!H", len(data))
    assert err(bytes(data)) == "OFPBAC_BAD_LEN"


@pytest.mark.parametrize("version,code", [(5, 30), (4, None)])
def test_unknown_role_status_reason(version, code):
    body = struct.pack("!IB3xQ", 1, 7, 0)
    if code:
        data = hdr(version, code, body)
    else:
        data = hdr(4, 4, struct.pack("!II", 0x4F4E4600, 1911) + body)
    assert err(data) == "NXBRC_BAD_REASON"


def test_actions_nested_past_100():
    inner = A.Output(port=1, max_len=0)
    for _ in range(101):
        inner = A.NxClone(actions=(inner,))
    msg = ofp.FlowMod(version=4, instructions=(ApplyActions((inner,)),))
    assert err(msg.encode()) == "OFPBAC_BAD_ARGUMENT"
    inner = A.Output(port=1, max_len=0)
    for _ in range(50):
        inner = A.NxClone(actions=(inner,))
    ok = ofp.FlowMod(version=4, instructions=(ApplyActions((inner,)),)).encode()
    assert ofp.encode(ofp.decode(ok)) == ok


def test_length_fields_that_lie():
    good = bytes.fromhex("010e0050000000060038" "20fe" "0003" + "00" * 34 + "0000000000000000"
                         "0000000000000032ffffffffffff0000" "0000000800010000")
    assert ofp.decode(good)
    assert err(good[:-1]) == "OFPBRC_BAD_LEN"                   # header says more
    bad = bytearray(good)
    bad[-6:-4] = b"\x00\x10"                                    # action len past end
    assert err(bytes(bad)) == "OFPBAC_BAD_LEN"
    bad = bytearray(good)
    bad[-6:-4] = b"\x00\x04"                                    # action len below 8
    assert err(bytes(bad)) == "OFPBAC_BAD_LEN"
    # OXM match length beyond the message
    fm = bytearray(ofp.FlowMod(version=4).encode())
    fm[50:52] = b"\x01\x00"
    assert err(bytes(fm)) == "OFPBMC_BAD_LEN"
    # NXM match_len beyond the message (NXST_FLOW request)
    nx = bytearray.fromhex("0110002000000004ffff0000000023200000000000000000ffff0000ff000000")
    nx[26:28] = b"\x00\x40"
    assert err(bytes(nx)) == "OFPBRC_BAD_LEN"
    # packet-out actions_len beyond the message
    po = bytearray(ofp.PacketOut(version=4, actions=(A.Output(port=1),)).encode())
    po[16:18] = b"\x00\x80"
    assert err(bytes(po)) == "OFPBRC_BAD_LEN"
    # TLV whose length overruns the match
    m = bytearray(ofp.FlowMod(version=4, match=ofp.OxmMatch.from_flow(
        ofp.FlowMatch.exact(in_port=1))).encode())
    m[55] = 0x20
    assert err(bytes(m)) == "OFPBMC_BAD_LEN"


def test_header_errors():
    assert err(b"\x01\x00\x00") == "OFPBRC_BAD_LEN"
    assert err(bytes.fromhex("0900000800000000")) == "OFPBRC_BAD_VERSION"
    assert err(bytes.fromhex("04ee000800000000")) == "OFPBRC_BAD_TYPE"
    assert err(hdr(4, 4, struct.pack("!II", 0x1234, 1))) == "OFPBRC_BAD_VENDOR"
    assert err(hdr(4, 4, struct.pack("!II", 0x2320, 999))) == "OFPBRC_BAD_SUBTYPE"
    assert err(hdr(4, 18, struct.pack("!HH4x", 99, 0))) == "OFPBRC_BAD_STAT"


def test_match_errors():
    # OXM_OF_IN_PORT with a mask (not maskable), duplicate field, missing prereq.
    def fm_with(tlvs):
        body = bytes.fromhex(tlvs)
        n = 4 + len(body)
        match = struct.pack("!HH", 1, n) + body + bytes((-n) & 7)
        return ofp.FlowMod(version=4).encode()[:48] + match
    def fix(b):
        b = bytearray(b)
        b[2:4] = struct.pack("!H", len(b))
        return bytes(b)
    assert err(fix(fm_with("8000010800000001ffffffff"))) == "OFPBMC_BAD_MASK"
    assert err(fix(fm_with("800000040000000180000004000000002"[:-1]))) == "OFPBMC_DUP_FIELD"
    assert err(fix(fm_with("80001a0200500000"[:8 + 4]))) == "OFPBMC_BAD_PREREQ"


def test_bad_out_port():
    po = ofp.PacketOut(version=1, actions=(A.Output10(port=0xFF00, max_len=0),)).encode()
    assert err(po) == "OFPBAC_BAD_OUT_PORT"


def test_error_wire_codes():
    e = ofp.OFPError("OFPBMC_BAD_PREREQ")
    assert e.wire(4) == (4, 9, None)
    assert e.wire(1) == (1, 260, None)
    assert ofp.OFPError("OFPBAC_BAD_SET_MASK").wire(4) == (0xFFFF, 4250, 0x4F4E4600)
