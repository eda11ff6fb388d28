"""Arrow-backed nested columns (`pd.read_parquet(..., dtype_backend="pyarrow")`) reach prompts as the JSON
text the same file gives read directly: they were NumPy's and Python's reprs (`[1 2]`, `{'x': 1, 'y':
'q'}`, `[('k', 1)]`), so the same data made other prompts, keys and a batch of its own."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from rowrelay.tasks.dataset import READING, InputSpec, read_prepared, reads_alike
from rowrelay.tasks.dataset.readings import INDEX_AS_COLUMNS, SHOWN_AS_DATA
from tests.support.nested_columns import write_nested

SPEC = InputSpec(template="{lst} | {st} | {mp} | {tags}")


def prompts_of(source: str | pd.DataFrame) -> list[str]:
    prepared = read_prepared(source, SPEC)
    return [prepared.prompts.at(i) for i in range(3)]


def test_an_arrow_backed_frame_renders_as_the_file_does(tmp_path: Path) -> None:
    path = write_nested(tmp_path / "nested.parquet")
    arrow = pd.read_parquet(path, dtype_backend="pyarrow")
    assert (
        prompts_of(arrow)
        == prompts_of(str(path))
        == [
            '[1, 2] | {"x": 1, "y": "q"} | {"k": 1} | ["a", "b"]',
            '[3, null] | {"x": 2, "y": "r"} | {"j": 2, "é": 3} | []',
            ' |  |  | ["c"]',
        ]
    )
    assert read_prepared(arrow, SPEC).fingerprint == read_prepared(str(path), SPEC).fingerprint


def test_a_map_that_repeats_a_key_is_its_pairs() -> None:
    repeated = pa.array([[("k", 1), ("k", 2)]], pa.map_(pa.string(), pa.int64()))
    frame = pd.DataFrame({"mp": pd.Series(repeated, dtype=pd.ArrowDtype(repeated.type))})
    prepared = read_prepared(frame, InputSpec(template="{mp}"))
    assert prepared.prompts.at(0) == '[["k", 1], ["k", 2]]'


def test_other_columns_keep_their_text(tmp_path: Path) -> None:
    """A prompt's text is part of its row's input hash: only Arrow-backed nested columns render anew, so
    no batch planned before over other columns looks edited."""
    path = write_nested(tmp_path / "nested.parquet")
    numpy_backed = pd.read_parquet(path)  # pandas' own values: floats where a null is near, pairs for a map
    assert prompts_of(numpy_backed)[0] == '[1.0, 2.0] | {"x": 1.0, "y": "q"} | [["k", 1]] | ["a", "b"]'
    scalars = pd.DataFrame({"n": [1, None], "f": [2.5, None], "s": ["a", None], "b": [True, None]})
    arrow = scalars.convert_dtypes(dtype_backend="pyarrow")
    spec = InputSpec(template="{n}/{f}/{s}/{b}")
    shown = read_prepared(arrow, spec, INDEX_AS_COLUMNS)  # the last reading before BOOLS_AS_JSON
    assert [shown.prompts.at(i) for i in range(2)] == ["1/2.5/a/True", "///"]
    shown = read_prepared(arrow, spec)  # a boolean as JSON writes it, from reading 7
    assert [shown.prompts.at(i) for i in range(2)] == ["1/2.5/a/true", "///"]


def test_a_batch_planned_by_reading_4_keeps_its_reprs_and_reads_alike_says_they_differ(
    tmp_path: Path,
) -> None:
    """Reading 4 sent such a frame's reprs: a batch it planned keeps them (`readings`), and `reads_alike`
    tells a frame with such a column apart from one without, so the earlier reading is looked for."""
    arrow = pd.read_parquet(write_nested(tmp_path / "nested.parquet"), dtype_backend="pyarrow")
    before = read_prepared(arrow, SPEC, SHOWN_AS_DATA)
    assert before.prompts.at(0) == "[1. 2.] | {'x': 1, 'y': 'q'} | [('k', 1)] | ['a' 'b']"
    assert not reads_alike(arrow, arrow, READING, SHOWN_AS_DATA)
    flat = arrow[[]].assign(text=["a", "b", "c"])
    assert reads_alike(flat, flat, READING, SHOWN_AS_DATA)
