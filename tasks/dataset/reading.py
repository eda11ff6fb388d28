"""Read a batch's input: CSV, Parquet, JSON lines (or a JSON list of records), or a DataFrame.

The format comes from the file's extension. CSV (comma-separated, or semicolon, tab or pipe, as its
header line shows) and TSV are read with every column as a string and only empty cells as missing,
so ids such as ``"007"`` and text such as ``"N/A"`` survive untouched; Parquet and
JSON keep the types they carry. Anything unreadable becomes a `UsageError` naming the path, before any
request is spent.

    >>> frame = read_input("data/sample/tickets.csv")
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa

from rowrelay.tasks.errors import UsageError

__all__ = ["INPUT_EXTENSIONS", "read_input"]


_OTHER_SEPARATORS = (";", "\t", "|")


def _separator(path: Path) -> str:
    """The separator the header line uses: a comma if it holds one; else the only other separator it
    holds (spreadsheets write ';' where the decimal mark is a comma; exports and .tsv files use tabs or
    pipes); else a comma (a one-column file). Read as commas, such a file became one column whose
    name held every header, and a template over its columns was refused as naming none of them."""
    with path.open("rb") as file:
        header = file.readline(65_536).decode("utf-8", errors="replace")
    if "," in header:
        return ","
    found = [separator for separator in _OTHER_SEPARATORS if separator in header]
    return found[0] if len(found) == 1 else ","


def _read_csv(path: Path, separator: str | None = None) -> pd.DataFrame:
    separator = separator or _separator(path)
    frame = pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False, na_values=[""])
    # pandas renames a repeated header ('text', 'text.1'), so a file whose header named a column twice
    # was read as if it had not (the output's header said 'text.1'): its own names go back, and
    # `read_input` refuses them as for any input. Unnamed columns are left to pandas' 'Unnamed: N'.
    first = pd.read_csv(path, sep=separator, dtype=str, header=None, nrows=1, keep_default_na=False)
    names = [str(name) for name in first.iloc[0]]
    named = [name for name in names if name]
    if len(names) == len(frame.columns) and len(set(named)) < len(named):
        frame.columns = pd.Index(names)
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def _records_frame(path: Path, records: list[Any], where: Callable[[int], str]) -> pd.DataFrame:
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise UsageError(f"{path}: {where(number)} is not a JSON object (got {type(record).__name__})")
    return pd.DataFrame(records)


def _read_jsonl(path: Path) -> pd.DataFrame:
    records: list[Any] = []
    numbers: list[int] = []
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise UsageError(f"{path}: line {number} is not valid JSON: {exc}") from exc
            numbers.append(number)
    return _records_frame(path, records, lambda i: f"line {numbers[i - 1]}")


def _read_json(path: Path) -> pd.DataFrame:
    """A ``.json`` file: either a list of records or JSON lines, told apart by the first character."""
    data = path.read_bytes()
    if not data.lstrip().startswith(b"["):
        return _read_jsonl(path)
    try:
        records = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON: {exc}") from exc
    return _records_frame(path, records, lambda i: f"record {i}")


_READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "csv": _read_csv,
    "tsv": lambda path: _read_csv(path, "\t"),
    "parquet": _read_parquet,
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


def _read_file(path: Path) -> pd.DataFrame:
    if not path.exists():
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
        return _READERS[kind](path)
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


def read_input(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read a batch's input into a DataFrame, in input order.

    A DataFrame is copied, so later changes to the caller's frame cannot change the batch. Raises
    `UsageError` for a missing file, an unknown extension, an unreadable or corrupt file, duplicate
    column names, or an input without rows.
    """
    if isinstance(source, pd.DataFrame):
        frame, where = source.copy(), "the input DataFrame"
    else:
        path = Path(source)
        frame, where = _read_file(path), str(path)
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise UsageError(f"{where} has duplicate column names: {', '.join(duplicated)}")
    if len(frame.columns) == 0 or len(frame) == 0:
        raise UsageError(f"{where} has no rows: nothing to send")
    return frame
