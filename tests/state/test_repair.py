"""What each row falls back to when damaged files are set aside (`repair.fallbacks`, pure), and the
scan, salvage and move that feed and follow it (`damage`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rowrelay.tasks.records import RowStatus
from rowrelay.tasks.state import RunRecord, StateTable, load, write_run_record
from rowrelay.tasks.state.damage import move_aside, remaining_versions, salvage, scan
from rowrelay.tasks.state.files import DAMAGED, RUN_FILE, SEGMENTS
from rowrelay.tasks.state.repair import Fallback, Version, fallbacks
from tests.support.damage import DAMAGES, garbage, missing_column, truncate, two_segments, wrong_type
from tests.support.state import FakeClock, rows

Damage = Callable[[Path], None]


def v(key: str, status: RowStatus, version: int, response_id: str | None = None, index: int = 0) -> Version:
    return Version(key, index, status, response_id, version)


# --- the pure decision ---------------------------------------------------------------------------


def test_a_row_whose_newest_version_survives_does_not_fall_back() -> None:
    remaining = {"a": v("a", "completed", 7, "resp-1")}
    assert fallbacks(remaining, [("seg-5", v("a", "queued", 5, "resp-1"))]) == []


def test_a_row_falls_back_to_its_newest_remaining_version_keeping_its_response_id() -> None:
    remaining = {"a": v("a", "queued", 3, "resp-1")}
    lost = v("a", "in_progress", 5, "resp-1")
    [row] = fallbacks(remaining, [("seg-5", lost)])
    assert row == Fallback("a", 0, "seg-5", lost, remaining["a"])
    assert row.kept_response_id == "resp-1"
    assert row.from_in_flight
    assert not row.job_may_exist  # the fallback still leads to the very response: the next run resumes it


@pytest.mark.parametrize(
    ("earlier", "lost"),
    [
        (v("a", "pending", 1), v("a", "submitting", 5)),  # the create may have gone out
        (v("a", "submitting", 3), v("a", "queued", 5, "resp-2")),
        (v("a", "failed", 3, "resp-1"), v("a", "queued", 5, "resp-2")),  # a second attempt's job
    ],
)
def test_falling_back_from_in_flight_away_from_its_response_is_flagged(
    earlier: Version, lost: Version
) -> None:
    [row] = fallbacks({"a": earlier}, [("seg-5", lost)])
    assert row.job_may_exist
    assert row.now == earlier
    assert row.kept_response_id == earlier.response_id  # the earlier version's id is never dropped


def test_falling_back_from_an_ended_version_is_not_in_flight() -> None:
    [row] = fallbacks(
        {"a": v("a", "in_progress", 3, "resp-1")}, [("seg-5", v("a", "completed", 5, "resp-1"))]
    )
    assert (row.from_in_flight, row.job_may_exist) == (False, False)
    assert row.now is not None
    assert row.now.status == "in_progress"


def test_a_row_only_a_damaged_file_held_is_absent_and_a_lost_in_flight_one_is_flagged() -> None:
    lost = v("b", "queued", 5, "resp-9", index=1)
    [row] = fallbacks({}, [("seg-5", lost)])
    assert row.now is None
    assert row.kept_response_id is None
    assert row.job_may_exist


def test_the_newest_lost_version_across_damaged_files_is_the_one_reported() -> None:
    lost = [("seg-5", v("a", "queued", 5, "resp-1")), ("seg-6", v("a", "in_progress", 6, "resp-1"))]
    [row] = fallbacks({"a": v("a", "pending", 1)}, lost)
    assert (row.source, row.lost) == ("seg-6", lost[1][1])


def test_input_rows_no_readable_file_holds_are_absent_even_from_an_unreadable_file() -> None:
    remaining = {"a": v("a", "pending", 1, index=0), "c": v("c", "pending", 1, index=2)}
    rows_ = fallbacks(remaining, [], expected=[("a", 0), ("b", 1), ("c", 2), ("d", 3)])
    assert [(r.row_key, r.row_index, r.lost, r.now) for r in rows_] == [
        ("b", 1, None, None),
        ("d", 3, None, None),
    ]
    assert not any(r.job_may_exist for r in rows_)  # unknown, not known in flight


def test_rows_come_in_input_order_each_once() -> None:
    lost = [("seg-5", v("z", "queued", 5, "r", index=0)), ("seg-5", v("y", "queued", 5, "r", index=2))]
    got = fallbacks({}, lost, expected=[("z", 0), ("x", 1), ("y", 2)])
    assert [r.row_key for r in got] == ["z", "x", "y"]


# --- finding damage, salvaging, moving aside ------------------------------------------------------


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_scan_sets_every_kind_of_damage_apart_and_keeps_the_rest(
    batch_dir: Path, clock: FakeClock, damage: Damage
) -> None:
    bad = two_segments(batch_dir, clock)
    damage(bad)
    found = scan(batch_dir)
    assert [d.path for d in found.damaged] == [bad]
    assert found.run_record_readable
    assert found.remaining.num_rows == 5
    assert remaining_versions(found)["row-000002"].status == "pending"


@pytest.mark.parametrize(
    "damage", [truncate, garbage, DAMAGES["zero-length"], DAMAGES["foreign"], DAMAGES["emptied"]]
)
def test_nothing_is_salvaged_from_a_file_that_cannot_be_trusted(
    batch_dir: Path, clock: FakeClock, damage: Damage
) -> None:
    bad = two_segments(batch_dir, clock)
    damage(bad)
    assert salvage(bad) is None


@pytest.mark.parametrize("damage", [missing_column, wrong_type])
def test_rows_are_salvaged_from_a_file_whose_key_columns_still_read(
    batch_dir: Path, clock: FakeClock, damage: Damage
) -> None:
    bad = two_segments(batch_dir, clock)
    damage(bad)
    [row] = salvage(bad) or []
    assert (row.row_key, row.status, row.response_id) == ("row-000002", "submitting", None)


def test_a_damaged_run_record_is_found(batch_dir: Path, clock: FakeClock) -> None:
    two_segments(batch_dir, clock)
    (batch_dir / RUN_FILE).write_text("{not json")
    found = scan(batch_dir)
    assert [(d.path.name, d.rows) for d in found.damaged] == [(RUN_FILE, None)]
    assert not found.run_record_readable


def test_move_aside_keeps_every_file_and_never_overwrites_one(batch_dir: Path, clock: FakeClock) -> None:
    bad = two_segments(batch_dir, clock)
    truncate(bad)
    content = bad.read_bytes()
    [first] = move_aside(batch_dir, [bad])
    assert first == batch_dir / DAMAGED / SEGMENTS / f"{bad.name}.damaged"
    assert first.read_bytes() == content
    assert not bad.exists()
    bad.write_bytes(b"damaged again")
    [second] = move_aside(batch_dir, [bad])
    assert second.name == f"{bad.name}.damaged-2"
    assert (first.read_bytes(), second.read_bytes()) == (content, b"damaged again")
    assert len(load(batch_dir)) == 5  # readable again, and not one file under damaged/ is read


def test_after_moving_aside_the_table_opens_and_writes_again(batch_dir: Path, clock: FakeClock) -> None:
    bad = two_segments(batch_dir, clock)
    garbage(bad)
    write_run_record(batch_dir, RunRecord(output="out.csv", backend="emulator", model="m", mode="poll"))
    move_aside(batch_dir, [d.path for d in scan(batch_dir).damaged])
    with StateTable.open(batch_dir, clock=clock) as table:
        assert table.problems == []
        table.add_pending(rows(2, start=5))
    assert len(load(batch_dir)) == 7
