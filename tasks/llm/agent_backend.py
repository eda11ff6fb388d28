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
  client with no transport retries: a retried create may start a second job that nobody sees (a caller's
  own agent runs on a copy of its client with them turned off: `agent_given`).
- AF has no cancel: the agent's own `AsyncOpenAI` (`OpenAIChatClient.client`) sends `responses.cancel`.
  A factory's agent must run on the client rowrelay hands it (`agent_factory.build_agent`): one built
  on a client of its own creates on a server that rowrelay's cancels and resumes never reach.
- Errors: `ChatClientException` carries the SDK's exception as its cause; that cause is translated as the
  plain backend translates it. A stream `error` event of the flat shape has no cause: transient.
- A plain (non-async) tool runs each call on a daemon thread of the backend's own (`tool_threads`), not
  on AF's `asyncio.to_thread`: a stopped run's `aclose` waits for the calls still running, saying so,
  and a second Ctrl-C leaves them, where the loop's shutdown waited unsaid and the exit waited again.
- A tool that raises: AF's two lines a failed call (without the exception's words) are replaced by one
  line per tool, its first failure with its words masked, and a count said at `aclose` (`tool_failures`).
- The row's `metadata` goes in AF's `metadata` option, which AF forwards to `responses.create`; a tool
  round's follow-up takes it (and the instructions and output limit) from the response it continues.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import TypeAlias, TypeGuard

import openai

from rowrelay.tasks.errors import MissingExtraError, UsageError

try:
    from agent_framework import Agent
    from agent_framework.exceptions import ChatClientException
    from agent_framework.openai import OpenAIChatClient, OpenAIChatOptions
    from agent_framework_openai import OpenAIContinuationToken

    from rowrelay.tasks.llm.agent_factory import (
        AgentFactory,
        AnyAgent,
        build_agent,
        hosted_tools,
        load_agent_factory,
    )
    from rowrelay.tasks.llm.agent_given import without_retries
    from rowrelay.tasks.llm.agent_message import agent_input
    from rowrelay.tasks.llm.agent_rounds import (
        CarryRowRequest,
        FollowUpHook,
        agent_snapshot,
        rounds_read,
        translate_agent_error,
        updates,
    )
    from rowrelay.tasks.llm.tool_threads import ToolThreads
except ImportError as exc:  # an optional extra: say which, rather than a bare ModuleNotFoundError
    raise MissingExtraError("agents", "Agent Framework agents") from exc
from rowrelay.tasks.llm.agent_code_errors import OwnCode
from rowrelay.tasks.llm.calls import RowRequest, Snapshot, StreamUpdate
from rowrelay.tasks.llm.masking import ClientKeys, mask_logged, says_why, secrets_in
from rowrelay.tasks.llm.one_task import stepped_in_one_task
from rowrelay.tasks.llm.sdk_errors import translate
from rowrelay.tasks.llm.snapshots import snapshot_of
from rowrelay.tasks.llm.tool_failures import ToolFailures
from rowrelay.tasks.llm.usage_counts import said_anew

__all__ = ["AgentBackend", "AgentFactory", "AgentSource", "default_agent", "is_agent", "load_agent_factory"]

AgentSource: TypeAlias = AnyAgent | AgentFactory
"""An agent, or a function that builds one on the client rowrelay configured (base URL, key, retries)."""


class AgentBackend:
    """Rows run by an Agent Framework agent on the Responses API, in background mode.

    Every AF call runs on an `AsyncOpenAI` with no transport retries, polls and resumes included: each
    may run a tool round, whose follow-up create must not be retried blind (a transient poll failure is
    retried by the runner instead). Given a factory, the agent is built on `creates` (that client), and
    `reads` (with the SDK's retries) serves only cancels, which are idempotent; `aclose` closes both.
    Given an agent, it runs on the agent's own server, through copies of the agent and its client with
    the retries turned off (the caller's are left as they are), and closing it is left to its owner.
    """

    def __init__(
        self,
        agent: AgentSource,
        *,
        creates: openai.AsyncOpenAI | None = None,
        reads: openai.AsyncOpenAI | None = None,
        model: str | None = None,
        name: str = "agent",
        watched: bool = False,
    ) -> None:
        """`watched`: `creates` tells of each request that leaves it (`agent_code_errors`)."""
        self.name = name
        watched = watched and not isinstance(agent, Agent)  # a caller's agent: its own client
        # AF logs each exception it makes, the SDK's words with it, before `translate_agent_error` masks
        # the keys in them: its records are masked as they are logged (masking.py).
        mask_logged(logging.getLogger("agent_framework"))
        self._owned: list[openai.AsyncOpenAI] = []
        if isinstance(agent, Agent):
            self._agent, self._sdk = without_retries(agent)
        else:
            if creates is None or reads is None:
                raise UsageError("an agent factory needs the clients to build on (creates= and reads=)")
            self._owned = [creates, reads]
            # On `creates` itself (`build_agent` refuses any other client), so the server the agent
            # creates on is the one `reads` cancels on, and the run's base URL that run.json records.
            self._agent = build_agent(agent, creates, model)
            self._sdk = reads
        # Its sync tools on threads of ours, which a stopped run waits for, saying so (tool_threads.py).
        self._tool_threads = ToolThreads()
        self._agent = self._tool_threads.threaded(self._agent)
        self._before_follow_up: FollowUpHook | None = None
        self.hosted_tools = hosted_tools(self._agent)
        """The server-side tools the agent offers (web search, ...): billed per call (`Spend.offer`)."""
        # The keys a failed response's own words may quote back (its `error.message`), masked from them
        # as they are read (masking.py): the credentials of the client the agent runs on.
        self._keys = ClientKeys(self._sdk)
        self._own = OwnCode(self._keys, watched=watched)  # the agent's own exceptions, masked
        # A tool that raises: said once per tool with its words, counted after (AF's two lines a call)
        clients = [self._sdk, *self._owned]
        self._tool_failures = ToolFailures(lambda: {s for c in clients for s in secrets_in(c.auth_headers)})
        logging.getLogger("agent_framework").addFilter(self._tool_failures)
        said_anew()  # a run's warnings about the server's usage start again (usage_counts.py)

    async def create(self, request: RowRequest) -> Snapshot:
        async with self._own.around(creating=True):
            try:
                response = await self._agent.run(
                    agent_input(request), options=_options(request), middleware=self._rounds()
                )
            except ChatClientException as exc:
                raise translate_agent_error(exc, creating=True) from exc
        return await self._masked_snapshot(agent_snapshot(response))

    def create_stream(self, request: RowRequest) -> AsyncGenerator[StreamUpdate, None]:
        # The submitter and then the row's wait read this stream, from different tasks; AF's run keeps
        # context variables across its steps, so one task steps it for both. The message is built first:
        # a row it refuses is refused here, before any stream opens.
        message = agent_input(request)
        return self._masked(
            stepped_in_one_task(
                self._own.stream(
                    updates(
                        lambda: self._agent.run(
                            message, stream=True, options=_options(request), middleware=self._rounds()
                        )
                    ),
                    creating=True,
                )
            )
        )

    async def retrieve(self, response_id: str) -> Snapshot:
        """The state of `response_id`, or, when it ended in function calls, of the follow-up response
        AF created after running the tools (its id differs from `response_id`: the row moved)."""
        with rounds_read(response_id) as carried:
            async with self._own.around():
                try:
                    response = await self._agent.run(
                        options=_resume_options(response_id), middleware=self._rounds()
                    )
                except ChatClientException as exc:
                    raise translate_agent_error(exc) from exc
            return await self._masked_snapshot(carried(agent_snapshot(response)))

    def resume(self, response_id: str, after: int) -> AsyncGenerator[StreamUpdate, None]:
        """Events of `response_id` after `after`, then every event of any follow-up a tool round creates
        (their snapshots name the follow-up, and their sequence numbers start again at 0)."""
        return self._masked(
            self._own.stream(
                updates(
                    lambda: self._agent.run(
                        stream=True, options=_resume_options(response_id), middleware=self._rounds()
                    ),
                    after=after,
                ),
                creating=False,
            )
        )

    async def cancel(self, response_id: str) -> Snapshot:
        try:
            answer = await self._sdk.responses.cancel(response_id)
        except openai.OpenAIError as exc:
            raise translate(exc) from exc
        return await self._masked_snapshot(snapshot_of(answer))

    async def _masked_snapshot(self, snapshot: Snapshot) -> Snapshot:
        """`snapshot` masked of the client's credentials when it `says_why` it ended (AF's calls cost
        far more than this call)."""
        return await self._keys.masked(snapshot) if says_why(snapshot) else snapshot

    async def _masked(self, stream: AsyncGenerator[StreamUpdate, None]) -> AsyncGenerator[StreamUpdate, None]:
        """`stream`'s updates, their snapshots masked of the client's keys (`masked_update`)."""
        async with contextlib.aclosing(stream):
            async for update in stream:
                yield await self._keys.masked_update(update) if says_why(update.snapshot) else update

    def before_follow_ups(self, hook: FollowUpHook) -> None:
        """Await `hook(continued)` before each tool round's follow-up create leaves (`agent_rounds`)."""
        self._before_follow_up = hook

    def _rounds(self) -> list[CarryRowRequest]:
        """The middleware of one AF call: its own, so what it read goes with it (`CarryRowRequest`)."""
        return [CarryRowRequest(self._before_follow_up)]

    async def aclose(self) -> None:
        await self._tool_threads.settled()  # a stopped run's tools still in their threads, said
        logging.getLogger("agent_framework").removeFilter(self._tool_failures)
        self._tool_failures.said_at_close()
        for client in self._owned:
            await client.close()


def is_agent(source: AgentSource) -> TypeGuard[AnyAgent]:
    """An agent itself (run on its own client), rather than a factory rowrelay hands a client to."""
    return isinstance(source, Agent)


def default_agent(client: OpenAIChatClient) -> AnyAgent:
    """The agent of `--backend agent` with no `--agent`: no tools, rowrelay's instructions only."""
    return Agent(client=client, name="rowrelay")


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
