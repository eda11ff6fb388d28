"""The default states runs have made, by input: how a run from another folder finds the batch of its input.

A default state lives under the working folder (`data/state/<input name>-<fingerprint>`), so the same
command run from another folder (a cron job from $HOME, a user who `cd`s elsewhere to resume) named a
new batch and sent every row again, paid twice, leaving the first batch's rows in flight uncollected.
Each run under a default state notes it here, one small JSON file per batch under the per-user home
(`<home>/batches/`): the state's absolute path, the folder it was begun from, the input's absolute path
and fingerprint, and every input path the batch has run from (a batch resumed from a Parquet copy of its
CSV is still the CSV's batch when the CSV changes: a trial's edited CSV, its batch's last run read from
the copy, was not found and every row was sent again). `earlier_batches` reads it before a new default
state sends anything.

The index only helps: a note that cannot be written is skipped, a damaged or foreign file is ignored,
and a batch whose state directory no longer exists is never listed. Nothing here fails a run.

    note_batch(home, state_dir, "/data/t60.csv", fingerprint, relative=True)
    batches_of(home, "/data/t60.csv", fingerprint)   # [IndexedBatch(state_dir=..., folder=...), ...]
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IndexedBatch", "batches_of", "note_batch"]

_FOLDER = "batches"
"""The index's folder under the home."""


@dataclass(frozen=True, slots=True)
class IndexedBatch:
    state_dir: Path
    """The batch's state directory, absolute."""
    folder: Path | None
    """The working folder it was begun from, when its default state was relative to one (None when the
    state folder was absolute: running from another folder would not find it)."""
    input: str | None
    """The input file's absolute path at the batch's last run; None for a DataFrame."""
    fingerprint: str
    inputs: tuple[str, ...] = ()
    """Every input file's absolute path the batch has run from, the last one among them."""


def note_batch(
    home: Path, state_dir: Path, input_path: str | None, fingerprint: str, *, relative: bool
) -> None:
    """Note the default state `state_dir` of this input (atomically; at once if already noted as such),
    keeping the input paths it ran from before. `relative`: whether the default state folder is relative
    to the working folder."""
    absolute = state_dir.resolve()
    folder = home.expanduser() / _FOLDER
    # One file per state directory: a batch run again rewrites its own note, never adds a line.
    path = folder / f"{hashlib.sha256(str(absolute).encode()).hexdigest()[:32]}.json"
    noted = _read(path)
    inputs = {*(noted.inputs if noted is not None and noted.state_dir == absolute else ())}
    entry = {
        "state_dir": str(absolute),
        "folder": str(Path.cwd()) if relative else None,
        "input": input_path,
        "inputs": sorted(inputs | ({input_path} if input_path is not None else set())),
        "fingerprint": fingerprint,
    }
    data = json.dumps(entry, sort_keys=True).encode()
    try:
        if path.is_file() and path.read_bytes() == data:
            return
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        partial.write_bytes(data)
        partial.replace(path)  # atomic: a reader sees the old note or the new one, never half
    except OSError:
        return  # a home that cannot be written (read-only, full): the run goes on without its note


def batches_of(home: Path, input_path: str | None, fingerprint: str) -> list[IndexedBatch]:
    """The noted batches whose state directory still exists, of the same input file or the same
    contents (fingerprint); a DataFrame's batches only by their contents."""
    folder = home.expanduser() / _FOLDER
    try:
        files = sorted(folder.glob("*.json"))
    except OSError:
        return []
    found = []
    for file in files:
        batch = _read(file)
        if batch is None:
            continue
        same_file = input_path is not None and input_path in batch.inputs
        if (same_file or batch.fingerprint == fingerprint) and batch.state_dir.is_dir():
            found.append(batch)
    return found


def _read(file: Path) -> IndexedBatch | None:
    """One note, or None when it cannot be read or is not one (damaged, or another release's)."""
    try:
        entry = json.loads(file.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict):
        return None
    state_dir, folder = entry.get("state_dir"), entry.get("folder")
    source, fingerprint = entry.get("input"), entry.get("fingerprint")
    if not (isinstance(state_dir, str) and Path(state_dir).is_absolute() and isinstance(fingerprint, str)):
        return None
    if not (folder is None or isinstance(folder, str)) or not (source is None or isinstance(source, str)):
        return None
    paths = entry.get("inputs", [])  # absent from a note of an earlier release: its one input stands
    if not (isinstance(paths, list) and all(isinstance(path, str) for path in paths)):
        return None
    inputs = tuple(sorted({*paths, *([source] if source is not None else [])}))
    begun = None if folder is None else Path(folder)
    return IndexedBatch(Path(state_dir), begun, source, fingerprint, inputs)
