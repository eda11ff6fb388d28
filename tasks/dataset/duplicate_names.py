"""Column names an input gives twice, refused in one line whatever the input's format: a CSV header
naming `text` twice, a DataFrame's columns, a Parquet file's fields (pyarrow refused those in its own
words: `Multiple matches for FieldRef.Name(a) in id: string a: string ...`).

    refuse_duplicate_names(["id", "a", "a"], "in.parquet")   # UsageError: in.parquet has duplicate ...
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from rowrelay.tasks.errors import UsageError

__all__ = ["refuse_duplicate_names"]


def refuse_duplicate_names(names: Iterable[object], where: str) -> None:
    """Raise `UsageError` naming (sorted) each name `names` holds more than once; `where` names the input."""
    counts = Counter(str(name) for name in names)
    duplicated = sorted(name for name, count in counts.items() if count > 1)
    if duplicated:
        raise UsageError(f"{where} has duplicate column names: {', '.join(duplicated)}")
