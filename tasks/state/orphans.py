"""Recovering rows that were `submitting` when their runner died.

`submitting` is written (durably) before a create is sent, so on reload such a row may or may not exist on
the server. With a durable response id the create did reach the server: the row becomes `queued` and is
resumed from its token. Without one nobody can know, so it becomes `orphaned` (`orphans += 1`, with the
reason in `note`): under `orphan_policy="resubmit"` the next run submits it again (it may then be paid
twice, which is the price of not losing it); under `"hold"` it waits for a person (`rowrelay retry`).

Only rows whose runner is gone are touched: this writer's own rows, and rows of writers whose lease is
absent or stale. A live sibling writer's in-flight rows are left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rowrelay.tasks.state.lease import writer_is_live

if TYPE_CHECKING:
    from rowrelay.tasks.state.table import StateTable


def recover_orphans(table: StateTable, *, lease_timeout: float) -> int:
    """Convert the dead runners' `submitting` rows; returns how many rows changed."""
    live: dict[str, bool] = {}
    changed = 0
    for row in list(table.rows(["submitting"])):
        if row.writer != table.writer:
            if row.writer not in live:
                live[row.writer] = writer_is_live(
                    table.directory, row.writer, table.lease.info.heartbeat, lease_timeout
                )
            if live[row.writer]:
                continue
        if row.response_id is not None:
            table.transition(
                row.row_key,
                "queued",
                note=f"recovered: was submitting when {row.writer!r} stopped, its response id was durable",
            )
        else:
            then = "will resubmit" if table.orphan_policy == "resubmit" else "held for `rowrelay retry`"
            table.transition(
                row.row_key,
                "orphaned",
                orphans=row.orphans + 1,
                note=f"orphaned: was submitting when {row.writer!r} stopped, no response id; {then}",
            )
        changed += 1
    return changed
