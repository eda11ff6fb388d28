"""A row edited in the input since the batch planned it: taken when no create was ever sent for it,
refused when one was (`run.edited_inputs`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.dataset import InputSpec, prepare
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.run import RowPolicy, plan_batch
from rowrelay.tasks.state import StateTable
from tests.support.state import FakeClock

SPEC = InputSpec(prompt_column="p", id_column="id")
POLICY = RowPolicy("b", "m")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _frame(prompts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"k{i}" for i in range(len(prompts))], "p": prompts})


def _planned(directory: Path, clock: FakeClock, prompts: list[str]) -> None:
    with StateTable.open(directory, batch_id="b", clock=clock) as table:
        plan_batch(table, prepare(_frame(prompts), SPEC), POLICY, shard_size=10)


def _sent_keys(directory: Path, clock: FakeClock, prompts: list[str]) -> list[str]:
    with StateTable.open(directory, clock=clock) as table:
        plan = plan_batch(table, prepare(_frame(prompts), SPEC), POLICY, shard_size=10)
    return [key for shard in plan.shards for key in shard.keys]


def test_rows_never_sent_take_their_edited_input_and_are_sent(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A pending row (a `--limit` left it) and a row that failed unsent for its own input (an empty
    prompt) are edited: the run takes the new text and sends both. It refused them, and the only way on
    it offered, a new --state, sent (and paid for) every completed row again."""
    batch = tmp_path / "batch"
    _planned(batch, clock, ["ask 0", "ask 1", "ask 2", ""])
    with StateTable.open(batch, clock=clock) as table:
        table.transition("k0", "submitting")
        table.transition("k0", "queued", response_id="resp_0", attempts=1)
        table.transition("k0", "completed", output_text="an answer")
        assert table.get("k3").error_type == "bad_input"
        old = {key: table.get(key).input_hash for key in ("k0", "k1", "k2", "k3")}
    edited = ["ask 0", "ask 1", "ask 2, edited", "now filled in"]
    assert _sent_keys(batch, clock, edited) == ["k1", "k2", "k3"]
    said = [r.getMessage() for r in caplog.records if r.name == "rowrelay.plan"]
    assert said == [
        "2 rows never sent took their edited input, and are sent as edited (e.g. k2, k3); 1 of them had "
        "failed for the earlier text"
    ]
    now = {row.row_key: row.input_hash for row in prepare(_frame(edited), SPEC).rows}
    with StateTable.open(batch, clock=clock) as table:
        for key in ("k2", "k3"):
            row = table.get(key)
            assert (row.status, row.input_hash, row.error_type, row.error_message) == (
                "pending",
                now[key],
                None,
                None,
            )
        assert table.get("k0").input_hash == old["k0"]
        assert table.get("k1").input_hash == old["k1"]
        assert table.get("k0").status == "completed"
    assert _sent_keys(batch, clock, edited) == ["k1", "k2", "k3"]  # taken once: nothing said again
    assert len([r for r in caplog.records if r.name == "rowrelay.plan"]) == 1


def test_a_row_edited_blank_again_fails_again_unsent(tmp_path: Path, clock: FakeClock) -> None:
    batch = tmp_path / "batch"
    _planned(batch, clock, ["ask 0", ""])
    assert _sent_keys(batch, clock, ["ask 0", "   "]) == ["k0"]
    with StateTable.open(batch, clock=clock) as table:
        row = table.get("k1")
        assert (row.status, row.error_type, row.attempts) == ("failed", "bad_input", 0)
        assert row.input_hash == prepare(_frame(["ask 0", "   "]), SPEC).rows[1].input_hash


def _completed(table: StateTable) -> None:
    table.transition("k1", "submitting")
    table.transition("k1", "queued", response_id="resp_1", attempts=1)
    table.transition("k1", "completed", output_text="an answer")


def _retried(table: StateTable) -> None:
    """Sent, failed, and made eligible again by `rowrelay retry`: pending, with an attempt spent."""
    table.transition("k1", "submitting")
    table.transition("k1", "queued", response_id="resp_1", attempts=1)
    table.transition("k1", "failed", error_type="response_failed")
    table.transition("k1", "pending")


def _holding(table: StateTable) -> None:
    table.transition("k1", "submitting")
    table.transition("k1", "queued", response_id="resp_1", attempts=1)


def _orphaned(table: StateTable) -> None:
    table.transition("k1", "submitting")
    table.transition("k1", "orphaned", attempts=1, orphans=1, error_type="maybe_created")


def _rejected(table: StateTable) -> None:
    """A create the server refused as invalid (it counts no attempt): it was sent all the same."""
    table.transition("k1", "submitting")
    table.transition("k1", "failed", error_type="rejected", error_message="400")


def _interrupted(table: StateTable) -> None:
    table.transition("k1", "submitting")
    table.transition("k1", "queued", response_id="resp_1", attempts=1)
    table.transition("k1", "cancelled", error_type="interrupted")


@pytest.mark.parametrize(
    "sent", [_completed, _retried, _holding, _orphaned, _rejected, _interrupted], ids=lambda f: f.__name__
)
def test_a_row_a_create_was_sent_for_is_refused_its_edited_input(
    tmp_path: Path, clock: FakeClock, sent: Callable[[StateTable], None]
) -> None:
    """Its answer, or the job that may give one, is its old text's: sent again under the same key, the
    batch would pair one text's answer with another's. Nothing is taken, even of rows never sent."""
    batch = tmp_path / "batch"
    _planned(batch, clock, ["ask 0", "ask 1", "ask 2"])
    with StateTable.open(batch, clock=clock) as table:
        sent(table)
        before = table.latest()
    with StateTable.open(batch, clock=clock) as table:
        with pytest.raises(UsageError) as refused:
            plan_batch(table, prepare(_frame(["ask 0", "ask 1, edited", "ask 2, edited"]), SPEC), POLICY, 10)
        changed = (
            "1 row changed input since this batch sent it (e.g. k1); use a new --state directory for the "
            "new input, or restore the old one, or --resend-edited to send only it again, as edited (paid "
            "for again)"
        )
        # a row that may still be running is said as such first: --resend-edited would be refused for it
        in_flight = "1 row changed input while a response to its earlier text may still be running (e.g. k1)"
        said = str(refused.value)
        assert said.startswith(in_flight) if sent is _holding else said == changed, said
        assert table.latest().select(["input_hash", "status"]).equals(before.select(["input_hash", "status"]))
