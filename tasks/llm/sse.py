"""Server-sent events as the OpenAI SDK's decoder reads them, on bytes, for the lean transport's streams.

The SDK's `SSEDecoder` (openai/_streaming.py) costs a regex match, a `str` decode and a
`ServerSentEvent` per line; a stream's events are a few lines each, so this works on whole chunks
(`bytes.split`) and hands over only what the caller reads: each event's `data`. It keeps the SDK's
reading of the stream (an unfinished event at the end of the stream is dropped) but for one thing: the
SDK dispatches an event that set a field other than `data` (`event: keepalive` alone, which some
compatible servers send) with empty data, then fails to parse that as JSON, so every row of such a
stream failed; this dispatches no event whose data is empty, as the WHATWG algorithm dispatches none
without data (nothing in it to read), and the SDK's transport passes them over too (answers.DataEvents).
Lines end at CR, LF or CRLF, also when a CRLF is split across two chunks. Event names are not kept:
the SDK reads a Responses stream's event from its data (`type`), never from the `event:` line.
httpx-sse, the library the SDK's decoder was copied from, speaks httpx, not aiohttp.
"""

from __future__ import annotations

import re

_COLON = 0x3A
_LF = b"\n"
_CR = b"\r"
_SIMPLE = re.compile(rb"event: ([^\n]*)\ndata: ([^\n]+)\n\n")
"""One event as OpenAI and the emulator write every event: its name, then its data on one line."""
_SIMPLE_FRAME = len(b"event: \ndata: \n\n")


class EventDecoder:
    """Feed it a stream's chunks in order; each feed returns the `data` of the events it completed (those
    with data: see the module's docstring)."""

    __slots__ = ("_data", "_event", "_partial", "_skip_lf")

    def __init__(self) -> None:
        self._partial: list[bytes] = []  # the line still being received, in pieces
        self._skip_lf = False  # the last chunk ended in CR: a LF opening the next ends the same line
        self._data: list[bytes] = []
        self._event = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        return [data for _, data in self.feed_named(chunk)]

    def feed_named(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        """As `feed`, each event with its name (its `event:` field, empty when it set none)."""
        if not (self._partial or self._data or self._event or self._skip_lf) and chunk.endswith(b"\n\n"):
            simple = _simple_events(chunk)
            if simple is not None:
                return simple
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == _LF:
                chunk = chunk[1:]
        if _LF not in chunk and _CR not in chunk:
            if chunk:
                self._partial.append(chunk)
            return []
        if self._partial:
            self._partial.append(chunk)
            chunk = b"".join(self._partial)
            self._partial = []
        if _CR in chunk:
            self._skip_lf = chunk.endswith(_CR)
            chunk = chunk.replace(b"\r\n", _LF).replace(_CR, _LF)
        lines = chunk.split(_LF)
        rest = lines.pop()
        if rest:
            self._partial.append(rest)
        return self._lines(lines)

    def _lines(self, lines: list[bytes]) -> list[tuple[bytes, bytes]]:
        events: list[tuple[bytes, bytes]] = []
        for line in lines:
            if not line:
                data = _LF.join(self._data)
                if data:
                    events.append((self._event, data))
                self._data, self._event = [], b""
                continue
            if line[0] == _COLON:  # a comment (keep-alive)
                continue
            name, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                self._data.append(value)
            elif name == b"event":
                self._event = value
            # `id` and `retry` say where a browser reconnects and when: nothing an event's data needs.
        return events


def _simple_events(chunk: bytes) -> list[tuple[bytes, bytes]] | None:
    """The events of a chunk that is nothing but whole events as `_SIMPLE` reads them (no CR, comment,
    other field, or data of several lines), each as `EventDecoder._lines` would read it, found by one
    regular expression in C; else None, and the chunk is read line by line. A fast server's whole
    stream comes in one such chunk, and reading it a line at a time was most of what decoding it cost
    (tests/benchmarks/RESULTS.md, the forty-seventh session)."""
    if _CR in chunk:
        return None
    events: list[tuple[bytes, bytes]] = _SIMPLE.findall(chunk)
    # Matches never overlap, so when their lengths add up to the chunk's they are all of it.
    covered = sum(len(name) + len(data) for name, data in events) + _SIMPLE_FRAME * len(events)
    return events if covered == len(chunk) else None
