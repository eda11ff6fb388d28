"""The only Prefect tasks: coarse stages, never one per row.

A Prefect task run costs milliseconds and about 20 KB of Prefect database (../shared/PREFECT.md §2), so
the flow runs four kinds of task: load the input, plan the state table, process one shard of rows
(the async runner over up to a few thousand rows), and export. Row-level state lives in the Parquet
state table, which stays the source of truth; Prefect sees shards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from rowrelay.tasks.dataset import InputSpec, PreparedInput, prepare, read_input, write_output
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm import BatchRunner
from rowrelay.tasks.records import IN_FLIGHT, RowStatus
from rowrelay.tasks.state import RowState, StateTable, results_frame_of

_RESULT_STATUS = "rowrelay_status"


@dataclass(frozen=True)
class BatchPlan:
    """What a run will do: shards of row keys, rows holding a token (resumed first) leading."""

    shards: list[list[str]]
    resumed: int
    to_send: int
    already_done: int
    bad_rows: int


@task(name="load-input", cache_policy=NO_CACHE)
def load_input(source: str | Path | pd.DataFrame, spec: InputSpec) -> PreparedInput:
    """Read and validate the input: every usage error surfaces here, before any request is spent."""
    return prepare(read_input(source), spec)


@task(name="plan", cache_policy=NO_CACHE)
def plan_batch(
    table: StateTable, prepared: PreparedInput, wants_submit: Callable[[RowState], bool], shard_size: int
) -> BatchPlan:
    """Add unseen rows as pending, fail bad rows alone, and cut the work into shards."""
    _refuse_changed_inputs(table, prepared)
    table.add_pending((row.row_key, row.row_index, row.input_hash) for row in prepared.rows)
    for key, reason in prepared.bad_rows.items():
        if table.get(key).status == "pending":
            table.transition(key, "failed", error_type="bad_input", error_message=reason)
    table.flush()
    holding = table.keys_with_status(IN_FLIGHT)
    order = [*holding, *(k for k in table.keys_with_status(_SENDABLE) if wants_submit(table.get(k)))]
    shards = [order[i : i + shard_size] for i in range(0, len(order), shard_size)]
    done = sum(table.counts().get(status, 0) for status in ("completed",))
    return BatchPlan(shards, len(holding), len(order) - len(holding), done, len(prepared.bad_rows))


_SENDABLE: tuple[RowStatus, ...] = ("pending", "orphaned", "expired", "failed")


def _refuse_changed_inputs(table: StateTable, prepared: PreparedInput) -> None:
    """A key whose input changed since it was planned would mix two inputs' results: refuse."""
    if len(table) == 0:
        return
    changed = [
        row.row_key
        for row in prepared.rows
        if row.row_key in table and table.get(row.row_key).input_hash != row.input_hash
    ]
    if changed:
        sample = ", ".join(changed[:5])
        raise UsageError(
            f"{len(changed)} rows changed input since this batch was planned (e.g. {sample}); "
            "use a new --state directory for the new input, or restore the old one"
        )


@task(name="process-shard", cache_policy=NO_CACHE, task_run_name="shard-{number}")
async def process_shard(runner: BatchRunner, number: int, keys: list[str]) -> dict[str, int]:
    """Run the async runner over one shard of rows; returns the shard's counts by status."""
    await runner.run(keys)
    table = runner.driver.table
    counts: dict[str, int] = {}
    for key in keys:
        status = table.get(key).status
        counts[status] = counts.get(status, 0) + 1
    return counts


@task(name="export", cache_policy=NO_CACHE)
def export_results(state_dir: Path, prepared: PreparedInput, output: Path) -> Path:
    """Write the input columns joined with each row's result, in input order, atomically."""
    return write_output(prepared.frame, results_frame(state_dir), output)


def results_frame(state_dir: Path) -> pd.DataFrame:
    """One row per input row: status, output, error and tokens, keyed by row_index."""
    return results_frame_of(state_dir)
