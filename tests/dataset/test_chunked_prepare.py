"""Prepared a chunk at a time, with no prompt kept, a batch is the batch it was when every prompt was held.

The fingerprints below were computed by the earlier whole-frame `prepare` (prompts as one list, keys and
hashes as Python lists): a state directory is named after its batch's fingerprint, so a change here
would make a resumed run start a new batch instead.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.dataset import InputSpec, PreparedInput, input_fingerprint, prepare, read_input
from rowrelay.tasks.dataset.templates import render_template

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "tickets.csv"
DEMO_TEMPLATE = (
    "Triage this support ticket. Reply with category, priority (P1-P4) and a one-line summary.\n\n"
    "Subject: {subject}\n\n{body}"
)


def _small_chunks(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    monkeypatch.setattr(importlib.import_module("rowrelay.tasks.dataset.prompts"), "CHUNK", size)
    # the package exports the function `prepare` under the module's name: fetch the module itself
    monkeypatch.setattr(
        importlib.import_module("rowrelay.tasks.dataset.preparing"), "_FINGERPRINT_CHUNK", size
    )


def _facts(prepared: PreparedInput) -> tuple[object, ...]:
    return (prepared.rows, prepared.fingerprint, dict(prepared.bad_rows), prepared.instructions)


@pytest.mark.parametrize(
    ("spec", "fingerprint"),
    [
        (InputSpec(template=DEMO_TEMPLATE, id_column="ticket_id"), "22d5cfbb8efafecab1177fcbc633ac67"),
        (InputSpec(template=DEMO_TEMPLATE, instructions="Be brief."), "c3db4c2b86d4de0b49ebf8dbf7f66d18"),
        (InputSpec(prompt_column="subject"), "4494b260513ab826ac6caf1cd85de212"),
    ],
)
def test_the_sample_keeps_the_fingerprint_it_had(
    monkeypatch: pytest.MonkeyPatch, spec: InputSpec, fingerprint: str
) -> None:
    whole = prepare(read_input(SAMPLE), spec)
    assert whole.fingerprint == fingerprint
    _small_chunks(monkeypatch, 7)  # 200 rows: 29 chunks, the last one short
    chunked = prepare(read_input(SAMPLE), spec)
    assert [len(chunk) for chunk in chunked.prompts.chunks()][-2:] == [7, 4]
    assert _facts(chunked) == _facts(whole)
    assert input_fingerprint(chunked.rows, spec) == fingerprint


def test_every_prompt_is_the_row_rendered_alone() -> None:
    frame = read_input(SAMPLE)
    prepared = prepare(frame, InputSpec(template=DEMO_TEMPLATE, id_column="ticket_id"))
    expected = [render_template(DEMO_TEMPLATE, record) for record in frame.to_dict("records")]
    assert [row.prompt for row in prepared.rows] == expected
    assert [prepared.prompt(key) for key in frame["ticket_id"]] == expected  # what a run sends
    with pytest.raises(KeyError):
        prepared.prompt("T-99999")


def test_prompts_are_found_by_any_key() -> None:
    ids = ["z", "é", "a", "日本", "Ω", "A", "a b", "ab", "10", "9", "😀"]
    frame = pd.DataFrame({"id": ids, "p": [f"ask {i}" for i in ids]})
    prepared = prepare(frame, InputSpec(prompt_column="p", id_column="id"))
    assert [prepared.prompt(key) for key in ids] == [f"ask {i}" for i in ids]
    for absent in ("", "b", "日", "zz"):
        with pytest.raises(KeyError):
            prepared.prompt(absent)


def _awkward_frame() -> pd.DataFrame:
    """Repeated inputs (hash keys with -2, -3 across chunk edges), blank prompts, missing and non-text
    cells."""
    subjects = ["Refund", None, "Refund", "", 7, "Refund", "  ", "Login", 2.5, "Refund", None]
    bodies = ["x", None, "x", "\n", "y", "x", "", "z", None, "x", ""]
    return pd.DataFrame({"subject": pd.Series(subjects, dtype=object), "body": bodies})


@pytest.mark.parametrize("size", [1, 2, 3, 4, 100])
@pytest.mark.parametrize(
    "spec",
    [InputSpec(template="{subject}{body}"), InputSpec(template="S: {subject} / {body}", instructions="Hi")],
)
def test_chunk_edges_change_nothing(monkeypatch: pytest.MonkeyPatch, size: int, spec: InputSpec) -> None:
    whole = prepare(_awkward_frame(), spec)
    _small_chunks(monkeypatch, size)
    chunked = prepare(_awkward_frame(), spec)
    assert _facts(chunked) == _facts(whole)
    keys = [row.row_key for row in chunked.rows]
    assert len(set(keys)) == len(keys)
    records = _awkward_frame().to_dict("records")
    assert [row.prompt for row in chunked.rows] == [render_template(spec.template or "", r) for r in records]


def test_duplicated_inputs_are_numbered_by_occurrence() -> None:
    prepared = prepare(_awkward_frame(), InputSpec(template="{subject}{body}"))
    keys = [row.row_key for row in prepared.rows]
    refund = keys[0]
    assert [keys[i] for i in (0, 2, 5, 9)] == [refund, f"{refund}-2", f"{refund}-3", f"{refund}-4"]
    assert set(prepared.bad_rows) == {keys[1], keys[3], keys[6], keys[10]}
    assert keys[10] == f"{keys[1]}-2"  # two rows rendering "" are the same input


def test_planned_columns_are_the_rows() -> None:
    prepared = prepare(_awkward_frame(), InputSpec(template="{subject}{body}"))
    planned = prepared.planned().to_pylist()
    assert planned == [
        {"row_key": r.row_key, "row_index": r.row_index, "input_hash": r.input_hash} for r in prepared.rows
    ]
    assert len(prepared) == len(planned) == 11
