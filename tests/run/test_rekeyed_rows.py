"""Rows the batch sent, back in its input under other ids: refused when that is no coincidence, as each
would be sent and paid for again (`run.rekeyed_rows`); new rows that happen to ask what a dropped row
asked are sent, and said. The plan over a real state table; whole runs against the emulator, the
server's jobs per row compared with each row's counts, are in tests/flows/test_rekeyed_rows.py."""

from __future__ import annotations

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


def _frame(rows: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"id": list(rows), "p": list(rows.values())})


def _tickets(ids: range, written: str = "{}") -> dict[str, str]:
    return {written.format(i): f"ticket {i}" for i in ids}


def _sent(directory: Path, rows: dict[str, str], answered: int | None = None) -> None:
    """The batch planned over `rows`, and the first `answered` of them (all: None) sent and answered."""
    clock = FakeClock()
    with StateTable.open(directory, batch_id="b", clock=clock) as table:
        plan = plan_batch(table, prepare(_frame(rows), SPEC), POLICY, shard_size=100)
        keys = [key for shard in plan.shards for key in shard.keys]
        for key in keys[:answered]:
            table.transition(key, "submitting")
            table.transition(key, "queued", response_id=f"resp_{key}", attempts=1)
            table.transition(key, "completed", output_text="an answer")


def _plan(directory: Path, rows: dict[str, str]) -> list[str]:
    """The keys the batch at `directory` would send over `rows`."""
    with StateTable.open(directory, clock=FakeClock()) as table:
        plan = plan_batch(table, prepare(_frame(rows), SPEC), POLICY, shard_size=100)
    return [key for shard in plan.shards for key in shard.keys]


def _refused(directory: Path, rows: dict[str, str]) -> str:
    with StateTable.open(directory, clock=FakeClock()) as table:
        before = table.latest()
        with pytest.raises(UsageError) as refused:
            plan_batch(table, prepare(_frame(rows), SPEC), POLICY, shard_size=100)
        assert table.latest().equals(before)  # nothing planned, nothing taken
    return str(refused.value)


def test_ids_zero_padded_are_refused_saying_how_many_an_example_and_the_ways_on(tmp_path: Path) -> None:
    """Night 2's ids were `001`...: each row was planned as new and sent again (60 jobs for 30 prompts),
    with only a warning that the state's rows were not in the input."""
    _sent(tmp_path, _tickets(range(1, 31)))
    assert _refused(tmp_path, _tickets(range(1, 31), "{:03d}")) == (
        "30 rows this batch sent are in its input under other ids, asking the same (e.g. id 001 was 1, "
        "id 002 was 2, id 003 was 3 …): each would be sent, and paid for, again. Give the input its "
        "earlier ids to resume the batch; if they are new rows asking the same, keep the earlier rows in "
        "the input beside them (rows the batch answered are not sent again), or pass a new --state, which "
        "sends every row again"
    )
    kept = {**_tickets(range(1, 31)), **_tickets(range(1, 31), "{:03d}")}
    assert _plan(tmp_path, kept) == [f"{i:03d}" for i in range(1, 31)]  # the way on for new rows


def test_one_row_under_the_same_id_written_otherwise_is_refused(tmp_path: Path) -> None:
    """A window that moves on: half the rows dropped, the rest written `0006`..., new rows added. The
    rows matched are not most of those dropped, but their ids are theirs written otherwise."""
    _sent(tmp_path, _tickets(range(1, 11)))
    assert _refused(tmp_path, _tickets(range(6, 16), "{:04d}")).startswith(
        "5 rows this batch sent are in its input under other ids, asking the same (e.g. id 0006 was 6, "
    )
    _sent(tmp_path / "one", {"A7": "ticket 7", "B8": "ticket 8"})
    assert _refused(tmp_path / "one", {" A07": "ticket 7", "B8": "ticket 8"}).startswith(
        "1 row this batch sent is in its input under other ids, asking the same (e.g. id  A07 was A7): "
    )
    # Ids that differ in case are other records (base62 ids): a coincidence, said and sent.
    _sent(tmp_path / "case", {"abC": "ticket 7", "B8": "ticket 8"})
    assert _plan(tmp_path / "case", {"ABc": "ticket 7", "B8": "ticket 8"}) == ["ABc"]


def test_ids_renumbered_are_refused_when_most_rows_dropped_come_back(tmp_path: Path) -> None:
    _sent(tmp_path, _tickets(range(1, 13)))
    renumbered = {f"N{i + 100}": prompt for i, prompt in enumerate(_tickets(range(1, 13)).values())}
    assert _refused(tmp_path, renumbered).startswith(
        "12 rows this batch sent are in its input under other ids, asking the same (e.g. id N100 was 1, "
    )


def test_coincidences_are_sent_however_many_of_the_rows_gone_they_are(tmp_path: Path) -> None:
    """A feed replaced every night whose requests repeat (a template over a column of a few values), and
    the only two rows dropped coming back as new rows asking the same ("Great product!", "Good"): both
    were refused, a nightly run stopped with no way on but paying for every row again."""
    replaced = {str(i): ("refund", "invoice", "password reset")[i % 3] for i in range(30)}
    _sent(tmp_path, replaced)
    tomorrow = {f"n{i}": prompt for i, prompt in enumerate(replaced.values())}
    assert sorted(_plan(tmp_path, tomorrow)) == sorted(tomorrow)
    reviews = {f"r{i}": f"review {i}" for i in range(20)}
    _sent(tmp_path / "few", {**reviews, "x1": "Great product!", "x2": "Good"})
    new = {**reviews, "y1": "Great product!", "y2": "Good", "y3": "Meh"}
    assert _plan(tmp_path / "few", new) == ["y1", "y2", "y3"]


def test_new_rows_asking_what_a_few_dropped_rows_asked_are_sent_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A row dropped and a new one asking the very same (a template over a column of a few values) is a
    coincidence, as are 2 of 6 dropped rows: refused, a nightly feed would stop for a row or two, and its
    way on, a new --state, would pay for every row again."""
    _sent(tmp_path, {"1": "password reset", "2": "refund", "3": "invoice", "4": "a", "5": "b", "6": "c"})
    rows = {"7": "password reset", "8": "refund", "9": "new question"}
    assert _plan(tmp_path, rows) == ["7", "8", "9"]
    said = [r.getMessage() for r in caplog.records if r.name == "rowrelay.plan"]
    assert said[0] == (
        "2 rows new to this batch ask what a row it sent, and the input no longer holds, asked (e.g. id 7, "
        "as id 1): taken for new rows, and sent"
    )


def test_rows_never_sent_and_rows_kept_are_not_matched(tmp_path: Path) -> None:
    """A row `--limit` left unsent cost nothing: under another id it is simply planned again. A row the
    input holds both under its id and another is a duplicate: the batch's is not sent again."""
    _sent(tmp_path, _tickets(range(1, 5)), answered=2)
    assert _plan(tmp_path, {**_tickets(range(1, 3)), **_tickets(range(3, 5), "{:02d}")}) == ["03", "04"]
    _sent(tmp_path / "kept", _tickets(range(1, 3)))
    assert _plan(tmp_path / "kept", {**_tickets(range(1, 3)), **_tickets(range(1, 3), "0{}")}) == ["01", "02"]


def test_each_row_the_batch_sent_is_matched_once(tmp_path: Path) -> None:
    """Two rows asking the same, dropped, and the question back three times under other ids: two rows
    of the batch come back, not three."""
    _sent(tmp_path, {"1": "same", "2": "same", "3": "other"})
    assert _refused(tmp_path, {"01": "same", "02": "same", "x": "same", "3": "other"}).startswith(
        "2 rows this batch sent are in its input under other ids, asking the same (e.g. id 01 was 1, id 02 "
        "was 2): "
    )
