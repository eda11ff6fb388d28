"""A batch run's close, once its last row has ended: the rows read back (from every writer's files when
a cluster's workers wrote them), the output written, the closing summary said and published (the CLI's
lines, the flow run's log and artifact), and the `BatchResult` the caller gets. The flow (`flows.batch`)
runs the batch; this says how it went.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rowrelay.flows.artifacts import publish_summary
from rowrelay.flows.batch_output import exported, rows_of_input
from rowrelay.flows.batch_result import BatchResult
from rowrelay.flows.closing_advice import failed_for_their_input
from rowrelay.flows.narration import log_outcome
from rowrelay.flows.run_orphans import lost_this_run, sent_again
from rowrelay.tasks.dataset import PreparedInput
from rowrelay.tasks.run import open_table
from rowrelay.tasks.run.cap_words import LostCreates
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import StateTable, summarize

if TYPE_CHECKING:
    import pyarrow as pa
    from prefect.task_runners import TaskRunner

    from rowrelay.tasks.llm.structured import OutputSchema

__all__ = ["finish", "reread"]


async def finish(
    table: StateTable,
    prepared: PreparedInput,
    out: Path,
    settings: Settings,
    server: tuple[str, str | None],
    output_schema: OutputSchema | None,
    held_orphans: pa.Table,
    stopped: str | None = None,
    held_back: dict[str, int] | None = None,
    lost_before: LostCreates | None = None,
) -> BatchResult:
    """Export, summarise and publish what the closed table holds of the input: its rows are in memory.
    `server`: what the run ran on, as said (`targets.backend_label`), and its base URL; `held_orphans`:
    the rows' orphans as the run opened the table (`run_orphans.orphans_at_open`); `lost_before`: the
    earlier lost creates the run's cost cap counted, with their estimates (`Spend.count_orphans`)."""
    everything = table.latest()
    latest, left_out = rows_of_input(table, prepared)
    frame = exported(latest, prepared, out, settings, output_schema, table.directory)
    # Counted as `status` counts them: rows outside the input apart, but what they cost spent all the
    # same (a row removed while in flight was waited on, and paid for, by this run)
    facts = summarize(everything, table.problems, left_out, max_attempts=settings.max_attempts)
    held_back = held_back or {}
    lost = lost_this_run(held_orphans, everything)
    again = sent_again(held_orphans, everything, (lost_before or LostCreates()).earlier_of)
    log_outcome(table.batch_id, facts, str(out), sum(held_back.values()), table.directory, lost, again)
    await publish_summary(table.batch_id, facts, frame, table.directory)
    counts = {status: int(n) for status, n in facts["counts"].items()}
    return BatchResult(
        table.batch_id, _absolute(table.directory), _absolute(out), counts, *server,
        facts["cost_usd"], facts["projected_cost_usd"], stopped, held_back, facts["tool_calls"],
        *failed_for_their_input(everything), cut_at_ceiling=facts["cut_at_ceiling"],
        orphans_this_run=lost.creates,
        rows_orphaned_this_run=lost.rows, rows_sent_again=again.rows, creates_lost_before=again.creates,
        lost_before_usd=again.usd, timed_out_before=again.timed_out,
    )  # fmt: skip


def reread(table: StateTable, runner: TaskRunner[Any] | None, settings: Settings) -> StateTable:
    """`table`, or with shards on a cluster's workers, which wrote the rows, the table read again from
    every writer's files and closed at once (the export and summary read the rows from memory). Beside
    its shards' leases: at a stop some still run, and a dead worker's may look live for a while."""
    if runner is None:
        return table
    table = open_table(table.directory, settings, beside_writers=True)
    table.close()
    return table


def _absolute(path: Path) -> str:
    """`path` from the root, as `BatchResult` gives it: relative, it pointed elsewhere once a notebook
    changed its working directory after the run (`os.chdir`)."""
    return str(path.resolve())
