"""The run plan over columns decides what `wants_submit` decides row by row, and planning from the
prepared columns builds the table the per-row tuples built."""

from __future__ import annotations

import random
from collections.abc import Collection
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.dataset import InputSpec, prepare
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.records import HOLDING_TOKEN, RowStatus
from rowrelay.tasks.run import RowPolicy, plan_batch, send_order, wants_submit
from rowrelay.tasks.state import StateTable, load
from tests.support.state import FakeClock, rows


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def batch_dir(tmp_path: Path) -> Path:
    return tmp_path / "batch"


_ENDS: list[RowStatus] = [
    "pending", "submitting", "queued", "in_progress", "completed", "failed", "incomplete", "cancelled",
    "expired", "orphaned",
]  # fmt: skip
_ERRORS = [
    None, "rejected", "bad_input", "transient", "response_failed", "maybe_created",
    "cancelled", "interrupted",
]  # fmt: skip


def _move(table: StateTable, key: str, end: RowStatus, rng: random.Random) -> None:
    """Take a pending row to `end` along allowed moves, with some attempts and error type."""
    if end == "pending":
        return
    table.transition(key, "submitting", attempts=rng.randint(1, 4))
    if end in ("queued", "in_progress", "expired"):  # a queued row holds its response id (state.invariants)
        table.transition(key, "queued", response_id=f"resp_{key}")
    if end != "submitting":
        table.transition(key, end, error_type=rng.choice(_ERRORS))


def _mixed_table(directory: Path, clock: FakeClock, n: int = 120) -> StateTable:
    """Rows in every status; half moved before a reopen (in the Arrow base), half after (in the overlay)."""
    rng = random.Random(7)
    with StateTable.open(directory, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(n))
        for key, _, _ in rows(n // 2):
            _move(table, key, rng.choice(_ENDS), rng)
    table = StateTable.open(directory, clock=clock, orphan_policy="hold")  # its submitting rows: orphaned
    for key, _, _ in rows(n - n // 2, start=n // 2):
        _move(table, key, rng.choice(_ENDS), rng)
    return table


def _one_by_one(table: StateTable, policy: RowPolicy, scope: Collection[str] | None) -> list[str]:
    """The plan as it was decided before: every row materialized and asked."""
    every = [row for row in table.rows() if scope is None or row.row_key in scope]
    holding = [row.row_key for row in every if row.status in HOLDING_TOKEN]
    return holding + [row.row_key for row in every if wants_submit(row, policy)]


@pytest.mark.parametrize("max_attempts", [1, 2, 3, 5])
@pytest.mark.parametrize("orphans", ["resubmit", "hold"])
@pytest.mark.parametrize("expired", ["resubmit", "hold"])
def test_send_order_asks_wants_submit(
    batch_dir: Path, clock: FakeClock, max_attempts: int, orphans: str, expired: str
) -> None:
    table = _mixed_table(batch_dir, clock)
    assert {row.status for row in table.rows()} >= set(_ENDS) - {"submitting"}
    policy = RowPolicy("b1", "m", max_attempts=max_attempts, orphan_policy=orphans, expired_policy=expired)  # type: ignore[arg-type]
    keys = [key for key, _, _ in rows(120)]
    for scope in (None, set(keys[::3]), [*keys[40:80], "no-such-row"], []):
        assert send_order(table, policy, scope) == _one_by_one(table, policy, scope)
    table.close()


@pytest.mark.parametrize(
    ("error_type", "attempts", "sent"),
    [("interrupted", 1, True), ("interrupted", 2, True), ("interrupted", 3, False), ("cancelled", 1, False),
     (None, 1, False)],
)  # fmt: skip
def test_of_cancelled_rows_only_those_a_stopping_run_cut_short_are_sent_again(
    batch_dir: Path, clock: FakeClock, error_type: str | None, attempts: int, sent: bool
) -> None:
    """A stopped run's cancels (`interrupted`) are sent again within the row's attempts; a cancel asked
    for (`rowrelay cancel`), or one the server made, ends the row until `rowrelay retry`."""
    policy = RowPolicy("b1", "m", max_attempts=3)
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(1))
        key = rows(1)[0][0]
        table.transition(key, "submitting", attempts=attempts)
        table.transition(key, "queued", response_id="resp_1")
        table.transition(key, "cancelled", error_type=error_type)
        assert wants_submit(table.get(key), policy) is sent
        assert send_order(table, policy) == ([key] if sent else [])


def _frame() -> pd.DataFrame:
    """Repeated inputs (hash keys with -2, -3) and blank prompts (bad rows)."""
    return pd.DataFrame({"p": ["a", "b", "a", "", None, "a", "c", "  ", "b"]})


def test_planning_from_columns_builds_the_table_tuples_built(tmp_path: Path, clock: FakeClock) -> None:
    prepared = prepare(_frame(), InputSpec(prompt_column="p"))
    policy = RowPolicy("b", "m")
    with StateTable.open(tmp_path / "columns", batch_id="b", clock=clock) as table:
        plan = plan_batch(table, prepared, policy, shard_size=2)
    with StateTable.open(tmp_path / "tuples", batch_id="b", clock=clock) as table:
        table.add_pending([(r.row_key, r.row_index, r.input_hash) for r in prepared.rows])
        for key, reason in prepared.bad_rows.items():
            table.transition(key, "failed", error_type="bad_input", error_message=reason)
    columns, tuples = load(tmp_path / "columns"), load(tmp_path / "tuples")
    facts = ["row_key", "row_index", "input_hash", "status", "error_type", "error_message", "attempts"]
    pd.testing.assert_frame_equal(columns[facts], tuples[facts])
    assert (plan.to_send, plan.bad_rows, plan.resumed, plan.already_done) == (6, 3, 0, 0)
    assert [key for shard in plan.shards for key in shard.keys] == [
        r.row_key for r in prepared.rows if r.row_key not in prepared.bad_rows
    ]


def test_a_second_plan_adds_only_unseen_rows(batch_dir: Path, clock: FakeClock) -> None:
    policy = RowPolicy("b", "m")
    first = prepare(_frame().iloc[:5], InputSpec(prompt_column="p"))
    with StateTable.open(batch_dir, batch_id="b", clock=clock) as table:
        plan_batch(table, first, policy, shard_size=10)
        table.transition(first.rows[0].row_key, "submitting", attempts=1)
        table.transition(first.rows[0].row_key, "completed", output_text="done")
    whole = prepare(_frame(), InputSpec(prompt_column="p"))
    with StateTable.open(batch_dir, clock=clock) as table:
        plan = plan_batch(table, whole, policy, shard_size=10)
        assert len(table) == 9
        assert table.get(whole.rows[0].row_key).status == "completed"
    assert (plan.already_done, plan.to_send, plan.bad_rows) == (1, 5, 3)


def _asks(rows: int) -> tuple[pd.DataFrame, InputSpec, RowPolicy]:
    """An input of `rows` prompts keyed k0, k1, ... (its id column), its spec and a policy."""
    frame = pd.DataFrame({"id": [f"k{i}" for i in range(rows)], "p": [f"ask {i}" for i in range(rows)]})
    return frame, InputSpec(prompt_column="p", id_column="id"), RowPolicy("b", "m")


def test_a_key_whose_input_changed_after_it_was_sent_is_refused(batch_dir: Path, clock: FakeClock) -> None:
    """(A row never sent takes its edited input: tests/run/test_edited_inputs.py.)"""
    frame, spec, policy = _asks(8)
    with StateTable.open(batch_dir, batch_id="b", clock=clock) as table:
        plan_batch(table, prepare(frame, spec), policy, shard_size=10)
        for key in ("k2", "k6"):
            table.transition(key, "submitting", attempts=1)
            table.transition(key, "completed", output_text="done")
    frame.loc[[6, 2, 3], "p"] = "something else"
    frame.loc[len(frame)] = ["k8", "a new row is fine"]
    with StateTable.open(batch_dir, clock=clock) as table:
        with pytest.raises(
            UsageError, match=r"^2 rows changed input since this batch sent them \(e\.g\. k2, k6\)"
        ):
            plan_batch(table, prepare(frame, spec), policy, shard_size=10)
        assert len(table) == 8  # refused before anything was added


def test_rows_the_input_no_longer_holds_are_not_sent_and_those_without_a_token_are_left_alone(
    batch_dir: Path, clock: FakeClock
) -> None:
    frame, spec, policy = _asks(6)
    with StateTable.open(batch_dir, batch_id="b", clock=clock) as table:
        plan_batch(table, prepare(frame, spec), policy, shard_size=10)
        table.transition("k1", "submitting", attempts=1)
        table.transition("k1", "completed", output_text="done")
        _holding_on(table, "k2", None)
        table.transition("k3", "submitting", attempts=1)
        table.transition("k3", "failed", error_type="rejected")
    kept = frame[frame["id"].isin(["k0", "k4"])]  # k1, k3, k5 (pending) removed; k2 too, mid-flight
    with StateTable.open(batch_dir, clock=clock) as table:
        plan = plan_batch(table, prepare(kept, spec), policy, shard_size=10)
    assert [key for shard in plan.shards for key in shard.keys] == ["k2", "k0", "k4"]  # k2's job still runs
    assert plan.left_alone == {"completed": 1, "failed": 1, "pending": 1}
    assert (plan.to_send, plan.resumed, plan.already_done) == (2, 1, 0)


def test_the_plan_says_which_columns_rows_are_sent_without(
    batch_dir: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    frame = pd.DataFrame({"id": ["k0", "k1", "k2"], "name": ["Ann", None, ""], "note": ["a", "b", "c"]})
    with StateTable.open(batch_dir, batch_id="b", clock=clock) as table:
        plan = plan_batch(
            table,
            prepare(frame, InputSpec(template="Hi {name}: {note}", id_column="id")),
            RowPolicy("b", "m"),
            10,
        )
    assert plan.to_send == 3
    said = [r.getMessage() for r in caplog.records if r.name == "rowrelay.plan"]
    assert said == [
        "column 'name' is empty in 2 of the 3 rows sent (first: key 'k1'): sent as empty text in their "
        "prompts"
    ]


def test_a_resume_warns_only_of_the_rows_it_sends_with_an_empty_column(
    batch_dir: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    frame = pd.DataFrame({"id": [f"k{i}" for i in range(5)], "name": ["", "Ann", None, "Bo", ""]})
    spec, policy = InputSpec(template="Hi {name}", id_column="id"), RowPolicy("b", "m")

    def said_by_a_plan(limit: int | None = None) -> list[str]:
        caplog.clear()
        with StateTable.open(batch_dir, batch_id="b", clock=clock) as table:
            plan_batch(table, prepare(frame, spec), policy, 10, limit=limit)
        return [r.getMessage() for r in caplog.records if r.name == "rowrelay.plan"]

    assert said_by_a_plan(limit=2) == [
        "column 'name' is empty in 1 of the 2 rows sent (first: key 'k0'): sent as empty text in their "
        "prompts"
    ]
    with StateTable.open(batch_dir, batch_id="b", clock=clock) as table:  # the first run sent k0 and k1
        for key in ("k0", "k1"):
            table.transition(key, "submitting", attempts=1)
            table.transition(key, "completed", response_id=f"resp_{key}")
    assert said_by_a_plan() == [
        "column 'name' is empty in 2 of the 3 rows sent (first: key 'k2'): sent as empty text in their "
        "prompts"
    ]
    with StateTable.open(batch_dir, batch_id="b", clock=clock) as table:
        for key in ("k2", "k3", "k4"):
            table.transition(key, "submitting", attempts=1)
            table.transition(key, "completed", response_id=f"resp_{key}")
    assert said_by_a_plan() == []  # nothing left to send: nothing to warn of


def _holding_on(table: StateTable, key: str, endpoint: str | None) -> None:
    table.transition(key, "submitting", attempts=1, endpoint=endpoint)
    table.transition(key, "queued", response_id=f"resp_{key}")


def test_rows_to_send_are_spread_by_rpm_and_tokens_stay_where_they_were_made(
    batch_dir: Path, clock: FakeClock
) -> None:
    frame, spec, policy = _asks(20)
    with StateTable.open(batch_dir, batch_id="b", clock=clock) as table:
        plan_batch(table, prepare(frame, spec), policy, shard_size=100)
        _holding_on(table, "k3", "west")
        _holding_on(table, "k4", "east")
        plan = plan_batch(
            table, prepare(frame, spec), policy, shard_size=5, endpoints={"east": 300, "west": 100}
        )
    on = {
        name: [key for shard in plan.shards if shard.endpoint == name for key in shard.keys]
        for name in ("east", "west")
    }
    assert (on["east"][0], on["west"][0]) == ("k4", "k3")  # a token leads, on the endpoint that made it
    assert (len(on["east"]) - 1, len(on["west"]) - 1) == (
        14,
        4,
    )  # the 18 to send, 3:1 by rpm (largest remainders)
    assert sorted(on["east"] + on["west"]) == sorted(f"k{i}" for i in range(20))
    assert [shard.number for shard in plan.shards] == list(range(len(plan.shards)))
    assert all(len(shard.keys) <= 5 for shard in plan.shards)


@pytest.mark.parametrize(
    ("made_on", "endpoints", "message"),
    [
        (
            "gone",
            {"east": 10},
            r"^rows hold responses this run cannot reach \(1 on endpoint 'gone'\): .* list in",
        ),
        (None, {"east": 10}, r"^rows hold responses this run cannot reach \(1 created without --endpoints\)"),
        ("east", None, r"^rows hold responses this run cannot reach \(1 on endpoint 'east'\): .* run with"),
    ],
)
def test_a_token_from_an_endpoint_not_listed_is_refused_before_anything_is_sent(
    batch_dir: Path, clock: FakeClock, made_on: str | None, endpoints: dict[str, int] | None, message: str
) -> None:
    frame = pd.DataFrame({"id": ["k0", "k1"], "p": ["a", "b"]})
    spec, policy = InputSpec(prompt_column="p", id_column="id"), RowPolicy("b", "m")
    with StateTable.open(batch_dir, batch_id="b", clock=clock) as table:
        plan_batch(table, prepare(frame, spec), policy, shard_size=100)
        _holding_on(table, "k0", made_on)
        with pytest.raises(UsageError, match=message):
            plan_batch(table, prepare(frame, spec), policy, shard_size=100, endpoints=endpoints)


def test_a_limit_sends_the_first_rows_to_send_and_leaves_the_rest_planned(
    batch_dir: Path, clock: FakeClock
) -> None:
    frame, spec, policy = _asks(10)
    with StateTable.open(batch_dir, batch_id="b", clock=clock) as table:
        plan_batch(table, prepare(frame, spec), policy, shard_size=10)
        table.transition("k0", "submitting", attempts=1)
        table.transition("k0", "completed", output_text="done")
        _holding_on(table, "k5", None)
        table.transition("k1", "submitting", attempts=1)
        table.transition("k1", "failed", error_type="transient")  # to send again
    with StateTable.open(batch_dir, clock=clock) as table:
        plan = plan_batch(table, prepare(frame, spec), policy, shard_size=10, limit=3)
        assert len(table) == 10  # every input row stays planned: the batch is the whole input's
    # k5's job runs whatever the limit; then the first three to send, in input order
    assert [key for shard in plan.shards for key in shard.keys] == ["k5", "k1", "k2", "k3"]
    assert plan.held_back == {"pending": 5}  # k4, k6-k9
    assert plan.left_alone == {"pending": 5}  # the run's progress leaves them out
    assert (plan.to_send, plan.resumed, plan.already_done) == (3, 1, 1)
    with StateTable.open(batch_dir, clock=clock) as table:
        everything = plan_batch(table, prepare(frame, spec), policy, shard_size=10, limit=100)
    assert (everything.to_send, everything.held_back, everything.left_alone) == (8, {}, {})
