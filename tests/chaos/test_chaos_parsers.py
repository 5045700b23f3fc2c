"""Unit tests of the pure parsers: RFC 6455 frames and messages, HTTP heads, segmenting."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visdom_chaos.chaos.httpstream import HttpHead, HttpTracker
from visdom_chaos.chaos.segmenter import Segmenter
from visdom_chaos.chaos.wsframe import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    Frame,
    FrameError,
    FrameParser,
    FrameSkimmer,
    Message,
    MessageAssembler,
    encode_frame,
    parse_header,
    unmask,
)

pytest_plugins = ["chaoshelp"]  # fixtures: real servers on loopback, a ChaosServer per test


def test_masked_frame_round_trip_and_raw_bytes_kept():
    payload = json.dumps({"command": "window_update", "win": "w1"}).encode()
    mask = b"\x01\x02\x03\x04"
    raw = encode_frame(OP_TEXT, payload, mask=mask)
    assert raw[2:6] == mask and raw[6:] != payload  # really masked on the wire
    (frame,) = FrameParser().feed(raw)
    assert frame.header.masked and frame.payload == payload
    assert frame.raw == raw  # forwarded byte-for-byte, key included


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_length_encodings(size):
    raw = encode_frame(OP_BINARY, b"\xaa" * size)
    h = parse_header(raw)
    assert h is not None and h.length == size
    assert h.size == (2 if size < 126 else 4 if size < 65536 else 10)


def test_header_incomplete_returns_none():
    raw = encode_frame(OP_TEXT, b"x" * 300, mask=True)
    for cut in range(0, 8):
        assert parse_header(raw[:cut]) is None


def test_invalid_frames_are_rejected():
    with pytest.raises(FrameError, match="reserved opcode"):
        parse_header(bytes([0x83, 0x00]))
    with pytest.raises(FrameError, match="control frame"):
        parse_header(bytes([0x09, 0x00]))  # ping without FIN
    with pytest.raises(FrameError, match="control frame"):
        parse_header(bytes([0x89, 126, 0, 200]))


def test_fragmented_message_with_control_frames_interleaved():
    parts = [b'{"comm', b'and": "win', b'dow"}']
    stream = (
        encode_frame(OP_TEXT, parts[0], fin=False, mask=True)
        + encode_frame(OP_PING, b"p1", mask=True)
        + encode_frame(OP_CONT, parts[1], fin=False, mask=True)
        + encode_frame(OP_PING, b"p2", mask=True)
        + encode_frame(OP_CONT, parts[2], fin=True, mask=True)
        + encode_frame(OP_CLOSE, struct.pack("!H", 1000))
    )
    asm = MessageAssembler()
    units = [u for f in FrameParser().feed(stream) if (u := asm.push(f)) is not None]
    kinds = [("msg" if isinstance(u, Message) else u.opcode) for u in units]
    assert kinds == [OP_PING, OP_PING, "msg", OP_CLOSE]
    msg = units[2]
    assert isinstance(msg, Message) and len(msg.frames) == 3
    assert msg.json() == {"command": "window"}
    assert b"".join(u.raw for u in units) != stream  # control frames moved ahead of the message
    assert sorted(b"".join(u.raw for u in units)) == sorted(stream)  # but nothing lost


def test_assembler_rejects_broken_fragmentation():
    asm = MessageAssembler()
    with pytest.raises(FrameError):
        asm.push(FrameParser().feed(encode_frame(OP_CONT, b"x"))[0])
    asm.push(FrameParser().feed(encode_frame(OP_TEXT, b"a", fin=False))[0])
    with pytest.raises(FrameError):
        asm.push(FrameParser().feed(encode_frame(OP_TEXT, b"b"))[0])


def test_message_json_only_for_uncompressed_text():
    text = Message(OP_TEXT, [Frame(parse_header(r := encode_frame(OP_TEXT, b'{"a": 1}')), r)])
    binary = Message(
        OP_BINARY, [Frame(parse_header(r2 := encode_frame(OP_BINARY, b'{"a": 1}')), r2)]
    )
    deflated = Message(
        OP_TEXT, [Frame(parse_header(r3 := encode_frame(OP_TEXT, b'{"a": 1}', rsv=4)), r3)]
    )
    assert text.json() == {"a": 1} and binary.json() is None and deflated.json() is None


def test_unmask_is_an_involution():
    data = bytes(range(256)) * 3 + b"tail"
    key = b"\x9a\x00\xff\x10"
    assert unmask(unmask(data, key), key) == data


frames_st = st.lists(
    st.tuples(
        st.sampled_from([OP_TEXT, OP_BINARY, OP_PING]), st.binary(max_size=300), st.booleans()
    ),
    min_size=1,
    max_size=12,
)


def _stream(frames: list[tuple[int, bytes, bool]]) -> tuple[bytes, list[bytes]]:
    raws = [
        encode_frame(op, data[:125] if op == OP_PING else data, mask=m) for op, data, m in frames
    ]
    return b"".join(raws), raws


@settings(max_examples=150, deadline=None)
@given(frames_st, st.lists(st.integers(min_value=1, max_value=400), max_size=20))
def test_parser_and_skimmer_agree_under_any_split(frames, cuts):
    stream, raws = _stream(frames)
    chunks, pos = [], 0
    for c in cuts:
        chunks.append(stream[pos : pos + c])
        pos += c
    chunks.append(stream[pos:])
    parser, skimmer = FrameParser(), FrameSkimmer()
    out = []
    for chunk in chunks:
        out.extend(f.raw for f in parser.feed(chunk))
        skimmer.skim(chunk)
    assert out == raws
    assert skimmer.at_boundary and parser.pending == 0


@settings(max_examples=150, deadline=None)
@given(
    frames_st,
    st.lists(st.tuples(st.integers(min_value=1, max_value=400), st.booleans()), max_size=20),
)
def test_segmenter_preserves_bytes_when_switching_modes(frames, plan):
    """Whatever the chunking and however split/skim mode flips, every byte comes out once, in order."""
    ws, _ = _stream(frames)
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    stream = head + ws
    seg = Segmenter(is_request=False)
    out, pos = bytearray(), 0
    for size, split in [*plan, (len(stream), False)]:
        for s in seg.feed(stream[pos : pos + size], split_ws=split):
            out += s.raw if not isinstance(s, bytes) else s
        pos += size
        if pos >= len(stream):
            break
    assert bytes(out) == stream


@pytest.mark.parametrize("hold", [True, False])
def test_http_tracker_requests_with_bodies_and_upgrade(hold):
    t = HttpTracker(is_request=True)
    body = b'{"win": "w"}'
    req1 = b"POST /update HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    req2 = b"GET /socket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    frame = encode_frame(OP_TEXT, b"hi", mask=True)
    data = req1 + req2 + frame
    segs, used = [], 0
    for i in range(0, len(data), 7):  # in 7-byte pieces
        s, u = t.feed(data[i : i + 7], hold=hold)
        segs.extend(s)
        if t.phase == "ws":
            used = i + u
            break
    heads = [s for s in segs if isinstance(s, HttpHead)]
    if hold:  # whole heads for the HTTP toxics
        assert [(h.method, h.path) for h in heads] == [("POST", "/update"), ("GET", "/socket")]
        assert heads[0].content_length == len(body) and heads[1].upgrade_ws
    else:  # bytes pass at once, but the upgrade is still found
        assert heads == [] and used == len(req1 + req2)
    assert b"".join(s if isinstance(s, bytes) else s.raw for s in segs) == data[:used]


def test_http_tracker_gives_up_on_non_http_streams():
    t = HttpTracker(is_request=True)
    segs, used = t.feed(b"*1\r\n$4\r\nPING\r\n")  # redis, not HTTP: passes at once
    assert segs == [b"*1\r\n$4\r\nPING\r\n"] and t.phase == "opaque"
    r = HttpTracker(is_request=False)
    r.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert r.phase == "opaque"
