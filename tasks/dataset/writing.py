"""Write a batch's output: the input columns joined with each row's result, atomically.

Rows keep input order and every input row is present, failed ones with their error; a row the results
do not mention (never planned: added to the input since) is `pending`, its other result columns empty.
The file is written through `rowrelay.tasks.durable` (a temp file in the target's directory, fsynced,
moved over the target with `os.replace`, directory fsynced), so readers see the old file or the new one,
never half of one. An input column named like a result column is refused rather than renamed: a silent
prefix would change the schema downstream code reads.
Bytes (an image column) are base64 text in CSV and JSONL, which have no bytes; Parquet keeps `binary`.

    >>> write_output(prepared.frame, results, "data/output/tickets.parquet")
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal, cast, get_args

import pandas as pd
import pyarrow as pa

from rowrelay.tasks.dataset.kept_types import KEPT_TYPES
from rowrelay.tasks.dataset.parquet_writing import write_parquet
from rowrelay.tasks.dataset.text_writing import write_csv, write_jsonl
from rowrelay.tasks.dataset.typed import holds_json, json_parsed
from rowrelay.tasks.durable import atomic_write_path, make_dirs_durable, writable_problem
from rowrelay.tasks.errors import OutputWriteError, UsageError
from rowrelay.tasks.shell_words import shell_arg

log = logging.getLogger("rowrelay.output")

__all__ = [
    "OUTPUT_EXTENSIONS",
    "RESULT_COLUMNS",
    "OutputFormat",
    "UnwritableValuesError",
    "output_problem",
    "replaces_input",
    "result_clash",
    "write_output",
]

OutputFormat = Literal["parquet", "csv", "tsv", "jsonl"]
RESULT_COLUMNS: tuple[str, ...] = (
    "rowrelay_status",
    "output_text",
    "error",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cached_input_tokens",
    "cost_usd",
)
"""Result columns every output carries, after the input's own columns."""
_TOKEN_COLUMNS = ("input_tokens", "output_tokens", "reasoning_tokens", "cached_input_tokens")
OUTPUT_EXTENSIONS: dict[str, OutputFormat] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


class UnwritableValuesError(OutputWriteError):
    """The output's values could not be written in its format (a value the format has no way to hold):
    as for a full disk, every row's result is in the state table, paid for and kept, but writing the same
    file again fails the same way, so the way on is another file or format. Raised as an
    `OutputWriteError`, which every caller that writes an output already says in one line (it was a
    `UsageError` saying only "cannot write the output", as if nothing had been spent)."""

    def said(self, state: object = None) -> str:
        state = self.state if state is None else state
        return (
            f"could not write the output {self.path} ({self.reason}); every row's result is kept in the "
            f"batch's state table: `rowrelay export {shell_arg(state)} --output OTHER` writes it to another "
            "file or "
            "format (nothing is sent again)"
        )


_WRITERS: dict[OutputFormat, Callable[[pd.DataFrame, Path], None]] = {
    "parquet": write_parquet,
    "csv": write_csv,
    "tsv": lambda frame, path: write_csv(frame, path, "\t"),
    "jsonl": write_jsonl,
}


_STDOUT = ("-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")
"""Names of stdout: the output is written to a temp file beside its path and moved over it, which no
stream can be (they said "unknown output extension ''")."""


def output_problem(path: Path, state: Path | None = None) -> str | None:
    """Why an output could not be written to `path` at the end of a run (an extension that names no
    format, a directory in the way, a folder that cannot be written or created, a place inside the
    batch's state folder `state`), or None if it could."""
    if path.is_dir():
        return "is a directory, not a file"
    if str(path) in _STDOUT:
        return f"writing the output to stdout is not supported: give a file ({', '.join(OUTPUT_EXTENSIONS)})"
    if path.suffix.lower() not in OUTPUT_EXTENSIONS:
        return f"unknown output extension {path.suffix!r} (use one of {', '.join(OUTPUT_EXTENSIONS)})"
    if state is not None and path.resolve().is_relative_to(Path(state).resolve()):
        # Its files are the table: an output named like a snapshot replaced one (`status`: "not a
        # rowrelay state file"), and any other Parquet file there was read as rows by `**/*.parquet`.
        return f"is inside the batch's state folder {state}, whose files are its table: write it elsewhere"
    return writable_problem(path.parent)


def replaces_input(output: Path, source: str | Path | None) -> str | None:
    """Why `output` must not be written, when it is the input file `source` (None: a DataFrame)."""
    if source is None or Path(source).resolve() != output.resolve():
        return None
    return "the input file itself: the output would replace it"


def _output_format(path: Path, format: str | None) -> OutputFormat:
    if format is not None:
        if format in get_args(OutputFormat):
            return cast(OutputFormat, format)
        raise UsageError(f"unknown output format {format!r} (use one of {', '.join(get_args(OutputFormat))})")
    by_extension = OUTPUT_EXTENSIONS.get(path.suffix.lower())
    if by_extension is None:
        raise UsageError(
            f"unknown output extension {path.suffix!r} for {path} "
            f"(use one of {', '.join(OUTPUT_EXTENSIONS)}, or pass format=)"
        )
    return by_extension


def _aligned_results(results: pd.DataFrame, n_rows: int) -> pd.DataFrame:
    """Results reindexed to input positions 0..n-1, with the standard columns first."""
    absent = [c for c in ("row_index", *RESULT_COLUMNS) if c not in results.columns]
    if absent:
        raise UsageError(f"results lack column(s): {', '.join(absent)}")
    index = results["row_index"]
    if index.isna().any() or not pd.api.types.is_integer_dtype(index):
        raise UsageError("results' row_index must be integers, none missing")
    outside = index[(index < 0) | (index >= n_rows)]
    if len(outside):
        raise UsageError(
            f"results' row_index has value(s) outside 0..{n_rows - 1}: {outside.head(5).tolist()}"
        )
    if index.duplicated().any():
        raise UsageError(f"results' row_index repeats: {index[index.duplicated()].head(5).tolist()}")
    extra = [c for c in results.columns if c not in ("row_index", *RESULT_COLUMNS)]
    aligned = results.set_index("row_index")[[*RESULT_COLUMNS, *extra]].reindex(range(n_rows))
    # A row the results do not mention was never planned (added to the input after the batch ran): the
    # next run sends it, as it does a row --limit left unsent, which is `pending` (its status was empty).
    aligned["rowrelay_status"] = aligned["rowrelay_status"].fillna("pending")
    for column in _TOKEN_COLUMNS:
        aligned[column] = aligned[column].astype("Int64")
    return aligned.reset_index(drop=True)


def result_clash(columns: Iterable[object], added: Iterable[str] = RESULT_COLUMNS) -> str | None:
    """What is wrong with input `columns` of which some are named like columns the output adds, else None.
    Named alike whatever the case: an output with `Error` beside `error` was written, and DuckDB, which
    does not tell names apart by case, read the input's `Error` for `SELECT error` and renamed the
    result's `error_1`."""
    taken = {name.casefold(): name for name in added}
    clashes = [str(c) for c in columns if isinstance(c, str) and c.casefold() in taken]
    if not clashes:
        return None
    cased = [f"{name} as {taken[name.casefold()]}" for name in clashes if name not in taken.values()]
    why = f" ({', '.join(cased)}: readers such as DuckDB do not tell names apart by case)" if cased else ""
    if "rowrelay_status" in clashes:  # another batch's output: say how to chain, not only what clashes
        return (
            f"input column(s) {', '.join(clashes)} clash with result columns: the input is a rowrelay output;"
            " select the columns the next batch reads, renaming output_text (README, 'Chaining batches')"
        )
    return f"input column(s) {', '.join(clashes)} clash with result columns{why}: rename them in the input"


def _joined(frame: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    aligned = _aligned_results(results, len(frame))
    problem = result_clash(frame.columns, map(str, aligned.columns))
    if problem is not None:
        raise UsageError(problem)
    joined = pd.concat([frame.reset_index(drop=True), aligned], axis=1)
    joined.attrs = {k: v for k, v in frame.attrs.items() if k == KEPT_TYPES}  # the input's types, for Parquet
    return joined


def _json_text_parsed(joined: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """`joined` with the results' typed columns that keep values as JSON text (`typed.holds_json`: a
    union of kinds, a free-form object) holding those values instead, for the formats that write values
    rather than one type per column: JSONL wrote `"mixed":"\\"x\\""` for `"mixed":"x"`. The input's
    columns are left alone: a string column read with pandas' `dtype_backend="pyarrow"` has the same
    Arrow type and is text, not JSON."""
    parsed = {
        str(column): pd.Series(json_parsed(pa.array(joined[column])), index=joined.index, dtype=object)
        for column, dtype in results.dtypes.items()
        if isinstance(dtype, pd.ArrowDtype) and holds_json(dtype.pyarrow_dtype)
    }
    return joined.assign(**parsed) if parsed else joined


def write_output(
    frame: pd.DataFrame,
    results: pd.DataFrame,
    path: str | Path,
    *,
    format: OutputFormat | None = None,
) -> Path:
    """Write the input joined with its results to `path`, atomically; returns the path written.

    `frame` is the input in input order; `results` has one row per `row_index` (position in `frame`)
    with the `RESULT_COLUMNS`; any further result columns follow them. The format comes from `format`
    or else the extension (``.parquet``/``.pq``, ``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``); an unknown
    one is a `UsageError`. Parent directories are created.
    """
    target = Path(path)
    chosen = _output_format(target, format)
    joined = _joined(frame, results)
    if chosen != "parquet":  # Parquet keeps JSON text: a column's type is one across rows there
        joined = _json_text_parsed(joined, results)
    writer = _WRITERS[chosen]
    try:
        make_dirs_durable(target.parent)
        atomic_write_path(target, lambda temp: writer(joined, temp))
    except OSError as exc:  # a full disk, a folder gone read-only: the paid rows are safe in the state
        raise OutputWriteError(str(target), exc.strerror or str(exc)) from exc
    except (pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
        raise UnwritableValuesError(str(target), f"its values cannot be written as {chosen}: {exc}") from exc
    return target
