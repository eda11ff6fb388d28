"""`batch.json`: which batch a directory holds, written once, atomically; its presence marks a state dir.

It holds the batch's id (the folder's name when `rowrelay run` made it), when it was made and the schema
version then: nothing a row's state depends on, so a damaged or lost one is rebuilt by `rowrelay repair`
(`rebuilt_batch`) rather than the folder being taken for someone else's, or for no batch at all.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from rowrelay.tasks.durable import create_exclusive, make_dirs_durable, writable_problem
from rowrelay.tasks.errors import DamagedFileError, StateError
from rowrelay.tasks.shell_words import shell_arg
from rowrelay.tasks.state.files import BATCH_FILE, RUN_FILE, list_state_files, reading
from rowrelay.tasks.state.schema import SCHEMA_VERSION, to_datetime


def is_state_directory(directory: Path) -> bool:
    """Whether `directory` holds a rowrelay batch (it has a `batch.json`, written when it was created)."""
    return (directory / BATCH_FILE).is_file()


def holds_table(directory: Path) -> bool:
    """Whether `directory` holds a batch's state files or run record, whatever became of its batch.json."""
    return (directory / RUN_FILE).is_file() or bool(list_state_files(directory))


def no_batch_problem(directory: Path) -> str:
    """Why `directory` is not read as a batch (no batch.json), and, where it holds a table all the same
    (its batch.json deleted or lost), how to get it back without sending its rows again."""
    if directory.is_dir() and holds_table(directory):
        return f"{directory}: {_lost(directory)}"
    if not directory.exists():  # a mistyped path: "no batch.json" sent the user looking for a file
        return f"{directory} does not exist (no batch's state is there: a run prints its folder as `state:`)"
    return f"{directory} is not a rowrelay state directory (no {BATCH_FILE})"


def _lost(directory: Path) -> str:
    return (
        f"{BATCH_FILE} is missing, but the folder holds a batch's state table: run `rowrelay repair "
        f"{shell_arg(directory)}` to write it again, then run this again (every row's state, and the "
        "responses already paid for, are kept)"
    )


def state_directory_problem(directory: Path) -> str | None:
    """Why `directory` cannot hold a batch (a file; a folder of something else; not writable), or None.

    A folder that exists must be a batch already, or empty: a table's files are never scattered among
    someone else's. A batch's folder whose batch.json was lost is said as such, with the way back: taken
    for someone else's, it sent the user to a new folder and every row paid for again.
    """
    if directory.exists() and not directory.is_dir():
        return "is a file, not a directory"
    if directory.is_dir() and not is_state_directory(directory):
        if holds_table(directory):
            return _lost(directory)
        if any(directory.iterdir()):
            return f"is not empty and holds no batch (no {BATCH_FILE}): choose a new or empty directory"
    return writable_problem(directory)


def read_batch(directory: Path) -> dict[str, Any] | None:
    """The batch record, or None if there is none; `DamagedFileError` naming it if it does not read as
    one (`rowrelay repair` writes it again)."""
    path = directory / BATCH_FILE
    try:
        with reading(path):
            data: Any = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise DamagedFileError(str(path), f"unreadable batch file ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("batch_id"), str):
        raise DamagedFileError(str(path), "damaged batch file (no batch id)")
    return data


def rebuilt_batch(directory: Path, damaged: bytes, first_seen: datetime | None) -> tuple[dict[str, Any], str]:
    """A batch record for `directory` whose batch.json is damaged (`damaged`: what it held) or lost
    (`damaged` empty), and where its id came from: what the damaged file still says, else the folder's
    name, the id `rowrelay run` gives a batch. `first_seen`: the earliest time a row was written, for
    when the batch was made if the damaged file does not say."""
    text = damaged.decode("utf-8", "replace")
    said = re.search(r'"batch_id"\s*:\s*"([^"\\]*)"', text)
    made = re.search(r'"created_at"\s*:\s*"([^"\\]*)"', text)
    created = first_seen.isoformat() if first_seen is not None else None
    if made is not None:
        with contextlib.suppress(ValueError):  # torn inside the time: the table's earliest row instead
            created = datetime.fromisoformat(made[1]).isoformat()
    record = {
        "batch_id": said[1] if said else directory.name,
        "created_at": created,
        "schema_version": SCHEMA_VERSION,
    }
    source = (
        "what the damaged file still says" if said else "the folder's name, as `rowrelay run` names a batch"
    )
    return record, source


def write_batch(directory: Path, record: dict[str, Any]) -> bool:
    """Write `record` as the batch's batch.json unless one is there (another process made it); True if
    written."""
    return create_exclusive(directory / BATCH_FILE, json.dumps(record, indent=2).encode())


def ensure_batch(directory: Path, batch_id: str | None, now: float) -> str:
    """The batch id of `directory`, recording it first if the directory is new.

    A new directory takes `batch_id`, or its own name when none is given; an existing one must match.
    """
    make_dirs_durable(directory)
    existing = read_batch(directory)
    if existing is None:
        record = {
            "batch_id": batch_id or directory.name,
            "created_at": to_datetime(now).isoformat(),
            "schema_version": SCHEMA_VERSION,
        }
        write_batch(directory, record)
        existing = read_batch(directory)  # whoever won a race to create it
        assert existing is not None
    found = str(existing.get("batch_id"))
    if batch_id is not None and batch_id != found:
        raise StateError(f"{directory} holds batch {found!r}, not {batch_id!r}")
    return found
