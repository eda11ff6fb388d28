"""A DataFrame given as a batch's input, as the batch reads it: a copy (later changes to the caller's frame
cannot change the batch), its index levels as columns (a lone unnamed index, positions, left out), and
every column named by a string, as a file's are.

    frame = given_frame(pd.read_csv("tickets.csv", header=None))   # columns "0", "1", ...
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Hashable

import pandas as pd

from rowrelay.tasks.errors import UsageError

log = logging.getLogger("rowrelay.input")

__all__ = ["given_frame", "index_as_columns", "index_levels"]


def given_frame(source: pd.DataFrame) -> pd.DataFrame:
    """`source` as the batch reads it (the module docstring says how); `UsageError` for columns whose
    names are alike once they are strings (`1` and `"1"`)."""
    frame = index_as_columns(source.copy(), "the input DataFrame")
    _name_by_strings(frame, "the input DataFrame")
    return frame


def index_as_columns(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """A DataFrame's index levels as columns, as the data they are (`set_index("ticket_id")`): the
    output had no ticket ids, and `id_column="ticket_id"` was refused as no column. A level is read under
    its name, or (unnamed, in a MultiIndex) as `level_N` (`index_levels`). A lone unnamed index (a
    filtered or shuffled frame's positions) is not data, and stays out. Keys and prompts are unchanged:
    a prompt names columns, and no batch could name these before. A Parquet file pandas wrote from such a
    frame is read so too (`parquet_reading`), so the file and the frame are one input. `where` names the
    input in the warning of a level left out."""
    columns = index_levels(frame)
    _warn_of_levels_left_out(frame, columns, where)
    named = [column for column in columns if column is not None and column not in frame.columns]
    if not named:
        return frame
    return frame.set_axis(frame.index.set_names(columns), axis="index").reset_index(level=named)


def index_levels(frame: pd.DataFrame) -> list[Hashable | None]:
    """The column each level of `frame`'s index is read as, None for none: a named level under its name;
    an unnamed level of a MultiIndex as `level_N`, N its position, as pandas' `reset_index` names it (left
    out, it lost data: the lines of `MultiIndex.from_arrays([tickets, lines], names=["ticket", None])`);
    a lone unnamed index (positions) left out. An unnamed level whose `level_N` a column or a named level
    already has is left out, as every release before read it: refused, a batch one of them ran from such
    an input could not be resumed (`_warn_of_levels_left_out` says so)."""
    index = frame.index
    if not isinstance(index, pd.MultiIndex):
        return list(index.names)
    taken = set(frame.columns) | {name for name in index.names if name is not None}
    return [
        name if name is not None else None if f"level_{position}" in taken else f"level_{position}"
        for position, name in enumerate(index.names)
    ]


def _warn_of_levels_left_out(frame: pd.DataFrame, columns: list[Hashable | None], where: str) -> None:
    if not isinstance(frame.index, pd.MultiIndex):
        return
    left_out = [
        position
        for position, (given, column) in enumerate(zip(frame.index.names, columns, strict=True))
        if given is None and column is None
    ]
    if left_out:
        shown = ", ".join(f"level {position} (level_{position})" for position in left_out)
        log.warning(
            "%s: the index's unnamed %s, whose name a column or another level already has, is left out "
            "of the input and the output, as before; name it (df.index.set_names) to keep it",
            where,
            shown,
        )


def _name_by_strings(frame: pd.DataFrame, where: str) -> None:
    """Name the frame's columns by strings, as every file's are: an output names them so (two columns,
    `1` and `"1"`, were written as two Parquet fields named 1, which pandas then could not read, and a
    CSV header `1,1`), and options name them so (`prompt_column="0"` for a frame read with `header=None`
    was refused as not in the input, available: 0, 1). Columns named alike once their names are strings
    are refused, before anything is sent. Prompts and keys are unchanged: a template cannot name a
    column `0` (`{0}` is positional), and an option naming one by a number was refused or broke."""
    if all(isinstance(name, str) for name in frame.columns):
        return
    names = [str(name) for name in frame.columns]
    if not frame.columns.has_duplicates:  # one name given twice: `read_input` says so, as for a file
        counts = Counter(names)
        alike = [name for name in frame.columns if counts[str(name)] > 1]
        if alike:
            shown = ", ".join(f"{name!r} ({type(name).__name__})" for name in alike)
            raise UsageError(
                f"{where} has columns named alike once their names are strings, as outputs and options "
                f"name them: {shown}; rename them apart"
            )
    frame.columns = pd.Index(names)
