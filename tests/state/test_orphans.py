"""A `submitting` row found on reload: `queued` if its response id was durable, else `orphaned`, having
spent an attempt (its create may have started a job), so repeated crashes cannot re-send it without end."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.errors import IllegalTransition
from rowrelay.tasks.records import RowStatus
from rowrelay.tasks.run import RowPolicy, send_order
from rowrelay.tasks.state import RowState, StateTable
from rowrelay.tasks.state.orphans import orphan_changes
from rowrelay.tasks.state.schema import to_datetime
from tests.support.state import FakeClock, rows


def _crash_while_submitting(directory: Path, clock: FakeClock, writer: str = "main") -> None:
    table = StateTable.open(directory, batch_id="b1", writer=writer, clock=clock)
    table.add_pending(rows(3))
    table.transition("row-000000", "submitting")
    table.transition("row-000001", "submitting")
    table.update("row-000001", response_id="resp_1")
    table.flush()
    table.lease.release()  # the process "dies": no close, no compaction


@pytest.mark.parametrize("policy", ["resubmit", "hold"])
def test_orphan_conversion(batch_dir: Path, clock: FakeClock, policy: str) -> None:
    _crash_while_submitting(batch_dir, clock)
    with StateTable.open(batch_dir, clock=clock, orphan_policy=policy) as table:  # type: ignore[arg-type]
        orphan = table.get("row-000000")
        assert orphan.status == "orphaned"
        assert orphan.orphans == 1
        assert orphan.attempts == 1  # the create may have left: it is paid for in attempts
        assert orphan.error_type == "maybe_created"
        assert orphan.note is not None
        assert "no response id" in orphan.note
        recovered = table.get("row-000001")
        assert recovered.status == "queued"
        assert recovered.response_id == "resp_1"
        assert recovered.attempts == 0  # an id was durable: nothing is spent again
        assert recovered.note is not None
        assert "durable" in recovered.note
        plan = RowPolicy(batch_id="b1", model="m", orphan_policy=policy)  # type: ignore[arg-type]
        if policy == "resubmit":  # the token holder is waited on first, then what is sent
            assert send_order(table, plan) == ["row-000001", "row-000000", "row-000002"]
            assert table.transition("row-000000", "submitting").status == "submitting"
        else:
            assert "held" in orphan.note
            assert send_order(table, plan) == ["row-000001", "row-000002"]
            with pytest.raises(IllegalTransition, match="hold"):
                table.transition("row-000000", "submitting")
            table.transition("row-000000", "pending")  # what `rowrelay retry` does


def test_conversion_is_durable_and_counted_once(batch_dir: Path, clock: FakeClock) -> None:
    _crash_while_submitting(batch_dir, clock)
    StateTable.open(batch_dir, clock=clock, orphan_policy="hold").close()
    with StateTable.open(batch_dir, clock=clock, orphan_policy="hold") as table:
        assert table.get("row-000000").orphans == 1
        assert table.get("row-000000").attempts == 1


def test_repeated_crashes_spend_the_attempts_and_then_stop_resending(
    batch_dir: Path, clock: FakeClock
) -> None:
    plan = RowPolicy(batch_id="b1", model="m", max_attempts=3)
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(1))
    for crash in range(1, 4):
        table = StateTable.open(batch_dir, clock=clock, max_attempts=3)
        row = table.get("row-000000")
        assert (row.attempts, row.orphans) == (crash - 1, crash - 1)
        assert send_order(table, plan) == ["row-000000"]  # still within its attempts: sent again
        table.transition("row-000000", "submitting")
        table.flush()
        table.lease.release()  # the runner dies mid-create, again
    with StateTable.open(batch_dir, clock=clock, max_attempts=3) as table:
        row = table.get("row-000000")
        assert (row.status, row.attempts, row.orphans) == ("orphaned", 3, 3)
        assert send_order(table, plan) == []  # spent: no run sends it again by itself
        assert row.note is not None
        assert "gave up after 3 attempts" in row.note


def test_live_sibling_rows_are_left_alone(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", writer="shard-1", clock=clock) as sibling:
        sibling.add_pending([("sib", 9, "h")])
        sibling.transition("sib", "submitting")
        sibling.flush()
        with StateTable.open(batch_dir, writer="shard-0", clock=clock) as table:
            assert table.get("sib").status == "submitting"


def test_dead_sibling_rows_are_recovered(batch_dir: Path, clock: FakeClock) -> None:
    _crash_while_submitting(batch_dir, clock, writer="shard-1")
    with StateTable.open(batch_dir, writer="main", clock=clock) as table:
        assert table.get("row-000000").status == "orphaned"
        assert table.get("row-000000").writer == "main"


def test_a_shard_recovers_only_its_own_rows_orphans(batch_dir: Path, clock: FakeClock) -> None:
    """A shard opening beside others (on a Dask worker) leaves a dead shard's rows to that shard's rerun:
    two writers recovering one row at once could each write it."""
    _crash_while_submitting(batch_dir, clock, writer="shard-1")
    with StateTable.open(batch_dir, writer="shard-2", clock=clock, orphans_among={"row-000002"}) as table:
        assert table.get("row-000000").status == "submitting"
        assert table.get("row-000001").status == "submitting"
    with StateTable.open(batch_dir, writer="shard-1", clock=clock, orphans_among={"row-000000"}) as table:
        assert table.get("row-000000").status == "orphaned"  # its rerun: its own row, an attempt counted
        assert table.get("row-000000").attempts == 1
        assert table.get("row-000001").status == "submitting"  # not in this shard


# -- the decision itself: rows in, changes out, no files --------------------------------------------------


def _row(key: str, writer: str, status: RowStatus = "submitting", response_id: str | None = None) -> RowState:
    return RowState(
        key, 0, "h", status, response_id, None, 1, 2, None, None, None, None, None, None, None, None, None,
        None, to_datetime(0), None, writer, 1,
    )  # fmt: skip


def test_orphan_changes_decide_from_rows_alone() -> None:
    asked: list[str] = []

    def is_live(writer: str) -> bool:
        asked.append(writer)
        return writer == "alive"

    given = [
        _row("own-with-id", "main", response_id="resp_1"),
        _row("own-without", "main"),
        _row("dead-1", "gone"),
        _row("dead-2", "gone"),
        _row("live-sibling", "alive"),
        _row("not-submitting", "gone", status="queued"),
    ]
    changes = orphan_changes(given, writer="main", is_live=is_live, policy="hold", max_attempts=3)
    assert [(c.row_key, c.status) for c in changes] == [
        ("own-with-id", "queued"),
        ("own-without", "orphaned"),
        ("dead-1", "orphaned"),
        ("dead-2", "orphaned"),
    ]
    assert sorted(asked) == ["alive", "gone"]  # once per other writer; never for its own rows
    assert changes[1].fields["orphans"] == 3
    assert changes[1].fields["attempts"] == 2
    assert "held for `rowrelay retry`" in str(changes[1].fields["note"])
    assert "durable" in str(changes[0].fields["note"])


def test_orphan_changes_under_resubmit_say_so() -> None:
    (change,) = orphan_changes(
        [_row("k", "main")], writer="main", is_live=lambda _: True, policy="resubmit", max_attempts=3
    )
    assert change.row_key == "k"
    assert change.status == "orphaned"
    assert (change.fields["attempts"], change.fields["orphans"]) == (2, 3)
    assert "it will be sent again" in str(change.fields["note"])
    (spent,) = orphan_changes(
        [_row("k", "main")], writer="main", is_live=lambda _: True, policy="resubmit", max_attempts=2
    )
    assert "gave up after 2 attempts" in str(spent.fields["note"])
