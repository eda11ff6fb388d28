"""The batch flow's middle: plan the rows this run takes, then run their shards, each on its endpoint's
session, here or as tasks on a Dask cluster's workers, with the batch's progress told to whoever asked
(`progress_sink`), Prefect's progress artifact and the log."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar, cast

from prefect.utilities.annotations import quote

from rowrelay.flows import console_progress
from rowrelay.flows.artifacts import ProgressArtifact
from rowrelay.flows.cluster_run import bank_limits, run_on_cluster, shard_jobs, spread, threads_of
from rowrelay.flows.deployed_run import held_back_said
from rowrelay.flows.narration import Narrator
from rowrelay.flows.request import BatchRequest
from rowrelay.flows.targets import Target, open_sessions, open_spend, rpm_of, run_shards
from rowrelay.tasks.dataset import PreparedInput
from rowrelay.tasks.records import rows
from rowrelay.tasks.run import Progress
from rowrelay.tasks.run.cap_words import LostCreates, left_to_send
from rowrelay.tasks.run.plan import send_order
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import RunRecord, StateTable
from rowrelay.tasks.steps import plan

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner

    from rowrelay.tasks.llm.agent_backend import AgentFactory
    from rowrelay.tasks.records import RowStatus

log = logging.getLogger("rowrelay.flow")
progress_log = logging.getLogger("rowrelay.progress")
"""Where a run no caller shows progress for logs its progress line (`console_progress.logged`)."""
progress_sink: contextvars.ContextVar[Callable[[Progress], None] | None] = contextvars.ContextVar(
    "rowrelay_progress_sink", default=None
)
"""Where a caller (the CLI's progress bar, a notebook widget) wants progress; set it before the flow. What
it raises is logged once, as a warning, and ignored: the run goes on (`_forgiving`). Unset, the run logs
the CLI's plain progress line instead, at its pace (`progress_log`)."""
T = TypeVar("T")


def whole(value: T) -> T:
    """Hand a task its argument as is: Prefect would otherwise walk big objects looking for futures.
    (`quote` is unwrapped before the task body runs, so the task sees the plain value.)"""
    return cast(T, quote(value))


def _forgiving(sink: Callable[[Progress], None] | None) -> Callable[[Progress], None] | None:
    """`sink`, whose errors are logged (the first one, as a warning) and go no further. The runner tells
    progress from its housekeeping task, which also checkpoints the table and refreshes the lease's
    heartbeat: a notebook's progress bar that raised ended that task, so another command took the live
    run's lease as stale (the run then failed with LeaseHeldError and wrote no output), or a short run
    finished its rows only to raise the sink's error instead of exporting them."""
    if sink is None:
        return None
    said = False

    def told(progress: Progress) -> None:
        nonlocal said
        try:
            sink(progress)
        except Exception as exc:  # the caller's code: whatever it raises, the run is not about it
            if not said:
                said = True
                log.warning(
                    "progress_sink raised %s: %s (its errors are ignored: the run goes on)",
                    type(exc).__name__, exc,
                )  # fmt: skip

    return told


async def process(
    settings: Settings,
    table: StateTable,
    prepared: PreparedInput,
    targets: list[Target],
    agent: AgentFactory | None,
    request: BatchRequest,
    runner: TaskRunner[Any] | None,
    record: RunRecord,
) -> tuple[str | None, dict[str, int], LostCreates]:
    """Run the shards, each on its endpoint's session (here, or as tasks on the cluster's workers when
    `runner` is given); returns why the run stopped sending rows early (the cost cap), if it did, and the
    rows its limit held back, per status. Every
    endpoint has its own session (backend and rate budget) and runs its own shards, all endpoints at
    once; the cost cap and the run's counters are the batch's, shared."""
    output_schema = request.output_schema
    artifact = await ProgressArtifact.create(table.batch_id)
    # A caller's own display, else the CLI's plain line logged at its pace: once, never both (the CLI
    # shows its own), so a deployment's console and the run's Prefect logs say how the run goes.
    sink = _forgiving(progress_sink.get()) or console_progress.logged(progress_log)
    narrator = Narrator()
    left_alone: dict[RowStatus, int] = {}  # the plan's: rows of the state this run neither sends nor waits on
    began = time.monotonic()

    def on_progress(whole_table: Progress) -> None:
        # The batch's elapsed time: a runner's own restarted with each shard it ran (a 5,000-row batch
        # of 1,000-row shards showed 2:30, then 0:20 elapsed).
        progress = replace(whole_table.without(left_alone), elapsed=time.monotonic() - began)
        artifact(progress)
        narrator(progress)
        sink(progress)

    async with contextlib.AsyncExitStack() as sessions_open:
        try:
            spend = open_spend(settings, targets, table, record)  # each endpoint's unpriced model said
            sessions = open_sessions(
                sessions_open, targets, table, prepared, spend, progress=on_progress, agent=agent,
                output_schema=output_schema, record=record,
            )  # fmt: skip
            session = next(iter(sessions.values()))
            policy = session.driver.context.policy  # what decides which rows are sent: the same for all
            narrator.begin(table.counts())  # before the plan, which fails this run's bad rows
            batch = plan(
                whole(table), whole(prepared), policy, settings.shard_size, rpm_of(targets), request.limit,
                request.resend_edited,
            )  # fmt: skip
            left_alone.update(batch.left_alone)
            held: dict[str, int] = {str(status): n for status, n in batch.held_back.items()}
            if held and request.limit is not None:
                log.info(held_back_said(request.limit, sum(held.values())))
            # On a cluster the planned shards are cut again for its threads: say the shards that run.
            shards = (
                batch.shards
                if runner is None or not batch.shards
                else spread(batch.shards, threads_of(runner))
            )
            log.info(
                "batch %s: %s, %s done, %s holding a token (resumed first), %s to send, %d shard%s",
                table.batch_id, rows(len(table) - sum(left_alone.values())), f"{batch.already_done:,}",
                f"{batch.resumed:,}", f"{batch.to_send:,}", len(shards), "" if len(shards) == 1 else "s",
            )  # fmt: skip
            if runner is not None and shards:
                schema = None if output_schema is None else output_schema.parts()
                jobs = shard_jobs(
                    shards, targets, table.directory, prepared.prompt,
                    instructions=prepared.instructions, agent=request.agent, output_schema=schema,
                    attachments=prepared.attachments,
                )  # fmt: skip
                await run_on_cluster(
                    runner, jobs, bank_limits(targets), table.directory, on_progress, policy.max_attempts,
                    settings.dask_no_workers_after,
                )  # fmt: skip
                return None, held, spend.ledger.duplicates
            await run_shards(sessions, batch.shards)
            if not batch.shards:  # nothing to send or wait on: still say where the batch stands
                session.runner.report_progress(len(table), time.monotonic())
            stop = spend.stop_message(left_to_send(table, send_order(table, policy), held))
            return stop, held, spend.ledger.duplicates
        finally:
            narrator.close()
            await artifact.finish()
