"""Rows the batch sent whose input was edited, sent again under their new text when the run is told to
(`plan_batch(resend_edited=True)`, `--resend-edited`): back to pending, their old text's answer cleared,
what they cost and the creates they made still counted; a row whose response may still be running for its
old text refused even so, nothing written (`run.edited_inputs.resend_edits`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.dataset import InputSpec, prepare
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.records import RowStatus
from rowrelay.tasks.run import RowPolicy, plan_batch
from rowrelay.tasks.state import StateTable
from tests.support.state import FakeClock

SPEC = InputSpec(prompt_column="p", id_column="id")
POLICY = RowPolicy("b", "m")
ASKED = ["ask 0", "ask 1", "ask 2"]
EDITED = ["ask 0", "ask 1, a typo fixed", "ask 2"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _frame(prompts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"k{i}" for i in range(len(prompts))], "p": prompts})


def _sent_keys(directory: Path, clock: FakeClock, prompts: list[str], resend: bool = True) -> list[str]:
    with StateTable.open(directory, batch_id="b", clock=clock) as table:
        plan = plan_batch(table, prepare(_frame(prompts), SPEC), POLICY, 10, resend_edited=resend)
    return [key for shard in plan.shards for key in shard.keys]


def _as_written(table: StateTable, key: str) -> dict[str, object]:
    """A row's fields but those a reload stamps (the file's version and writer): what a change alters."""
    row = table.get(key)._asdict()
    return {name: value for name, value in row.items() if name not in ("version", "writer")}


def _answered(table: StateTable, key: str) -> None:
    table.transition(key, "submitting")
    table.transition(key, "queued", response_id=f"resp_{key}", attempts=1)
    table.transition(key, "completed", output_text="an answer", input_tokens=9, cost_usd=0.25)


def _completed(table: StateTable) -> None:
    _answered(table, "k1")


def _failed_for_good(table: StateTable) -> None:
    """A refusal is never sent again for the same text: the new one may well be answered."""
    table.transition("k1", "submitting")
    table.transition("k1", "queued", response_id="resp_k1", attempts=1)
    table.transition("k1", "failed", error_type="refusal", error_message="I can't", cost_usd=0.25)


def _orphaned(table: StateTable) -> None:
    table.transition("k1", "submitting")
    table.transition("k1", "orphaned", attempts=1, orphans=1, error_type="maybe_created", cost_usd=0.25)


def _used_every_attempt(table: StateTable) -> None:
    for attempt in (1, 2, 3):
        table.transition("k1", "submitting")
        table.transition("k1", "queued", response_id=f"resp_{attempt}", attempts=attempt)
        table.transition("k1", "failed", error_type="response_failed", cost_usd=0.25)


@pytest.mark.parametrize(
    "sent", [_completed, _failed_for_good, _orphaned, _used_every_attempt], ids=lambda f: f.__name__
)
def test_a_sent_row_edited_is_sent_again_as_edited_its_counts_kept(
    tmp_path: Path, clock: FakeClock, sent: Callable[[StateTable], None], caplog: pytest.LogCaptureFixture
) -> None:
    """It was refused, and the only way on, a new --state, sent and paid for every row again. Told to,
    the run sends it alone again: pending under its new hash, its old answer or failure gone, its cost and
    creates (attempts, orphans) kept, so the server's jobs per row can still be held to them."""
    batch = tmp_path / "batch"
    _sent_keys(batch, clock, ASKED)
    with StateTable.open(batch, clock=clock) as table:
        _answered(table, "k0")
        _answered(table, "k2")
        sent(table)
        before = table.get("k1")
        unchanged = {key: _as_written(table, key) for key in ("k0", "k2")}
    assert _sent_keys(batch, clock, EDITED) == ["k1"]
    with StateTable.open(batch, clock=clock) as table:
        row = table.get("k1")
        assert row.input_hash == prepare(_frame(EDITED), SPEC).rows[1].input_hash != before.input_hash
        assert (row.status, row.response_id, row.output_text, row.error_type, row.error_message) == (
            "pending", None, None, None, None,
        )  # fmt: skip
        assert (row.attempts, row.orphans, row.cost_usd) == (before.attempts, before.orphans, before.cost_usd)
        assert {key: _as_written(table, key) for key in ("k0", "k2")} == unchanged
    said = [r.getMessage() for r in caplog.records if r.name == "rowrelay.plan"]
    dropped = ", 1 earlier answer dropped" if sent is _completed else ""
    assert said == [
        "1 row this batch sent took its edited input, and is planned again under it (--resend-edited; e.g. "
        "k1): paid for again once sent (a --limit or a cost cap may leave some to a later run)"
        f"{dropped}; what it cost so far stays counted"
    ]
    assert _sent_keys(batch, clock, EDITED, resend=False) == ["k1"]  # taken once: not refused, not again


def test_without_the_option_the_refusal_names_it(tmp_path: Path, clock: FakeClock) -> None:
    batch = tmp_path / "batch"
    _sent_keys(batch, clock, ASKED)
    with StateTable.open(batch, clock=clock) as table:
        _answered(table, "k1")
    with pytest.raises(UsageError) as refused:
        _sent_keys(batch, clock, EDITED, resend=False)
    assert str(refused.value) == (
        "1 row changed input since this batch sent it (e.g. k1); use a new --state directory for the new "
        "input, or restore the old one, or --resend-edited to send only it again, as edited (paid for again)"
    )


@pytest.mark.parametrize("status", ["queued", "in_progress"])
def test_a_row_still_waiting_on_its_old_text_is_refused_nothing_written(
    tmp_path: Path, clock: FakeClock, status: RowStatus
) -> None:
    """Sent again now, the batch would pay for both, and the old response's answer could be recorded
    for the new text: refused before anything is written, naming the ways on. A row never sent that was
    edited too is not taken either: the refused run writes nothing."""
    batch = tmp_path / "batch"
    _sent_keys(batch, clock, ASKED)
    with StateTable.open(batch, clock=clock) as table:
        table.transition("k1", "submitting")
        table.transition("k1", "queued", response_id="resp_k1", attempts=1)
        table.transition("k1", status)
        before = table.latest()
    with pytest.raises(UsageError) as refused:
        _sent_keys(batch, clock, ["ask 0", "ask 1, a typo fixed", "ask 2, edited too"])
    assert str(refused.value) == (
        "1 row changed input while a response to its earlier text may still be running (e.g. k1): sent "
        "again now, both would be paid for, and the earlier one's answer could land on the new text. "
        f"Resume the batch over its earlier input to collect it, or `rowrelay cancel {batch}` (it cancels "
        "every response of the batch in flight), then run with --resend-edited"
    )
    with StateTable.open(batch, clock=clock) as table:
        columns = ["row_key", "input_hash", "status", "attempts"]
        assert table.latest().select(columns).equals(before.select(columns))


def test_a_resent_row_keeps_what_its_old_answer_was_billed_for_and_nothing_else_of_it(
    tmp_path: Path, clock: FakeClock
) -> None:
    """What a resend clears is what a create clears (`changes.PER_RESPONSE`) but what the old response was
    billed for (tokens, tool calls, tier, endpoint), kept as `cost_usd` is until the next create."""
    batch = tmp_path / "batch"
    _sent_keys(batch, clock, ASKED)
    with StateTable.open(batch, clock=clock) as table:
        table.transition("k1", "submitting")
        table.transition("k1", "queued", response_id="resp_k1", attempts=1, sequence_number=4)
        table.transition(
            "k1", "completed", output_text="an answer", input_tokens=9, output_tokens=5, reasoning_tokens=2,
            cached_input_tokens=1, tool_calls=3, service_tier="flex", reasoning_summary="thought",
            citations='[{"url": "u"}]', logprobs="[]", previous_response_ids='["resp_0"]', cost_usd=0.25,
        )  # fmt: skip
    assert _sent_keys(batch, clock, EDITED) == ["k0", "k1", "k2"]  # k0, k2 never sent: pending
    with StateTable.open(batch, clock=clock) as table:
        row = table.get("k1")
    billed = ("input_tokens", "output_tokens", "reasoning_tokens", "cached_input_tokens", "tool_calls")
    assert [getattr(row, name) for name in (*billed, "service_tier", "cost_usd")] == [
        9,
        5,
        2,
        1,
        3,
        "flex",
        0.25,
    ]
    answer = (
        "response_id", "sequence_number", "output_text", "completed_at", "reasoning_summary", "citations",
        "logprobs", "previous_response_ids",
    )  # fmt: skip
    assert {name: getattr(row, name) for name in answer} == dict.fromkeys(answer)
