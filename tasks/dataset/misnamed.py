"""Inputs whose extension names another format than their text: JSON saved as `.csv`, CSV saved as `.json`.

The extension decides the reader (`reading.INPUT_EXTENSIONS`) and rowrelay has no option naming a format,
so a misnamed file is read as what its name says, and the words that came back named the wrong problem: a
JSON list saved as `.csv` was read as a CSV of one header line and 'has no rows: nothing to send'; JSON
lines as a CSV whose columns were the first record's pieces ('template names column(s) not in the input:
text (available: {"id":1, text:"a"})'); and a CSV saved as `.json` was 'line 1 is not valid JSON:
unexpected character'. Such a file is refused naming what it looks like and the name to give it.

Only what is plainly the other format: a `.csv` whose text starts with `[` or `{` and parses as JSON
(a list, or a first line that is an object), since a CSV header may start with a bracket (`[id],[text]`,
as SQL Server exports); a `.json` whose first line is not JSON but holds a separator outside quotes.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from rowrelay.tasks.errors import UsageError

__all__ = ["refuse_csv_line_as_json", "refuse_json_as_csv"]

_BOM = b"\xef\xbb\xbf"
_SEPARATORS = (b",", b";", b"\t", b"|")
_FORMAT = {".csv": "CSV", ".tsv": "TSV", ".json": "JSON", ".jsonl": "JSON lines", ".ndjson": "JSON lines"}


def refuse_json_as_csv(path: Path) -> None:
    """Refuse (`UsageError`) a `.csv`/`.tsv` file whose text is plainly JSON: a JSON list of records, or
    JSON lines (a first line that is an object)."""
    with path.open("rb") as file:
        start = file.read(65_536).removeprefix(_BOM).lstrip()[:1]  # a file of blank lines: read as before
    if start not in (b"[", b"{"):
        return
    data = path.read_bytes().removeprefix(_BOM)
    first = data.lstrip().split(b"\n", 1)[0]
    if _parses_as(first, dict):
        _refuse(path, "JSON lines (one JSON object a line)", ".jsonl")
    if _parses_as(data, list) or (start == b"{" and _parses_as(data, dict)):
        _refuse(path, "JSON", ".json")


def refuse_csv_line_as_json(path: Path, line: bytes, problem: str) -> None:
    """Refuse a `.json`/`.jsonl` file whose first line (`line`, not JSON: `problem`) reads as a CSV header
    instead, naming the extension it needs; otherwise nothing (the caller says the line is not JSON)."""
    text = line.strip()
    if not text or text[:1] in (b"[", b"{", b'"') or not any(sep in text for sep in _SEPARATORS):
        return
    _refuse(path, "CSV", ".csv", f" (its first line is a header of names, not JSON: {problem.split(':')[0]})")


def _parses_as(data: bytes, kind: type) -> bool:
    try:
        return isinstance(orjson.loads(data), kind)
    except orjson.JSONDecodeError:
        return False


def _refuse(path: Path, what: str, suffix: str, why: str = "") -> None:
    raise UsageError(
        f"{path} looks like {what}, not {_FORMAT[path.suffix.lower()]}{why}: rename it to "
        f"{path.with_suffix(suffix).name}, the extension decides how a file is read"
    )
