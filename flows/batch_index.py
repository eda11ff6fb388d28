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

A run looks notes up by what names them, not by reading them all (every run read every note: 16 ms at
1,000 notes, 260-330 ms at 10,000, for a cron fed a new file each time): beside the notes,
`<home>/batch-keys/` holds a folder per fingerprint and per input path, named by its hash, holding an
empty file named as each note of it (`batch-keys/<hash>/<note>.json`), and `indexed/<note>.<inode>`
once all of a note's keys are written. A run reads the notes its two keys name, and any note not marked
indexed at its present inode (every rewrite is an atomic rename, to a new inode): one an earlier release
wrote, or rewrote with another input path, or one whose keys a run did not finish writing; it indexes
those as it reads them, `_AT_ONCE` a run. Listing the notes' and the marks' names is what is left, 10-15
ms at 10,000 notes; a key's file left by a note rewritten since only makes its note read and checked.

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
_KEYS, _INDEXED = "batch-keys", "indexed"
"""The notes' keys, beside them (their folder holds notes alone: an earlier release reads every file
there), and the marks of the notes indexed, in it."""
_AT_ONCE = 500
"""Notes a lookup indexes at most: the first run after an upgrade finds every note unindexed, and
indexing 10,000 at once took it 4-16 s (five files written each) where reading them took 0.3 s."""


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
        inode = partial.stat().st_ino
        partial.replace(path)  # atomic: a reader sees the old note or the new one, never half
    except OSError:
        return  # a home that cannot be written (read-only, full): the run goes on without its note
    home = home.expanduser()
    marks = {mark for mark in _names(home / _KEYS / _INDEXED) if mark.startswith(f"{path.name}.")}
    _index(home, path.name, inode, _parsed(data), marks)


def batches_of(home: Path, input_path: str | None, fingerprint: str) -> list[IndexedBatch]:
    """The noted batches whose state directory still exists, of the same input file or the same
    contents (fingerprint); a DataFrame's batches only by their contents."""
    home = home.expanduser()
    folder, keys = home / _FOLDER, home / _KEYS
    try:
        present = {entry.name: entry.inode() for entry in os.scandir(folder) if entry.name.endswith(".json")}
    except OSError:
        return []
    marks = _names(keys / _INDEXED)
    names = {name for name, inode in present.items() if f"{name}.{inode}" not in marks}
    if names:  # an earlier release's notes, or ones whose keys were not all written: indexed as read
        earlier: dict[str, set[str]] = {}
        for mark in marks:
            earlier.setdefault(mark.rpartition(".")[0], set()).add(mark)
        for unindexed in sorted(names)[:_AT_ONCE]:  # the rest read as before, indexed by the next runs
            _index_read(home, folder / unindexed, earlier.get(unindexed, set()))
    for key in (_key("fingerprint", fingerprint), *([_key("input", input_path)] if input_path else [])):
        names.update(name for name in _names(keys / key) if name in present)
    found = []
    for name in sorted(names):
        batch = _read(folder / name)
        if batch is None:
            continue
        same_file = input_path is not None and input_path in batch.inputs
        if (same_file or batch.fingerprint == fingerprint) and batch.state_dir.is_dir():
            found.append(batch)
    return found


def _names(folder: Path) -> set[str]:
    """The names in `folder`; none if it cannot be listed (not made yet)."""
    try:
        with os.scandir(folder) as entries:
            return {entry.name for entry in entries}
    except OSError:
        return set()


def _key(kind: str, value: str) -> str:
    """The folder of `batch-keys/` naming the notes of a fingerprint or of an input path."""
    return hashlib.sha256(f"{kind}\0{value}".encode()).hexdigest()[:32]


def _index_read(home: Path, path: Path, marks: set[str]) -> None:
    """Index the note at `path` as it is now: its inode read from the file whose contents are indexed, so
    that a rewrite meanwhile is found unindexed again. A damaged note is marked too (nothing to find it
    by), and read again only once rewritten."""
    try:
        with path.open("rb") as file:
            inode, data = os.fstat(file.fileno()).st_ino, file.read()
    except OSError:
        return
    _index(home, path.name, inode, _parsed(data), marks)


def _index(home: Path, name: str, inode: int, batch: IndexedBatch | None, marks: set[str]) -> None:
    """Write the keys of note `name` (its fingerprint's and its input paths'), then mark it indexed at
    `inode`: a mark stands only for keys all written. Its earlier `marks` go first: the inode of a note
    replaced is soon another's, perhaps its own next version's (an earlier release's, unindexed)."""
    keys = home / _KEYS
    wanted = (
        [] if batch is None else [("fingerprint", batch.fingerprint), *(("input", i) for i in batch.inputs)]
    )
    try:
        for kind, value in wanted:
            folder = keys / _key(kind, value)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).touch()
        folder = keys / _INDEXED
        folder.mkdir(parents=True, exist_ok=True)
        for old in marks:
            (folder / old).unlink(missing_ok=True)
        (folder / f"{name}.{inode}").touch()
    except OSError:
        return  # not indexed: read again by the next run's lookup


def _read(file: Path) -> IndexedBatch | None:
    """One note, or None when it cannot be read or is not one (damaged, or another release's)."""
    try:
        return _parsed(file.read_bytes())
    except OSError:
        return None


def _parsed(data: bytes) -> IndexedBatch | None:
    """A note's contents, or None when they are not one."""
    try:
        entry = json.loads(data)
    except ValueError:
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
