"""What every row of a state file is, as rowrelay writes it: checked on each file as it is read.

Each page of a state file carries a CRC32 checksum (written since it was added; `segments`), so a bit
flipped on disk fails the read. Files written before have none, and a checksum cannot see a file that was
rewritten whole; these checks catch what such damage most often makes of a row, at the cost of one pass
over a few columns (the columns are read anyway):

* its status is one of rowrelay's (a flipped byte read as `hn_progress`);
* a `queued` row holds its response id: a create's answer names it, or the row never left `submitting`.
  Not `in_progress`: a foreground backend's row (Chat Completions) waits one step there with no id;
* counts, tokens, costs and positions are not negative;
* a segment's rows carry its own version and writer (a checkpoint stamps both on every row it writes),
  a snapshot's rows their writer's and a version no higher than its own (`compaction`).

In Arrow compute alone, against values Arrow already holds: making an Arrow value from a Python one
makes pyarrow import pandas, which `rowrelay status` must not pay for (tests/flows/test_cli_imports.py).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.records import ROW_STATUSES

__all__ = ["row_problem"]

_NOT_NEGATIVE = (
    "row_index",
    "attempts",
    "orphans",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cached_input_tokens",
    "tool_calls",
    "cost_usd",
)


def row_problem(table: pa.Table, writer: str | None, version: int | None, *, snapshot: bool) -> str | None:
    """What about `table` (a state file's rows, migrated to `SCHEMA`) no file rowrelay writes holds, or
    None. `writer` and `version` are the file's own (from its name; None: not known, not checked)."""
    if not table.num_rows:
        return None
    return _status_problem(table) or _count_problem(table) or _stamp_problem(table, writer, version, snapshot)


def _status_problem(table: pa.Table) -> str | None:
    statuses = table.column("status")
    held: Any = pc.unique(statuses)
    names: list[str] = held.to_pylist()
    for name in names:
        if name not in ROW_STATUSES:
            return f"a row of status {name!r}, which is none of rowrelay's"
    if "queued" in names:
        queued = pc.equal(statuses, held[names.index("queued")])
        if pc.any(pc.and_(queued, pc.is_null(table.column("response_id")))).as_py():
            return "a queued row without a response id"
    return None


def _count_problem(table: pa.Table) -> str | None:
    for name in _NOT_NEGATIVE:
        lowest = pc.min(table.column(name)).as_py()
        if lowest is not None and lowest < 0:
            return f"a row whose {name} is negative ({lowest})"
    return None


def _stamp_problem(table: pa.Table, writer: str | None, version: int | None, snapshot: bool) -> str | None:
    if writer is not None:
        strays = [name for name in pc.unique(table.column("writer")).to_pylist() if name != writer]
        if strays:
            return f"a row of writer {strays[0]!r} in a file of writer {writer!r}"
    if version is not None:
        span: Any = pc.min_max(table.column("version")).as_py()
        low, high = span["min"], span["max"]
        if snapshot and not 0 <= low <= high <= version:
            return f"a row of version {high if high > version else low} in a snapshot of version {version}"
        if not snapshot and (low != version or high != version):
            return f"a row of version {low if low != version else high} in a segment of version {version}"
    return None
