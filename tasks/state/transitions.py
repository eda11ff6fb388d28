"""The explicit transition table between row statuses: pure data and one pure check.

    pending     -> submitting | failed (a bad row, refused before any request: e.g. a blank prompt)
    submitting  -> queued | in_progress | completed | failed | incomplete | cancelled
                   | pending   (the create was refused before anything started: 429 / 5xx)
                   | orphaned  (found `submitting` without a response id on reload)
    queued      -> in_progress | completed | failed | incomplete | cancelled | expired
    in_progress -> completed | failed | incomplete | cancelled | expired
    failed | incomplete | cancelled | expired | orphaned
                -> submitting (retry by policy) | pending (made eligible again by `rowrelay retry`)
    completed   -> nothing, but for an edited input sent again (below)

A same-status move is always allowed (it is an update, e.g. a new stream cursor), except that nothing may
be written over a completed row's status. With `hold_orphans`, `orphaned -> submitting` is refused: a held
orphan waits for a person (`rowrelay retry` moves it to `pending`). The one way back from `completed` is
`edited`: a row whose input was edited since it was sent, that a run was told to send again under its new
text (`--resend-edited`), goes back to pending from any ended, orphaned or expired status (its answer, or
its failure, was the earlier text's).
"""

from __future__ import annotations

from collections.abc import Mapping

from rowrelay.tasks.errors import IllegalTransition
from rowrelay.tasks.records import RowStatus

_BACK_TO_SENDING: frozenset[RowStatus] = frozenset({"submitting", "pending"})
"""Where an ended, orphaned or expired row may go: sent again at once, or made eligible (retry)."""
_ENDED: frozenset[RowStatus] = frozenset({"completed", "failed", "incomplete", "cancelled", "expired"})

TRANSITIONS: Mapping[RowStatus, frozenset[RowStatus]] = {
    "pending": frozenset({"submitting", "failed"}),
    "submitting": frozenset(
        {"queued", "in_progress", "completed", "failed", "incomplete", "cancelled", "pending", "orphaned"}
    ),
    "queued": frozenset({"in_progress", "completed", "failed", "incomplete", "cancelled", "expired"}),
    "in_progress": _ENDED,
    "completed": frozenset(),
    "failed": _BACK_TO_SENDING,
    "incomplete": _BACK_TO_SENDING,
    "cancelled": _BACK_TO_SENDING,
    "expired": _BACK_TO_SENDING,
    "orphaned": _BACK_TO_SENDING,
}
"""Allowed moves out of each status (same-status updates are allowed separately)."""
EDITED_BACK: frozenset[RowStatus] = _ENDED | {"orphaned"}
"""Where a row whose input was edited may go back to pending from, `edited`: never a row a response may
still be running for (`submitting`, `queued`, `in_progress`)."""


def is_allowed(old: RowStatus, new: RowStatus, *, hold_orphans: bool = False, edited: bool = False) -> bool:
    """Whether a row may move from `old` to `new`; `edited`: its input was edited and it is sent again."""
    if old == new:
        return True
    if edited and new == "pending" and old in EDITED_BACK:
        return True
    if hold_orphans and old == "orphaned" and new == "submitting":
        return False
    return new in TRANSITIONS[old]


def check_transition(
    row_key: str, old: RowStatus, new: RowStatus, *, hold_orphans: bool = False, edited: bool = False
) -> None:
    """Raise `IllegalTransition` (naming the row, `old` and `new`) unless the move is allowed."""
    if is_allowed(old, new, hold_orphans=hold_orphans, edited=edited):
        return
    if old == "completed":
        reason = "a completed row never changes status"
    elif hold_orphans and old == "orphaned":
        reason = "orphan_policy='hold': an orphan waits for `rowrelay retry`"
    else:
        allowed = ", ".join(sorted(TRANSITIONS[old])) or "nothing"
        reason = f"from {old} only {allowed}"
    raise IllegalTransition(row_key, old, new, reason)
