"""What a backend returns and what it raises (`sdk_errors` is the one place SDK exceptions become these).

Every backend speaks in `Snapshot`s (the state of one response) and `StreamUpdate`s (one stream event,
reduced to what the runner needs: its sequence number and, for lifecycle events, the snapshot).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, Self, TypeAlias, runtime_checkable

from rowrelay.tasks.citations import Citation
from rowrelay.tasks.errors import (
    RunStoppingError,
    TerminalError,
    TransientError,
)
from rowrelay.tasks.llm.refusals import Refusal
from rowrelay.tasks.media_refs import Attachment
from rowrelay.tasks.records import ErrorType
from rowrelay.tasks.token_logprobs import TokenLogprob

ResponseStatus = Literal["queued", "in_progress", "completed", "failed", "incomplete", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "incomplete", "cancelled"})


class MaybeSentError(TransientError):
    """A create got no answer (timeout, dropped connection): it may or may not have started a job."""


class StreamCutError(MaybeSentError):
    """A create's stream opened (the server took the create: 200, events to come) and broke, timed out or
    ended before any event named the response: a proxy or gateway on the way that cuts or buffers streams,
    most often. The job may exist, so it is maybe sent; `run.cut_streams` stops streaming creates when it
    comes again and again."""


class NotSentError(TransientError):
    """A create that failed before it had a connection to go out on: no job can exist, nothing is spent."""


class StreamErrorEvent(TransientError):
    """The stream carried an `error` event: the response is failing, and replaying the stream from the
    cursor would only meet the same event again. Ask for the response's state instead."""


class RequestRejectedError(TerminalError):
    """The server refused this row's request as invalid (400/422): retrying the same input won't help.
    `refusal`: what a 400 or 422 named beyond its words (`sdk_errors.translate` keeps it); None for a
    refusal of another kind (a 429 for a row too large for the limit, one rowrelay makes itself)."""

    def __init__(self, message: str, refusal: Refusal | None = None) -> None:
        super().__init__(message)
        self.refusal = refusal


FIX_THAT = "fix that, then run it again"
"""The way on from a stop whose words name what to fix (a key, a model, a gateway that passes no polls)."""


class BackendRefusedError(RunStoppingError):
    """The server refused us, not the row (401/403, unknown model, no credit left): the run stops.

    `way_on`: what its user does next, said after its words by the command line: to fix what they name
    by default, None where the words name their own way out (another backend, a CA to trust, a wait), so
    the command line says one way and no second. `refused`: False where no server refused anything (a
    TLS failure on this side), which the command line then does not say. Both travel with a copy
    (`naming`) and a pickle (an exception's `__dict__` goes with its args)."""

    def __init__(self, said: str, *, way_on: str | None = FIX_THAT, refused: bool = True) -> None:
        super().__init__(said)
        self.way_on = way_on
        self.refused = refused

    def naming(self, where: str) -> Self:
        """The same stop, its words led by `where` (`endpoint 'east'`, one of several)."""
        named = copy.copy(self)
        named.args = (f"{where}: {self}",)
        return named


class NotTheApiError(BackendRefusedError):
    """A create answered with a success that is not the API's answer: a web page, or JSON that names no
    response (a wrong address; a web server, or a proxy's sign-in page, in the way). Not a refusal: what
    took the create may have passed it on, so its row counts it as maybe sent. Every create would meet
    the same, so the run stops, as at a refusal; unless the server has answered the run's creates as the
    API does, when one such answer is its glitch (`glitch`, decided in `run.glitches`).

    `answer`: what came, in words (`POST URL was answered 200 (...)`), without what to check, when one
    answer may be a glitch; None when every create would meet it whatever came before (a server that
    streams every answer, the run's first answers naming no choice)."""

    def __init__(
        self, said: str, *, answer: str | None = None, way_on: str | None = FIX_THAT, refused: bool = True
    ) -> None:
        super().__init__(said, way_on=way_on, refused=refused)
        self.answer = answer

    def glitch(self) -> GlitchError | None:
        """This answer as a glitch of a server that answers properly otherwise, or None if it cannot be."""
        if self.answer is None:
            return None
        return GlitchError(
            f"{self.answer}, which is not the API's answer, from a server that has answered this run's "
            "creates as the API does: taken as its glitch, the create may have started a job"
        )


class GlitchError(MaybeSentError):
    """A create answered with a success that is not the API's (a body cut short, an upstream's error sent
    with a 200) by a server that has answered the run's creates properly: its glitch, not a wrong address.
    Maybe sent, as any create whose answer named no job: counted on its row, sent again within its
    attempts."""


class StreamUnavailableError(TerminalError):
    """The response can no longer be streamed (past the stream window, or not a stream): poll instead."""


@dataclass(frozen=True, slots=True)
class RowRequest:
    """One row's create, as the runner asks for it."""

    row_key: str
    prompt: str
    instructions: str | None
    model: str
    metadata: Mapping[str, str]
    max_output_tokens: int | None = None
    text_format: Mapping[str, Any] | None = None
    """A structured output's format (`OutputSchema.text_format()`: type json_schema, strict), or None."""
    service_tier: str | None = None
    """The processing tier asked for (`flex`, `default`, `priority`); None sends none (the server's)."""
    reasoning_effort: str | None = None
    """A reasoning model's effort (`none` ... `max`, the spec's `ReasoningEffort`); None sends none."""
    temperature: float | None = None
    """Sampling temperature (0 to 2); None sends none (the server's default, 1)."""
    reasoning_summary: str | None = None
    """A reasoning model's summary of its reasoning asked for (`auto`, `concise`, `detailed`), or None."""
    tools: tuple[Mapping[str, Any], ...] = ()
    """Server-side tools offered to the model (`hosted_tools`), the same objects for every row."""
    max_tool_calls: int | None = None
    """Most server-side tool calls the response may make; None sets none."""
    attachments: tuple[Attachment, ...] = ()
    """Images and files sent after the prompt (`tasks.media_refs`): URLs, data URLs and uploaded file
    ids; a local one is made a data URL before the create is built (`run.submit`)."""
    image_detail: str | None = None
    """How closely the model looks at the images (`low`, `high`, `auto`, `original`); None sends `auto`,
    the API's default (the Responses API requires the field)."""
    top_logprobs: int | None = None
    """Asks for each answer token's log probability and this many likeliest alternatives (0 to 20);
    None asks for none."""

    def reasoning(self) -> dict[str, str] | None:
        """The Responses API's `reasoning` object for this row, or None when it asks for nothing."""
        if self.reasoning_effort is None and self.reasoning_summary is None:
            return None  # the common case, once a create: no dict built
        asked = {"effort": self.reasoning_effort, "summary": self.reasoning_summary}
        return {name: value for name, value in asked.items() if value is not None} or None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state of one response as last seen; `response_id` is None for backends with no token."""

    response_id: str | None
    status: ResponseStatus
    output_text: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    model: str | None = None
    refusal: str | None = None
    """The model's refusal (a `refusal` content part), when it declined to answer."""
    cached_tokens: int | None = None
    service_tier: str | None = None
    reasoning_summary: str | None = None
    """The summary of its reasoning a reasoning model wrote, when one was asked for (its parts joined)."""
    tool_calls: Mapping[str, int] | None = None
    """Server-side tool calls billed beside the tokens, by output item type (`snapshots.tool_calls_of`)."""
    citations: tuple[Citation, ...] | None = None
    """The sources the answer cites, each once (`snapshots.citations_of`); None when it cites none."""
    logprobs: tuple[TokenLogprob, ...] | None = None
    """Each answer token's log probability and likeliest alternatives, when asked for (`--logprobs`)."""
    server_seconds: float | None = None
    """`completed_at - created_at` of a completed response, when the server gives both (whole seconds
    on OpenAI): how long it took by the server's clock, for the poll schedule to learn."""
    awaits_tools: bool = False
    """A completed response whose answer holds function calls: an agent's tool round answers them with
    a follow-up response, so it is not the row's end (a cancel finds such a response completed)."""
    background: bool | None = None
    """The response's `background` as the server says it: False from a server that ignores background
    mode (some OpenAI-compatible ones), which a streamed create shows only this way; None when not said."""
    answers: Snapshot | None = None
    """On an agent's tool-round follow-up, read in the same call as the response whose function calls it
    answers: that response, as it ended. It was paid for, and the row counts its usage when it moves on
    from it to this one (`record.moved_on`); None when this response answers none, or that one was not
    read in the same call."""
    error_type: ErrorType | None = None
    """A failed answer's error type, when not the server's `response_failed`: `no_answer` for one that
    holds no answer (chat_answers.py), which is not sent again by itself."""

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True)
class StreamUpdate:
    sequence_number: int
    snapshot: Snapshot | None = None  # set on lifecycle and terminal events
    events: int = 1
    """Events this update stands for: text deltas read in one piece with the event after them are
    handed on as that one (its number supersedes theirs), but each was still read and decoded."""
    more: bool = False
    """The stream's next event was read with this one: a reader that keeps only the latest state loses
    nothing by recording that one instead (false when not known)."""


class ForegroundBackend(Protocol):
    """A place to run rows that finishes each row inside `create` and holds no token (Chat Completions)."""

    name: str

    async def create(self, request: RowRequest) -> Snapshot: ...
    async def aclose(self) -> None: ...


@runtime_checkable
class BackgroundBackend(ForegroundBackend, Protocol):
    """A place to run rows in background mode: `create` returns at once with the response's id (the
    continuation token), and the response is then polled, streamed, resumed or cancelled by that id."""

    def create_stream(self, request: RowRequest) -> AsyncGenerator[StreamUpdate, None]: ...
    async def retrieve(self, response_id: str) -> Snapshot: ...
    def resume(self, response_id: str, after: int) -> AsyncGenerator[StreamUpdate, None]: ...
    async def cancel(self, response_id: str) -> Snapshot: ...


Backend: TypeAlias = ForegroundBackend | BackgroundBackend
"""Either kind; a run asks `in_background(backend)` once and takes the matching path."""


def in_background(backend: Backend) -> BackgroundBackend | None:
    """The backend as a background one, or None when it finishes rows inside `create`."""
    return backend if isinstance(backend, BackgroundBackend) else None
