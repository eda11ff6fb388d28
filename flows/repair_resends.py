"""What `rowrelay repair` does of rows a batch sent again for an edited input (`--resend-edited`) whose
resend a damaged file lost: each falls back to a version whose attempts do not count the resend's create
(a job on the server, paid for). The repair counts it on the row (`state.resent`), or, where the note of
resent rows does not say what a row was sent as (an older rowrelay's, or one that cannot be read), says
it cannot, and that such a row may have a job its attempts do not count. What it will count is recorded
before anything is moved (`resent.note_owed`): a repair that stops before counting leaves it to the
next, which counts each row once (`owed_before`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from rowrelay.tasks.state.damage import Scan
    from rowrelay.tasks.state.repair import Fallback
    from rowrelay.tasks.state.resent import LostResend

__all__ = ["count_lost_resends", "lost_resends", "owed_before", "rows_said"]


def rows_said(n: int) -> str:
    return "1 row" if n == 1 else f"{n} rows"


def owed_before(state: Path, out: Console) -> dict[str, LostResend]:
    """The counts a repair recorded and stopped before making (killed between moving the damaged files,
    which showed the loss, and counting), said: this repair makes them."""
    from rowrelay.tasks.state.resent import owed_counts

    owed = owed_counts(state)
    if owed:
        out.print(
            f"an earlier repair found the resend (--resend-edited) of {rows_said(len(owed))} lost and "
            f"stopped before counting it (e.g. {', '.join(list(owed)[:5])}): a repair counts each, once"
        )
    return owed


def lost_resends(state: Path, found: Scan, rows: list[Fallback], out: Console) -> dict[str, LostResend]:
    """The rows whose resend's create (`--resend-edited`) a lost version may have held, with their edited
    hash and the attempts they fall back to, which a repair counts (`resent.uncounted_resends`), said; and
    the resent rows it cannot tell of."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from rowrelay.tasks.state.resent import RESENT_FILE, LostResend, resent_hashes, uncounted_resends

    noted = resent_hashes(state)
    listed = [row.row_key for row in rows]
    held = found.remaining.filter(pc.is_in(found.remaining.column("row_key"), pa.array(listed, pa.string())))
    keys: list[str] = held.column("row_key").to_pylist()  # type: ignore[assignment]
    hashes: list[str] = held.column("input_hash").to_pylist()  # type: ignore[assignment]
    attempts: list[int] = held.column("attempts").to_pylist()  # type: ignore[assignment]
    hashes_now = dict(zip(keys, hashes, strict=True))
    attempts_now = dict(zip(keys, attempts, strict=True))
    uncounted = uncounted_resends(rows, hashes_now, noted)
    if uncounted:
        out.print(
            f"{rows_said(len(uncounted))} sent again for an edited input (--resend-edited) may have lost "
            f"the resend's create with what cannot be read (e.g. {', '.join(uncounted[:5])}): a job on the "
            "server the row's attempts do not count; a repair writes each `orphaned` under its edited text, "
            "one more attempt and orphan, as a run counts a create it cannot see, and the next run sends it "
            "again (one create counted: a retry the killed run made of it, if any, is not)"
        )
    completed = [row.row_key for row in rows if row.now is not None and row.now.status == "completed"]
    maybe_resent = completed if found.resent is None else [k for k in completed if k in found.resent]
    untold = [key for key in maybe_resent if key not in noted]  # a note without hashes, or unreadable
    if untold:
        out.print(
            f"{rows_said(len(untold))} `completed` may have been sent again for an edited input (e.g. "
            f"{', '.join(untold[:5])}), and {state / RESENT_FILE} does not say under what text: a repair "
            "cannot tell whether that create was lost, and leaves their counts as they are; each may have "
            "a job on the server its attempts do not count"
        )
    return {key: LostResend(noted[key], attempts_now[key]) for key in uncounted}


def count_lost_resends(state: Path, owed: dict[str, LostResend], out: Console) -> None:
    """Count each lost resend on its row (`resent.count_lost_resend`: once, however many repairs try), as
    a writer of its own: the batch's lease is the repair's already, and no other row's recovery is this
    command's (`orphans_among`); then forget what was owed."""
    from rowrelay.tasks.state import StateTable
    from rowrelay.tasks.state.resent import count_lost_resend, forget_owed

    if not owed:
        return
    with StateTable.open(state, writer="repair", orphans_among=()) as table:
        counted = [key for key, lost in owed.items() if count_lost_resend(table, key, lost)]
    forget_owed(state)
    if counted:
        out.print(
            f"counted {rows_said(len(counted))} whose resend (--resend-edited) was lost: `orphaned` under "
            "the edited text, one more attempt and orphan each; the next run sends them again"
        )
