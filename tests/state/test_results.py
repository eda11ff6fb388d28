"""The results frame an export joins onto the input, built from a loaded state frame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rowrelay.tasks.dataset import RESULT_COLUMNS
from rowrelay.tasks.state import StateTable, load, results_frame, results_frame_of
from tests.support.state import FakeClock, rows

KEYS = [key for key, _index, _hash in rows(3)]


def _finished_batch(directory: Path, clock: FakeClock) -> None:
    with StateTable.open(directory, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(3))
        table.transition("row-000000", "submitting")
        table.transition("row-000000", "queued", response_id="resp_0")
        table.update("row-000000", error_type="transient", error_message="stream dropped, resumed")
        table.transition("row-000000", "completed", output_text="P2", input_tokens=12, output_tokens=3)
        table.transition("row-000001", "submitting")
        table.transition("row-000001", "failed", error_type="bad", error_message="refused")


def test_results_columns_in_output_order(batch_dir: Path, clock: FakeClock) -> None:
    _finished_batch(batch_dir, clock)
    results = results_frame(load(batch_dir), KEYS)
    assert list(results.columns) == ["row_index", *RESULT_COLUMNS]
    assert results["row_index"].tolist() == [0, 1, 2]
    assert results["rowrelay_status"].tolist() == ["completed", "failed", "pending"]
    assert results["output_text"].tolist()[0] == "P2"
    assert results["input_tokens"].tolist()[0] == 12


def test_a_completed_rows_earlier_error_is_not_its_result(batch_dir: Path, clock: FakeClock) -> None:
    _finished_batch(batch_dir, clock)
    state = load(batch_dir)
    assert state.loc[0, "error_message"] == "stream dropped, resumed"  # kept in the state, as history
    errors = results_frame(state, KEYS)["error"].tolist()
    assert pd.isna(errors[0])
    assert errors[1] == "refused"


def test_results_frame_of_a_directory_is_the_same(batch_dir: Path, clock: FakeClock) -> None:
    _finished_batch(batch_dir, clock)
    pd.testing.assert_frame_equal(results_frame_of(batch_dir, KEYS), results_frame(load(batch_dir), KEYS))


def test_a_result_goes_to_where_its_key_is_in_the_input_and_keys_it_no_longer_holds_are_left_out(
    batch_dir: Path, clock: FakeClock
) -> None:
    """The state's row_index is where a row was when first planned: an input sorted or filtered since
    would pair one row's input with another's result (row-000000's output went to row-000002)."""
    _finished_batch(batch_dir, clock)
    edited = ["row-000002", "row-000000", "row-000009"]  # reordered, row-000001 removed, one new row
    results = results_frame(load(batch_dir), edited)
    by_position = dict(zip(results["row_index"], results["rowrelay_status"], strict=True))
    assert by_position == {0: "pending", 1: "completed"}
    assert results.loc[results["row_index"] == 1, "output_text"].tolist() == ["P2"]
