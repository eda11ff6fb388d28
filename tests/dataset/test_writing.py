"""write_output: each format, input order, failed rows kept, atomic replacement, refusals."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rowrelay.tasks.dataset import RESULT_COLUMNS, read_input, write_output
from rowrelay.tasks.dataset import writing as writing_module
from rowrelay.tasks.dataset.typed import with_typed_columns
from rowrelay.tasks.errors import OutputWriteError, UsageError


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"ticket_id": ["007", "008", "009"], "subject": ["Refund", "Login", "Export"]})


@pytest.fixture
def results() -> pd.DataFrame:
    # Deliberately out of order: the writer joins on row_index, not on position in `results`.
    return pd.DataFrame(
        {
            "row_index": [2, 0, 1],
            "rowrelay_status": ["completed", "failed", "completed"],
            "output_text": ["P3 export bug", None, "P2 login"],
            "error": [None, "RateLimited: attempts exhausted", None],
            "input_tokens": [12, None, 10],
            "output_tokens": [5, None, 4],
            "reasoning_tokens": [0, None, 64],
            "cached_input_tokens": [0, None, 0],
            "cost_usd": [0.0000128, None, 0.0000104],
        }
    )


def _check(read: pd.DataFrame) -> None:
    assert list(read.columns) == ["ticket_id", "subject", *RESULT_COLUMNS]
    assert read["ticket_id"].astype(str).tolist() == ["007", "008", "009"]
    assert read["rowrelay_status"].tolist() == ["failed", "completed", "completed"]
    assert read["error"].tolist()[0] == "RateLimited: attempts exhausted"
    assert pd.isna(read["output_text"].tolist()[0])
    assert read["output_text"].tolist()[1:] == ["P2 login", "P3 export bug"]
    assert [int(v) for v in read["reasoning_tokens"].tolist()[1:]] == [64, 0]


@pytest.mark.parametrize("name", ["out.parquet", "out.pq", "out.csv", "out.tsv", "out.jsonl", "out.ndjson"])
def test_each_format_round_trips_in_input_order(
    tmp_path: Path, frame: pd.DataFrame, results: pd.DataFrame, name: str
) -> None:
    written = write_output(frame, results, tmp_path / name)
    assert written == tmp_path / name
    read = read_input(written)
    if name.endswith((".jsonl", ".ndjson")):
        read["ticket_id"] = read["ticket_id"].astype(str)
    _check(read)


def test_parquet_keeps_token_counts_as_nullable_ints(
    tmp_path: Path, frame: pd.DataFrame, results: pd.DataFrame
) -> None:
    read = pd.read_parquet(write_output(frame, results, tmp_path / "out.parquet"))
    assert str(read["input_tokens"].dtype) == "Int64"
    assert read["input_tokens"].tolist()[1:] == [10, 12]


def test_format_overrides_extension(tmp_path: Path, frame: pd.DataFrame, results: pd.DataFrame) -> None:
    written = write_output(frame, results, tmp_path / "out.txt", format="jsonl")
    assert written.read_text().startswith('{"ticket_id":"007"')


def test_unknown_extension_refused(tmp_path: Path, frame: pd.DataFrame, results: pd.DataFrame) -> None:
    with pytest.raises(UsageError, match=r"unknown output extension '\.xlsx' for .*out\.xlsx"):
        write_output(frame, results, tmp_path / "out.xlsx")
    with pytest.raises(UsageError, match=r"unknown output extension '' for .*\bout \("):
        write_output(frame, results, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_refused(tmp_path: Path, frame: pd.DataFrame, results: pd.DataFrame) -> None:
    with pytest.raises(
        UsageError, match=r"unknown output format 'xml' \(use one of parquet, csv, tsv, jsonl\)"
    ):
        write_output(frame, results, tmp_path / "out.csv", format="xml")  # type: ignore[arg-type]


def test_creates_parent_directories(tmp_path: Path, frame: pd.DataFrame, results: pd.DataFrame) -> None:
    written = write_output(frame, results, tmp_path / "a" / "b" / "out.csv")
    assert written.is_file()


def test_rows_missing_from_results_are_kept_pending_with_empty_results(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    partial = pd.DataFrame(
        {"row_index": [1], **{c: ["completed" if c == "rowrelay_status" else None] for c in RESULT_COLUMNS}}
    )
    read = pd.read_parquet(write_output(frame, partial, tmp_path / "out.parquet"))
    assert len(read) == 3
    assert read["rowrelay_status"].tolist() == ["pending", "completed", "pending"]  # never planned: sent next
    assert read["output_text"].isna().tolist() == [True, True, True]


def test_extra_result_columns_follow_the_standard_ones(
    tmp_path: Path, frame: pd.DataFrame, results: pd.DataFrame
) -> None:
    read = pd.read_parquet(
        write_output(frame, results.assign(row_key=["c", "a", "b"]), tmp_path / "o.parquet")
    )
    assert list(read.columns)[-1] == "row_key"
    assert read["row_key"].tolist() == ["a", "b", "c"]


def test_input_column_clashing_with_a_result_column_is_refused(
    tmp_path: Path, frame: pd.DataFrame, results: pd.DataFrame
) -> None:
    with pytest.raises(
        UsageError, match="input column\\(s\\) error clash with result columns: rename them in the input"
    ):
        write_output(frame.assign(error="x"), results, tmp_path / "out.csv")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.drop(columns=["error", "row_index"]), r"results lack column\(s\): row_index, error"),
        (lambda r: r.assign(row_index=[0, 0, 1]), r"results' row_index repeats: \[0\]"),
        (lambda r: r.assign(row_index=[0, 1, 3]), r"results' row_index has value\(s\) outside 0\.\.2: \[3\]"),
        (lambda r: r.assign(row_index=[0.0, 1.0, None]), "results' row_index must be integers, none missing"),
    ],
)
def test_malformed_results_refused(
    tmp_path: Path, frame: pd.DataFrame, results: pd.DataFrame, change: object, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        write_output(frame, change(results), tmp_path / "out.csv")  # type: ignore[operator]


def test_failed_write_leaves_target_untouched_and_no_temp(
    tmp_path: Path, frame: pd.DataFrame, results: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.csv"
    target.write_text("previous output\n")

    def half_then_crash(joined: pd.DataFrame, path: Path) -> None:
        path.write_text("ticket_id,subj")
        raise OSError("disk full")

    monkeypatch.setitem(writing_module._WRITERS, "csv", half_then_crash)
    with pytest.raises(OutputWriteError, match=r"could not write the output .*out\.csv \(disk full\)"):
        write_output(frame, results, target)
    assert target.read_text() == "previous output\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_failed_first_write_leaves_nothing(
    tmp_path: Path, frame: pd.DataFrame, results: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(joined: pd.DataFrame, path: Path) -> None:
        path.write_bytes(b"PAR1")
        raise KeyboardInterrupt

    monkeypatch.setitem(writing_module._WRITERS, "parquet", crash)
    with pytest.raises(KeyboardInterrupt):
        write_output(frame, results, tmp_path / "out.parquet")
    assert list(tmp_path.iterdir()) == []


def test_successful_write_replaces_and_leaves_no_temp(
    tmp_path: Path, frame: pd.DataFrame, results: pd.DataFrame
) -> None:
    target = tmp_path / "out.csv"
    target.write_text("previous output\n")
    write_output(frame, results, target)
    assert target.read_text().startswith("ticket_id,subject,rowrelay_status")
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_column_of_values_of_several_types_is_written_to_parquet_as_text(
    tmp_path: Path, results: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    """Parquet types a column once: such a column (a DataFrame built in Python) once failed the output,
    written after every row had been paid for."""
    mixed = pd.DataFrame({"v": pd.Series([1, "two", None], dtype=object), "w": ["a", "b", "c"]})
    written = pd.read_parquet(write_output(mixed, results, tmp_path / "out.parquet"))
    assert written["v"].tolist()[:2] == ["1", "two"]
    assert pd.isna(written["v"][2])
    assert written["w"].tolist() == ["a", "b", "c"]
    assert [r.getMessage() for r in caplog.records if r.name == "rowrelay.output"] == [
        "column 'v' holds values of several types: written to Parquet as text"
    ]


def test_a_list_holding_an_integer_past_int64_is_written_to_parquet_as_json_text(
    tmp_path: Path, results: pd.DataFrame
) -> None:
    """An unsigned 64-bit value inside a list (a Parquet `list<uint64>` input, read exactly) overflowed
    Arrow's guess of int64, and the output failed after every row was paid for."""
    big = 2**64 - 1
    frame = pd.DataFrame({"v": pd.Series([[big, None], [1], None], dtype=object)})
    written = pd.read_parquet(write_output(frame, results, tmp_path / "out.parquet"))
    assert written["v"].tolist()[:2] == [f"[{big}, null]", "[1]"]
    assert pd.isna(written["v"][2])


def test_jsonl_encodes_dates_nulls_nested_and_non_ascii(tmp_path: Path, results: pd.DataFrame) -> None:
    frame = pd.DataFrame(
        {
            "when": pd.to_datetime(pd.Series(["2024-06-01 10:00", None, "2024-06-03 00:00"])),
            "text": ["café ✓", None, "plain"],
            "nested": pd.Series([{"k": [1, 2]}, None, [3]], dtype=object),
            "n": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    lines = write_output(frame, results, tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    records = [orjson.loads(line) for line in lines]
    assert [r["when"] for r in records] == ["2024-06-01T10:00:00", None, "2024-06-03T00:00:00"]
    assert [r["text"] for r in records] == ["café ✓", None, "plain"]
    assert "café ✓" in lines[0]
    assert [r["nested"] for r in records] == [{"k": [1, 2]}, None, [3]]
    assert [r["n"] for r in records] == [1, None, 3]
    assert [r["input_tokens"] for r in records] == [None, 10, 12]


def test_csv_writes_an_inputs_nested_values_as_json(tmp_path: Path, results: pd.DataFrame) -> None:
    """Read from Parquet, a list is a NumPy array, which pandas wrote as `['a' 'b']`; JSONL objects are
    dicts. Both are written as the JSON their prompts showed."""
    source = tmp_path / "in.parquet"
    pd.DataFrame(
        {"tags": [["a", "b"], [], None], "meta": [{"lang": "en"}, {"lang": "fr"}, {"lang": None}],
         "text": ["x", "y", "z"]}
    ).to_parquet(source)  # fmt: skip
    written = pd.read_csv(write_output(read_input(source), results, tmp_path / "out.csv"))
    assert written["tags"].tolist()[:2] == ['["a", "b"]', "[]"]
    assert pd.isna(written["tags"][2])
    assert written["meta"].tolist() == ['{"lang": "en"}', '{"lang": "fr"}', '{"lang": null}']
    assert written["text"].tolist() == ["x", "y", "z"]


def test_jsonl_writes_numpy_arrays_as_json_arrays(tmp_path: Path, results: pd.DataFrame) -> None:
    """A DataFrame's cells may hold NumPy arrays (pandas reads Parquet lists so), of objects too, and
    inside dicts: JSON arrays, not their text (`"['x' 'y']"`)."""
    frame = pd.DataFrame(
        {
            "tags": pd.Series([np.array(["x", "y"], dtype=object), None, np.array([], dtype=object)]),
            "meta": [{"k": 1, "l": np.array(["u"], dtype=object)}, None, {"k": 2, "l": np.array([1.5])}],
        }
    )
    lines = write_output(frame, results, tmp_path / "out.jsonl").read_text().splitlines()
    records = [orjson.loads(line) for line in lines]
    assert [r["tags"] for r in records] == [["x", "y"], None, []]
    assert [r["meta"] for r in records] == [{"k": 1, "l": ["u"]}, None, {"k": 2, "l": [1.5]}]


def test_csv_writes_typed_and_untyped_nested_values_alike(tmp_path: Path, results: pd.DataFrame) -> None:
    """A structured output's typed column (Arrow-backed) and an input's own nested values (Python objects)
    are the same JSON text in one file: the typed ones were written compact, the others spaced."""
    value = {"name": "Zoë", "tags": ["a", "b"]}
    typed = pa.struct([("name", pa.string()), ("tags", pa.list_(pa.string()))])
    frame = pd.DataFrame(
        {"typed": pd.Series([value] * 3, dtype=pd.ArrowDtype(typed)), "untyped": [value] * 3}
    )
    written = pd.read_csv(write_output(frame, results, tmp_path / "out.csv"))
    assert (
        written["typed"].tolist()
        == written["untyped"].tolist()
        == ['{"name": "Zoë", "tags": ["a", "b"]}'] * 3
    )


def test_tsv_is_tab_separated_and_keeps_tabs_commas_and_newlines_in_text(
    tmp_path: Path, results: pd.DataFrame
) -> None:
    frame = pd.DataFrame({"ticket_id, ref": ["1", "2", "3"], "subject": ["a\tb", "c, d", "e\nf"]})
    written = write_output(frame, results, tmp_path / "out.tsv")
    assert written.read_text().splitlines()[0].split("\t")[:3] == [
        "ticket_id, ref",
        "subject",
        "rowrelay_status",
    ]
    read = read_input(written)  # a .tsv is read as tabs whatever its header holds
    assert read["subject"].tolist() == ["a\tb", "c, d", "e\nf"]
    assert read["ticket_id, ref"].tolist() == ["1", "2", "3"]


_PNG = b"\x89PNG\r\n\x1a\n\x00\xff"
_PNG_BASE64 = "iVBORw0KGgoA/w=="  # standard alphabet (`/`), padded


@pytest.fixture
def images(tmp_path: Path) -> pd.DataFrame:
    """An input as a user trial had it: Parquet bytes (`--image-column pic`), a Hugging Face image struct
    `{bytes, path}`, and bytes in a list."""
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    source = tmp_path / "in.parquet"
    pq.write_table(
        pa.table(
            {
                "pic": pa.array([_PNG, None, _PNG], pa.binary()),
                "image": pa.array(
                    [{"bytes": _PNG, "path": "a.png"}, None, {"bytes": None, "path": "b"}], image
                ),
                "pages": pa.array([[_PNG], [], None], pa.list_(pa.binary())),
            }
        ),
        source,
    )
    return read_input(source)


def test_csv_writes_bytes_as_base64(tmp_path: Path, results: pd.DataFrame, images: pd.DataFrame) -> None:
    """Bytes were written as Python's repr (`b'\\x89PNG…'`), which no tool decodes."""
    written = pd.read_csv(write_output(images, results, tmp_path / "out.csv"))
    assert written["pic"].tolist()[::2] == [_PNG_BASE64] * 2
    assert orjson.loads(written["image"][0]) == {"bytes": _PNG_BASE64, "path": "a.png"}
    assert orjson.loads(written["image"][2]) == {"bytes": None, "path": "b"}
    assert orjson.loads(written["pages"][0]) == [_PNG_BASE64]
    assert base64.b64decode(written["pic"][0], validate=True) == _PNG


def test_jsonl_writes_bytes_as_base64(tmp_path: Path, results: pd.DataFrame, images: pd.DataFrame) -> None:
    lines = write_output(images, results, tmp_path / "out.jsonl").read_text().splitlines()
    records = [orjson.loads(line) for line in lines]
    assert [r["pic"] for r in records] == [_PNG_BASE64, None, _PNG_BASE64]
    assert [r["image"] for r in records] == [
        {"bytes": _PNG_BASE64, "path": "a.png"},
        None,
        {"bytes": None, "path": "b"},
    ]
    assert [r["pages"] for r in records] == [[_PNG_BASE64], [], None]


def test_arrow_backed_bytes_are_base64_in_csv_and_jsonl(tmp_path: Path, results: pd.DataFrame) -> None:
    """A DataFrame read with pandas' `dtype_backend="pyarrow"` holds bytes in an Arrow-backed column."""
    frame = pd.DataFrame({"pic": pd.Series([_PNG, None, b""], dtype=pd.ArrowDtype(pa.binary()))})
    csv = pd.read_csv(write_output(frame, results, tmp_path / "out.csv"), keep_default_na=False)
    assert csv["pic"].tolist() == [_PNG_BASE64, "", ""]
    lines = write_output(frame, results, tmp_path / "out.jsonl").read_text().splitlines()
    assert [orjson.loads(line)["pic"] for line in lines] == [_PNG_BASE64, None, ""]


def test_parquet_keeps_bytes_as_binary(tmp_path: Path, results: pd.DataFrame, images: pd.DataFrame) -> None:
    table = pq.read_table(write_output(images, results, tmp_path / "out.parquet"))
    assert table.schema.field("pic").type == pa.binary()
    assert table.schema.field("image").type == pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    assert table.schema.field("pages").type == pa.list_(pa.binary())
    assert table.column("pic").to_pylist() == [_PNG, None, _PNG]
    assert table.column("image").to_pylist()[0] == {"bytes": _PNG, "path": "a.png"}


_UNION_SCHEMA = {
    "type": "object",
    "properties": {
        "mixed": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "items": {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]}},
        "free": {"type": "object", "additionalProperties": True},
    },
}


@pytest.fixture
def union_results(results: pd.DataFrame) -> pd.DataFrame:
    """Results with typed columns that keep their values as JSON text (no one Arrow type fits them)."""
    answers = [
        '{"mixed": "invoice shipping", "items": [], "free": {"k": [1]}}',  # row 2
        None,  # row 0 failed
        '{"mixed": 1, "items": [2, "b"], "free": {}}',  # row 1
    ]
    return with_typed_columns(results.assign(output_text=pd.Series(answers, dtype=object)), _UNION_SCHEMA)


def test_jsonl_writes_json_text_typed_columns_as_json(
    tmp_path: Path, frame: pd.DataFrame, union_results: pd.DataFrame
) -> None:
    """A union field's column is JSON text (for Parquet); JSONL wrote that text as a string,
    `"mixed":"\\"invoice shipping\\""`, where it writes every other value as JSON."""
    text = write_output(frame, union_results, tmp_path / "out.jsonl").read_text()
    records = [orjson.loads(line) for line in text.splitlines()]
    assert [r["mixed"] for r in records] == [None, 1, "invoice shipping"]
    assert [r["items"] for r in records] == [None, [2, "b"], []]
    assert [r["free"] for r in records] == [None, {}, {"k": [1]}]
    assert '"mixed":1,' in text.splitlines()[1]


def test_csv_writes_json_text_typed_columns_as_their_values(
    tmp_path: Path, frame: pd.DataFrame, union_results: pd.DataFrame
) -> None:
    """As a string field's column is: `invoice shipping`, not `"invoice shipping"` with its quotes."""
    written = pd.read_csv(write_output(frame, union_results, tmp_path / "out.csv"), dtype=str)
    assert written["mixed"].tolist()[1:] == ["1", "invoice shipping"]
    assert written["items"].tolist()[1:] == ['[2, "b"]', "[]"]
    assert written["free"].tolist()[1:] == ["{}", '{"k": [1]}']


def test_parquet_keeps_json_text_typed_columns_as_text(
    tmp_path: Path, frame: pd.DataFrame, union_results: pd.DataFrame
) -> None:
    table = pq.read_table(write_output(frame, union_results, tmp_path / "out.parquet"))
    assert table.schema.field("mixed").type == pa.large_string()
    assert table.column("mixed").to_pylist() == [None, "1", '"invoice shipping"']
    assert table.column("items").to_pylist() == [None, ["2", '"b"'], []]


def test_an_inputs_arrow_string_column_is_not_read_as_json(tmp_path: Path, results: pd.DataFrame) -> None:
    """pandas' `dtype_backend="pyarrow"` gives text the Arrow type typed columns keep JSON text in: an
    input's is written as the text it is."""
    frame = pd.DataFrame({"code": pd.Series(["1", '"q"', None], dtype=pd.ArrowDtype(pa.large_string()))})
    lines = write_output(frame, results, tmp_path / "out.jsonl").read_text().splitlines()
    assert [orjson.loads(line)["code"] for line in lines] == ["1", '"q"', None]
