"""A Responses event stream read as `StreamUpdate`s: which events carry a response (the lifecycle
events), which the lean transport may pass over undecoded, and how a break in the stream is told
(the cursor kept exact, the SDK's error translated). The SDK's `AsyncStream` and the lean transport's
`EventStream` are read alike, so a row's updates cannot depend on the transport.

Apart from responses_backend.py, which makes the calls: this is what is done with a stream once it is
open, for a create's stream and a resumed one alike, and it needs nothing of the backend.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import openai
from openai.types.responses import ResponseStreamEvent

from rowrelay.tasks.errors import TransientError
from rowrelay.tasks.llm.calls import StreamCutError, StreamUnavailableError, StreamUpdate
from rowrelay.tasks.llm.event_stream import EventStream
from rowrelay.tasks.llm.sdk_errors import translate
from rowrelay.tasks.llm.snapshots import snapshot_of

ResponsesStream = EventStream | openai.AsyncStream[ResponseStreamEvent]
"""An open stream of either transport: the lean one's (events as JSON objects) or the SDK's (its models)."""
LIFECYCLE = frozenset(
    {
        "response.created",
        "response.queued",
        "response.in_progress",
        "response.completed",
        "response.failed",
        "response.incomplete",
    }
)
"""The events that carry the whole response (its status and, at its end, its answer), whatever the
backend: the others carry parts of its output."""
_LIFECYCLE_NAMES = frozenset(kind.encode() for kind in LIFECYCLE)


UNNUMBERED = -1
"""The cursor of an event without a `sequence_number` (some compatible servers number none; read as an
error, every streamed row of such a server failed, and through the SDK as None): no position in the
stream, as before its first event. A stream broken after such an event is polled (StreamUnavailableError):
resumed from its start, one the server cuts at the same point would be cut there every time. One that
ends early is resumed from its start, each event it replays one the row has seen (only the terminal
one's response is recorded)."""
CUT_BEFORE_NAMED = "(the create's stream had opened, 200, and was cut before any event named the response)"
"""Said after a create's stream breaks before its id came, as its row's error (`StreamCutError`)."""
_NO_CURSOR = "the server numbers no stream events, so a broken stream cannot resume where it broke"


def _cursor(number: object) -> int:
    """An event's `sequence_number` as the stream's cursor (`UNNUMBERED` if it has none)."""
    return number if isinstance(number, int) else UNNUMBERED


def passable(name: bytes) -> bool:
    """Events the lean transport need not decode when the next one is already read: a Responses event
    (`response.*`) that carries no response, so its sequence number is all `stream_updates` keeps of
    it, and `response.queued`, whose response says no more than `response.created` before it (a row
    waiting is held as queued until an event says otherwise). An `error` event is never passed over."""
    return name.startswith(b"response.") and (name not in _LIFECYCLE_NAMES or name == b"response.queued")


async def stream_updates(
    stream: ResponsesStream, *, creating: bool = False
) -> AsyncGenerator[StreamUpdate, None]:
    """Reduce events (the SDK's models, or the lean transport's JSON objects) to updates; transport
    failures and `error` events become TransientError, or, on a create's own stream before any event has
    named the response, MaybeSentError: the server accepted the create, so its job may exist although we
    never learnt its id (StreamCutError when the stream broke or timed out: it had opened); or, after an
    event without a sequence number, StreamUnavailableError (`UNNUMBERED`). Events without a `type`
    (keep-alives) are passed over."""
    named = not creating
    unnumbered = False  # the last event read had no sequence number: a break cannot resume after it
    passed, last_passed = 0, -1  # text deltas read in one piece with the event after them, not handed on
    lean = stream if isinstance(stream, EventStream) else None
    try:
        async with stream:
            async for event in stream:
                if isinstance(event, dict):
                    taken = 0 if lean is None else lean.take_passed()  # deltas passed over before it
                    passed += taken
                    kind = event.get("type")
                    if not isinstance(kind, str):  # a keep-alive (`event: ping`, `data: {}`): no event
                        if taken and lean is not None:  # the cursor stays exact, should the stream break
                            last_passed = _cursor(lean.last_passed_number())
                        continue
                    number = _cursor(event.get("sequence_number"))
                    unnumbered = number == UNNUMBERED
                    if kind not in LIFECYCLE:
                        # A stream read in large pieces (a fast server, or a reader catching up)
                        # brings dozens of deltas at once; each handed up the waiter's generators cost
                        # as much as reading it, for a cursor the next event, already here, moves on.
                        if lean is not None and lean.buffered:
                            passed, last_passed = passed + 1, number
                            continue
                        snapshot = None
                    else:
                        snapshot = snapshot_of(event["response"])
                else:
                    if event.type is None:  # the SDK's model of a keep-alive: no Responses event
                        continue
                    lifecycle = event.type in LIFECYCLE
                    number = _cursor(event.sequence_number)
                    unnumbered = number == UNNUMBERED
                    snapshot = snapshot_of(event.response) if lifecycle else None  # type: ignore[union-attr]
                named = named or snapshot is not None
                yield StreamUpdate(number, snapshot, passed + 1, lean is not None and lean.buffered)
                passed = 0
    except Exception as exc:
        pending = 0 if lean is None else lean.take_passed()  # read after anything counted above
        if pending and lean is not None and (at := lean.last_passed_number()) is not None:
            passed, last_passed = passed + pending, at
        if passed:  # the cursor stays exact: the break comes after the last delta read
            yield StreamUpdate(last_passed, None, passed)
        if isinstance(exc, openai.OpenAIError):
            translated = translate(exc, creating=not named)
            if not named and isinstance(exc, openai.APIConnectionError):  # a timeout too
                # Opened, so the server took the create, then cut on the way before its id came: told
                # apart from a create with no answer at all, for `run.cut_streams` to count.
                raise StreamCutError(f"{translated} {CUT_BEFORE_NAMED}") from exc
            if unnumbered and named and isinstance(translated, TransientError):
                raise StreamUnavailableError(f"{translated} ({_NO_CURSOR})") from exc
            raise translated from exc
        raise
