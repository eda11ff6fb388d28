"""CSV and TSV rows with fewer fields than the header: a last one is the mark of a file cut short, refused.

pandas fills a row's missing fields with missing values, so a file read while it was still being
written (`id,subject,body` ... `3`: the last row cut after its id) had that row sent with empty fields,
and paid for; once the file was complete, the row's input had changed under its id, and every later run
of the batch was refused (`edited_inputs`). A file's last row with fewer fields than the header is
refused before anything is sent, naming its line. Short rows before it are no cut (a file is written
from its start): spreadsheets and hand-made files leave off the separators of empty last cells
(`2,b` under `id,p,notes`), read as they always were, with the missing fields empty, and said in a
warning. A row with more fields is refused by `reading` itself (pandas' own error).

Blank lines (a trailing one too, and lines of spaces) are skipped, as pandas skips them, and a quoted
field may hold line breaks: the file is read as CSV, record by record, not line by line. It is read
again only when the frame may hold a short row (its last column holds a missing value, as every short
row's does), so a file without one costs nothing more.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

__all__ = ["refuse_short_rows"]

log = logging.getLogger("rowrelay.input")


def refuse_short_rows(path: Path, separator: str, frame: pd.DataFrame) -> None:
    """Raise `ValueError` (the reader makes it its `UsageError`) when the last row of `path` has fewer
    fields than the header; warn of any short row before it. `frame` is the file as pandas read it: only
    where its last column holds a missing value can a row be short."""
    if len(frame.columns) < 2 or not frame[frame.columns[-1]].isna().any():
        return
    header, short, last = _short_records(path, separator)
    if not short:
        return
    line, fields = short[-1]
    if line == last:
        raise ValueError(
            f"line {line}, its last row, has {fields} field{'' if fields == 1 else 's'} where the header "
            f"names {header}: the file looks cut short (still being written?); complete it, or write the "
            f"row's every field, empty ones too ({f'a{separator}{separator}c'!r})"
        )
    line, fields = short[0]
    log.warning(
        "%s: %s fewer fields than the header's %d (e.g. line %d, %d): read with the missing fields empty",
        path,
        f"{len(short):,} row{' has' if len(short) == 1 else 's have'}",
        header,
        line,
        fields,
    )


def _short_records(path: Path, separator: str) -> tuple[int, list[tuple[int, int]], int]:
    """The header's field count, (line where it starts, fields) of each record with fewer, and the line
    where the last record starts."""
    header, last = 0, 0
    short: list[tuple[int, int]] = []
    # utf-8-sig: a byte-order mark is not part of the first name (pandas drops it too)
    with _any_field_size(), path.open(encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file, delimiter=separator)
        start = 1
        try:
            for record in reader:
                line, start = start, reader.line_num + 1
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue  # a blank line, or one of spaces: pandas skips it
                last = line
                if not header:
                    header = len(record)
                elif len(record) < header:
                    short.append((line, len(record)))
        except csv.Error:
            last = 0  # what Python's reader cannot read, pandas did: its last row is not known
    return header, short, last


@contextmanager
def _any_field_size() -> Iterator[None]:
    """Python's reader refuses a field over 128 KiB, which pandas reads (a long document in a prompt)."""
    limit = csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(limit)
