"""`batch.json`: which batch a directory holds, written once, atomically; its presence marks a state dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rowrelay.tasks.durable import create_exclusive, make_dirs_durable, writable_problem
from rowrelay.tasks.errors import StateError
from rowrelay.tasks.state.files import BATCH_FILE, reading
from rowrelay.tasks.state.schema import SCHEMA_VERSION, to_datetime


def is_state_directory(directory: Path) -> bool:
    """Whether `directory` holds a rowrelay batch (it has a `batch.json`, written when it was created)."""
    return (directory / BATCH_FILE).is_file()


def state_directory_problem(directory: Path) -> str | None:
    """Why `directory` cannot hold a batch (a file; a folder of something else; not writable), or None.

    A folder that exists must be a batch already, or empty: a table's files are never scattered among
    someone else's.
    """
    if directory.exists() and not directory.is_dir():
        return "is a file, not a directory"
    if directory.is_dir() and not is_state_directory(directory) and any(directory.iterdir()):
        return f"is not empty and holds no batch (no {BATCH_FILE}): choose a new or empty directory"
    return writable_problem(directory)


def read_batch(directory: Path) -> dict[str, Any] | None:
    path = directory / BATCH_FILE
    try:
        with reading(path):
            data: dict[str, Any] = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise StateError(f"{path}: unreadable batch file ({exc})") from exc
    return data


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
        create_exclusive(directory / BATCH_FILE, json.dumps(record, indent=2).encode())
        existing = read_batch(directory)  # whoever won a race to create it
        assert existing is not None
    found = str(existing.get("batch_id"))
    if batch_id is not None and batch_id != found:
        raise StateError(f"{directory} holds batch {found!r}, not {batch_id!r}")
    return found
