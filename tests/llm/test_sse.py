"""The lean transport's SSE decoder reads every stream as the OpenAI SDK's own decoder does.

Streams are drawn from the lines a server may send (events, data, ids, retries, comments, unknown
fields, blank lines), ended by LF, CR or CRLF, and cut into chunks anywhere, a CRLF included; the SDK's
`SSEDecoder` reads the whole stream in one piece and must dispatch the same events with the same data,
less the events with empty data, which both transports pass over (sse.py; the SDK's through
`answers.DataEvents`).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from openai._streaming import SSEDecoder

from rowrelay.tasks.llm.answers import DataEvents
from rowrelay.tasks.llm.sse import EventDecoder

_BLANK = st.just(b"")  # drawn as often as all the others: it is what dispatches an event
_FIELDS = st.sampled_from(
    [
        b"event: response.created",
        b"event:",
        b'data: {"type": "response.created", "sequence_number": 0}',
        b'data:{"a":1}',
        b"data: [DONE]",
        b"data",
        b"data:  two spaces",
        b"id: 7",
        b"id: with\0nul",
        b"id:",
        b"retry: 1000",
        b"retry: soon",
        b": keepalive",
        b":",
        b"field-we-ignore: x",
        b"data: caf\xc3\xa9",
    ]
)
_LINES = st.one_of(_BLANK, _FIELDS)
_ENDINGS = st.sampled_from([b"\n", b"\r", b"\r\n"])


def _sdk(stream: bytes) -> list[str]:
    return [event.data for event in SSEDecoder().iter_bytes(iter([stream])) if event.data]


def _sdk_as_read(stream: bytes) -> list[str]:
    """The SDK's transport as rowrelay reads a stream through it."""
    return [event.data for event in DataEvents().iter_bytes(iter([stream]))]


def _ours(chunks: list[bytes]) -> list[str]:
    decoder = EventDecoder()
    return [data.decode() for chunk in chunks for data in decoder.feed(chunk)]


@settings(max_examples=400)
@given(lines=st.lists(st.tuples(_LINES, _ENDINGS), max_size=30), data=st.data())
def test_any_stream_cut_anywhere_decodes_as_the_sdk_decodes_it(
    lines: list[tuple[bytes, bytes]], data: st.DataObject
) -> None:
    stream = b"".join(line + ending for line, ending in lines)
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=12))
    bounds = sorted(set(cuts))
    chunks = [stream[start:end] for start, end in zip([0, *bounds], [*bounds, len(stream)], strict=True)]
    assert _ours(chunks) == _sdk(stream) == _sdk_as_read(stream)


def test_an_event_with_no_data_is_passed_over_where_the_sdks_decoder_hands_it_on_empty() -> None:
    """`event: keepalive` alone, as some compatible servers send between events: the SDK's decoder
    dispatches it with empty data and its stream then fails to parse that as JSON, so every streamed
    row of such a server failed, on both transports."""
    stream = b"event: keepalive\n\nid: 3\n\nretry: 10\n\ndata:\n\ndata: 1\n\n"
    assert [event.data for event in SSEDecoder().iter_bytes(iter([stream]))] == ["", "", "", "", "1"]
    assert _ours([stream]) == ["1"]
    assert _sdk_as_read(stream) == ["1"]


def test_a_crlf_split_across_chunks_ends_one_line_not_two() -> None:
    """A CR ending one chunk and the LF opening the next are one line end: the event is dispatched once
    the blank line after it arrives, not at the CR."""
    decoder = EventDecoder()
    assert decoder.feed(b"data: 1\r") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r\n") == [b"1"]


def test_an_event_split_mid_line_waits_for_its_end() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b'event: x\ndata: {"a"') == []
    assert decoder.feed(b": 1}") == []
    assert decoder.feed(b"\n\ndata: 2\n\n") == [b'{"a": 1}', b"2"]


_SIMPLE_EVENTS = st.lists(
    st.tuples(
        st.sampled_from([b"response.created", b"response.output_text.delta", b"", b" spaced", b"a:b"]),
        st.sampled_from([b'{"type": "response.created"}', b"[DONE]", b" x", b"caf\xc3\xa9", b"data: 1"]),
    ),
    min_size=1,
    max_size=12,
)


def _sdk_named(stream: bytes) -> list[tuple[str, str]]:
    return [
        (event.event or "", event.data) for event in SSEDecoder().iter_bytes(iter([stream])) if event.data
    ]


_ODD = st.sampled_from([b"", b":ping\n\n", b"data: \n\n", b"\n", b"event:x\ndata: 2\n\n", b"data: 3\r\n\r\n"])
"""What breaks a run of whole events: nothing, a comment, empty data, a blank line, no space, a CRLF."""


@settings(max_examples=300)
@given(events=_SIMPLE_EVENTS, odd=_ODD, at=st.integers(min_value=0, max_value=12), data=st.data())
def test_whole_events_read_in_one_piece_are_named_as_the_sdk_names_them(
    events: list[tuple[bytes, bytes]], odd: bytes, at: int, data: st.DataObject
) -> None:
    """Chunks of nothing but `event: NAME` and one `data:` line each, as OpenAI writes every event, are
    read by one regular expression (sse.py); with anything else among them (a comment, empty data, a
    blank line, a field without its space), or cut mid-event, they are read line by line, and either
    way each event comes out with the name and data the SDK's decoder gives it."""
    frames = [b"event: " + name + b"\ndata: " + value + b"\n\n" for name, value in events]
    stream = b"".join([*frames[:at], odd, *frames[at:]])
    whole = [(name.decode(), value.decode()) for name, value in EventDecoder().feed_named(stream)]
    assert whole == _sdk_named(stream)
    cut = data.draw(st.integers(min_value=0, max_value=len(stream)))
    decoder = EventDecoder()
    pieces = decoder.feed_named(stream[:cut]) + decoder.feed_named(stream[cut:])
    assert [(name.decode(), value.decode()) for name, value in pieces] == whole
