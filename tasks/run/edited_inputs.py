"""Rows whose input was edited since the batch planned them: which take the edit, and which are refused.

    edited = edited_rows(table.columns(None, EDIT_FACTS), prepared.planned())
    refuse_sent_edits(edited.sent_rows, table.directory, resend_edited)  # a row in flight said first
    resend_edits(table, edited.sent_rows)  # --resend-edited: sent again under the new text, counted
    take_edits(table, edited.unsent)  # their new input_hash; a row failed before sending back to pending

A row is known by its key; its `input_hash` says what it was planned to ask. A row a create was sent for
(any attempt, a response id, an orphan: completed or not) has, or may have, an answer to its old text, or
a job working on it: sent the new text under the same key, the batch would pair one text's answer with
another, and the way out is a new `--state` (or the old text back). A row no create was ever sent for
holds nothing of its old text but the text: it is pending (a `--limit` left it, or the run stopped before
it), or it failed before it was sent for its own input (`bad_input`: an empty prompt, an attachment that
cannot be read). Such a row takes its edited input and is sent with it, and the run says how many did:
refusing it sent the user to a new `--state`, which sends, and pays for, every completed row again.

A row a create was sent for is sent again under its new text only when the run is told to
(`--resend-edited`, `resend_edited=True`): it is paid for again, which the user asked for and the run says
(how many, and an example). Its earlier answer (or failure) is cleared, as the earlier text's; what it
cost stays in `cost_usd`, and `attempts` still counts every create the row made, for either text, so the
server's jobs per row can be held to it: the row has what its `--max-attempts` budget left, and at least
one try (a pending row is always sent), as after `rowrelay retry`. A row whose response may still be
running for its old text (queued, in progress) is refused even so: resent now, the batch would pay for
both, and the old one's answer could land on the new text. Its run collects it (over the earlier input),
or `rowrelay cancel` stops it; then it is sent again like any other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.errors import EditedInputError, UsageError
from rowrelay.tasks.records import IN_FLIGHT, rows
from rowrelay.tasks.setting_problems import option_of, switch_of
from rowrelay.tasks.shell_words import shell_arg
from rowrelay.tasks.state import StateTable
from rowrelay.tasks.state.changes import PER_RESPONSE
from rowrelay.tasks.state.resent import note_resent

log = logging.getLogger("rowrelay.plan")

EDIT_FACTS = ("row_key", "input_hash", "status", "attempts", "orphans", "response_id", "error_type")
"""The state's columns `edited_rows` reads: the planned input, and whether a create was ever sent."""
TOOK_EDIT_NOTE = "took its edited input (never sent before)"
RESEND_OPTION = "--resend-edited"
RESENT_EDIT_NOTE = f"sent again for its edited input ({RESEND_OPTION}); its earlier answer was the old text's"
_PAID = (
    "input_tokens", "output_tokens", "reasoning_tokens", "cached_input_tokens", "tool_calls", "service_tier",
    "endpoint",
)  # fmt: skip
"""What a row's last response was billed for (tokens, server-side tool calls), at what tier and where:
kept when it goes back to pending, as `cost_usd` is (its next create clears them; `cost_usd` adds up)."""
_OLD_ANSWER = dict.fromkeys(name for name in PER_RESPONSE if name not in _PAID)
"""Cleared when a row takes its edited input: its old text's answer or failure (`changes.PER_RESPONSE`,
what a new create clears, but what it paid). A row never sent holds none of it but a `bad_input` error."""


@dataclass(frozen=True)
class EditedRows:
    """The input's rows whose `input_hash` differs from the state's, in input order."""

    sent: list[str]
    """Keys of rows a create was sent for: refused (`changed_rows_problem`)."""
    unsent: pa.Table
    """`row_key`, `input_hash` (the input's, new) and `status` of rows never sent: they take the edit."""
    sent_rows: pa.Table
    """The same of the `sent` rows: what `resend_edits` takes, when the run is told to send them again."""


def edited_rows(stored: pa.Table, planned: pa.Table) -> EditedRows:
    """The rows of `planned` (the input's `row_key`, `input_hash`) whose input differs from `stored`'s
    (the state's `EDIT_FACTS`), split by whether a create was ever sent for them. A key the state does
    not hold is new, not edited."""
    at = pc.index_in(planned.column("row_key"), value_set=stored.column("row_key").combine_chunks())
    was = stored.select(list(EDIT_FACTS)).combine_chunks().take(at)  # null rows for new keys
    unequal: Any = pc.not_equal(was.column("input_hash"), planned.column("input_hash"))
    edited: Any = pc.fill_null(unequal, False)
    was, now = was.filter(edited), planned.filter(edited)
    unsent: Any = pc.fill_null(never_sent(was), False)
    sent = now.column("row_key").filter(pc.invert(unsent))
    taken = now.select(["row_key", "input_hash"]).append_column("status", was.column("status"))
    keys = [str(key) for key in sent.to_pylist()]
    return EditedRows(keys, taken.filter(unsent), taken.filter(pc.invert(unsent)))


def never_sent(was: pa.Table) -> Any:
    """Per row of `was` (`EDIT_FACTS` but the key and hash), whether no create was ever sent for it: no
    attempt, no response id, no orphan, and pending, or failed before sending for its own input
    (`bad_input`). A create refused before anything started (a 429, a 5xx that reached no job) spends no
    attempt and leaves such a row pending. A `bad_input` row with an attempt was sent, and paid for,
    under an earlier text (then edited and resent): the closing advice tells the two apart by this."""
    status, error = was.column("status"), was.column("error_type")
    unsent_end = pc.and_kleene(pc.equal(status, pa.scalar("failed")), pc.equal(error, pa.scalar("bad_input")))
    waiting_or_unsent = pc.or_kleene(pc.equal(status, pa.scalar("pending")), unsent_end)
    nothing_spent = pc.and_kleene(
        pc.equal(was.column("attempts"), pa.scalar(0)), pc.equal(was.column("orphans"), pa.scalar(0))
    )
    return pc.and_kleene(
        pc.and_kleene(waiting_or_unsent, nothing_spent), pc.is_null(was.column("response_id"))
    )


def take_edits(table: StateTable, unsent: pa.Table) -> int:
    """Give each of `unsent`'s rows (`EditedRows.unsent`) its new input hash, a failed one back to
    pending with its error cleared (it failed for the old text), and say how many in one line; returns
    how many. The prompt itself is the input's: a run reads it from there, never from the state."""
    if not unsent.num_rows:
        return 0
    keys, statuses = _edited_back(table, unsent, TOOK_EDIT_NOTE)
    failed = statuses.count("failed")
    log.warning(
        "%s never sent took %s edited input, and %s sent as edited (e.g. %s)%s",
        rows(len(keys)), "its" if len(keys) == 1 else "their", "is" if len(keys) == 1 else "are",
        ", ".join(keys[:5]), f"; {failed:,} of them had failed for the earlier text" if failed else "",
    )  # fmt: skip
    return len(keys)


def resend_edits(table: StateTable, sent: pa.Table) -> int:
    """Put each of `sent`'s rows (`EditedRows.sent_rows`) back to pending under its new input hash, its
    old text's answer cleared (`_OLD_ANSWER`), and say how many in one line; returns how many. A row whose
    response may still be running for its old text is refused (`UsageError`), before anything is written.
    Their keys are noted first (`state.resent`): a completed row written again, which a repair counts."""
    if not sent.num_rows:
        return 0
    refuse_still_running(sent, table.directory)
    edited: dict[str, str] = dict(
        zip(sent.column("row_key").to_pylist(), sent.column("input_hash").to_pylist(), strict=True)  # type: ignore[arg-type]
    )
    note_resent(table.directory, edited)  # each key's new text, for a repair to tell a lost resend by
    keys, statuses = _edited_back(table, sent, RESENT_EDIT_NOTE)
    answered = statuses.count("completed")
    log.warning(
        "%s this batch sent took %s edited input, and %s planned again under it (%s; e.g. %s): paid for "
        "again once sent (a %s or a cost cap may leave some to a later run)%s; what %s cost so far "
        "stays counted",
        rows(len(keys)), "its" if len(keys) == 1 else "their", "is" if len(keys) == 1 else "are",
        switch_of("resend_edited"), ", ".join(keys[:5]), option_of("limit"),
        f", {answered:,} earlier answer{'' if answered == 1 else 's'} dropped" if answered else "",
        "it" if len(keys) == 1 else "they",
    )  # fmt: skip
    return len(keys)


def _edited_back(table: StateTable, edits: pa.Table, note: str) -> tuple[list[str], list[str]]:
    """Each of `edits`' rows (`row_key`, `input_hash`, `status`) back to pending under its new input hash,
    its old text's answer cleared, with `note`; returns their keys and the statuses they had."""
    keys: list[str] = edits.column("row_key").to_pylist()  # type: ignore[assignment]
    hashes: list[str] = edits.column("input_hash").to_pylist()  # type: ignore[assignment]
    statuses: list[str] = edits.column("status").to_pylist()  # type: ignore[assignment]
    for key, input_hash in zip(keys, hashes, strict=True):
        table.edited_back(key, input_hash=input_hash, note=note, **_OLD_ANSWER)
    return keys, statuses


def refuse_sent_edits(sent: pa.Table, state: Path, resend_edited: bool) -> None:
    """Refuse the edited rows a create was sent for (`EditedRows.sent_rows`; `state`: the batch's
    directory), unless `resend_edited` sends them again and none may still be running. A row whose
    response to its old text may still run is said first, option or not: it is what stands in the way
    either way. Said second, the user followed the changed rows' refusal to `--resend-edited`, only to be
    refused again for the row in flight (a run killed mid-run, its row then edited)."""
    if not sent.num_rows:
        return
    refuse_still_running(sent, state)
    if not resend_edited:
        keys: list[str] = sent.column("row_key").to_pylist()  # type: ignore[assignment]
        raise EditedInputError(changed_rows_problem(keys), keys)


def refuse_still_running(sent: pa.Table, state: Path) -> None:
    """`UsageError` when any of `sent`'s rows (`EditedRows.sent_rows`) may still have a response running
    for its old text (`IN_FLIGHT`), naming the ways on; `state`: the batch's directory."""
    running = sent.filter(pc.is_in(sent.column("status"), pa.array(sorted(IN_FLIGHT), pa.string())))
    if running.num_rows:
        keys: list[str] = running.column("row_key").to_pylist()  # type: ignore[assignment]
        raise UsageError(_still_running_problem(keys, state))


def as_reopened(sent: pa.Table, stored: pa.Table, state: Path, now: float) -> pa.Table:
    """`sent` (`EditedRows.sent_rows`, from the state's files: `stored`, every row's latest version) with
    each `submitting` row's status as the run's open makes it before its plan (`state.orphans`): a row
    whose runner died is `orphaned` with no response id (its possible job counted: an attempt and an
    orphan), `queued` with one; a live runner's stays `submitting`. For the precheck, which opens no table,
    to refuse (`refuse_still_running`) what the plan would, and no more: a job no id names can be neither
    collected nor cancelled, and the refusal's way on (resume over the earlier input) sent the old text
    again, a second job before the resend's third; recovered, the row is resent once, counted."""
    from rowrelay.tasks.state.files import MAIN_WRITER
    from rowrelay.tasks.state.lease import LEASE_TIMEOUT, writer_is_live
    from rowrelay.tasks.state.orphans import orphan_changes
    from rowrelay.tasks.state.schema import table_to_rows

    left = pc.and_kleene(
        pc.is_in(stored.column("row_key"), sent.column("row_key")),
        pc.equal(stored.column("status"), pa.scalar("submitting")),
    )
    submitting = stored.filter(left)
    if not submitting.num_rows:
        return sent
    changes = orphan_changes(
        table_to_rows(submitting),
        writer=MAIN_WRITER,  # the writer a run opens the table as
        is_live=lambda writer: writer_is_live(state, writer, now, LEASE_TIMEOUT),
        policy="resubmit",  # the status is all that is read here; the policy sets the note
        max_attempts=1,
    )
    reopened = {change.row_key: change.status for change in changes}
    keys: list[str] = sent.column("row_key").to_pylist()  # type: ignore[assignment]
    statuses = [
        reopened.get(key, was) for key, was in zip(keys, sent.column("status").to_pylist(), strict=True)
    ]
    at = sent.schema.get_field_index("status")
    return sent.set_column(at, "status", pa.array(statuses, pa.string()))


def _still_running_problem(running: list[str], state: Path) -> str:
    """Why rows still waiting on a response to their old text are not sent again, and the ways on."""
    them, it = ("it", "its") if len(running) == 1 else ("them", "their")
    return (
        f"{rows(len(running))} changed input while a response to {it} earlier text may still be running "
        f"(e.g. {', '.join(running[:5])}): sent again now, both would be paid for, and the earlier one's "
        f"answer could land on the new text. Resume the batch over its earlier input to collect {them}, "
        f"or `rowrelay cancel {shell_arg(state)}` (it cancels every response of the batch in flight), then "
        "run with "
        f"{switch_of('resend_edited')}"
    )


def changed_rows_problem(changed: list[str], *, deployed: bool = False) -> str:
    """What a refusal says of rows a create was sent for whose input changed under their key. `deployed`:
    the run is a deployment's, which takes no options of its own: every scheduled run would be refused
    alike until the deployment is served again with the option (or the old input is back)."""
    them = "it" if len(changed) == 1 else "them"
    said = (
        f"{rows(len(changed))} changed input since this batch sent {them} (e.g. {', '.join(changed[:5])}); "
    )
    if deployed:
        return said + (
            f"restore the old input, or stop this `rowrelay deploy` and deploy again with {RESEND_OPTION} "
            f"to send only {them} again, as edited (paid for again; later edits too, while it is so "
            "served), or with a new --state directory for the new input; until then every scheduled run "
            "is refused alike"
        )
    return said + (
        f"use a new {option_of('state')} directory for the new input, or restore the old one, or "
        f"{switch_of('resend_edited')} to send only {them} again, as edited (paid for again)"
    )
