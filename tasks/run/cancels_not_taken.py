"""Rows whose cancel has not taken, left saying so rather than as cancelled.

`cancel.cancel_in_flight` marks each row with whose cancel it is about to get (a stop's, or one asked
for) before any cancel goes out, so that a cancel carried out while its answer goes unheard is read right
by the next run. A cancel that then does not take (not answered, refused, answered with the response
still running or ended asking for its agent's tools) left that mark's words on the row: an export
meanwhile showed 'cancelled on request' in the `error` column of a row whose job still ran, or had ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from rowrelay.tasks.records import RowStatus
from rowrelay.tasks.run.follow_up_record import follow_up_unanswered
from rowrelay.tasks.state import StateTable, is_allowed


@dataclass(frozen=True)
class NotTaken:
    """Why a row's cancel has not taken, and what comes of it (a clause: 'the server answered it with its
    response queued; the next run collects what it became'),
    and whether it may still: a cancel not answered may have reached the server, one answered with the
    response running may be carried out later; one that came after its response ended never takes."""

    why: str
    may_take: bool = True
    status: RowStatus | None = None
    """The response's status as the server answered the cancel (`queued`, `in_progress`), if it did."""


def said_not_taken(table: StateTable, rows: dict[str, NotTaken], whose: str) -> None:
    """Leave `rows` saying their cancel (asked `whose`: 'as its run stopped', 'on request') has not taken:
    the mark's error message goes, a note says what was asked and why it has not taken, and the status is
    the server's where it answered one. The mark's type stays where the cancel may still take: a later run
    that finds the response cancelled reads whose cancel it was (`record.ended`), and sends a stop's
    again (its words come from there, not the row); it goes where the response had ended. A follow-up's
    note on its way stays: it counts that create (`follow_up_record`). Changed in memory only: the
    caller's one write takes them all, not one write a row."""
    for key, not_taken in rows.items():
        row = table.get(key)
        note = f"a cancel was asked {whose}, but {not_taken.why}"
        fields: dict[str, object] = {"error_message": None}
        if not follow_up_unanswered(row):
            fields["note"] = note
        if not not_taken.may_take:
            fields["error_type"] = None
        said = not_taken.status
        table.transition(key, said if said and is_allowed(row.status, said) else row.status, **fields)
