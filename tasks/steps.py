"""The only Prefect tasks: coarse stages, never one per row.

A Prefect task run costs milliseconds and about 20 KB of Prefect's database (measured on a 2-core
machine), so
the flow runs four kinds of task: load the input, plan the state table, process one shard of rows
(the async runner over up to a few thousand rows), and export. Row-level state lives in the Parquet
state table, which stays the source of truth; Prefect sees shards.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.states import Cancelled

from rowrelay.tasks.cluster.shard_job import ShardGroup, ShardOutcome
from rowrelay.tasks.console_filter import CONSOLE_LEVEL, ReportedByTheCommand
from rowrelay.tasks.dataset import READING, InputSpec, PreparedInput, read_prepared, write_output
from rowrelay.tasks.dataset.typed import with_typed_columns
from rowrelay.tasks.errors import RunStoppingError
from rowrelay.tasks.run import BatchPlan, BatchRunner, RowPolicy, plan_batch
from rowrelay.tasks.state import StateTable, results_frame

RUN_STOPPERS: tuple[type[BaseException], ...] = (RunStoppingError,)
"""Errors that stop a whole run, raised out of a shard: whoever started the run reports them in one
line (the command line's `error: ...`), so Prefect's records of them stay off the console. Each such
error says so by its base class (`errors.RunStoppingError`), not by being listed here: a hand-kept list
missed `OutputWriteError`, whose one line came after two tracebacks."""


@task(name="load-input", cache_policy=NO_CACHE)
def load_input(source: str | Path | pd.DataFrame, spec: InputSpec, reading: int = READING) -> PreparedInput:
    """Read and validate the input (`reading` says how a file is read): every usage error surfaces here,
    before any request is spent."""
    return read_prepared(source, spec, reading)


@task(name="plan", cache_policy=NO_CACHE)
def plan(
    table: StateTable,
    prepared: PreparedInput,
    policy: RowPolicy,
    shard_size: int,
    endpoints: Mapping[str, int] | None = None,
    limit: int | None = None,
    resend_edited: bool = False,
) -> BatchPlan:
    """Add unseen rows as pending, fail bad rows alone, and cut the work into shards (per endpoint, given
    each endpoint's rpm); with `limit`, only that many rows to send are sent; with `resend_edited`, rows
    sent whose input was edited are sent again (`plan_batch`)."""
    return plan_batch(table, prepared, policy, shard_size, endpoints, limit, resend_edited)


@task(name="process-shard", cache_policy=NO_CACHE, task_run_name="shard-{number}")
async def process_shard(runner: BatchRunner, number: int, keys: list[str]) -> dict[str, int]:
    """Run the async runner over one shard of rows; returns the shard's counts by status."""
    await runner.run(keys)
    return runner.driver.context.table.counts_of(keys)


@task(name="process-shard", cache_policy=NO_CACHE, task_run_name="shard-{group.numbers}")
async def process_shards_on_worker(group: ShardGroup) -> list[ShardOutcome] | State[Any]:
    """Run a group of shards at once on the Dask worker this task landed on, drawing on the run's
    shared budget; a group its run stopped ends Cancelled, as a local run's shards do."""
    from distributed import get_worker  # Dask only where the task runs on it

    from rowrelay.tasks.cluster.link import DaskLink
    from rowrelay.tasks.cluster.shard_job import run_group
    from rowrelay.tasks.cluster.stopping import GroupStopped

    _console_as_the_commands()
    worker = get_worker()
    try:
        return await run_group(
            group, lambda job: DaskLink(job.bank, job.budget, job.writer, worker), worker.address
        )
    except GroupStopped as stop:  # a state returned is the task run's own: not Failed, no traceback
        # Its final state's record (ERROR) kept off the console, as a run stopper's: the command says it
        _console_as_the_commands().texts.add(str(stop))
        return Cancelled(message=str(stop))


@functools.cache
def _console_as_the_commands() -> ReportedByTheCommand:
    """Once per worker process, whose console is often the command's own stderr (a LocalCluster's): it
    leaves out Prefect's records of a run stopper, each shard's traceback and final state, twenty lines
    a shard above the command's one line; and where the command said its console's level
    (`CONSOLE_LEVEL`), it shows no more than that (not a line per shard's end, at INFO, beside the
    progress bar). Every record still reaches the task run's logs on the Prefect server (another
    handler), tracebacks and all. Returns the filter, which a shard task tells of texts it drops."""
    quiet = ReportedByTheCommand(RUN_STOPPERS)
    # A name logging does not know (a typo on another cluster) leaves the level alone, not every shard failed
    level = logging.getLevelNamesMapping().get(os.environ.get(CONSOLE_LEVEL, "").upper())
    for handler in logging.getLogger().handlers:
        handler.addFilter(quiet)
        if level is not None:
            handler.setLevel(level)
    return quiet


@task(name="export", cache_policy=NO_CACHE)
def export_results(
    rows: pd.DataFrame,
    prepared: PreparedInput,
    output: Path,
    output_schema: dict[str, Any] | None = None,
    asked: tuple[str, ...] = (),
) -> Path:
    """Write the input columns joined with each row's result (`rows`: the batch's state frame), in input
    order, atomically; with a structured-output schema, a typed column per top-level field too, and the
    result columns the run asked for (`results.asked_columns`: reasoning summaries, tool calls and
    citations, token log probabilities)."""
    results = results_frame(rows, prepared.keys, asked)
    if output_schema is not None:
        results = with_typed_columns(results, output_schema, last=asked)
    return write_output(prepared.frame, results, output)
