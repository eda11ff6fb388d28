"""read_input: every format, round trips, and every refusal with its message."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pytest

from rowrelay.tasks.dataset import read_input
from rowrelay.tasks.errors import UsageError


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["007", "008", "010"],
            "subject": ["Refund", "N/A", "Login, again"],
            "body": ["line one\nline two", "NA", 'quote "this"'],
        }
    )


def test_csv_keeps_strings_and_only_empty_cells_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('id,n,note\n007,1,NA\n008,2,\n010,3,"a, b"\n')
    read = read_input(path)
    assert read["id"].tolist() == ["007", "008", "010"]
    assert read["n"].tolist() == ["1", "2", "3"]
    assert read["note"].tolist()[0] == "NA"
    assert pd.isna(read["note"].tolist()[1])
    assert read["note"].tolist()[2] == "a, b"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("semicolons.csv", '\ufeffid;note\n007;a, b\n008;"x;y"\n'),  # a spreadsheet's, with its BOM
        ("tabs.tsv", "id\tnote\n007\ta, b\n008\tx;y\n"),
        ("pipes.csv", "id|note\n007|a, b\n008|x;y\n"),
    ],
)
def test_csv_separated_otherwise_is_read_by_its_header_line(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    read = read_input(path)
    assert read.columns.tolist() == ["id", "note"]
    assert read["id"].tolist() == ["007", "008"]
    assert read["note"].tolist() == ["a, b", "x;y"]


def test_a_header_with_a_comma_is_read_as_commas_whatever_else_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('id,"note; or tab\t"\n1,a;b\n')
    read = read_input(path)
    assert read.columns.tolist() == ["id", "note; or tab\t"]
    assert read.iloc[:, 1].tolist() == ["a;b"]


def test_a_one_column_csv_stays_one_column(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("prompt\nhello there\nwhat; now\n")
    assert read_input(path)["prompt"].tolist() == ["hello there", "what; now"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".pq", ".jsonl", ".ndjson"])
def test_round_trip(tmp_path: Path, frame: pd.DataFrame, suffix: str) -> None:
    path = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    read = read_input(path)
    assert read.to_dict("records") == frame.to_dict("records")


def test_uppercase_extension_is_recognised(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = tmp_path / "IN.CSV"
    frame.to_csv(path, index=False)
    assert read_input(str(path))["id"].tolist() == ["007", "008", "010"]


def test_json_list_of_records(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_bytes(orjson.dumps([{"id": "007", "n": 1}, {"id": "008", "n": 2, "extra": "x"}]))
    read = read_input(path)
    assert read["id"].tolist() == ["007", "008"]
    assert read["n"].tolist() == [1, 2]
    assert list(read.columns) == ["id", "n", "extra"]


def test_json_holding_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text('{"id": "007"}\n\n{"id": "008"}\n')
    assert read_input(path)["id"].tolist() == ["007", "008"]


def test_dataframe_passes_through_as_a_copy(frame: pd.DataFrame) -> None:
    read = read_input(frame)
    pd.testing.assert_frame_equal(read, frame)
    read.loc[0, "subject"] = "changed"
    assert frame.loc[0, "subject"] == "Refund"


def test_a_dataframes_named_index_is_kept_as_columns_and_an_unnamed_one_left_out(frame: pd.DataFrame) -> None:
    """`set_index("ticket_id")` made the ids the index: the output lost them, and `id_column` could not
    name them. A filtered frame's unnamed positions are not data."""
    keyed = frame.assign(ticket_id=["T-1", "T-2", "T-3"]).set_index("ticket_id")
    assert list(read_input(keyed).columns) == ["ticket_id", *frame.columns]
    assert read_input(keyed)["ticket_id"].tolist() == ["T-1", "T-2", "T-3"]
    two = frame.assign(a=[1, 2, 3], b=["x", "y", "z"]).set_index(["a", "b"])
    assert list(read_input(two).columns)[:2] == ["a", "b"]
    pd.testing.assert_frame_equal(read_input(frame.iloc[::-1]), frame.iloc[::-1])


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    with pytest.raises(UsageError, match=r"input file not found: .*absent\.csv"):
        read_input(path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="input path is not a file"):
        read_input(tmp_path)


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "in.xlsx"
    path.write_text("x")
    with pytest.raises(UsageError, match=r"unknown input extension '\.xlsx' for .*in\.xlsx \(use one of"):
        read_input(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("")
    with pytest.raises(UsageError, match=r"input file is empty: .*in\.csv"):
        read_input(path)


def test_header_only_csv_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id,subject\n")
    with pytest.raises(UsageError, match=r"in\.csv has no rows: nothing to send"):
        read_input(path)


def test_empty_dataframe() -> None:
    with pytest.raises(UsageError, match="the input DataFrame has no rows"):
        read_input(pd.DataFrame({"a": []}))


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    path.write_bytes(b"this is not parquet at all")
    with pytest.raises(UsageError, match=r"cannot read .*in\.parquet as parquet"):
        read_input(path)


def test_undecodable_csv(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"id,text\n1,\xff\xfe\xfa\n")
    with pytest.raises(UsageError, match=r"cannot read .*in\.csv as csv"):
        read_input(path)


def test_a_csv_in_a_spreadsheets_code_page_is_refused_saying_how_to_save_it(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes("id,text\n1,café\n".encode("cp1252"))
    with pytest.raises(UsageError) as refused:
        read_input(path)
    assert str(refused.value) == (
        f"cannot read {path} as csv: it is not UTF-8 text (it holds byte 0xe9); "
        "save it as UTF-8 (in a spreadsheet: CSV UTF-8)"
    )


@pytest.mark.parametrize(
    ("text", "separator", "problem"),
    [
        # every row one field over: pandas read the first field as an index, each value one column left
        (
            "id,body\n1,hello,EXTRA\n2,bye,MORE\n",
            ",",
            "its first row has more fields than the header's 2 columns",
        ),
        ("body\nhello, world\nbye\n", ",", "its first row has more fields than the header's 1 column"),
        ("id;body\n1;fine\n2;a;b\n", ";", "line 3 has 3 fields where the header names 2"),
    ],
)
def test_rows_with_more_fields_than_the_header_are_refused_saying_to_quote(
    tmp_path: Path, text: str, separator: str, problem: str
) -> None:
    path = tmp_path / "in.csv"
    path.write_text(text)
    with pytest.raises(UsageError) as refused:
        read_input(path)
    assert str(refused.value) == (
        f"cannot read {path} as csv: {problem}: quote a value that holds {separator!r} "
        f'("hello{separator} world"), or name every column in the header'
    )


def test_bad_json_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 1}\n{"id": 2\n')
    with pytest.raises(UsageError, match=r"in\.jsonl: line 2 is not valid JSON"):
        read_input(path)


def test_json_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    path.write_text('{"id": 1}\n\n[1, 2]\n')
    with pytest.raises(UsageError, match=r"in\.ndjson: line 3 is not a JSON object \(got list\)"):
        read_input(path)


def test_json_list_of_non_records(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text('[{"id": 1}, "oops"]')
    with pytest.raises(UsageError, match=r"in\.json: record 2 is not a JSON object \(got str\)"):
        read_input(path)


def test_truncated_json_list(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text('[{"id": 1}, ')
    with pytest.raises(UsageError, match=r"in\.json: not valid JSON"):
        read_input(path)


def test_duplicate_column_names() -> None:
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(UsageError, match="the input DataFrame has duplicate column names: a"):
        read_input(frame)


@pytest.mark.parametrize(
    ("name", "text"), [("in.csv", "id,text,text\n1,a,b\n"), ("in.tsv", "id\ttext\ttext\n1\ta\tb\n")]
)
def test_a_header_naming_a_column_twice_is_refused_not_renamed(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UsageError, match=f"^{path} has duplicate column names: text$"):
        read_input(path)


def test_unnamed_columns_are_not_taken_for_repeats(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id,,\n1,a,b\n")
    assert list(read_input(path).columns) == ["id", "Unnamed: 1", "Unnamed: 2"]


def _integers_with_gaps(path: Path) -> Path:
    """A file of integer columns with missing values, as a database export writes them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "n": pa.array([3, None, 12345678901234567], pa.int64()),
            "u": pa.array([18446744073709551615, None, 1], pa.uint64()),
            "small": pa.array([1, 2, None], pa.int8()),
            "whole": pa.array([1, 2, 3], pa.int32()),
            "ratio": pa.array([1.5, None, 2.0], pa.float64()),
        }
    )
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    else:
        path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in table.to_pylist()))
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_integer_columns_with_missing_values_stay_integers(tmp_path: Path, suffix: str) -> None:
    """pandas alone reads them as float64: 3 became "3.0" in prompts and 12345678901234567 was rounded."""
    read = read_input(_integers_with_gaps(tmp_path / f"in{suffix}"))
    assert read["n"].tolist()[0] == 3
    assert pd.isna(read["n"].tolist()[1])
    assert read["n"].tolist()[2] == 12345678901234567
    assert read["u"].tolist()[0] == 18446744073709551615
    assert pd.isna(read["small"].tolist()[2])
    assert [pd.api.types.is_integer_dtype(read[name]) for name in ("n", "u", "small", "whole")] == [True] * 4
    assert read["ratio"].dtype == "float64"  # a column of fractions stays what it was
    from rowrelay.tasks.dataset import InputSpec, prepare

    prompts = prepare(read, InputSpec(template="{n}|{u}|{small}|{ratio}")).rows
    assert [row.prompt for row in prompts] == [
        "3|18446744073709551615|1|1.5",
        "||2|",
        "12345678901234567|1||2.0",
    ]


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_the_first_reading_is_pandas_own_for_batches_an_earlier_release_planned(
    tmp_path: Path, suffix: str
) -> None:
    from rowrelay.tasks.dataset import FIRST_READING

    read = read_input(_integers_with_gaps(tmp_path / f"in{suffix}"), FIRST_READING)
    assert read["n"].dtype == "float64"
    assert read["n"].tolist()[0] == 3.0
    assert read["whole"].dtype == ("int64" if suffix == ".jsonl" else "int32")  # JSON carries no width


def test_json_numbers_written_as_decimals_and_booleans_keep_their_types(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_bytes(orjson.dumps([{"f": 3.0, "b": True, "none": None}, {"f": None, "b": None}, {"f": 1}]))
    read = read_input(path)
    assert read["f"].dtype == "float64"  # 3.0 was written as a decimal: a float column, as pandas reads it
    assert read["b"].tolist()[:1] == [True]
    assert read["b"].dtype == object
    assert read["none"].isna().all()
    assert read["none"].dtype != "Int64"  # no integer in it: nothing to keep


def test_a_nullable_integer_column_pandas_wrote_and_the_index_come_back_as_they_were(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    written = pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "m": [None, 7]}, index=[5, 6])
    written.to_parquet(path)
    read = read_input(path)
    assert read.index.tolist() == [5, 6]
    assert read["n"].dtype == "Int64"
    assert read["m"].tolist()[1] == 7.0  # pandas made this float64 itself before writing: floats it stays


def _nested_integers_with_gaps(path: Path) -> Path:
    """A Parquet file whose lists, structs and maps hold integers beside nulls (or in rows that are null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    big = 12345678901234567
    table = pa.table(
        {
            "L": pa.array([[1, None, big], [2, 3], None], pa.list_(pa.int64())),
            "M": pa.array([{"k": big}, None, {"k": 2}], pa.struct([("k", pa.int64())])),
            "big": pa.array([[big], None, [4, None]], pa.large_list(pa.uint64())),
            "pair": pa.array([[1, None], None, [5, 6]], pa.list_(pa.int32(), 2)),
            "counts": pa.array([[("a", big)], None, [("b", None)]], pa.map_(pa.string(), pa.int64())),
            "tags": pa.array([["x", None], None, ["y"]], pa.list_(pa.string())),
        }
    )
    pq.write_table(table, path)
    return path


_NESTED_TEMPLATE = "M={M} L={L} big={big} pair={pair} counts={counts} tags={tags}"


def test_integers_inside_nested_parquet_values_with_missing_values_stay_integers(tmp_path: Path) -> None:
    """pandas reads them as float64 (NumPy arrays): the prompt said 1.2345678901234568e+16 and [2.0, 3.0]."""
    from rowrelay.tasks.dataset import InputSpec, prepare

    read = read_input(_nested_integers_with_gaps(tmp_path / "in.parquet"))
    big = 12345678901234567
    assert read["L"].tolist() == [[1, None, big], [2, 3], None]
    assert read["M"].tolist() == [{"k": big}, None, {"k": 2}]
    assert read["counts"].tolist() == [{"a": big}, None, {"b": None}]  # a map is a JSON object (reading 4)
    for name in ("L", "M", "big", "pair", "counts"):
        numbers = [leaf for value in read[name] if value is not None for leaf in _leaves(value)]
        numbers = [leaf for leaf in numbers if leaf is not None and not isinstance(leaf, str)]  # map keys
        assert numbers, name
        assert all(type(leaf) is int for leaf in numbers), name
    prompts = [row.prompt for row in prepare(read, InputSpec(template=_NESTED_TEMPLATE)).rows]
    assert prompts == [
        f'M={{"k": {big}}} L=[1, null, {big}] big=[{big}] pair=[1, null] counts={{"a": {big}}} '
        'tags=["x", null]',
        "M= L=[2, 3] big= pair= counts= tags=",
        'M={"k": 2} L= big=[4, null] pair=[5, 6] counts={"b": null} tags=["y"]',
    ]


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list | tuple):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


@pytest.mark.parametrize("reading", [1, 2])
def test_the_earlier_readings_read_nested_integers_as_pandas_does(tmp_path: Path, reading: int) -> None:
    """As batches they planned were: none of their rows' prompts changes on resuming."""
    from rowrelay.tasks.dataset import InputSpec, prepare

    read = read_input(_nested_integers_with_gaps(tmp_path / "in.parquet"), reading)
    assert read["L"].tolist()[1].dtype == "float64"
    prompts = [row.prompt for row in prepare(read, InputSpec(template="M={M} L={L}")).rows]
    assert prompts == [
        'M={"k": 1.2345678901234568e+16} L=[1.0, null, 1.2345678901234568e+16]',
        "M= L=[2.0, 3.0]",
        'M={"k": 2.0} L=',
    ]


@pytest.mark.parametrize("name", ["out.parquet", "out.csv", "out.jsonl"])
def test_nested_integers_reach_the_output_as_integers(tmp_path: Path, name: str) -> None:
    """Parquet keeps their integer types inside (it wrote list<double> and struct<k: double>); CSV and JSON
    lines show them exactly."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rowrelay.tasks.dataset import write_output

    read = read_input(_nested_integers_with_gaps(tmp_path / "in.parquet"))
    from rowrelay.tasks.dataset import RESULT_COLUMNS

    results = pd.DataFrame({"row_index": [0, 1, 2], **{name: [None] * 3 for name in RESULT_COLUMNS}})
    written = write_output(read, results, tmp_path / name)
    big = 12345678901234567
    if name.endswith(".parquet"):
        schema = pq.read_schema(written)
        assert schema.field("L").type == pa.list_(pa.int64())
        assert schema.field("M").type == pa.struct([("k", pa.int64())])
        assert schema.field("pair").type == pa.list_(pa.int32(), 2), "the input's own type (1b589b5)"
        assert pq.read_table(written).column("L").to_pylist() == [[1, None, big], [2, 3], None]
    elif name.endswith(".csv"):
        text = written.read_text()
        assert f'"{{""k"": {big}}}"' in text
        assert f'"[1, null, {big}]"' in text
    else:
        first = orjson.loads(written.read_bytes().splitlines()[0])
        assert first["L"] == [1, None, big]
        assert first["M"] == {"k": big}
        assert type(first["M"]["k"]) is int


@pytest.mark.parametrize("earlier", [1, 2, 3])
def test_reads_alike_tells_without_reading_the_file_whether_an_earlier_reading_may_differ(
    tmp_path: Path, earlier: int
) -> None:
    from rowrelay.tasks.dataset import READING, reads_alike

    nested = _nested_integers_with_gaps(tmp_path / "nested.parquet")  # floats before 3, a map's pairs in 3
    assert not reads_alike(nested, read_input(nested), READING, earlier)
    columns = _integers_with_gaps(tmp_path / "columns.parquet")  # top-level only: reading 2 kept them
    assert reads_alike(columns, read_input(columns), READING, earlier) is (earlier >= 2)
    jsonl = _integers_with_gaps(tmp_path / "columns.jsonl")
    assert reads_alike(jsonl, read_input(jsonl), READING, earlier) is (earlier >= 2)
    lines = tmp_path / "nested.jsonl"  # JSON's nested values were Python's in every reading
    lines.write_text('{"L": [1, null, 12345678901234567]}\n')
    assert reads_alike(lines, read_input(lines), READING, earlier)
    frame = read_input(nested)
    assert reads_alike(frame, frame, READING, earlier)  # a DataFrame is taken as it is


def test_every_earlier_reading_is_described_and_read() -> None:
    from rowrelay.tasks.dataset import EARLIER_READINGS, FIRST_READING, READING

    assert sorted(EARLIER_READINGS) == list(range(FIRST_READING, READING))
    with pytest.raises(ValueError, match=f"this release reads {FIRST_READING} to {READING}"):
        read_input(pd.DataFrame({"a": [1]}), READING + 1)


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("-", "reading the input from stdin ('-') is not supported"),
        ("data/*.csv", "input data/*.csv: patterns (globs) are not supported"),
        ("part-[0-9].parquet", "input part-[0-9].parquet: patterns (globs) are not supported"),
    ],
)
def test_stdin_and_globs_are_said_to_be_unsupported_naming_the_formats_that_are(
    given: str, problem: str
) -> None:
    """Both were "input file not found: -", which reads as a typing mistake, not as a missing feature."""
    with pytest.raises(UsageError) as refused:
        read_input(given)
    assert str(refused.value) == (
        f"{problem}: give one CSV, TSV, Parquet, JSONL or JSON file "
        "(.csv, .tsv, .parquet, .pq, .jsonl, .ndjson, .json)"
    )


def test_a_file_named_like_a_pattern_is_read(tmp_path: Path) -> None:
    path = tmp_path / "in[1].csv"
    path.write_text("id\n1\n")
    assert read_input(path)["id"].tolist() == ["1"]


@pytest.mark.parametrize(
    ("text", "separator", "suffix", "problem"),
    [
        # a file read while still being written: its last row cut after its id
        ("id,subject,body\n1,a,b\n2,b,c\n3", ",", ".csv", "line 4, its last row, has 1 field"),
        ("id,subject,body\r\n1,a,b\r\n3,\r\n", ",", ".csv", "line 3, its last row, has 2 fields"),
        # counted as lines of the file: a quoted field's line break and a blank line before it count
        ('id,subject,body\n1,"two\nlines",b\n\n3\n\n', ",", ".csv", "line 5, its last row, has 1 field"),
        ("id\tsubject\tbody\n1\ta\tb\n2\tb\n", "\t", ".tsv", "line 3, its last row, has 2 fields"),
        ("id;subject;body\n1;a;b\n2\n", ";", ".csv", "line 3, its last row, has 1 field"),
    ],
)
def test_a_last_row_with_fewer_fields_than_the_header_is_refused_naming_the_line(
    tmp_path: Path, text: str, separator: str, suffix: str, problem: str
) -> None:
    """pandas filled such a row with missing values: it was sent with empty fields and paid for, and once
    the file was complete its changed input refused every later run of the batch."""
    path = tmp_path / f"in{suffix}"
    path.write_text(text, newline="")
    with pytest.raises(UsageError) as refused:
        read_input(path)
    kind = suffix[1:]
    assert str(refused.value) == (
        f"cannot read {path} as {kind}: {problem} where the header names 3: the file looks cut short "
        f"(still being written?); complete it, or write the row's every field, empty ones too "
        f"({f'a{separator}{separator}c'!r})"
    )


def test_short_rows_before_the_last_are_read_with_empty_fields_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file is written from its start: a short row before a whole one is no cut, but a spreadsheet's
    or a hand's leaving off the separators of empty last cells, read as it always was."""
    path = tmp_path / "in.csv"
    path.write_text('id,p,notes\n1,a,x\n2,b\n3,"c\nd"\n4,e,y\n', newline="")
    frame = read_input(path)
    assert frame["id"].tolist() == ["1", "2", "3", "4"]
    assert frame["notes"].isna().tolist() == [False, True, True, False]
    assert f"{path}: 2 rows have fewer fields than the header's 3 (e.g. line 3, 2): read with the " in (
        caplog.text
    )


def test_blank_lines_empty_last_fields_and_quoted_line_breaks_are_read_as_before(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    long = "x" * 200_000  # over Python's csv field limit, which pandas does not have
    text = f'\ufeffid,subject,body\n1,a,\n\n   \n2,"two\nlines",\n3,{long},\n4,,\n\n'
    path.write_text(text, newline="")
    frame = read_input(path)
    assert frame["id"].tolist() == ["1", "2", "3", "4"]
    assert frame["subject"].tolist()[:2] == ["a", "two\nlines"]
    assert frame["subject"].str.len().tolist()[2] == 200_000
    assert frame["body"].isna().all()
