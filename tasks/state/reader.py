"""Reading a batch from any process, without its lease: `load`, `summary`, `latest_sql`.

A damaged state file is never skipped silently: by default a reader raises `CorruptSegmentError` naming
it, as `StateTable.open` does, rather than return a table missing the rows that file held
(`rowrelay repair DIR` moves such files aside). Asked to (`skip_damaged=True`), a reader skips it, names it
in `problems` (and `.attrs["problems"]`) and logs a warning.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.errors import DamagedFileError, UsageError
from rowrelay.tasks.records import ENDED, ENDED_SENT_AGAIN, ROW_STATUSES, RowStatus, ended_sent_again
from rowrelay.tasks.state.batch import is_state_directory, no_batch_problem
from rowrelay.tasks.state.failures import cut_at_ceiling, failure_kinds
from rowrelay.tasks.state.input_order import in_input_order, input_order
from rowrelay.tasks.state.left_out import left_out_keys, split_left_out
from rowrelay.tasks.state.run_end import last_run
from rowrelay.tasks.state.run_record import RunRecord, max_attempts_of, read_run_record
from rowrelay.tasks.state.schema import value_counts
from rowrelay.tasks.state.segments import read_latest

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def read_table(directory: Path, *, skip_damaged: bool = False) -> tuple[pa.Table, list[str]]:
    """The latest version of every row as Arrow (sorted by row_index), and the damaged files skipped.

    A damaged file raises `CorruptSegmentError` naming it, unless `skip_damaged`: then the rows whose
    latest version it held show an earlier one (or are missing), and the file is named in the problems.
    A folder that holds no batch is a `UsageError`.
    """
    if not is_state_directory(Path(directory)):  # a mistyped path read as a batch of no rows
        raise UsageError(no_batch_problem(Path(directory)))
    table, _files, damaged = read_latest(Path(directory), skip_corrupt=skip_damaged)
    for exc in damaged:
        log.warning("skipping %s", exc)
    return table, [str(exc) for exc in damaged]


def load(directory: Path, *, skip_damaged: bool = False) -> pd.DataFrame:
    """The latest state of every row, in the order of the batch's last run's input, as its output is
    written (`input_order`; rows that input did not hold follow, by row_index). A damaged file raises
    `CorruptSegmentError` (`DamagedFileError` for the order's note); with `skip_damaged=True` it is
    skipped and named in `.attrs["problems"]` (a skipped note: rows by row_index)."""
    table, problems = read_table(directory, skip_damaged=skip_damaged)
    try:
        keys = input_order(Path(directory))
    except DamagedFileError as exc:
        if not skip_damaged:
            raise
        log.warning("skipping %s", exc)
        keys, problems = None, [*problems, str(exc)]
    # pandas is imported here, not at import time: writers never need it
    frame = in_input_order(table, keys).to_pandas()
    frame.attrs["problems"] = problems
    return frame


def summary(
    directory: Path, *, skip_damaged: bool = False, max_attempts: int | None = None
) -> dict[str, Any]:
    """Counts by status, token totals, billed server-side tool calls (`tool_calls`, 0 without tools),
    completed latency p50/p95 (seconds), orphans, cost (`cost_usd`,
    None when no row has a price) and the projected cost of the whole batch, and the damaged files skipped
    (`problems`; a damaged file raises `CorruptSegmentError` unless `skip_damaged`), rows by the
    endpoint their latest response was created on (`endpoints`; empty for a batch run without them), and
    the rows that did not complete by kind, largest first (`not_completed`: `state.failures`), and how
    the batch's last run ended (`last_run`: `state.run_end.last_run`, None when none got as far as its
    record: completed, failed, capped, stopped, outage, error, running, killed, or not recorded).

    Rows the last run's input did not hold (`left_out`) are counted apart (`not_in_input`), as
    `summarize` says; a damaged `run.json` raises `DamagedFileError` unless `skip_damaged` (then they
    are counted with the others, and the record is named in the problems).

    `max_attempts`: the creates per row the projection takes the next run to allow; None, the batch's
    own, as its last run took them (`run.json`; the default for a record written before it said)."""
    table, problems = read_table(directory, skip_damaged=skip_damaged)
    record: RunRecord | None = None
    damaged = False
    try:
        record = read_run_record(Path(directory))
    except DamagedFileError as exc:
        if not skip_damaged:
            raise
        log.warning("skipping %s", exc)
        problems, damaged = [*problems, str(exc)], True
    if max_attempts is None:
        max_attempts = max_attempts_of(record)
    facts = summarize(table, problems, left_out_keys(record), max_attempts=max_attempts)
    return {**facts, "last_run": last_run(Path(directory), record, time.time(), damaged)}


def summarize(
    table: pa.Table,
    problems: list[str],
    left_out: pa.Array[Any] | None = None,
    *,
    max_attempts: int,
) -> dict[str, Any]:
    """`summary` of rows already in hand (`read_table`, or an open table's `latest()`).

    `left_out`: keys of rows the batch's last run did not find in its input (`left_out.record_left_out`).
    Where the batch stands (`rows`, `counts`, latency, `endpoints`, `not_completed`, and the rows the
    projection adds) covers the others, the rows its runs send and report on: a removed pending row is
    not left to do. What the batch spent (tokens, tool calls, orphans, `cost_usd`) covers every row,
    as the bill does. `not_in_input` counts the rows left out: `rows`, `counts` and `cost_usd` (already
    in the whole's). `max_attempts`: the batch's (its run's `--max-attempts`), which decides whether a
    row cancelled as its run stopped, or failed, is sent again (then the projection counts it as not yet
    ended);
    required, as a default here had `status` project a batch run with 5 by the default 3.

    In Arrow compute alone, comparing with values Arrow already holds: converting a Python or NumPy value
    to Arrow (or back) makes pyarrow import pandas, which `rowrelay status` would pay for on every start.
    """
    held, outside = split_left_out(table, left_out)
    counts = _counts(held)
    done = _where(held, "status", "completed")
    micros = pc.cast(pc.subtract(done.column("completed_at"), done.column("submitted_at")), pa.int64())
    # linear interpolation, as NumPy's percentile; null when no row completed
    p50, p95 = (pc.quantile(micros.drop_null(), q=q)[0].as_py() for q in (0.5, 0.95))

    def total(name: str) -> int:
        return int(pc.sum(table.column(name)).as_py() or 0)

    spent, priced = spent_of(table)
    ended = ended_for_projection(counts, lambda: _ended_sent_again_rows(held), max_attempts)

    return {
        "rows": held.num_rows,
        "counts": counts,
        "input_tokens": total("input_tokens"),
        "output_tokens": total("output_tokens"),
        "reasoning_tokens": total("reasoning_tokens"),
        "tool_calls": total("tool_calls"),
        "latency_p50": None if p50 is None else p50 / 1e6,  # seconds
        "latency_p95": None if p95 is None else p95 / 1e6,
        "orphans": total("orphans"),
        "rows_with_orphans": int(pc.sum(pc.sign(table.column("orphans"))).as_py() or 0),  # never below 0
        "orphaned": counts["orphaned"],
        "cached_input_tokens": total("cached_input_tokens"),
        "cost_usd": spent,
        "projected_cost_usd": projected_cost(spent or 0.0, priced, held.num_rows, ended),
        "problems": problems,
        "endpoints": value_counts(held.column("endpoint").drop_null()),
        "not_completed": failure_kinds(held),
        "cut_at_ceiling": cut_at_ceiling(held),  # incomplete at --max-output-tokens: a retry as is ends so
        "not_in_input": {
            "rows": outside.num_rows,
            "counts": _counts(outside),
            "cost_usd": spent_of(outside)[0],
        },
    }


def _where(table: pa.Table, name: str, value: str) -> pa.Table:
    """The rows whose string column `name` holds `value`, compared as Arrow holds it (see `summarize`)."""
    column = table.column(name)
    present: Any = pc.unique(column)
    values = present.to_pylist()
    if value not in values:
        return table.slice(0, 0)
    return table.filter(pc.equal(column, present[values.index(value)]))


def _ended_sent_again_rows(table: pa.Table) -> pa.Table:
    """`table`'s rows in a status `ended_sent_again` may say yes to (failed, cancelled)."""
    return pa.concat_tables([_where(table, "status", status) for status in ENDED_SENT_AGAIN])


SENT_AGAIN_FACTS = ("status", "error_type", "attempts")
"""What `ended_for_projection` reads of each failed or cancelled row (`records.ended_sent_again`'s facts)."""


def ended_for_projection(
    counts: Mapping[RowStatus, int] | Mapping[str, int], sendable: Callable[[], pa.Table], max_attempts: int
) -> int:
    """The rows `projected_cost` takes as ended: those in an ended status (`counts`: rows by status) less
    the failed and cancelled rows the next run sends again, by the run plan's own decision
    (`records.ended_sent_again`, by the batch's `max_attempts`). `sendable()` gives those rows'
    `SENT_AGAIN_FACTS`, asked for only when `counts` holds some (a run's progress asks twice a second);
    each distinct combination is decided once. `status`, `summary()` and a run's progress line all count
    by it: after Ctrl-C, status and then the progress line had projected the batch's cost with those rows
    as ended, as if nothing were left to pay for, right after the run said the same command sends them
    again (trials: cancelled rows, and then failed ones with attempts left)."""
    ended = sum(counts.get(status, 0) for status in ENDED)
    if not any(counts.get(status, 0) for status in ENDED_SENT_AGAIN):
        return ended
    sent_again = sum(
        rows
        for (status, error_type, attempts), rows in _combinations(sendable(), SENT_AGAIN_FACTS)
        if ended_sent_again(status, error_type, attempts, max_attempts)
    )
    return ended - sent_again


def _combinations(table: pa.Table, columns: tuple[str, ...]) -> list[tuple[tuple[Any, ...], int]]:
    """Each distinct combination of `columns`' values in `table` (nulls included), with its rows,
    counted in Python. Not `Table.group_by`: that imports Arrow's Acero, which imports pyarrow.dataset
    and, with it, pandas (as making an Arrow scalar or a NumPy array of a column does), a half second
    that `rowrelay status` of a batch holding failed rows need not spend. The rows are the batch's failed
    and cancelled ones only: about 0.3 s a million, and a run's progress asks at its own pace
    (`run.projection`)."""
    return list(Counter(zip(*(table.column(name).to_pylist() for name in columns), strict=True)).items())


def _counts(table: pa.Table) -> dict[str, int]:
    """Rows per status, every status present (zeros included)."""
    return dict.fromkeys(ROW_STATUSES, 0) | value_counts(table.column("status"))


def spent_of(table: pa.Table) -> tuple[float | None, int]:
    """What `table`'s rows cost (None when none has a price), and how many have one: status's figure,
    and what a run carries from earlier runs (`run.spend.spent_so_far`)."""
    costs = table.column("cost_usd")
    priced = len(costs) - costs.null_count
    return (float(pc.sum(costs).as_py() or 0.0) if priced else None), priced


def projected_cost(spent: float, priced: int, rows: int, ended: int) -> float | None:
    """What a whole batch would cost: what it spent, plus its rows not yet ended at the mean cost of the
    `priced` rows (responses) so far; None until one has a cost. The one projection status, progress and
    artifacts show."""
    if priced <= 0:
        return None
    return spent + max(0, rows - ended) * spent / priced


def latest_sql(directory: Path) -> str:
    """A DuckDB query for the latest version of each row (raw `read_parquet` sees every version).

    It reads the table's own files alone, the segments and snapshots (`files`: `<writer>-<version>`, one
    folder down): a `**/*.parquet` glob read any other Parquet file in the folder as rows too (an export
    written there added a row with no key)."""
    glob = str(Path(directory) / "*" / "*-[0-9]*.parquet").replace("'", "''")
    return (
        f"SELECT * FROM read_parquet('{glob}', union_by_name = true) "
        "QUALIFY row_number() OVER (PARTITION BY row_key ORDER BY version DESC) = 1 "
        "ORDER BY row_index"
    )
