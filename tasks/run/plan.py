"""The run plan: the one decision of which rows a run sends, and in what order.

    plan = plan_batch(table, prepared, policy, shard_size=1000)   # rows holding a token lead
    if wants_submit(table.get(key), policy): ...                   # the driver asks the same question

Rows holding a continuation token are waited on first (their jobs already run and are paid for);
then come the rows `wants_submit` accepts, in input order. Everything that asks "is this row sent
(again)?" (the plan, the runner, the row driver) asks `wants_submit`; `records.SENDABLE` names the
statuses it may say yes to.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.dataset import PreparedInput
from rowrelay.tasks.llm.structured import OutputSchema
from rowrelay.tasks.records import (
    DEFAULT_MAX_ATTEMPTS,
    HOLDING_TOKEN,
    POLL_STREAMS,
    SENDABLE,
    Policy,
    RowStatus,
    WaitMode,
    cancel_sent_again,
    failed_sent_again,
    rows,
)
from rowrelay.tasks.run.ceiling_again import warn_if_cut_again
from rowrelay.tasks.run.edited_inputs import (
    EDIT_FACTS,
    edited_rows,
    refuse_sent_edits,
    resend_edits,
    take_edits,
)
from rowrelay.tasks.run.rekeyed_rows import REKEY_FACTS, refuse_rekeyed
from rowrelay.tasks.run.shards import Shard, cut_shards
from rowrelay.tasks.state import RowState, StateTable
from rowrelay.tasks.state.input_order import record_input_order
from rowrelay.tasks.state.left_out import record_left_out
from rowrelay.tasks.state.orphans import orphan_fate
from rowrelay.tasks.state.results import in_input

log = logging.getLogger("rowrelay.plan")


@dataclass(frozen=True)
class RowPolicy:
    """How rows are sent and retried; the same for every row of a run."""

    batch_id: str
    model: str
    instructions: str | None = None
    mode: WaitMode = "poll"
    poll_streams: int = POLL_STREAMS
    """Poll mode: creates streamed and followed at once (`run.pace.Pace.streams`); 0 polls every row."""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_output_tokens: int | None = None
    queued_timeout: float = 900.0
    give_up_after: float = 0.0
    """Seconds without an answer from the server, while rows try, before the run stops (0: never)."""
    orphan_policy: Policy = "resubmit"
    expired_policy: Policy = "resubmit"
    output_schema: OutputSchema | None = None
    """Structured outputs: every answer must be JSON valid against it (a row whose answer is not fails)."""
    service_tier: str | None = None
    reasoning_effort: str | None = None
    temperature: float | None = None
    reasoning_summary: str | None = None
    tools: tuple[Mapping[str, Any], ...] = ()
    max_tool_calls: int | None = None
    image_detail: str | None = None
    top_logprobs: int | None = None
    emulated: bool = False
    """The server is an emulator: its responses cost nothing, and die with it (a restarted embedded
    emulator holds none of them), so a response it does not find is sent again, whatever its age."""


def wants_submit(row: RowState, policy: RowPolicy) -> bool:
    """Whether a run should (re)send this row now: the one place this is decided."""
    return _wants(row.status, row.attempts, row.error_type, row.error_code, policy)


_FACTS = ("status", "attempts", "error_type", "error_code")
"""All `wants_submit` reads of a row: so over many rows it is asked once per distinct combination."""


def _wants(
    status: RowStatus, attempts: int, error_type: str | None, error_code: str | None, policy: RowPolicy
) -> bool:
    if status not in SENDABLE:
        return False
    if status == "pending":
        return True
    if status == "orphaned":  # decided where its note, status and cancel say it
        return orphan_fate(attempts, policy.max_attempts, policy.orphan_policy, error_code) == "sent again"
    if status == "cancelled":  # decided where `status`'s projection reads it too
        return cancel_sent_again(error_type, attempts, policy.max_attempts)
    if status == "failed":  # decided where `status`'s projection reads it too
        return failed_sent_again(error_type, attempts, policy.max_attempts)
    return attempts < policy.max_attempts and policy.expired_policy == "resubmit"  # expired


def send_order(table: StateTable, policy: RowPolicy, scope: Collection[str] | None = None) -> list[str]:
    """Keys to drive, rows holding a token first, then the rows to send; within `scope` if given."""
    holding, fresh = _holding_and_fresh(table, policy, scope)
    return [*holding, *fresh]


def _holding_and_fresh(
    table: StateTable, policy: RowPolicy, scope: Collection[str] | None
) -> tuple[list[str], list[str]]:
    """Decided over the table's columns: a `RowState` per row would cost ~20 s a million rows."""
    holding = table.keys_with_status(HOLDING_TOKEN, among=scope)
    fresh = table.keys_with_status(SENDABLE, _FACTS, lambda rows: _accepted(rows, policy), among=scope)
    return holding, fresh


def _accepted(rows: pa.Table, policy: RowPolicy) -> npt.NDArray[np.bool_]:
    """Per row, whether `wants_submit` says yes: asked once per distinct combination of its facts."""
    mask = np.zeros(rows.num_rows, dtype=bool)
    for facts in (
        rows.select(list(_FACTS)).group_by(list(_FACTS), use_threads=False).aggregate([]).to_pylist()
    ):
        if _wants(facts["status"], facts["attempts"], facts["error_type"], facts["error_code"], policy):
            mask |= _matching(rows, facts)
    return mask


def _matching(rows: pa.Table, facts: dict[str, Any]) -> npt.NDArray[np.bool_]:
    """Which rows have exactly these values (None matching null)."""
    match = np.ones(rows.num_rows, dtype=bool)
    for name, value in facts.items():
        column: Any = rows.column(name)
        same = pc.is_null(column) if value is None else pc.fill_null(pc.equal(column, value), False)
        match &= same.to_numpy(zero_copy_only=False)
    return match


@dataclass(frozen=True)
class BatchPlan:
    """What a run will do: shards of row keys, each on one endpoint, rows holding a token (resumed first)
    leading."""

    shards: list[Shard]
    resumed: int
    to_send: int
    already_done: int
    bad_rows: int
    left_alone: dict[RowStatus, int] = field(default_factory=dict)
    """Rows per status that the state holds and this run neither sends nor waits on: rows its input no
    longer holds and that hold no token, and rows `held_back`. The run's progress leaves them out, as
    its report does."""
    held_back: dict[RowStatus, int] = field(default_factory=dict)
    """Rows to send, per status, that the run's `limit` leaves to a later run."""


def plan_batch(
    table: StateTable,
    prepared: PreparedInput,
    policy: RowPolicy,
    shard_size: int,
    endpoints: Mapping[str, int] | None = None,
    limit: int | None = None,
    resend_edited: bool = False,
) -> BatchPlan:
    """Add unseen rows as pending, fail bad rows alone, and cut the work into shards. A row whose input
    was edited since it was planned takes the edit if it was never sent, and is refused (`UsageError`)
    if it was (`edited_inputs`), as are rows sent that the input holds under other ids (`rekeyed_rows`);
    the keys of the state's rows the input does not hold are noted in the
    run's record for `status` (`state.left_out`).

    With `endpoints` (each one's rpm, in order), rows to send are spread across them by rpm and a row
    holding a token goes to the endpoint that created it (`shards.cut_shards`: a `UsageError` when that
    endpoint is not listed); without, a row holding a token from an endpoint is refused the same way.

    With `limit`, only the first `limit` rows to send (in input order) are sent; the others stay as they
    are for a later run (`held_back`). Every input row is planned all the same, so the batch is the whole
    input's: a later run without a limit sends the rest and never these again. Rows holding a token are
    waited on whatever the limit: their jobs run and are paid for."""
    _take_edited_inputs(table, prepared, resend_edited)  # before the bad rows: an edited row may be bad again
    table.add_pending(prepared.planned())
    for key, reason in prepared.bad_rows.items():
        if table.get(key).status == "pending":
            table.transition(key, "failed", error_type="bad_input", error_message=reason)
    table.flush()
    holding, fresh = _holding_and_fresh(table, policy, None)
    outside = _outside_input(table, prepared)
    left_out = [] if outside is None else outside.column("row_key").to_pylist()
    record_left_out(table.directory, cast(list[str], left_out))  # for `status`, which reads no input
    record_input_order(
        table.directory, table.columns(None, ("row_key", "row_index")), prepared.keys
    )  # `load`
    left_alone: dict[RowStatus, int] = {}
    if outside is not None:
        fresh_keys = pa.array(fresh, type=pa.string())
        kept = fresh_keys.filter(pc.invert(pc.is_in(fresh_keys, outside.column("row_key"))))
        fresh = kept.to_pylist()  # type: ignore[assignment]
        idle = outside.filter(pc.invert(pc.is_in(outside.column("status"), pa.array(list(HOLDING_TOKEN)))))
        statuses: list[RowStatus] = idle.column("status").to_pylist()  # type: ignore[assignment]
        left_alone = dict(Counter(statuses))
    held_back: dict[RowStatus, int] = {}
    if limit is not None and len(fresh) > limit:
        held_back = cast(dict[RowStatus, int], table.counts_of(fresh[limit:]))
        fresh = fresh[:limit]
        left_alone = dict(Counter(left_alone) + Counter(held_back))
    _say_gaps(prepared, fresh)
    warn_if_cut_again(table, fresh, policy.max_output_tokens)  # cut at the same ceiling, paid for again
    where = table.columns(HOLDING_TOKEN, ("row_key", "endpoint"))  # the same rows, in the same order
    keys: list[str] = where.column("row_key").to_pylist()  # type: ignore[assignment]
    names: list[str | None] = where.column("endpoint").to_pylist()
    shards = cut_shards(list(zip(keys, names, strict=True)), fresh, shard_size, endpoints)
    done = table.counts()["completed"] - left_alone.get("completed", 0)
    return BatchPlan(shards, len(holding), len(fresh), done, len(prepared.bad_rows), left_alone, held_back)


def _say_gaps(prepared: PreparedInput, sending: list[str]) -> None:
    """Say which of the template's columns (or of attachments) some of the rows this run sends are
    without: a missing value is sent as empty text (or nothing attached), which a column meant to be
    filled in every row would not want (a blank prompt with nothing attached is not sent). Rows sent by
    an earlier run are not counted again: a resume warns only of its own."""
    if not prepared.gaps or not sending:
        return
    this_run = pa.array(sending, pa.string())
    for name, keys in prepared.gaps.items():
        mine = keys.filter(pc.is_in(keys, value_set=this_run))
        if len(mine):
            sent_as = "as empty text in their prompts"
            for column in prepared.media:
                if name == column.column:
                    sent_as = f"without {'an image' if column.kind == 'image' else 'a file'}"
            log.warning(
                "column %r is empty in %d of the %d rows sent (first: key %r): sent %s",
                name, len(mine), len(sending), mine[0].as_py(), sent_as,
            )  # fmt: skip


def _outside_input(table: StateTable, prepared: PreparedInput) -> pa.Table | None:
    """The state's rows (`row_key`, `status`) that this input no longer holds (removed from the file, or
    the state is another input's), said once; None when there are none. Such a row is not sent: with no
    prompt it would crash, and its result would have no input row to join (`results.results_frame`).
    Those holding a token are still waited on: their jobs run and are paid for."""
    outside = len(table) - len(prepared)  # after `add_pending` the table holds every input key
    if outside <= 0:
        return None
    log.warning(
        "%s of this batch's state %s not in its input (removed from it, or the state is another input's): "
        "not sent, and not in the output",
        rows(outside),
        "is" if outside == 1 else "are",
    )
    state = table.columns(None, ("row_key", "status"))
    return state.filter(pc.invert(in_input(state.column("row_key"), prepared.keys)))


def _take_edited_inputs(table: StateTable, prepared: PreparedInput, resend_edited: bool) -> None:
    """A key whose input changed since it was planned: a row never sent takes the edit, a row a create
    was sent for is refused, as it would mix two inputs' results, unless `resend_edited` sends it again
    under its new text (`edited_inputs`); rows sent that are back under other ids are refused
    (`rekeyed_rows`). Rows changed by another template or instructions, not by their own text, were
    refused before the run wrote its record, with or without `resend_edited` (`flows/spec_changes.py`):
    the state holds no spec to tell the two apart by here."""
    if len(table) == 0:
        return
    edited = edited_rows(table.columns(None, EDIT_FACTS), prepared.planned())
    refuse_sent_edits(edited.sent_rows, table.directory, resend_edited)  # one still running said first
    _refuse_rekeyed(table, prepared)  # before the edits are taken: nothing is written for a refused run
    # Its own check of rows still running finds none here (refused above, and nothing since wrote a row):
    # kept, as it is what makes resend_edits safe to call alone; it filters the edited rows, no I/O.
    resend_edits(table, edited.sent_rows)
    take_edits(table, edited.unsent)


def _refuse_rekeyed(table: StateTable, prepared: PreparedInput) -> None:
    """Refuse rows the batch sent that are in the input under other ids (`rekeyed_rows`): each would be
    planned as new, sent and paid for again. A pair that may be a coincidence (a row deleted, a new one
    asking the same added) is said, and the new row sent."""
    rekeyed = refuse_rekeyed(table.columns(None, REKEY_FACTS), prepared.planned())
    if rekeyed.pairs:
        new, old = rekeyed.pairs[0]
        log.warning(
            "%s new to this batch %s what a row it sent, and the input no longer holds, asked (e.g. id %s, "
            "as id %s): taken for new rows, and sent",
            rows(len(rekeyed.pairs)), "asks" if len(rekeyed.pairs) == 1 else "ask", new, old,
        )  # fmt: skip
