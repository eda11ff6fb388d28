"""The note of a batch's input order (`state.input_order`): written only when the rows' `row_index` is
not that order, removed when it is again, and a damaged note named, never read as no note."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from rowrelay.tasks.errors import DamagedFileError
from rowrelay.tasks.state import StateTable, load
from rowrelay.tasks.state.input_order import ORDER_FILE, record_input_order

KEYS = ["row-000000", "row-000001", "row-000002"]


def _planned(table: StateTable) -> pa.Table:
    return table.columns(None, ("row_key", "row_index"))


def test_the_note_is_written_for_a_new_order_and_removed_when_the_old_one_is_back(
    table: StateTable, batch_dir: Path
) -> None:
    ten = [f"row-{i:06d}" for i in range(10)]
    record_input_order(batch_dir, _planned(table), pa.array(ten))
    assert not (batch_dir / ORDER_FILE).exists()
    turned = ten[::-1]
    record_input_order(batch_dir, _planned(table), pa.array(turned))
    assert load(batch_dir)["row_key"].tolist() == turned
    record_input_order(batch_dir, _planned(table), pa.array(ten[:5]))  # five left out: they follow
    assert (batch_dir / ORDER_FILE).exists()
    record_input_order(batch_dir, _planned(table), pa.array(ten))
    assert not (batch_dir / ORDER_FILE).exists()
    assert load(batch_dir)["row_key"].tolist() == ten


def test_a_damaged_note_is_named_and_skipped_only_when_asked(table: StateTable, batch_dir: Path) -> None:
    ten = [f"row-{i:06d}" for i in range(10)]
    record_input_order(batch_dir, _planned(table), pa.array(ten[::-1]))
    note = batch_dir / ORDER_FILE
    note.write_bytes(note.read_bytes()[:40])  # torn
    with pytest.raises(DamagedFileError, match=ORDER_FILE):
        load(batch_dir)
    frame = load(batch_dir, skip_damaged=True)
    assert frame["row_key"].tolist() == ten  # by row_index, as before any note
    (problem,) = frame.attrs["problems"]
    assert ORDER_FILE in problem
