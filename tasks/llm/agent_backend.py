"""Microsoft Agent Framework agents as row workers: each row is one background `agent.run`.

    def make_agent(client: OpenAIChatClient) -> Agent:      # your instructions, your tools
        return Agent(client=client, name="triage", instructions="Triage the ticket.")

    session = open_session(settings, table, prompts, agent=make_agent)
    # or from the command line: rowrelay run data.csv --agent mypackage.agents:make_agent

AF's continuation token is `{"response_id": ...}`, the very id the state table keeps, so tokens travel
both ways (`rowrelay.tasks.run.tokens`).

How AF's behaviour is mapped onto the `Backend` protocol:
- Rows run with no `AgentSession`: a shared session would chain rows through `previous_response_id`.
- Snapshots are read from the SDK objects AF wraps (`raw_representation.raw_representation`), exactly as
  the plain backend reads them; AF's aggregated text, which repeats on a replayed stream, is never used.
- AF resumes a stream from sequence 0 (it sends no `starting_after`): `resume` skips every event at or
  before the cursor. A replay cut before it passes the cursor can never get further (it restarts at 0
  each time), so it raises `StreamUnavailableError` and the runner polls the row instead.
- AF has no cancel: the agent's own `AsyncOpenAI` (`OpenAIChatClient.client`) sends `responses.cancel`.
- Errors: `ChatClientException` carries the SDK's exception as its cause; that cause is translated as the
  plain backend translates it. A stream `error` event of the flat shape has no cause: transient.
- The row's `metadata` goes in AF's `metadata` option, which AF forwards to `responses.create`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncGenerator, Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, TypeAlias, TypeGuard

import openai

from rowrelay.tasks.errors import MissingExtraError, RateLimitedError, TransientError, UsageError

try:
    from agent_framework import Agent, AgentResponse, ResponseStream
    from agent_framework.exceptions import ChatClientException, ChatClientInvalidRequestException
    from agent_framework.openai import OpenAIChatClient, OpenAIChatOptions
    from agent_framework_openai import OpenAIContinuationToken
except ImportError as exc:  # an optional extra: say which, rather than a bare ModuleNotFoundError
    raise MissingExtraError("agents", "Agent Framework agents") from exc
from rowrelay.tasks.llm.calls import (
    RequestRejectedError,
    RowRequest,
    Snapshot,
    StreamUnavailableError,
    StreamUpdate,
    snapshot_of,
    translate,
)

AnyAgent: TypeAlias = Agent[Any]
AgentFactory: TypeAlias = Callable[[OpenAIChatClient], AnyAgent]
AgentSource: TypeAlias = AnyAgent | AgentFactory
"""An agent, or a function that builds one on the client rowrelay configured (base URL, key, retries)."""
_LIFECYCLE = frozenset(
    {"response.created", "response.queued", "response.in_progress"}
    | {"response.completed", "response.failed", "response.incomplete"}
)


class AgentBackend:
    """Rows run by an Agent Framework agent on the Responses API, in background mode.

    Given a factory, it builds two agents: one on `creates` (an `AsyncOpenAI` with no transport retries:
    a retried create may start a second paid job) and one on `reads` for polls, resumes
    and cancels; both clients are closed by `aclose`. Given an agent, it uses that agent for everything
    and leaves closing its client to its owner.
    """

    def __init__(
        self,
        agent: AgentSource,
        *,
        creates: openai.AsyncOpenAI | None = None,
        reads: openai.AsyncOpenAI | None = None,
        model: str | None = None,
        name: str = "agent",
    ) -> None:
        self.name = name
        self._owned: list[openai.AsyncOpenAI] = []
        if isinstance(agent, Agent):
            self._creator = self._reader = agent
        else:
            if creates is None or reads is None:
                raise UsageError("an agent factory needs the clients to build on (creates= and reads=)")
            self._owned = [creates, reads]
            self._creator = _build(agent, creates, model)
            self._reader = _build(agent, reads, model)
        self._sdk = _sdk_client(self._reader)
        self._follow: dict[str, str] = {}  # first response id -> the one a tool round continued with

    async def create(self, request: RowRequest) -> Snapshot:
        try:
            response = await self._creator.run(request.prompt, options=_options(request))
        except ChatClientException as exc:
            raise _translate(exc, creating=True) from exc
        return _snapshot(response)

    def create_stream(self, request: RowRequest) -> AsyncGenerator[StreamUpdate, None]:
        return _updates(lambda: self._creator.run(request.prompt, stream=True, options=_options(request)))

    async def retrieve(self, response_id: str) -> Snapshot:
        target = self._follow.get(response_id, response_id)
        try:
            response = await self._reader.run(options=_resume_options(target))
        except ChatClientException as exc:
            raise _translate(exc) from exc
        snapshot = _snapshot(response)
        if snapshot.response_id not in (None, target) and not snapshot.terminal:
            # AF's tool loop answered the calls in `target` with a new response: keep following that one.
            self._follow[response_id] = snapshot.response_id
        return snapshot

    def resume(self, response_id: str, after: int) -> AsyncGenerator[StreamUpdate, None]:
        target = self._follow.get(response_id, response_id)
        return _updates(lambda: self._reader.run(stream=True, options=_resume_options(target)), after=after)

    async def cancel(self, response_id: str) -> Snapshot:
        try:
            return snapshot_of(await self._sdk.responses.cancel(self._follow.get(response_id, response_id)))
        except openai.OpenAIError as exc:
            raise translate(exc) from exc

    async def aclose(self) -> None:
        for client in self._owned:
            await client.close()


def load_agent_factory(spec: str) -> AgentFactory:
    """Import `package.module:function`, a function that takes an `OpenAIChatClient` and returns an Agent."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute.isidentifier():
        raise UsageError(f"--agent {spec!r}: expected module:function, e.g. mypackage.agents:make_agent")
    try:
        module = _import_user_module(module_name)
    except ImportError as exc:
        raise UsageError(f"--agent {spec!r}: cannot import {module_name!r}: {exc}") from exc
    factory = getattr(module, attribute, None)
    if factory is None:
        raise UsageError(f"--agent {spec!r}: module {module_name!r} has no {attribute!r}")
    if not callable(factory) or isinstance(factory, Agent):
        raise UsageError(f"--agent {spec!r}: {attribute!r} must be a function (client) -> Agent")
    return factory  # type: ignore[no-any-return]


def _import_user_module(name: str) -> ModuleType:
    """The user's module, found from the working directory first, as uvicorn finds `app:app`: the
    `rowrelay` script (and `python -P`) leave the working directory off `sys.path`. rowrelay's own
    modules live under `rowrelay.`, so nothing of the user's can shadow them."""
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.insert(0, here)
    return importlib.import_module(name)


def is_agent(source: AgentSource) -> TypeGuard[AnyAgent]:
    """An agent itself (run on its own client), rather than a factory rowrelay hands a client to."""
    return isinstance(source, Agent)


def default_agent(client: OpenAIChatClient) -> AnyAgent:
    """The agent of `--backend agent` with no `--agent`: no tools, rowrelay's instructions only."""
    return Agent(client=client, name="rowrelay")


def _build(factory: AgentFactory, client: openai.AsyncOpenAI, model: str | None) -> AnyAgent:
    agent = factory(OpenAIChatClient(model=model, async_client=client))
    if not isinstance(agent, Agent):
        raise UsageError(f"the agent factory returned {type(agent).__name__}, not an agent_framework.Agent")
    return agent


def _sdk_client(agent: AnyAgent) -> openai.AsyncOpenAI:
    client = agent.client
    if not isinstance(client, OpenAIChatClient):
        raise UsageError(
            f"rowrelay runs agents on OpenAIChatClient (Responses API), not {type(client).__name__}"
        )
    sdk: openai.AsyncOpenAI = client.client
    return sdk


def _options(request: RowRequest) -> OpenAIChatOptions:
    options = OpenAIChatOptions(background=True, metadata=dict(request.metadata))
    if request.instructions:
        options["instructions"] = request.instructions  # added to the agent's own instructions
    if request.max_output_tokens is not None:
        options["max_tokens"] = request.max_output_tokens
    return options


def _resume_options(response_id: str) -> OpenAIChatOptions:
    return OpenAIChatOptions(continuation_token=OpenAIContinuationToken(response_id=response_id))


def _snapshot(response: AgentResponse[Any]) -> Snapshot:
    """The SDK `Response` AF wrapped (AgentResponse -> ChatResponse -> Response), as a Snapshot."""
    raw = getattr(response.raw_representation, "raw_representation", None)
    if getattr(raw, "object", None) == "response":
        return snapshot_of(raw)
    token: Mapping[str, Any] | None = response.continuation_token
    if token is not None:
        return Snapshot(response_id=str(token["response_id"]), status="in_progress")
    return Snapshot(response_id=response.response_id, status="completed", output_text=response.text)


async def _updates(
    start: Callable[[], ResponseStream[Any, Any]], *, after: int | None = None
) -> AsyncGenerator[StreamUpdate, None]:
    """SDK events under AF's updates, minus those at or before `after` (a resume: AF replays from 0).

    The AF stream is opened on first iteration and closed however the iteration ends."""
    replay = after is not None
    after = -1 if after is None else after
    last = after
    stream = start()
    try:
        async for update in stream:
            event = getattr(update.raw_representation, "raw_representation", None)
            sequence = getattr(event, "sequence_number", None)
            if not isinstance(sequence, int) or sequence <= last:
                continue
            last = sequence
            kind = getattr(event, "type", None)
            yield StreamUpdate(sequence, snapshot_of(event.response) if kind in _LIFECYCLE else None)  # type: ignore[union-attr]
    except ChatClientException as exc:
        error = _translate(exc, creating=not replay and last < 0)
        if replay and last == after and after >= 0 and _is_drop(error):
            raise StreamUnavailableError(
                f"the stream replayed from sequence 0 was cut before passing {after}: poll instead"
            ) from exc
        raise error from exc
    finally:
        await stream.close()


def _is_drop(error: Exception) -> bool:
    return isinstance(error, TransientError) and not isinstance(error, RateLimitedError)


def _translate(exc: ChatClientException, *, creating: bool = False) -> Exception:
    cause = exc.__cause__
    if isinstance(cause, openai.OpenAIError):
        return translate(cause, creating=creating)
    if isinstance(exc, ChatClientInvalidRequestException):
        return RequestRejectedError(f"the agent refused the request: {exc}")
    return TransientError(f"agent framework: {exc}")
