"""A DataFrame's columns are named by strings, as a file's are: `prompt_column="0"` names the column `0` of
a frame read with `header=None`, and columns named alike once their names are strings (`1` and `"1"`) are
refused, where they were written as two Parquet fields named 1 that pandas could not read back."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from rowrelay.tasks.dataset import InputSpec, read_input, read_prepared
from rowrelay.tasks.errors import UsageError

HEADERLESS = "T-1,Refund please\nT-2,Where is my parcel\n"


def test_columns_named_alike_as_strings_are_refused_in_one_line() -> None:
    frame = pd.DataFrame({"text": ["a", "b"]})
    frame[1] = ["x", "y"]
    frame["1"] = ["p", "q"]
    with pytest.raises(UsageError) as refused:
        read_input(frame)
    assert str(refused.value) == (
        "the input DataFrame has columns named alike once their names are strings, as outputs and options "
        "name them: 1 (int), '1' (str); rename them apart"
    )


def test_a_name_given_twice_is_still_said_as_a_duplicate() -> None:
    frame = pd.DataFrame([[1, 2, 3]], columns=[0, 0, "a"])
    with pytest.raises(UsageError, match=r"^the input DataFrame has duplicate column names: 0$"):
        read_input(frame)


def test_int_named_columns_are_named_by_their_strings() -> None:
    frame = pd.read_csv(io.StringIO(HEADERLESS), header=None)
    given: list[object] = list(frame.columns)
    assert given == [0, 1]
    prepared = read_prepared(frame, InputSpec(prompt_column="1", id_column="0"))
    assert [prepared.prompts.at(i) for i in range(2)] == ["Refund please", "Where is my parcel"]
    assert prepared.keys.to_pylist() == ["T-1", "T-2"]
    assert list(prepared.frame.columns) == ["0", "1"]
    assert given == list(frame.columns)  # the caller's frame is left as it was


def test_prompts_and_keys_of_a_frame_with_int_named_columns_are_unchanged() -> None:
    """A template cannot name a column `0` (`{0}` is positional), so naming such columns by strings changes
    no prompt, key or fingerprint of a batch planned before."""
    named = pd.DataFrame({"text": ["a", "b"]})
    with_numbers = named.assign(**{"x": ["p", "q"]}).rename(columns={"x": 7})
    spec = InputSpec(template="Say {text}")
    assert read_prepared(with_numbers, spec).fingerprint == read_prepared(named, spec).fingerprint
