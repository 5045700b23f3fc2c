"""Event ids survive Visdom's JSON round trip and are read back from what a view holds."""

from __future__ import annotations

import json

from visdom_chaos.ids import EventId, ids_in_text, ids_in_traces, ids_in_window, send_ms, text_token


def test_text_tokens_round_trip_and_append_cache_agrees_with_full_parse():
    content = text_token("src-0", 0, 123) + "." * 40
    expected = [EventId("src-0", 0, 123)]
    for k in range(1, 400):  # long enough to use the append cache
        content += "<br>" + text_token("src-0", k, 1000 + k) + "." * 40
        expected.append(EventId("src-0", k, 1000 + k))
        assert ids_in_text(content) == expected
    # A regression (older text) and an unrelated text are parsed in full, not from the cache.
    older = content[: len(content) // 2]
    assert ids_in_text(older) == [
        e for e in expected if text_token(e.source, e.seq, e.send_ns) in older
    ]
    other = "<br>".join(text_token("b", k, k) for k in range(300))
    assert [e.seq for e in ids_in_text(other)] == list(range(300))


def test_plot_points_keep_seq_and_send_time_to_the_microsecond():
    send_ns = 1_795_468_069_658_898_060
    trace = json.loads(json.dumps({"name": "src-1", "x": [7], "y": [send_ms(send_ns)]}))
    (eid,) = ids_in_traces([trace])
    assert (eid.source, eid.seq) == ("src-1", 7)
    assert abs(eid.send_ns - send_ns) < 1_000  # microsecond precision through a double


def test_window_dispatch_by_type():
    text = {"type": "text", "content": text_token("s", 3, 9)}
    plot = {"type": "plot", "content": {"data": [{"name": "s", "x": [1, 2], "y": [1.0, 2.0]}]}}
    assert [e.seq for e in ids_in_window(text)] == [3]
    assert [e.seq for e in ids_in_window(plot)] == [1, 2]
    assert ids_in_window({"type": "image", "content": {}}) == []
    assert ids_in_window(None) == []
