"""What one shard is, as the coordinator ships it to a worker, and what the worker does with it.

A worker opens the state table as its own writer (`shard-N`: disjoint rows, so writers never touch each
other's rows or files), builds its own event loop's backend, HTTP client and budget (drawing on the
run's bank), runs the shard's rows and closes its writer. Keys never travel: the job carries the
settings without them, and the worker reads them from its own environment (OPENAI_API_KEY,
AZURE_OPENAI_API_KEY or the ROWRELAY_ forms), so no key passes through the scheduler or Prefect.

A shard's rerun after its worker died takes over the dead writer's lease (at once on the same host:
the pid is gone; after `LEASE_TIMEOUT` on another), recovers its own `submitting` rows (each counted as
maybe created) and resumes every row that holds a token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rowrelay.tasks.cluster.stopping import GroupStopped, entered, said_by_the_command, was_stopped
from rowrelay.tasks.errors import LeaseHeldError
from rowrelay.tasks.llm.shared import BankLink
from rowrelay.tasks.llm.structured import OutputSchema
from rowrelay.tasks.media_refs import Attachment
from rowrelay.tasks.run import BatchRunner, open_session, open_table
from rowrelay.tasks.run.endpoints import keys_here
from rowrelay.tasks.run.stops import Cancelled, stops_seen
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import StateTable
from rowrelay.tasks.state.lease import LEASE_TIMEOUT

log = logging.getLogger("rowrelay.cluster")
DEFAULT_BUDGET = "default"
"""The bank's budget for a run without endpoints."""


@dataclass(frozen=True)
class ShardJob:
    state_dir: str
    number: int
    keys: list[str]
    prompts: dict[str, str]
    settings: Settings
    """The run's settings with no key in them (`without_keys`)."""
    bank: str
    endpoint: str | None = None
    """The endpoint the shard's rows go to (`--endpoints`), None for the run's own settings."""
    entry: dict[str, Any] | None = None
    """That endpoint's entry (no key in it: the names of the variables holding them)."""
    base_url: str | None = None
    instructions: str | None = None
    agent: str | None = None
    output_schema: tuple[str, dict[str, Any], str] | None = None
    """(name, schema, source): the compiled validator is rebuilt on the worker, not pickled."""
    attachments: dict[str, tuple[Attachment, ...]] | None = None
    """Each row's images and files, local ones as absolute paths the worker reads; None: none."""

    @property
    def writer(self) -> str:
        return f"shard-{self.number}"

    @property
    def budget(self) -> str:
        """The bank's name for the endpoint's budget."""
        return self.endpoint or DEFAULT_BUDGET


@dataclass
class ShardOutcome:
    """What a shard's run did: its rows by status, and the run's counters."""

    counts: dict[str, int]
    counters: dict[str, int] = field(default_factory=dict)
    worker: str = ""
    attempts_spent: int = 0
    """The attempts its rows spent from its open to its end: the creates this run of the shard counted
    on its rows. An earlier run of the shard, on a worker that died, never reports its counters; the
    coordinator finds its creates as the attempts the table gained that no report names."""


@dataclass(frozen=True)
class ShardGroup:
    """The shards one Dask task runs at once (`flows.cluster_run.together`): a worker thread runs one
    task at a time, so a task of one shard held at most a shard's rows in flight per thread."""

    jobs: tuple[ShardJob, ...]

    @property
    def numbers(self) -> str:
        """The shards' numbers, as the task run is named: "4", or "3-5" for shards 3 to 5."""
        first, last = self.jobs[0].number, self.jobs[-1].number
        return str(first) if first == last else f"{first}-{last}"


async def run_group(
    group: ShardGroup, link: Callable[[ShardJob], BankLink], worker: str = ""
) -> list[ShardOutcome]:
    """Every shard of `group` at once, each its own writer drawing on the run's bank (`link`). A shard
    that fails stops the others as one endpoint's shards stop each other in a run without a cluster
    (`flows.targets.run_shards`): their responses go on, keeping their ids, for the next run to wait
    on, and the failure is raised as itself. The run's stop (`stopping.stop_shards`) cancels them as a
    local run's stop does, and the group raises `GroupStopped`; so does another group's failure, which
    halts them first (their responses go on, as here)."""
    said_by_the_command()  # each shard's stop: the command says their sum once
    runners: list[BatchRunner] = []
    stops: list[Cancelled] = []

    def halt() -> None:
        for runner in runners:  # their responses go on, keeping their ids, as the failing shard's do
            runner.halted = True

    async def one(job: ShardJob) -> ShardOutcome:
        try:
            return await run_shard(job, link(job), worker, runners)
        except Exception:
            halt()  # before the group cancels the others
            raise

    async def every() -> list[ShardOutcome]:
        stops_seen.set(stops)  # this task's context: what its runners cancel as their run stops
        try:
            async with asyncio.TaskGroup() as shards:
                running = [shards.create_task(one(job)) for job in group.jobs]
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [each.result() for each in running]

    bank = group.jobs[0].bank
    work = asyncio.ensure_future(every())
    with entered(bank, group.numbers, work, stops, halt):  # the run's stop cancels `work` (`stopping`)
        try:
            return await work
        except asyncio.CancelledError:
            if not was_stopped(bank):
                raise
    raise GroupStopped(f"shards {group.numbers}: stopped with their run")


async def run_shard(
    job: ShardJob, link: BankLink, worker: str = "", runners: list[BatchRunner] | None = None
) -> ShardOutcome:
    """One shard's rows, its runner added to `runners` (its group's, which halts it if another fails)."""
    settings = keys_here(job.entry, job.settings)
    table = await _open_writer(job, settings)
    try:
        # After the open, which counts a dead earlier run's `submitting` rows: those creates are its.
        opened = _attempts(table, job.keys)
        schema = None if job.output_schema is None else OutputSchema(*job.output_schema)
        agent = None
        if job.agent is not None:
            from rowrelay.tasks.llm.agent_backend import load_agent_factory  # Agent Framework only if asked

            agent = load_agent_factory(job.agent)
        session = open_session(
            settings, table, job.prompts, instructions=job.instructions, base_url=job.base_url,
            agent=agent, output_schema=schema, endpoint=job.endpoint, shared=link,
            attachments=job.attachments,
        )  # fmt: skip
        if runners is not None:
            runners.append(session.runner)
        try:
            report = await session.runner.run(job.keys)
        finally:
            await session.aclose()
        spent = _attempts(table, job.keys) - opened
        return ShardOutcome(table.counts_of(job.keys), report.counters.totals(), worker, spent)
    finally:
        table.close()


def _attempts(table: StateTable, keys: list[str]) -> int:
    return sum(table.get(key).attempts for key in keys)


async def _open_writer(job: ShardJob, settings: Settings) -> StateTable:
    """Open the shard's writer, waiting for a dead worker's lease on it to go stale (another host's
    lease is only known dead when its heartbeat is `LEASE_TIMEOUT` old)."""
    deadline = time.monotonic() + LEASE_TIMEOUT + 5.0
    while True:
        try:
            return open_table(Path(job.state_dir), settings, writer=job.writer, orphans_among=set(job.keys))
        except LeaseHeldError as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("%s: waiting for the lease to go stale (%s)", job.writer, exc)
            await asyncio.sleep(2.0)
