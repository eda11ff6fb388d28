"""Read a batch's input: CSV, Parquet, JSON lines (or a JSON list of records), or a DataFrame.

The format comes from the file's extension. CSV (comma-separated, or semicolon, tab or pipe, as its
header line shows) and TSV are read with every column as a string and only empty cells as missing,
so ids such as ``"007"`` and text such as ``"N/A"`` survive untouched; Parquet and
JSON keep the types they carry, integers with missing values included: an integer column with a gap, and
the integers inside a Parquet list, struct or map with one (pandas alone reads both as float64: ``3.0``
in prompts, ``12345678901234567`` rounded), a Parquet map is read as a dict (a JSON object), and the
named index levels pandas writes into a Parquet file are columns, as a DataFrame's are
(`parquet_reading`). Anything unreadable, text that is not UTF-8 or a CSV row with more or fewer fields
than its header (`short_rows`) included, becomes a `UsageError` naming the path, before any request is
spent. One leading UTF-8 byte order mark, which Windows tools write, is read past in every text format.
The Arrow types pandas' values do not tell (a map, a decimal) are noted on the frame for the output
(`kept_types`).

How a file is read is versioned (`readings.READING`), because a row's prompt, and so its key and input
hash, depend on it: a batch planned by an earlier release is resumed with the reading it was planned with
(`EARLIER_READINGS` says what each did), so no row of it is planned again and paid twice.

    >>> frame = read_input("data/sample/tickets.csv")
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from rowrelay.tasks.dataset.duplicate_names import refuse_duplicate_names
from rowrelay.tasks.dataset.given_frame import given_frame
from rowrelay.tasks.dataset.misnamed import refuse_csv_line_as_json, refuse_json_as_csv
from rowrelay.tasks.dataset.parquet_reading import read_parquet
from rowrelay.tasks.dataset.readings import COLUMNS_KEPT, FIRST_READING, READING
from rowrelay.tasks.dataset.short_rows import refuse_short_rows
from rowrelay.tasks.dataset.valid_text import arrow_columns, invalid_text
from rowrelay.tasks.errors import UsageError

__all__ = ["INPUT_EXTENSIONS", "read_input"]

_SEPARATORS = (",", ";", "\t", "|")
_QUOTED = re.compile(r'"[^"]*(?:"|$)')
"""A quoted header cell (a doubled quote inside one reads as two cells, both dropped alike), or one the
line leaves open (its text goes on past the line break)."""


def _separator(path: Path) -> str:
    """The separator the header line uses: the one it holds most often outside quotes, a comma where
    another is as often (and in a one-column file); spreadsheets write ';' where the decimal mark is a
    comma, exports and .tsv files tabs or pipes. Read as commas, such a file became one column whose name
    held every header, and a template over its columns was refused as naming none of them. A comma in a
    quoted name ('id;"Preis, EUR";text', European Excel's), or any comma ('id<TAB>name, first<TAB>text'),
    made it read as commas, refused as cut short. Not a new reading: read as commas, such a header's
    names are cut at other places, none of them a name it has now, so a batch planned from one (its
    template or id column naming one) is refused now, not in the input, never sent again. The header
    line alone is read."""
    with path.open("rb") as file:
        header = file.readline(65_536).decode("utf-8", errors="replace")
    unquoted = _QUOTED.sub("", header)
    counts = {separator: unquoted.count(separator) for separator in _SEPARATORS}
    most = max(counts.values())
    found = [separator for separator, count in counts.items() if count == most]
    return found[0] if most and len(found) == 1 else ","


_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
"""pandas' words for a row with more fields than the rows before it."""


def _read_csv(path: Path, separator: str | None = None) -> pd.DataFrame:
    refuse_json_as_csv(path)  # read as CSV, JSON was 'no rows', or columns named by its pieces
    separator = separator or _separator(path)
    quote = f'quote a value that holds {separator!r} ("hello{separator} world"), or name every column '
    quote += "in the header"
    try:
        frame = pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.ParserError as exc:
        ragged = _RAGGED.search(str(exc))
        if ragged is None:
            raise
        expected, line, saw = ragged.groups()
        raise ValueError(f"line {line} has {saw} fields where the header names {expected}: {quote}") from exc
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas takes a first row with one field more than the header for a file whose rows start with
        # an index, and read every value one column to the left: each row's prompt was its neighbour's.
        columns = len(frame.columns)
        header = f"{columns} column{'' if columns == 1 else 's'}"
        raise ValueError(f"its first row has more fields than the header's {header}: {quote}")
    refuse_short_rows(path, separator, frame)  # a file cut short: pandas fills its last row with nothing
    # pandas renames a repeated header ('text', 'text.1'), so a file whose header named a column twice
    # was read as if it had not (the output's header said 'text.1'): its own names go back, and
    # `read_input` refuses them as for any input. Unnamed columns are left to pandas' 'Unnamed: N'.
    first = pd.read_csv(path, sep=separator, dtype=str, header=None, nrows=1, keep_default_na=False)
    names = [str(name) for name in first.iloc[0]]
    named = [name for name in names if name]
    if len(names) == len(frame.columns) and len(set(named)) < len(named):
        frame.columns = pd.Index(names)
    return frame


def _records_frame(path: Path, records: list[Any], where: Callable[[int], str], reading: int) -> pd.DataFrame:
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise UsageError(f"{path}: {where(number)} is not a JSON object (got {type(record).__name__})")
    frame = pd.DataFrame(records)
    if reading >= COLUMNS_KEPT:
        _keep_integers(frame, records)
    return frame


def _keep_integers(frame: pd.DataFrame, records: list[dict[str, Any]]) -> None:
    """Give back their integers to the float64 columns pandas made of JSON integers and nulls (or absent
    keys). A column that held a JSON number with a fraction or exponent (``2.5``, ``3.0``) stays float64."""
    for name in frame.columns[frame.dtypes == np.float64]:
        values = [record.get(name) for record in records]
        if any(value is not None for value in values) and all(
            value is None or type(value) is int
            for value in values  # bool is an int subclass: not taken
        ):
            frame[name] = pd.array(values)  # Int64 or UInt64; Python ints beyond both (object)


_BOM = b"\xef\xbb\xbf"
"""UTF-8's byte order mark, which Windows tools (Notepad, PowerShell's `Out-File -Encoding utf8`) write
first: one leading mark is read past, as pandas does in a CSV, so the first record is the file's own.
orjson refused it ("UTF-8 byte order mark (BOM) is not supported"), exit 2, so no batch was ever planned
from such a file under any reading, and a file without one reads byte for byte as before."""


def _read_jsonl(path: Path, reading: int) -> pd.DataFrame:
    records: list[Any] = []
    numbers: list[int] = []
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            if number == 1:
                line = line.removeprefix(_BOM)
            if not line.strip():
                continue
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                if not records:  # the first line: a CSV saved as .json reads as one
                    refuse_csv_line_as_json(path, line, str(exc))
                raise UsageError(f"{path}: line {number} is not valid JSON: {exc}") from exc
            numbers.append(number)
    return _records_frame(path, records, lambda i: f"line {numbers[i - 1]}", reading)


def _read_json(path: Path, reading: int) -> pd.DataFrame:
    """A ``.json`` file: either a list of records or JSON lines, told apart by the first character."""
    data = path.read_bytes().removeprefix(_BOM)
    if not data.lstrip().startswith(b"["):
        return _read_jsonl(path, reading)
    try:
        records = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON: {exc}") from exc
    return _records_frame(path, records, lambda i: f"record {i}", reading)


_READERS: dict[str, Callable[[Path, int], pd.DataFrame]] = {
    "csv": lambda path, _reading: _read_csv(path),  # text whatever the reading: nothing to keep
    "tsv": lambda path, _reading: _read_csv(path, "\t"),
    "parquet": read_parquet,
    "jsonl": _read_jsonl,
    "json": _read_json,
}
INPUT_EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
"""Recognised input extensions (lower case) and the reader each selects."""


_FORMATS = "CSV, TSV, Parquet, JSONL or JSON"


def _read_file(path: Path, reading: int) -> pd.DataFrame:
    if not path.exists():
        # `-` and a quoted pattern were "input file not found", which read as a typing mistake.
        known = f"give one {_FORMATS} file ({', '.join(INPUT_EXTENSIONS)})"
        if str(path) == "-":
            raise UsageError(f"reading the input from stdin ('-') is not supported: {known}")
        if glob.has_magic(str(path)):
            raise UsageError(f"input {path}: patterns (globs) are not supported: {known}")
        raise UsageError(f"input file not found: {path}")
    if not path.is_file():
        raise UsageError(f"input path is not a file: {path}")
    kind = INPUT_EXTENSIONS.get(path.suffix.lower())
    if kind is None:
        known = ", ".join(INPUT_EXTENSIONS)
        raise UsageError(f"unknown input extension {path.suffix!r} for {path} (use one of {known})")
    if path.stat().st_size == 0:
        raise UsageError(f"input file is empty: {path}")
    try:
        return _READERS[kind](path, reading)
    except UsageError:
        raise
    except UnicodeDecodeError as exc:  # a spreadsheet's export in its own code page, typically
        byte = exc.object[exc.start]
        raise UsageError(
            f"cannot read {path} as {kind}: it is not UTF-8 text (it holds byte {byte:#04x}); "
            "save it as UTF-8 (in a spreadsheet: CSV UTF-8)"
        ) from exc
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise UsageError(f"cannot read {path} as {kind}: {exc}") from exc


def read_input(source: str | Path | pd.DataFrame, reading: int = READING) -> pd.DataFrame:
    """Read a batch's input into a DataFrame, in input order; a file as `reading` says (`READING`, or an
    earlier one, from `FIRST_READING` on, for a batch an earlier release planned).

    A DataFrame is copied, so later changes to the caller's frame cannot change the batch. Raises
    `UsageError` for a missing file, an unknown extension, an unreadable or corrupt file, duplicate
    column names, or an input without rows.
    """
    if not FIRST_READING <= reading <= READING:
        raise ValueError(f"unknown input reading {reading} (this release reads {FIRST_READING} to {READING})")
    if isinstance(source, pd.DataFrame):
        frame, where = given_frame(source), "the input DataFrame"
        problem = invalid_text(arrow_columns(frame))  # Arrow-backed columns built from a file's bytes
        if problem is not None:
            raise UsageError(f"{where}: {problem}")
    else:
        path = Path(source)
        frame, where = _read_file(path, reading), str(path)
    refuse_duplicate_names(frame.columns, where)
    if len(frame.columns) == 0 or len(frame) == 0:
        raise UsageError(f"{where} has no rows: nothing to send")
    return frame
