"""Server-sent events as the OpenAI SDK's decoder reads them, on bytes, for the lean transport's streams.

The SDK's `SSEDecoder` (openai/_streaming.py) costs a regex match, a `str` decode and a
`ServerSentEvent` per line; a stream's events are a few lines each, so this works on whole chunks
(`bytes.split`) and hands over only what the caller reads: each event's `data`. It keeps the SDK's
reading of the stream, which differs from the WHATWG algorithm in two places that matter here:
- an event is dispatched at a blank line when it set any field (`event`, `data`, `retry`) or an `id`
  was ever set, even with no `data` (the SDK then fails to parse the empty data as JSON, and so do we);
- an unfinished event at the end of the stream is dropped.
Lines end at CR, LF or CRLF, also when a CRLF is split across two chunks. Event names are not kept:
the SDK reads a Responses stream's event from its data (`type`), never from the `event:` line.
httpx-sse, the library the SDK's decoder was copied from, speaks httpx, not aiohttp.
"""

from __future__ import annotations

import contextlib

_COLON = 0x3A
_LF = b"\n"
_CR = b"\r"


class EventDecoder:
    """Feed it a stream's chunks in order; each feed returns the `data` of the events it completed."""

    __slots__ = ("_data", "_event", "_id", "_partial", "_retry", "_skip_lf")

    def __init__(self) -> None:
        self._partial: list[bytes] = []  # the line still being received, in pieces
        self._skip_lf = False  # the last chunk ended in CR: a LF opening the next ends the same line
        self._data: list[bytes] = []
        self._event = b""
        self._id = b""  # not reset between events, as the SDK does not
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[bytes]:
        return [data for _, data in self.feed_named(chunk)]

    def feed_named(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        """As `feed`, each event with its name (its `event:` field, empty when it set none)."""
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
                if self._data or self._event or self._id or self._retry is not None:
                    events.append((self._event, _LF.join(self._data)))
                    self._data, self._event, self._retry = [], b"", None
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
            elif name == b"id":
                if b"\0" not in value:
                    self._id = value
            elif name == b"retry":
                with contextlib.suppress(ValueError):
                    self._retry = int(value)
        return events
