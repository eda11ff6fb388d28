"""Reading a batch from any process, without its lease: `load`, `summary`, `latest_sql`.

Readers never crash on a damaged file: they skip it, name it in `problems` and log a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.records import ROW_STATUSES
from rowrelay.tasks.state.schema import value_counts
from rowrelay.tasks.state.segments import read_latest

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def read_table(directory: Path) -> tuple[pa.Table, list[str]]:
    """The latest version of every row as Arrow (sorted by row_index), and the problems met."""
    table, _files, _damaged, problems = read_latest(Path(directory), skip_corrupt=True)
    for problem in problems:
        log.warning("%s", problem)
    return table, problems


def load(directory: Path) -> pd.DataFrame:
    """The latest state of every row, by row_index; damaged files are named in `.attrs["problems"]`."""
    table, problems = read_table(directory)
    frame = table.to_pandas()  # pandas is imported here, not at import time: writers never need it
    frame.attrs["problems"] = problems
    return frame


def summary(directory: Path) -> dict[str, Any]:
    """Counts by status, token totals, completed latency p50/p95 (seconds), orphans, problems."""
    return summarize(*read_table(directory))


def summarize(table: pa.Table, problems: list[str]) -> dict[str, Any]:
    """`summary` of rows already in hand (`read_table`, or an open table's `latest()`)."""
    counts = dict.fromkeys(ROW_STATUSES, 0) | value_counts(table.column("status"))
    done = table.filter(pc.equal(table.column("status"), pa.scalar("completed")))
    seconds = pc.divide(
        pc.cast(pc.subtract(done.column("completed_at"), done.column("submitted_at")), pa.int64()), 1e6
    ).drop_null()
    latencies = np.asarray(seconds.to_numpy(zero_copy_only=False), dtype=float)

    def total(name: str) -> int:
        return int(pc.sum(table.column(name)).as_py() or 0)

    return {
        "rows": table.num_rows,
        "counts": counts,
        "input_tokens": total("input_tokens"),
        "output_tokens": total("output_tokens"),
        "reasoning_tokens": total("reasoning_tokens"),
        "latency_p50": float(np.percentile(latencies, 50)) if latencies.size else None,
        "latency_p95": float(np.percentile(latencies, 95)) if latencies.size else None,
        "orphans": total("orphans"),
        "orphaned": counts["orphaned"],
        "problems": problems,
    }


def latest_sql(directory: Path) -> str:
    """A DuckDB query for the latest version of each row (raw `read_parquet` sees every version)."""
    glob = str(Path(directory) / "**" / "*.parquet").replace("'", "''")
    return (
        f"SELECT * FROM read_parquet('{glob}', union_by_name = true) "
        "QUALIFY row_number() OVER (PARTITION BY row_key ORDER BY version DESC) = 1 "
        "ORDER BY row_index"
    )
