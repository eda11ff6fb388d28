"""Which reading of its input a batch runs with (`tasks.dataset.reading`): this release's, unless an
earlier release planned the batch with its own.

A row's key (without `--id-column`) and input hash come from its prompt, and the prompt of a row whose
template names an integer column with a missing value changed between readings ("3.0" before, "3"
now). Read the new way, a batch an earlier release planned would become another batch (the default
state directory is named by the input's fingerprint) or, in a given `--state`, rows under new keys or
with changed text: sent again, paid twice, or refused. So such a batch keeps the reading it was planned
with, and a new batch gets this release's; each run's record says which (`run.json`'s `reading`, absent
from the records of earlier releases).

    prepared = prepared_for(request, lambda reading: read_prepared(request.source, request.spec, reading))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from rowrelay.tasks.dataset import FIRST_READING, READING, PreparedInput
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.state import RunRecord, is_state_directory, read_run_record

if TYPE_CHECKING:
    from rowrelay.flows.request import BatchRequest  # settings, and so pydantic: not for `export`

__all__ = ["prepared_for", "reading_of", "recorded_reading"]

log = logging.getLogger("rowrelay.input")


def reading_of(record: RunRecord | None) -> int:
    """The reading a batch was planned with, by its run's record: the record's, `FIRST_READING` for a
    record of an earlier release, this release's for a batch that never ran (no record). A later
    release's reading is a `UsageError`: this one cannot read the input as that batch was planned."""
    if record is None:
        return READING
    if record.reading is not None and record.reading > READING:
        raise UsageError(
            f"this batch was planned by a later release of rowrelay (its input reading {record.reading}; "
            f"this release knows up to {READING}): run it with that release or a later one"
        )
    return FIRST_READING if record.reading is None else record.reading


def recorded_reading(state_dir: Path) -> int:
    """`reading_of` the record in `state_dir`; a damaged record is a `StateError`."""
    return reading_of(read_run_record(state_dir))


def prepared_for(request: BatchRequest, read: Callable[[int], PreparedInput]) -> PreparedInput:
    """The input prepared with the reading its batch was planned with (`read(reading)` reads and prepares
    it, the reading kept with it, as `read_prepared` does): read again the earlier way only when this
    release's reading kept an integer column whose missing values the earlier one made floats, and a
    batch of the earlier reading is there to resume."""
    current = read(READING)
    if isinstance(request.source, pd.DataFrame) or not _integers_kept(current.frame):
        return current
    if request.state is not None and recorded_reading(request.state) == READING:
        return current  # the state directory is given: its record alone decides, without a second read
    first = read(FIRST_READING)
    if first.fingerprint == current.fingerprint:  # the prompts do not use those columns
        return current
    earlier, own = request.state_dir(first), request.state_dir(current)
    if earlier != own and is_state_directory(own):
        return current  # this release already runs the batch of its own reading
    if not is_state_directory(earlier) or recorded_reading(earlier) != FIRST_READING:
        return current
    log.warning(
        "%s was planned by an earlier release, which read integer columns with missing values as "
        "decimals (3.0): the batch keeps that reading, so none of its rows is sent again (a new batch "
        "reads them as integers)",
        earlier,
    )
    return first


def _integers_kept(frame: pd.DataFrame) -> bool:
    """Whether `frame` has a nullable integer column: the only kind the two readings can differ by."""
    return any(
        isinstance(dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_integer_dtype(dtype)
        for dtype in frame.dtypes
    )
