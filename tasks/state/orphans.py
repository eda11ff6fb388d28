"""Recovering rows that were `submitting` when their runner died: a pure decision over rows.

`submitting` is written (durably) before a create is sent, so on reload such a row may or may not exist on
the server. With a durable response id the create did reach the server: the row becomes `queued` and is
resumed from its token. Without one nobody can know, so it is recorded as a create that may have started
a job: it becomes `orphaned`, spends an attempt (`attempts += 1`) and counts a possible duplicate
(`orphans += 1`), with the reason in `note`. Under `orphan_policy="resubmit"` a run sends it again only
while it has attempts left (it may then be paid twice, which is the price of not losing it, counted and
bounded); under `"hold"` it waits for a person (`rowrelay retry`). So repeated crashes cannot re-send a
row without end.

Only rows whose runner is gone are touched: this writer's own rows, and rows of writers whose lease is
absent or stale. A live sibling writer's in-flight rows are left alone. Whether a writer is live is asked
of the caller (`is_live`), once per writer, so this module reads no file: `StateTable.open` asks the leases
and applies the changes through its checked transitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rowrelay.tasks.records import Policy, RowStatus
from rowrelay.tasks.state.schema import RowState

__all__ = ["Change", "OrphanPolicy", "orphan_changes", "orphan_note"]

OrphanPolicy = Policy


@dataclass(frozen=True, slots=True)
class Change:
    """Move row `row_key` to `status`, setting `fields` (what `StateTable.transition` takes)."""

    row_key: str
    status: RowStatus
    fields: dict[str, object]


def orphan_changes(
    rows: Iterable[RowState],
    *,
    writer: str,
    is_live: Callable[[str], bool],
    policy: OrphanPolicy,
    max_attempts: int,
) -> list[Change]:
    """The changes that recover the dead runners' `submitting` rows among `rows`, for `writer` reopening.

    `is_live(other)` says whether writer `other` still runs (asked at most once per writer); rows in any
    other status are ignored, so passing every row is fine.
    """
    live: dict[str, bool] = {}
    changes: list[Change] = []
    for row in rows:
        if row.status != "submitting":
            continue
        if row.writer != writer:
            if row.writer not in live:
                live[row.writer] = is_live(row.writer)
            if live[row.writer]:
                continue
        changes.append(_recovery(row, policy, max_attempts))
    return changes


def _recovery(row: RowState, policy: OrphanPolicy, max_attempts: int) -> Change:
    if row.response_id is not None:
        note = f"recovered: was submitting when {row.writer!r} stopped, its response id was durable"
        return Change(row.row_key, "queued", {"note": note})
    attempts = row.attempts + 1
    what = f"was submitting when {row.writer!r} stopped, with no response id"
    fields: dict[str, object] = {
        "attempts": attempts,
        "orphans": row.orphans + 1,
        "error_type": "maybe_created",
        "error_message": f"the runner stopped during the create ({row.writer!r})",
        "note": orphan_note(what, attempts, max_attempts, policy),
    }
    return Change(row.row_key, "orphaned", fields)


def orphan_note(what: str, attempts: int, max_attempts: int, policy: OrphanPolicy) -> str:
    """The note of a row whose create may have started a job nobody can see: what happened, and whether
    a run will send it again (the run plan's `wants_submit` decides by the same facts)."""
    if policy == "hold":
        then = "held for `rowrelay retry`"
    elif attempts >= max_attempts:
        then = f"gave up after {attempts} attempts; `rowrelay retry` sends it again"
    else:
        then = "it will be sent again"
    return f"orphaned: {what}; it may have started a job rowrelay cannot see; {then}"
