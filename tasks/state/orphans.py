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

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from rowrelay.tasks.records import Policy, RowStatus, rows
from rowrelay.tasks.state.schema import RowState

__all__ = [
    "ANSWER_TIMEOUT",
    "Change",
    "OrphanFate",
    "OrphanPolicy",
    "orphan_changes",
    "orphan_fate",
    "orphan_note",
    "orphans_next",
]

OrphanPolicy = Policy

OrphanFate = Literal["sent again", "held", "given up"]
"""What a run does with an orphaned row: sends it again, holds it for a person (`rowrelay retry`), or
sends it no more (its attempts are used up; `rowrelay retry` gives it more)."""

ANSWER_TIMEOUT = "answer_timeout"
"""The `error_code` of an orphan whose create, fully sent, timed out waiting for its answer, which the
server writes whole before it answers (Chat Completions: `llm.chat_timeouts`). The server most likely wrote
it and bills it, and the same prompt would most likely take as long again: such a row is held for a person
(`rowrelay retry`, once they have raised the timeout), whatever the policy, not paid for again and again
up to its attempts (a trial's slow answers: three paid creates a row, no answer kept)."""


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


def orphan_fate(
    attempts: int, max_attempts: int, policy: OrphanPolicy, code: str | None = None
) -> OrphanFate:
    """What a run does with an orphaned row that has spent `attempts`: the one decision, read by the run
    plan (`wants_submit`), the row's note, and `status`'s and `cancel`'s lines (which said "sends them
    again" under `ROWRELAY_ORPHAN_POLICY=hold`, and for rows whose attempts were used up). `code`: the
    row's `error_code` (`ANSWER_TIMEOUT` holds it).

    The callers that pass no code (`orphans_next`, for `status` and `cancel`; the open's `_recovery`)
    speak of rows left `submitting`, and are right only by an invariant: such a row holds no error code
    (writing a row `submitting` clears it, `changes.apply_change`), and the open that makes it an orphan
    sets none, so the plan (`plan.wants_submit`, which passes the row's code) decides the same fate. A
    caller speaking of rows that may hold a code (an `orphaned` row a run recorded, `run.record`) must
    pass it."""
    if policy == "hold" or code == ANSWER_TIMEOUT:
        return "held"
    if attempts >= max_attempts:
        return "given up"
    return "sent again"


def orphan_note(
    what: str, attempts: int, max_attempts: int, policy: OrphanPolicy, code: str | None = None
) -> str:
    """The note of a row whose create may have started a job nobody can see: what happened, and whether
    a run will send it again (`orphan_fate`; `code`, the row's `error_code`)."""
    then = {
        "held": "held for `rowrelay retry`",
        "given up": f"gave up after {attempts} attempts; `rowrelay retry` sends it again",
        "sent again": "it will be sent again",
    }[orphan_fate(attempts, max_attempts, policy, code)]
    return f"orphaned: {what}; it may have started a job rowrelay cannot see; {then}"


def orphans_next(attempts: Iterable[int], max_attempts: int, policy: OrphanPolicy) -> str:
    """What the next run does with orphaned rows that have spent `attempts` each (one per row), in the
    words after "the next run " (`orphan_fate`): "sends those 3 rows again within their attempts, each
    perhaps paid for twice, counted on its row; ROWRELAY_ORPHAN_POLICY=hold keeps them for `rowrelay
    retry`", "holds that row for `rowrelay retry`, as ROWRELAY_ORPHAN_POLICY=hold asks", "sends those 2
    rows no more, their attempts used up: `rowrelay retry` makes them eligible again"."""
    fates = Counter(orphan_fate(spent, max_attempts, policy) for spent in attempts)
    mixed = len(fates) > 1

    def _those(count: int) -> str:
        if mixed:
            return f"{count:,} of them"
        return "that row" if count == 1 else f"those {rows(count)}"

    said: list[str] = []
    if sent := fates["sent again"]:
        its, each, them = ("its", "", "it") if sent == 1 else ("their", "each ", "them")
        said.append(
            f"sends {_those(sent)} again within {its} attempts, {each}perhaps paid for twice, counted on its "
            f"row; ROWRELAY_ORPHAN_POLICY=hold keeps {them} for `rowrelay retry`"
        )
    if held := fates["held"]:
        said.append(f"holds {_those(held)} for `rowrelay retry`, as ROWRELAY_ORPHAN_POLICY=hold asks")
    if spent := fates["given up"]:
        its, them = ("its", "it") if spent == 1 else ("their", "them")
        said.append(
            f"sends {_those(spent)} no more, {its} attempts used up: `rowrelay retry` makes {them} eligible "
            "again"
        )
    return "; and ".join(said)
