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
- Tool rounds (`rowrelay.tasks.llm.agent_rounds`): a poll, resume or stream that reads function calls
  runs the tools and creates a follow-up response inside AF. The snapshot or update then names the
  follow-up, and the runner moves the row to it: the backend holds no state per row.
- Every AF call may create (a tool round's follow-up is a paid create), so every one goes through an SDK
  client with no transport retries: a retried create may start a second job that nobody sees.
- AF has no cancel: the agent's own `AsyncOpenAI` (`OpenAIChatClient.client`) sends `responses.cancel`.
- Errors: `ChatClientException` carries the SDK's exception as its cause; that cause is translated as the
  plain backend translates it. A stream `error` event of the flat shape has no cause: transient.
- The row's `metadata` goes in AF's `metadata` option, which AF forwards to `responses.create`; a tool
  round's follow-up takes it (and the instructions and output limit) from the response it continues.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any, TypeAlias, TypeGuard

import openai

from rowrelay.tasks.errors import MissingExtraError, UsageError

try:
    from agent_framework import Agent
    from agent_framework.exceptions import ChatClientException
    from agent_framework.openai import OpenAIChatClient, OpenAIChatOptions
    from agent_framework_openai import OpenAIContinuationToken

    from rowrelay.tasks.llm.agent_message import agent_input
    from rowrelay.tasks.llm.agent_rounds import (
        CarryRowRequest,
        FollowUpHook,
        agent_snapshot,
        translate_agent_error,
        updates,
    )
except ImportError as exc:  # an optional extra: say which, rather than a bare ModuleNotFoundError
    raise MissingExtraError("agents", "Agent Framework agents") from exc
from rowrelay.tasks.llm.calls import RowRequest, Snapshot, StreamUpdate
from rowrelay.tasks.llm.masking import mask_logged
from rowrelay.tasks.llm.one_task import stepped_in_one_task
from rowrelay.tasks.llm.sdk_errors import translate
from rowrelay.tasks.llm.snapshots import snapshot_of
from rowrelay.tasks.llm.user_code import import_user_module

AnyAgent: TypeAlias = Agent[Any]
AgentFactory: TypeAlias = Callable[[OpenAIChatClient], AnyAgent]
AgentSource: TypeAlias = AnyAgent | AgentFactory
"""An agent, or a function that builds one on the client rowrelay configured (base URL, key, retries)."""
_log = logging.getLogger(__name__)


class AgentBackend:
    """Rows run by an Agent Framework agent on the Responses API, in background mode.

    Every AF call runs on an `AsyncOpenAI` with no transport retries, polls and resumes included: each
    may run a tool round, whose follow-up create must not be retried blind (a transient poll failure is
    retried by the runner instead). Given a factory, the agent is built on `creates` (that client), and
    `reads` (with the SDK's retries) serves only cancels, which are idempotent; `aclose` closes both.
    Given an agent, it runs on the agent's own client, its retries turned off, and closing it is left
    to its owner.
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
        # AF logs each exception it makes, the SDK's words with it, before `translate_agent_error` masks
        # the keys in them: its records are masked as they are logged (masking.py).
        mask_logged(logging.getLogger("agent_framework"))
        self._owned: list[openai.AsyncOpenAI] = []
        if isinstance(agent, Agent):
            self._agent = agent
            self._sdk = _without_retries(agent)
        else:
            if creates is None or reads is None:
                raise UsageError("an agent factory needs the clients to build on (creates= and reads=)")
            self._owned = [creates, reads]
            self._agent = _build(agent, creates, model)
            _without_retries(self._agent)  # a factory may have built its agent on another client
            self._sdk = reads
        self._carry = [CarryRowRequest()]

    async def create(self, request: RowRequest) -> Snapshot:
        try:
            response = await self._agent.run(
                agent_input(request), options=_options(request), middleware=self._carry
            )
        except ChatClientException as exc:
            raise translate_agent_error(exc, creating=True) from exc
        return agent_snapshot(response)

    def create_stream(self, request: RowRequest) -> AsyncGenerator[StreamUpdate, None]:
        # The submitter and then the row's wait read this stream, from different tasks; AF's run keeps
        # context variables across its steps, so one task steps it for both. The message is built first:
        # a row it refuses is refused here, before any stream opens.
        message = agent_input(request)
        return stepped_in_one_task(
            updates(
                lambda: self._agent.run(
                    message, stream=True, options=_options(request), middleware=self._carry
                )
            )
        )

    async def retrieve(self, response_id: str) -> Snapshot:
        """The state of `response_id`, or, when it ended in function calls, of the follow-up response
        AF created after running the tools (its id differs from `response_id`: the row moved)."""
        try:
            response = await self._agent.run(options=_resume_options(response_id), middleware=self._carry)
        except ChatClientException as exc:
            raise translate_agent_error(exc) from exc
        return agent_snapshot(response)

    def resume(self, response_id: str, after: int) -> AsyncGenerator[StreamUpdate, None]:
        """Events of `response_id` after `after`, then every event of any follow-up a tool round creates
        (their snapshots name the follow-up, and their sequence numbers start again at 0)."""
        return updates(
            lambda: self._agent.run(
                stream=True, options=_resume_options(response_id), middleware=self._carry
            ),
            after=after,
        )

    async def cancel(self, response_id: str) -> Snapshot:
        try:
            return snapshot_of(await self._sdk.responses.cancel(response_id))
        except openai.OpenAIError as exc:
            raise translate(exc) from exc

    def before_follow_ups(self, hook: FollowUpHook) -> None:
        """Await `hook(continued)` before each tool round's follow-up create leaves (`agent_rounds`)."""
        self._carry[0].before_follow_up = hook

    async def aclose(self) -> None:
        for client in self._owned:
            await client.close()


def load_agent_factory(spec: str) -> AgentFactory:
    """Import `package.module:function`, a function that takes an `OpenAIChatClient` and returns an Agent."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute.isidentifier():
        raise UsageError(f"--agent {spec!r}: expected module:function, e.g. mypackage.agents:make_agent")
    try:
        module = import_user_module(module_name)
    except ImportError as exc:
        raise UsageError(f"--agent {spec!r}: cannot import {module_name!r}: {exc}") from exc
    factory = getattr(module, attribute, None)
    if factory is None:
        raise UsageError(f"--agent {spec!r}: module {module_name!r} has no {attribute!r}")
    if not callable(factory) or isinstance(factory, Agent):
        raise UsageError(f"--agent {spec!r}: {attribute!r} must be a function (client) -> Agent")
    return factory  # type: ignore[no-any-return]


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


def _without_retries(agent: AnyAgent) -> openai.AsyncOpenAI:
    """The agent's SDK client, made to send every request once: swapped for a copy with
    `max_retries=0` (sharing its connection pool) when it had retries, with a warning saying so."""
    client = agent.client
    if not isinstance(client, OpenAIChatClient):
        raise UsageError(
            f"rowrelay runs agents on OpenAIChatClient (Responses API), not {type(client).__name__}"
        )
    sdk = client.client
    if not isinstance(sdk, openai.AsyncOpenAI):
        raise UsageError(
            f"the agent's OpenAIChatClient runs on {type(sdk).__name__}, which rowrelay cannot stop from "
            "retrying creates; build it on an SDK client with no retries: "
            "OpenAIChatClient(async_client=openai.AsyncOpenAI(max_retries=0, ...))"
        )
    if sdk.max_retries > 0:
        _log.warning(
            "agent %r: rowrelay turned off the OpenAI SDK's %d transport retries on its client. Its tool "
            "rounds create responses inside polls, and the SDK retries a create that timed out without an "
            "Idempotency-Key, which can start a second paid job; rowrelay retries failed calls itself. "
            "Build the agent on openai.AsyncOpenAI(max_retries=0) to silence this.",
            agent.name,
            sdk.max_retries,
        )
        sdk = client.client = sdk.with_options(max_retries=0)
    return sdk


def _options(request: RowRequest) -> OpenAIChatOptions:
    options = OpenAIChatOptions(background=True, metadata=dict(request.metadata))
    if request.instructions:
        options["instructions"] = request.instructions  # added to the agent's own instructions
    if request.max_output_tokens is not None:
        options["max_tokens"] = request.max_output_tokens
    if request.text_format is not None:
        # AF's own structured-output option; a mapping in the Responses shape becomes `text.format` as is.
        options["response_format"] = {"format": dict(request.text_format)}
    if request.service_tier is not None:
        options["service_tier"] = request.service_tier  # type: ignore[typeddict-item]
    if (reasoning := request.reasoning()) is not None:
        options["reasoning"] = reasoning  # type: ignore[typeddict-item]
    if request.temperature is not None:
        options["temperature"] = request.temperature
    return options


def _resume_options(response_id: str) -> OpenAIChatOptions:
    # `background`: a tool round's follow-up, created inside this call, must be a background job too.
    return OpenAIChatOptions(
        continuation_token=OpenAIContinuationToken(response_id=response_id), background=True
    )
