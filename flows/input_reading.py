"""Which reading of its input a batch runs with (`tasks.dataset.readings`): this release's, unless an
earlier release planned the batch with its own.

A row's key (without `--id-column`) and input hash come from its prompt, and the prompt of a row whose
template names integers with a missing value among them changed between readings ("3.0" before, "3"
now): in an integer column of their own with reading 2, inside a Parquet list, struct or map with
reading 3; with reading 4, a Parquet map (`{"a": 1}`, not `[["a", 1]]`) and bytes (their text or base64,
not `b'...'`), and the key of an id written `2.0` ("2"). Read the new way, a batch an earlier release
planned would become another batch (the default state directory is named by the input's fingerprint)
or, in a given `--state`, rows under new keys or with changed text: sent again, paid twice, or refused.
So such a batch keeps the reading it was planned with, and a new batch gets this release's; each run's
record says which (`run.json`'s `reading`, absent from the records of the releases before reading 2).

    prepared = prepared_for(request, lambda reading: read_prepared(request.source, request.spec, reading))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rowrelay.tasks.dataset import EARLIER_READINGS, FIRST_READING, READING, PreparedInput, reads_alike
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
    it, the reading kept with it, as `read_prepared` does): read again an earlier way only when that
    reading may read the file otherwise (`reads_alike`, which reads no more than a Parquet schema) and a
    batch of that reading may be there to resume: the given state directory's record names it or, without
    one, no batch of this release's reading is there. The latest such reading whose batch is there wins."""
    current = read(READING)
    earlier = [
        reading
        for reading in range(READING - 1, FIRST_READING - 1, -1)
        if not reads_alike(request.source, current.frame, READING, reading, request.spec.id_column)
    ]
    if earlier and request.state is not None:
        recorded = recorded_reading(request.state)  # the given state directory: its record alone decides
        earlier = [reading for reading in earlier if reading == recorded]
    elif earlier and is_state_directory(request.state_dir(current)):
        return current  # this release already runs the batch of its own reading
    for reading in earlier:
        try:
            prepared = read(reading)
        except UsageError:  # this release read it: a spec naming a Parquet index level, which readings
            continue  # before INDEX_AS_COLUMNS left out; no batch of theirs was planned with it
        if prepared.fingerprint == current.fingerprint:  # the prompts do not use what differs
            continue
        planned = request.state_dir(prepared)
        if is_state_directory(planned) and recorded_reading(planned) == reading:
            log.warning(
                "%s was planned by an earlier release, which read %s: the batch keeps that reading, so none "
                "of its rows is sent again (a new batch reads them as this release does)",
                planned,
                EARLIER_READINGS[reading],
            )
            return prepared
    return current
