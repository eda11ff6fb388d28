"""`rowrelay.retry` from Python: the rows `rowrelay retry` makes eligible again, as a count, with its
refusals as `UsageError` (it was the CLI's command: a `str` path failed on `/`, and a refusal was
`typer.Exit`, which no caller catches as rowrelay's)."""

from __future__ import annotations

from pathlib import Path

import pytest

import rowrelay
from rowrelay.tasks.errors import LeaseHeldError, UsageError
from rowrelay.tasks.state import StateTable, load
from tests.support.state import rows


def _batch(directory: Path) -> None:
    """Ten rows: two failed, one cancelled, one completed, the rest pending."""
    with StateTable.open(directory) as table:
        table.add_pending(rows(10))
        for key in ("row-000000", "row-000001", "row-000002", "row-000003"):
            table.transition(key, "submitting", attempts=1)
            table.transition(key, "queued", response_id=f"resp_{key}")
        table.transition("row-000000", "failed", error_type="server_error", error_message="boom")
        table.transition("row-000001", "failed", error_type="server_error", error_message="boom")
        table.transition("row-000002", "cancelled", error_type="cancelled")
        table.transition("row-000003", "completed", output_text="done")


def test_it_makes_the_rows_eligible_again_and_says_how_many(tmp_path: Path) -> None:
    _batch(tmp_path / "batch")
    assert rowrelay.retry(str(tmp_path / "batch")) == 2  # failed (and incomplete, expired, orphaned)
    assert rowrelay.retry(tmp_path / "batch", ["cancelled"]) == 1
    assert rowrelay.retry(tmp_path / "batch", "failed,cancelled") == 0
    statuses = load(tmp_path / "batch").set_index("row_key")["status"]
    assert statuses[["row-000000", "row-000001", "row-000002"]].tolist() == ["pending"] * 3
    assert statuses["row-000003"] == "completed"


@pytest.mark.parametrize(
    ("status", "problem"),
    [
        # from Python, its parameter: `rowrelay retry`'s `--status` is tests/flows/test_cli.py's
        ("completed", "^status takes failed, incomplete, cancelled, expired, orphaned; not completed"),
        ("pending", "pending rows are eligible already"),
        ("queued", "those rows hold a response the server may still be working on"),
    ],
)
def test_a_status_it_cannot_retry_is_a_usage_error(tmp_path: Path, status: str, problem: str) -> None:
    _batch(tmp_path / "batch")
    with pytest.raises(UsageError, match=problem):
        rowrelay.retry(tmp_path / "batch", status)


def test_a_folder_without_a_batch_and_a_held_batch_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"typo does not exist \(no batch's state is there"):
        rowrelay.retry(tmp_path / "typo")
    _batch(tmp_path / "batch")
    with StateTable.open(tmp_path / "batch"), pytest.raises(LeaseHeldError):
        rowrelay.retry(tmp_path / "batch")


def test_load_and_summary_refuse_a_folder_without_a_batch(tmp_path: Path) -> None:
    """A mistyped path was read as a batch of no rows: a notebook's watching loop saw zero rows."""
    for read in (rowrelay.load, rowrelay.summary):
        with pytest.raises(UsageError, match=r"typo does not exist \(no batch's state is there"):
            read(tmp_path / "typo")
