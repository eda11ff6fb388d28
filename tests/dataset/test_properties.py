"""Hypothesis: for arbitrary frames, keys are unique, deterministic and independent of the file format."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from rowrelay.tasks.dataset import InputSpec, prepare, render_template

_cells = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "same", "same ", "Same"]),  # force repeated and blank inputs
    st.text(max_size=12),
    st.integers(-5, 5),
)
frames = (
    st.integers(min_value=1, max_value=30)
    .flatmap(
        lambda n: st.fixed_dictionaries(
            {
                "a": st.lists(_cells, min_size=n, max_size=n),
                "b": st.lists(_cells, min_size=n, max_size=n),
            }
        )
    )
    .map(
        lambda columns: pd.DataFrame(
            {name: pd.Series(values, dtype=object) for name, values in columns.items()}
        )
    )
)
templates = st.sampled_from(["{a}", "{a}{b}", "A: {a}\nB: {b}", "{b} / {a} / {b}"])


@settings(max_examples=150, deadline=None)
@given(frame=frames, template=templates, instructions=st.none() | st.text(max_size=8))
def test_keys_unique_and_deterministic(frame: pd.DataFrame, template: str, instructions: str | None) -> None:
    spec = InputSpec(template=template, instructions=instructions)
    first = prepare(frame, spec)
    keys = [row.row_key for row in first.rows]
    assert len(set(keys)) == len(keys)
    assert [row.row_index for row in first.rows] == list(range(len(frame)))
    again = prepare(frame.copy(), spec)
    assert again.rows == first.rows
    assert again.fingerprint == first.fingerprint
    assert set(first.bad_rows) <= set(keys)
    for row, record in zip(first.rows, frame.to_dict("records"), strict=True):
        assert row.prompt == render_template(template, record)
        assert (row.row_key in first.bad_rows) == (row.prompt.strip() == "")


@settings(max_examples=100, deadline=None)
@given(frame=frames)
def test_rows_with_equal_input_share_a_base_key_and_others_do_not(frame: pd.DataFrame) -> None:
    rows = prepare(frame, InputSpec(template="{a}|{b}")).rows
    for left in rows:
        for right in rows:
            same_input = left.input_hash == right.input_hash
            assert same_input == (left.row_key.split("-")[0] == right.row_key.split("-")[0])


@settings(max_examples=100, deadline=None)
@given(frame=frames)
def test_keys_survive_a_prefix_of_the_input(frame: pd.DataFrame) -> None:
    """Appending rows never renames earlier ones: a resumed run with more input keeps its keys."""
    spec = InputSpec(template="{a} {b}")
    whole = prepare(frame, spec).rows
    half = prepare(frame.iloc[: max(1, len(frame) // 2)], spec).rows
    assert half == whole[: len(half)]
