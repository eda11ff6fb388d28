"""Where a run's rows go: one target per endpoint (`--endpoints`), or the run's own settings alone.

    settings, url, targets = resolve_targets(request)   # `auto` resolved, the embedded emulator started
                                                        # only when a target needs it

A target is what one session (backend + rate budget) is built from: an endpoint's name (None without
endpoints), its full settings and its base URL. With endpoints the run's own settings only supply what
entries leave out, and what the whole batch shares (the cost cap, the model it is labelled with), so
they start no emulator of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from prefect.utilities.annotations import quote

from rowrelay.flows.backends import backend_name, resolve_backend
from rowrelay.flows.request import BatchRequest
from rowrelay.flows.run_labels import backends_said
from rowrelay.flows.unpriced import say_unpriced
from rowrelay.tasks.dataset import PreparedInput
from rowrelay.tasks.run import BatchRunner, Progress, RunCounters, Session, Shard, open_session
from rowrelay.tasks.run.endpoints import Endpoint
from rowrelay.tasks.run.spend import Spend, spent_so_far
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import RunRecord, StateTable
from rowrelay.tasks.steps import process_shard

if TYPE_CHECKING:
    from rowrelay.tasks.llm.agent_backend import AgentFactory
    from rowrelay.tasks.llm.structured import OutputSchema

__all__ = [
    "Target", "open_sessions", "open_spend", "recorded_endpoints", "resolve_targets", "rpm_of",
    "run_shards", "target_of",
]  # fmt: skip


@dataclass(frozen=True)
class Target:
    endpoint: str | None
    settings: Settings
    """The endpoint's full settings, `backend` resolved (never `auto`)."""
    url: str | None
    entry: dict[str, Any] | None = None
    """The endpoints file's entry, as given (nothing secret): what run.json records."""


def resolve_targets(request: BatchRequest) -> tuple[Settings, str | None, list[Target]]:
    """The run's settings and base URL (`auto` resolved), and the targets its sessions are built for."""
    if not request.endpoints:
        settings, url = resolve_backend(request.settings)
        return settings, url, [Target(None, settings, url)]
    base = request.settings
    # The run is labelled (its record, its Prefect tag, its closing line) by its endpoints' backend when
    # they share one: the run's own settings name none, so every endpoints run read "emulator".
    served = {backend_name(endpoint.settings) for endpoint in request.endpoints}
    backend = served.pop() if len(served) == 1 else backend_name(base)
    settings = base.model_copy(update={"backend": backend})
    return settings, base.base_url, [target_of(endpoint) for endpoint in request.endpoints]


def backend_label(targets: Sequence[Target]) -> str:
    """What a run is said to run on (its Prefect tag, its closing line): its backend, or its endpoints'
    several ones (`chat+openai`). The run's own settings name one of them, or none ("emulator" when
    nothing is configured): an endpoints run over two backends was labelled so."""
    return backends_said(target.settings.backend for target in targets)


def target_of(endpoint: Endpoint) -> Target:
    """One endpoint as a session is built for it (`auto` resolved; an emulator started if it needs one):
    what a shard on another worker builds from its endpoint, its key read from that worker's environment."""
    settings, url = resolve_backend(endpoint.settings)
    return Target(endpoint.name, settings, url, endpoint.entry.model_dump(exclude_none=True))


def open_spend(settings: Settings, targets: Sequence[Target], table: StateTable, record: RunRecord) -> Spend:
    """The run's spend (its cost cap, what the batch has spent so far), refused as `Spend.open` refuses a
    cap on a model with no price: with endpoints, each endpoint's model, named with it (its rows are
    priced at it, `open_sessions`). A model with no price is said before anything is sent, per endpoint:
    a billed model can still be priced; once a batch, not at its every run (`flows.unpriced`, by
    `record`, the batch's run record as this run wrote it)."""
    endpoints = {t.endpoint: t.settings for t in targets if t.endpoint is not None} or None
    spend = Spend.open(settings, **spent_so_far(table), endpoints=endpoints)
    priced = [(_spend_of(spend, target), target.endpoint) for target in targets]
    unpriced = [(p.provider, p.model, p.tier, endpoint) for p, endpoint in priced if p.rates is None]
    say_unpriced(table.directory, unpriced, record)
    return spend


def _spend_of(spend: Spend, target: Target) -> Spend:
    """What prices a target's rows: an endpoint's own model (its entry's, else the run's `--model`) at its
    own backend's price list, counted against the batch's one cap; the run's own spend without endpoints.
    An endpoint's rows priced at the run's `--model` got made-up costs, and the cap capped those."""
    return spend if target.endpoint is None else spend.at_endpoint(target.settings)


def open_sessions(
    stack: contextlib.AsyncExitStack,
    targets: Sequence[Target],
    table: StateTable,
    prepared: PreparedInput,
    spend: Spend,
    *,
    progress: Callable[[Progress], None],
    agent: AgentFactory | None,
    output_schema: OutputSchema | None,
    record: RunRecord,
) -> dict[str | None, Session]:
    """One session per target, by endpoint name, each closed by `stack`: its own client and rate budget,
    its rows priced at its own model against the batch's one cost cap (`spend`, `_spend_of`), and the
    batch's one set of counters. `record`: the batch's run record as this run wrote it, whose notes of
    earlier runs each session reads (`run.cut_streams`) without reading it back."""
    counters = RunCounters()
    sessions: dict[str | None, Session] = {}
    for target in targets:
        sessions[target.endpoint] = session = open_session(
            target.settings, table, prepared.prompt, instructions=prepared.instructions, base_url=target.url,
            progress=progress, agent=agent, output_schema=output_schema, endpoint=target.endpoint,
            spend=_spend_of(spend, target), counters=counters, attachments=prepared.attachments,
            record=record,
        )  # fmt: skip
        stack.push_async_callback(session.aclose)
    return sessions


SHARDS_AT_ONCE = 2
"""The fewest shards an endpoint runs at once: its next shard starts while its last one's tail finishes,
so the pipe never drains."""


def shards_at_once(max_in_flight: int, shard_rows: int) -> int:
    """Shards an endpoint runs at once: enough to hold its `--max-in-flight` rows in flight together, and
    one more, whose rows start as the others' tails finish. A run's rows in flight are bounded by the
    budget's in-flight gate, not here: two shards at once capped them at twice the shard size
    (`ROWRELAY_SHARD_SIZE`, 1,000), so a trial's `--max-in-flight 10000` against 20 s responses held
    2,000 at most, and 200,000 rows took five times as long, with nothing said. A shard waiting for its
    turn holds only its keys."""
    return max(SHARDS_AT_ONCE, -(-max_in_flight // max(shard_rows, 1)) + 1)


async def run_shards(sessions: Mapping[str | None, Session], shards: Sequence[Shard]) -> None:
    """Every shard as a Prefect task on its endpoint's session, all endpoints at once. A shard that fails
    (a refused key, an outage, a state table that cannot be written) stops the others, and its error is
    raised as itself. The others' responses go on, as the failing shard's do, and the next run waits on
    them: cancelling them would throw away paid work for a fault that is not theirs, and against a full
    disk their cancels could not be recorded (the rows would wait on cancelled responses)."""
    widest = {
        name: max((len(part.keys) for part in shards if part.endpoint == name), default=1)
        for name in sessions
    }
    gates = {
        name: asyncio.Semaphore(shards_at_once(session.budget.max_in_flight, widest[name]))
        for name, session in sessions.items()
    }
    for part in shards:  # rows of shards yet to start are rows still to create: see `run.pace`
        sessions[part.endpoint].runner.pace.queued += len(part.keys)

    async def one(part: Shard) -> None:
        pace, queued = sessions[part.endpoint].runner.pace, len(part.keys)
        try:
            async with gates[part.endpoint]:
                pace.queued -= queued
                queued = 0
                # `quote`: Prefect hands the task its arguments as they are, without walking them.
                runner, keys = (
                    cast(BatchRunner, quote(sessions[part.endpoint].runner)),
                    cast(list[str], quote(part.keys)),
                )
                await process_shard(runner, part.number, keys)
        except Exception:
            for session in sessions.values():  # before the group cancels the others
                session.runner.halted = True
            raise
        finally:
            pace.queued -= queued  # a shard stopped before its turn

    try:
        async with asyncio.TaskGroup() as group:
            for part in shards:
                group.create_task(one(part))
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None


def rpm_of(targets: Sequence[Target]) -> dict[str, int] | None:
    """Each endpoint's creates per minute, what rows are spread by; None for a run without endpoints."""
    return {t.endpoint: t.settings.rpm for t in targets if t.endpoint is not None} or None


def recorded_endpoints(targets: Sequence[Target]) -> list[dict[str, Any]] | None:
    """The endpoints as run.json records them for `rowrelay cancel`: each entry with its backend and base
    URL resolved. Entries hold the names of the variables with keys, never a key."""
    if targets[0].endpoint is None:
        return None
    return [
        {**(target.entry or {}), "backend": target.settings.backend, "base_url": target.url}
        for target in targets
    ]
