"""A Parquet file's index, as pandas wrote it: its named levels are columns from reading 6, as a
DataFrame's are, and so are a MultiIndex's unnamed levels (as `level_N`); a lone unnamed index (a filtered
frame's positions) is not data and stays out; and no earlier reading keys or prompts a row otherwise for
it."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.dataset import InputSpec, read_input, read_prepared, reads_alike, result_clash
from rowrelay.tasks.dataset.readings import (
    ARROW_NESTED_AS_JSON,
    BOOLS_AS_JSON,
    FIRST_READING,
    INDEX_AS_COLUMNS,
    READING,
    SHOWN_AS_DATA,
    saved_frame_reading,
)


def _tickets() -> pd.DataFrame:
    return pd.DataFrame({"ticket_id": ["T-1", "T-2", "T-3"], "subject": ["late", "broken", "lost"]})


def test_a_named_index_is_a_column_as_the_frames_is(tmp_path: Path) -> None:
    frame = _tickets().set_index("ticket_id")
    frame.to_parquet(path := tmp_path / "df.parquet")
    read = read_input(path)
    assert list(read.columns) == ["ticket_id", "subject"]
    assert isinstance(read.index, pd.RangeIndex)
    pd.testing.assert_frame_equal(read, read_input(frame))  # the file and the frame are one input
    assert list(read_input(path, ARROW_NESTED_AS_JSON).columns) == ["subject"]  # as reading 5 read it


def test_an_unnamed_index_stays_out(tmp_path: Path) -> None:
    """A filtered frame's positions, which pandas writes as a column of its own (`__index_level_0__`)."""
    frame = _tickets()[lambda tickets: tickets["subject"] != "broken"]
    frame.to_parquet(path := tmp_path / "filtered.parquet")
    for reading in (READING, ARROW_NESTED_AS_JSON):
        read = read_input(path, reading)
        assert list(read.columns) == ["ticket_id", "subject"]
        assert isinstance(read.index, pd.RangeIndex)


def _lines() -> pd.DataFrame:
    """Ticket lines indexed by ticket and line, the line level unnamed."""
    index = pd.MultiIndex.from_arrays([["T-1", "T-1", "T-2"], ["L-1", "L-2", "L-1"]], names=["ticket", None])
    return pd.DataFrame({"subject": ["late", "broken", "lost"]}, index=index)


def test_an_unnamed_level_of_a_multi_index_is_read_under_pandas_name_for_it(tmp_path: Path) -> None:
    """It was left out with the positions a lone unnamed index holds, though it held data (the lines):
    now `level_1`, as `reset_index` names it, for the file and the frame alike."""
    frame = _lines()
    frame.to_parquet(path := tmp_path / "multi.parquet")
    read = read_input(path)
    assert list(read.columns) == ["ticket", "level_1", "subject"]
    assert read["level_1"].tolist() == ["L-1", "L-2", "L-1"]
    assert isinstance(read.index, pd.RangeIndex)
    pd.testing.assert_frame_equal(read, read_input(frame))  # the file and the frame are one input
    assert list(read_input(path, ARROW_NESTED_AS_JSON).columns) == ["subject"]  # as reading 5 read it


def test_a_multi_index_with_no_name_at_all_is_read_whole(tmp_path: Path) -> None:
    """`pd.concat({"north": ..., "south": ...})`: the regions, and each frame's own positions."""
    frame = pd.concat({"north": _tickets().iloc[:2], "south": _tickets().iloc[2:]})
    frame.to_parquet(path := tmp_path / "regions.parquet")
    read = read_input(path)
    assert list(read.columns) == ["level_0", "level_1", "ticket_id", "subject"]
    assert read["level_0"].tolist() == ["north", "north", "south"]


def test_an_unnamed_level_adds_no_key_nor_prompt_to_a_batch_reading_6_planned(tmp_path: Path) -> None:
    """Reading 6 as released read the file without the level: the batch it planned has the keys, hashes
    and fingerprint (its default state directory) this reading gives, with or without an id column."""
    frame = _lines()
    frame.to_parquet(path := tmp_path / "multi.parquet")
    frame.droplevel(1).to_parquet(without := tmp_path / "as_released.parquet")  # what reading 6 read
    for spec in (
        InputSpec(template="{ticket}: {subject}"),
        InputSpec(template="{subject}", id_column="subject"),
    ):
        current, released = read_prepared(path, spec), read_prepared(without, spec)
        assert current.keys.equals(released.keys)
        assert current.fingerprint == released.fingerprint


def test_an_integer_level_with_no_name_is_read_as_exactly_as_a_column(tmp_path: Path) -> None:
    index = pd.MultiIndex.from_arrays(
        [["T-1", "T-2", "T-3"], pd.array([3, None, 12345678901234567], dtype="Int64")], names=["ticket", None]
    )
    pd.DataFrame({"text": ["a", "b", "c"]}, index=index).to_parquet(path := tmp_path / "gap.parquet")
    read = read_input(path)
    assert read["level_1"].tolist()[::2] == [3, 12345678901234567]
    assert str(read["level_1"].dtype) == "Int64"


def test_an_unnamed_level_whose_name_is_taken_is_left_out_as_before_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every release before 29ed8b7 left it out, and a batch it planned resumes only if it still is:
    refused (as 29ed8b7 did), the batch could not be run again. Taken by a column, or by a named level."""
    taken_by_column = _lines().assign(level_1="x")
    taken_by_column.to_parquet(path := tmp_path / "taken.parquet")
    with caplog.at_level(logging.WARNING, "rowrelay.input"):
        read = read_input(path)
    said = f"{path}: the index's unnamed level 1 (level_1), whose name a column or another level"
    assert [record.getMessage().startswith(said) for record in caplog.records] == [True]
    assert list(read.columns) == ["ticket", "subject", "level_1"]
    assert read["level_1"].tolist() == ["x"] * 3
    pd.testing.assert_frame_equal(read, read_input(taken_by_column))
    taken_by_level = _lines().set_axis(_lines().index.set_names(["level_1", None]), axis="index")
    assert list(read_input(taken_by_level).columns) == ["level_1", "subject"]
    spec = InputSpec(template="{subject} {level_1}")
    planned = read_prepared(path, spec, ARROW_NESTED_AS_JSON)  # as an earlier reading read it
    assert read_prepared(path, spec).keys.equals(planned.keys)


def test_an_integer_index_with_a_gap_is_read_as_exactly_as_a_column(tmp_path: Path) -> None:
    """pandas gives it back as float64 (`3.0`); read as any integer column with a gap, it is `3`."""
    frame = pd.DataFrame(
        {"n": pd.array([3, None, 12345678901234567], dtype="Int64"), "text": ["a", "b", "c"]}
    )
    frame.set_index("n").to_parquet(path := tmp_path / "gap.parquet")
    read = read_input(path)
    assert read["n"].tolist()[::2] == [3, 12345678901234567]
    assert str(read["n"].dtype) == "Int64"


@pytest.mark.parametrize("earlier", range(FIRST_READING, READING))
def test_no_earlier_reading_keys_or_prompts_a_row_otherwise_for_the_index(
    tmp_path: Path, earlier: int
) -> None:
    """Rows without an id column are keyed by their prompts; a batch an earlier reading planned could
    not name the index, so its keys and prompts are this reading's, and `reads_alike` need not read the
    file again for it."""
    _tickets().set_index("ticket_id").to_parquet(path := tmp_path / "df.parquet")
    spec = InputSpec(template="Ticket: {subject}")
    current, planned = read_prepared(path, spec), read_prepared(path, spec, earlier)
    assert current.keys.equals(planned.keys)
    assert current.fingerprint == planned.fingerprint
    assert reads_alike(path, current.frame, READING, earlier)


def test_a_frames_saved_file_is_read_with_its_index_for_the_readings_that_took_the_frames() -> None:
    assert [saved_frame_reading(reading) for reading in range(FIRST_READING, READING + 1)] == [
        1,
        2,
        3,
        INDEX_AS_COLUMNS,  # reading 4: the frame's index was columns (given_frame), the file's not
        INDEX_AS_COLUMNS,
        INDEX_AS_COLUMNS,
        BOOLS_AS_JSON,
    ]
    assert SHOWN_AS_DATA == 4


def test_an_index_named_like_a_result_column_is_refused_as_such_a_column_is(tmp_path: Path) -> None:
    """An index level is an input column from reading 6: one named `error` clashes with the output's
    `error` column as a CSV or Parquet column of that name does, in the same words (the run refuses it,
    exit 2, before anything is sent); reading 5 left the index out, so a batch it planned has no clash."""
    tickets = _tickets().rename(columns={"ticket_id": "error"})
    tickets.to_csv(csv := tmp_path / "tickets.csv", index=False)
    tickets.to_parquet(column := tmp_path / "column.parquet", index=False)
    tickets.set_index("error").to_parquet(index := tmp_path / "index.parquet")
    said = "input column(s) error clash with result columns: rename them in the input"
    spec = InputSpec(template="{subject}")
    for source in (csv, column, index, tickets.set_index("error")):
        assert result_clash(read_prepared(source, spec).frame.columns) == said
    assert result_clash(read_prepared(index, spec, ARROW_NESTED_AS_JSON).frame.columns) is None
