"""A `submitting` row found on reload: `queued` if its response id was durable, else `orphaned`."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.errors import IllegalTransition
from rowrelay.tasks.state import StateTable
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
        assert orphan.note is not None
        assert "no response id" in orphan.note
        recovered = table.get("row-000001")
        assert recovered.status == "queued"
        assert recovered.response_id == "resp_1"
        assert recovered.note is not None
        assert "durable" in recovered.note
        if policy == "resubmit":
            assert table.submittable_keys() == ["row-000000", "row-000002"]
            assert table.transition("row-000000", "submitting").status == "submitting"
        else:
            assert "held" in orphan.note
            assert table.submittable_keys() == ["row-000002"]
            with pytest.raises(IllegalTransition, match="hold"):
                table.transition("row-000000", "submitting")
            table.transition("row-000000", "pending")  # what `rowrelay retry` does


def test_conversion_is_durable_and_counted_once(batch_dir: Path, clock: FakeClock) -> None:
    _crash_while_submitting(batch_dir, clock)
    StateTable.open(batch_dir, clock=clock, orphan_policy="hold").close()
    with StateTable.open(batch_dir, clock=clock, orphan_policy="hold") as table:
        assert table.get("row-000000").orphans == 1


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
