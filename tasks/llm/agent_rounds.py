"""Agent Framework tool rounds, as the runner sees them: a row moves from response to response.

When a response's answer is function calls, AF's tool loop runs the tools and creates a follow-up response
that carries their outputs (`previous_response_id` names the one that asked). That create happens inside
whatever AF call read the calls: a poll, a resume or the create's own stream. rowrelay keeps no memory of
it; instead every snapshot and stream update names the response it describes, so the runner sees the row
move to the follow-up, records it durably, and from then on polls or resumes the follow-up itself. A
crash after that costs nothing: the tools already ran and their answer is the follow-up.

- `CarryRowRequest` makes the follow-up what the row asked for: a background job with the row's metadata,
  instructions and output limit, read from the response it continues (AF would otherwise send none of
  them when it continues a polled response, and a foreground follow-up would hold the poll until done).
- `updates` reduces AF's stream to `StreamUpdate`s across responses: each response numbers its events
  from 0, so the cursor restarts when the stream moves on to a new response.
- The response that asked for the tools was paid for, yet the row's next snapshot is the follow-up's:
  that snapshot carries it as it ended (`Snapshot.answers`; a poll's through `rounds_read`), and the
  runner adds its usage to the row's in the same write that moves the row on, so it is counted once.
- `translate_agent_error` tells a create that got no answer (a tool round's, too) from a failed read.

The follow-up is a create sent inside a read, so it follows the rule of every create: whoever runs the
row is told before it leaves (`CarryRowRequest.before_follow_up`), to make that durable first. Only a
completed response's function calls are the model's answer: one still running (a poll reads the call
it is writing, its arguments cut short: AF ran the tool on them, polled again, and after three errors
stopped running tools) or ended otherwise (failed, incomplete) has its calls dropped, so AF runs no tool
on it and sends no follow-up the server would refuse ("No tool call found for function call output").
A response asking for tools that AF hands back unanswered (its tool loop stopped: a tool that needs
approval, a function-call limit) is the row's end with no answer (`agent_snapshot`), not a completion.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

import openai
from agent_framework import ChatContext, ChatMiddleware, ChatResponse, ChatResponseUpdate, ResponseStream
from agent_framework.exceptions import ChatClientException, ChatClientInvalidRequestException

from rowrelay.tasks.errors import RateLimitedError, TransientError
from rowrelay.tasks.llm.calls import RequestRejectedError, Snapshot, StreamUnavailableError, StreamUpdate
from rowrelay.tasks.llm.masking import mask_chain
from rowrelay.tasks.llm.responses_events import LIFECYCLE
from rowrelay.tasks.llm.sdk_errors import translate
from rowrelay.tasks.llm.snapshots import snapshot_of

FollowUpHook = Callable[[str, Snapshot | None], Awaitable[None]]
"""Told the id of the response a tool round's follow-up continues, and that response as AF read it (None
if not read in the same call), before that create is sent."""
_ANSWERED = "completed"
"""The one status whose function calls are the model's answer: AF's tool loop runs no others'."""
UNANSWERED = (
    "the agent handed back the response that asked for its tools without answering them (its tool loop "
    "stopped: a tool that needs approval, a function-call limit, or agent_framework's warnings say why)"
)
_ASKED: ContextVar[list[Snapshot] | None] = ContextVar("rowrelay_asked_for_tools", default=None)
"""The responses that asked for tools, read by the AF call in progress (`rounds_read`)."""


class CarryRowRequest(ChatMiddleware):
    """Copies the row's request fields from each response AF reads into the options of its next create,
    tells `before_follow_up` (when set) that a follow-up create is about to leave, and keeps AF's tool
    loop off a response that has not completed (still running, or ended otherwise).

    One per AF call (a create, a poll, a stream), whose reads go with it: a follow-up leaves from the call
    that read the response it answers, or not at all, and a later call reads that response again. A
    shared cache, bounded at 4,096 reads by dropping the oldest, lost reads once more rows than that
    waited in their tools at once, and a refused or lost follow-up then counted nothing.

    AF's tool loop reuses one options dict for every call of a run, so what is set here after the call
    that read the function calls is what the follow-up create sends. That create is the one call that
    continues a response (`conversation_id`, AF's `previous_response_id`) without a continuation token;
    a streamed one is sent only when its stream is first read, after `process` has returned."""

    def __init__(self, before_follow_up: FollowUpHook | None = None) -> None:
        self.before_follow_up = before_follow_up
        self._read: dict[str, Snapshot] = {}
        """By id: each response this call read asking for tools, until the follow-up answering it leaves."""

    def _asking(self, response: Any) -> Snapshot | None:
        """`response` as a snapshot, kept for its follow-up's hook, when it asks for tools."""
        if getattr(response, "object", None) != "response" or not awaits_tools(response):
            return None
        self._read[response.id] = snapshot = snapshot_of(response)
        return snapshot

    async def process(self, context: ChatContext, call_next: Callable[[], Awaitable[None]]) -> None:
        options = context.options
        if not isinstance(options, dict):
            await call_next()
            return
        continued = options.get("conversation_id")
        if (
            self.before_follow_up is not None
            and isinstance(continued, str)
            and not options.get("continuation_token")
        ):
            await self.before_follow_up(continued, self._read.pop(continued, None))
        if context.stream:
            ended: list[str] = []

            def adopt_from(update: ChatResponseUpdate) -> ChatResponseUpdate:
                response = getattr(update.raw_representation, "response", None)
                _adopt(options, response)
                self._asking(response)
                if isinstance(status := getattr(response, "status", None), str):
                    ended[:] = [status]
                return update

            def answer_of(result: ChatResponse[Any]) -> ChatResponse[Any]:
                # A stream that ended before its response did (a server closing early) holds calls
                # still being written.
                return result if ended == [_ANSWERED] else _without_calls(result)

            context.stream_transform_hooks.append(adopt_from)
            context.stream_result_hooks.append(answer_of)
        await call_next()
        if isinstance(context.result, ChatResponse):
            raw = context.result.raw_representation
            _adopt(options, raw)
            if (read := self._asking(raw)) is not None and (asked := _ASKED.get()) is not None:
                asked.append(read)
            if isinstance(status := getattr(raw, "status", None), str) and status != _ANSWERED:
                _without_calls(context.result)


def _without_calls(result: ChatResponse[Any]) -> ChatResponse[Any]:
    """`result` with no function calls left for AF's tool loop to run."""
    for message in result.messages:
        message.contents = [item for item in message.contents if item.type != "function_call"]
    return result


def _adopt(options: dict[str, Any], response: Any) -> None:
    if getattr(response, "object", None) != "response":
        return
    options["background"] = True
    if response.metadata:
        options["metadata"] = dict(response.metadata)
    if isinstance(response.instructions, str):
        options["instructions"] = response.instructions  # the agent's and the row's, as first sent
    if isinstance(response.max_output_tokens, int):
        options["max_tokens"] = response.max_output_tokens
    # The effort the row was served at (a reasoning model's default if none asked) and the summary asked.
    served = getattr(response, "reasoning", None)
    asked = {name: getattr(served, name, None) for name in ("effort", "summary")}
    if reasoning := {name: value for name, value in asked.items() if isinstance(value, str)}:
        options["reasoning"] = reasoning
    if response.service_tier in ("flex", "priority"):  # served only when asked for ("default" may be not)
        options["service_tier"] = response.service_tier
    if isinstance(response.temperature, int | float) and response.temperature != 1:  # 1: the default
        options["temperature"] = response.temperature
    text_format = getattr(getattr(response, "text", None), "format", None)
    if getattr(text_format, "type", None) == "json_schema":  # a structured row's follow-up keeps its format
        options["response_format"] = {"format": text_format.to_dict()}  # type: ignore[union-attr]


@contextmanager
def rounds_read(response_id: str) -> Iterator[Callable[[Snapshot], Snapshot]]:
    """Around one AF call that continues `response_id` without a stream (a poll): gives what the call's
    snapshot becomes, which, when the row moved on to a follow-up, carries `response_id` as it ended
    (`Snapshot.answers`). The middleware reads that response inside the call; the follow-up that
    comes back holds none of its usage, which was paid for all the same."""
    asked: list[Snapshot] = []
    token = _ASKED.set(asked)

    def carried(snapshot: Snapshot) -> Snapshot:
        if snapshot.response_id == response_id:
            return snapshot  # the row did not move: nothing to carry
        ended = next((each for each in asked if each.response_id == response_id), None)
        return snapshot if ended is None else replace(snapshot, answers=ended)

    try:
        yield carried
    finally:
        _ASKED.reset(token)


def awaits_tools(response: Any) -> bool:
    """A completed response whose answer holds function calls: AF runs them and continues elsewhere."""
    output = getattr(response, "output", None) or ()
    return response.status == "completed" and any(getattr(i, "type", None) == "function_call" for i in output)


async def updates(
    start: Callable[[], ResponseStream[Any, Any]], *, after: int | None = None
) -> AsyncGenerator[StreamUpdate, None]:
    """SDK events under AF's updates, across every response the stream moves through.

    A resume replays its response from sequence 0 (AF sends no `starting_after`), so events at or before
    `after` are skipped; a response AF's tool loop started is new, and all its events pass. The terminal
    event of a response that only asked for tools carries no snapshot: the row is not done, it is about
    to move. The AF stream is opened on first iteration and closed however the iteration ends.

    A cut is read as a create's lost answer only while a create is waiting for the event that names its
    job: the row's own before its first event, or a follow-up after the response that asked for tools
    ended. A cut after that event is a dropped stream like any other, resumed from the cursor."""
    replay = after is not None
    last = -1 if after is None else after
    current: str | None = None
    asked_for_tools = False  # the current response ended in function calls: a follow-up create is next
    asked: Snapshot | None = None  # the current response, ended in function calls (read even if replayed)
    answered: Snapshot | None = None  # the response the current one answers, for its first snapshot
    stream = start()
    try:
        async for update in stream:
            event = getattr(update.raw_representation, "raw_representation", None)
            sequence = getattr(event, "sequence_number", None)
            if not isinstance(sequence, int):
                continue  # AF's own updates (tool results) are not service events
            response = getattr(event, "response", None) if getattr(event, "type", None) in LIFECYCLE else None
            if response is not None and response.id != current:
                if current is not None:
                    last, replay = -1, False  # the tool loop's new response numbers its events from 0
                current, asked_for_tools, answered, asked = response.id, False, asked, None
            if response is not None and awaits_tools(response):
                # Before the replay skip: a resume whose cursor is past this end still moves on from it.
                asked = snapshot_of(response)
            if sequence <= last:
                continue
            last = sequence
            asked_for_tools = response is not None and awaits_tools(response)
            snapshot = None if response is None or asked_for_tools else snapshot_of(response)
            if snapshot is not None and answered is not None:
                snapshot, answered = replace(snapshot, answers=answered), None
            yield StreamUpdate(sequence, snapshot)
    except ChatClientException as exc:
        error = translate_agent_error(exc, creating=(current is None and not replay) or asked_for_tools)
        if replay and last == after and last >= 0 and _is_drop(error):
            raise StreamUnavailableError(
                f"the stream replayed from sequence 0 was cut before passing {after}: poll instead"
            ) from exc
        raise error from exc
    finally:
        await stream.close()


def agent_snapshot(response: Any) -> Snapshot:
    """The SDK `Response` AF wrapped (AgentResponse -> ChatResponse -> Response), as a Snapshot: after a
    tool round, that is the follow-up's. One that asked for tools, handed back unanswered, fails as
    `no_answer` (see the module's docstring), its usage kept: it was paid for."""
    raw = getattr(response.raw_representation, "raw_representation", None)
    if getattr(raw, "object", None) == "response":
        snapshot = snapshot_of(raw)
        if snapshot.awaits_tools:
            return replace(
                snapshot,
                status="failed",
                error_type="no_answer",
                error_message=UNANSWERED,
                awaits_tools=False,
            )
        return snapshot
    token = response.continuation_token
    if token is not None:
        return Snapshot(response_id=str(token["response_id"]), status="in_progress")
    return Snapshot(response_id=response.response_id, status="completed", output_text=response.text)


def _is_drop(error: Exception) -> bool:
    return isinstance(error, TransientError) and not isinstance(error, RateLimitedError)


def translate_agent_error(exc: ChatClientException, *, creating: bool | None = None) -> Exception:
    """AF wraps the SDK's exception (somewhere down its `__cause__` chain); translate that one.

    `creating`: whether the call that failed was waiting on a create's answer, when the caller knows (a
    stream knows which of its events named their responses). None, for a poll: a timeout or dropped
    connection on `POST /responses` is a create that got no answer, the tool round's follow-up created
    inside the poll, which may have started a paid job. Read by the request in a stream, every cut of a
    stream whose job was long named (its create's `POST`) was counted as a lost create.
    AF's own exception repeats the SDK's words: its keys are masked too (masking.py)."""
    mask_chain(exc)
    cause = _sdk_error(exc)
    if cause is not None:
        if creating is None:
            # A timeout, cut connection or gateway's 5xx is maybe created, a create that never
            # connected is not sent (`translate` decides both, for every backend).
            is_call = isinstance(cause, openai.APIConnectionError | openai.APIStatusError)
            creating = is_call and _posts_a_create(cause)  # type: ignore[arg-type]
        return translate(cause, creating=creating)
    if isinstance(exc, ChatClientInvalidRequestException):
        return RequestRejectedError(f"the agent refused the request: {exc}")
    return TransientError(f"agent framework: {exc}")  # a flat stream `error` event has no cause


def _sdk_error(exc: BaseException) -> openai.OpenAIError | None:
    cause = exc.__cause__
    while cause is not None and not isinstance(cause, openai.OpenAIError):
        cause = cause.__cause__
    return cause


def _posts_a_create(error: openai.APIError) -> bool:
    request = getattr(error, "request", None)
    method = getattr(request, "method", None)
    path = str(getattr(getattr(request, "url", None), "path", ""))
    return method == "POST" and path.rstrip("/").endswith("/responses")
