"""Rows that ended without completing, by status and error type, largest kind first, with one example
message each: what `rowrelay status` and the flow's closing warning say went wrong.

In Arrow compute alone, comparing with values the table itself holds, as `reader.summarize` does: making
an Arrow value from a Python one imports pandas, which `rowrelay status` must not pay for.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.records import CUT_AT_CEILING, NOT_COMPLETED

KINDS_SAID = 5
MESSAGE_CHARS = 200
_EXAMPLES_LOOKED_AT = 16


class FailureKind(TypedDict):
    status: str
    error_type: str | None
    rows: int
    example: str | None
    """The first non-empty error message of the kind's rows, cut at MESSAGE_CHARS, on one line."""


def failure_kinds(table: pa.Table) -> list[FailureKind]:
    """The kinds of rows (latest versions) that did not complete, largest first."""
    statuses = table.column("status")
    held: Any = pc.unique(statuses)
    kinds: list[FailureKind] = []
    for index, status in enumerate(held.to_pylist()):
        if status not in NOT_COMPLETED:
            continue
        rows = table.filter(pc.equal(statuses, held[index]))
        types = rows.column("error_type")
        types_held: Any = pc.unique(types)
        for at, error_type in enumerate(types_held.to_pylist()):
            same = pc.is_null(types) if error_type is None else pc.equal(types, types_held[at])
            group = rows.filter(same)
            example = _example(group.column("error_message"))
            kinds.append(
                FailureKind(status=status, error_type=error_type, rows=group.num_rows, example=example)
            )
    return sorted(kinds, key=lambda kind: -kind["rows"])


def _example(messages: pa.ChunkedArray[Any]) -> str | None:
    for message in messages.drop_null().slice(0, _EXAMPLES_LOOKED_AT).to_pylist():
        if message:
            return " ".join(str(message).split())[:MESSAGE_CHARS]
    return None


def kinds_said(kinds: list[FailureKind]) -> str:
    """`9 failed/response_failed (e.g. "The model had an error"); 2 expired/expired; and 3 more kinds`."""
    parts = [
        f"{kind['rows']:,} {kind['status']}/{kind['error_type'] or '-'}"
        + (f' (e.g. "{kind["example"]}")' if kind["example"] else "")
        for kind in kinds[:KINDS_SAID]
    ]
    more = len(kinds) - len(parts)
    return "; ".join(parts) + (f"; and {more} more kinds" if more > 0 else "")


def cut_at_ceiling(table: pa.Table) -> int:
    """The rows (latest versions) that ended `incomplete` at their output token ceiling
    (`records.CUT_AT_CEILING`): a retry at the same `--max-output-tokens` ends them the same way, paid for
    again, which the advice to retry them says."""
    statuses = table.column("status")
    held: Any = pc.unique(statuses)
    values = held.to_pylist()
    if "incomplete" not in values:
        return 0
    rows = table.filter(pc.equal(statuses, held[values.index("incomplete")]))
    counts: Any = pc.value_counts(rows.column("error_message").drop_null())
    pairs = zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    return sum(n for message, n in pairs if message in CUT_AT_CEILING)
