"""Text a Parquet file (or an Arrow-backed DataFrame) says is UTF-8 but is not: refused in one line naming
the file, the column and the first row, when the input is read, before anything is sent.

Such files come from writers that store bytes as `string` (Spark, Hive). Read as they were, a prompt using
the column failed with a traceback at rendering, an id column with pyarrow's "Invalid UTF8 sequence", and
a column no prompt used only when the output was written, after every row had been paid for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rowrelay.tasks.dataset import InputSpec, read_input, read_prepared
from rowrelay.tasks.errors import UsageError

_FIX = "write it as UTF-8, or as binary if it holds bytes"


_TEXT = pa.string()


def _strings(values: list[bytes | None], kind: pa.DataType = _TEXT) -> pa.Array[Any]:
    """`values` as an Arrow text array, whatever their bytes (as a writer that does not check makes it)."""
    raw = pa.array(values, pa.binary() if kind == _TEXT else pa.large_binary())
    return pa.Array.from_buffers(kind, len(raw), raw.buffers(), raw.null_count)


def _write(path: Path, columns: dict[str, Any]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def _refusal(source: Path) -> str:
    with pytest.raises(UsageError) as refused:
        read_input(source)
    return str(refused.value)


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_a_text_column_holding_bytes_that_are_not_utf8_is_refused_naming_column_row_and_byte(
    tmp_path: Path, kind: pa.DataType
) -> None:
    path = _write(
        tmp_path / "in.parquet",
        {"id": ["a", "b", "c"], "text": _strings([b"fine", None, "café".encode("latin-1")], kind)},
    )
    assert _refusal(path) == (
        f"cannot read {path} as parquet: column 'text' is not UTF-8 text at row 3 (it holds byte 0xe9); "
        + _FIX
    )


def test_the_row_is_counted_across_the_files_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    good = pa.table({"text": _strings([b"ok"] * 5)})
    with pq.ParquetWriter(path, good.schema) as writer:
        writer.write_table(good)
        writer.write_table(pa.table({"text": _strings([b"ok", b"\xff"])}))
    assert "column 'text' is not UTF-8 text at row 7 (it holds byte 0xff)" in _refusal(path)


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(
            lambda text: pa.ListArray.from_arrays(pa.array([0, 1, 2, 3], pa.int32()), text), id="list"
        ),
        pytest.param(lambda text: pa.StructArray.from_arrays([text], ["s"]), id="struct"),
        pytest.param(
            lambda text: pa.DictionaryArray.from_arrays(pa.array([0, 0, 1], pa.int32()), text.slice(0, 2)),
            id="dictionary",
        ),
    ],
)
def test_such_text_inside_a_list_struct_or_dictionary_column_is_refused_the_same_way(
    tmp_path: Path, wrap: Any
) -> None:
    """pandas refused these itself, in pyarrow's words: `Unknown error: Wrapping caf\ufffd failed`."""
    text = _strings([b"ok", b"caf\xe9", b"ok"])
    path = _write(tmp_path / "in.parquet", {"id": [1, 2, 3], "nested": wrap(text)})
    refusal = _refusal(path)
    assert refusal.startswith(f"cannot read {path} as parquet: column 'nested' is not UTF-8 text at row ")
    assert refusal.endswith(_FIX)


@pytest.mark.parametrize(
    "spec", [InputSpec(template="{text}"), InputSpec(prompt_column="id", id_column="id")]
)
def test_the_refusal_comes_whether_or_not_the_prompts_or_ids_use_the_column(
    tmp_path: Path, spec: InputSpec
) -> None:
    """Unused by the prompts, the column went to the output: written after every row was paid for."""
    path = _write(tmp_path / "in.parquet", {"id": _strings([b"r\xe9"]), "text": _strings([b"caf\xe9"])})
    with pytest.raises(UsageError, match="is not UTF-8 text at row 1"):
        read_prepared(path, spec)


def test_an_arrow_backed_dataframe_holding_such_text_is_refused() -> None:
    frame = pd.DataFrame({"text": pd.Series(_strings([b"ok", b"\xc3"]), dtype=pd.ArrowDtype(pa.string()))})
    with pytest.raises(UsageError) as refused:
        read_input(frame)
    assert (
        str(refused.value)
        == "the input DataFrame: column 'text' is not UTF-8 text at row 2 (it holds byte 0xc3)"
    )


def test_valid_text_of_every_shape_is_read_as_before(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "in.parquet",
        {
            "text": ["café", None, "😀"],
            "tags": pa.array([["a"], None, ["é"]]),
            "cat": pa.array(["x", "y", "x"]).dictionary_encode(),
        },
    )
    read = read_input(path)
    assert read["text"].tolist()[::2] == ["café", "😀"]
    assert read["cat"].tolist() == ["x", "y", "x"]
