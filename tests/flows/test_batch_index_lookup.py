"""A run looks up the batches of its input by the input's path and fingerprint, reading only the notes
those name: every run read every note in the home (411 ms at 10,000 notes, a cron fed a new file each
time paying more each run). Notes an earlier release wrote, or rewrote, carry no keys and are still
found, read once and indexed."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rowrelay.flows.batch_index import batches_of, note_batch

_watched: list[Path] = []
_opened: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """The files Python opens under a watched folder (an audit hook: the real opens, nothing replaced)."""
    if event == "open" and _watched and isinstance(args[0], str | Path):
        path = str(args[0])
        if any(path.startswith(f"{folder}{os.sep}") for folder in _watched):
            _opened.append(path)


sys.addaudithook(_audit)  # cannot be removed: inert while nothing is watched


@pytest.fixture
def opened() -> Iterator[list[str]]:
    yield _opened
    _watched.clear()
    _opened.clear()


def _as_an_earlier_release(home: Path, name: str, entry: dict[str, Any]) -> None:
    """A note as an earlier release writes it (no keys beside it): atomically, by rename."""
    partial = home / "batches" / f".{name}.tmp"
    partial.write_text(json.dumps(entry))
    partial.replace(home / "batches" / name)


def test_a_lookup_reads_only_the_notes_its_input_and_contents_name(tmp_path: Path, opened: list[str]) -> None:
    home, states = tmp_path / "home", tmp_path / "states"
    for i in range(30):
        state = states / f"t{i}-{i:010d}"
        state.mkdir(parents=True)
        note_batch(home, state, f"/in/t{i}.csv", f"f{i}", relative=False)
    _watched.append(home / "batches")
    assert [batch.state_dir for batch in batches_of(home, "/in/t7.csv", "new")] == [states / "t7-0000000007"]
    assert [batch.state_dir for batch in batches_of(home, None, "f9")] == [states / "t9-0000000009"]
    assert batches_of(home, "/in/new.csv", "new") == []
    assert len(opened) == 2  # t7's and t9's notes, once each (30 on every lookup before)


def test_notes_an_earlier_release_wrote_or_rewrote_are_found_and_read_once(
    tmp_path: Path, opened: list[str]
) -> None:
    home, state = tmp_path / "home", tmp_path / "states" / "t-0000000001"
    state.mkdir(parents=True)
    (home / "batches").mkdir(parents=True)
    entry = {"state_dir": str(state), "folder": None, "input": "/in/t.csv", "fingerprint": "f1"}
    _as_an_earlier_release(home, "0" * 32 + ".json", entry)  # no `inputs`, as the first releases wrote
    assert [batch.state_dir for batch in batches_of(home, "/in/t.csv", "x")] == [state]
    assert [batch.state_dir for batch in batches_of(home, None, "f1")] == [state]
    # Rewritten by an earlier release, run from a copy: found by the copy's path too.
    _as_an_earlier_release(home, "0" * 32 + ".json", {**entry, "input": "/in/copy.parquet"})
    _watched.append(home / "batches")
    assert [batch.state_dir for batch in batches_of(home, "/in/copy.parquet", "x")] == [state]
    assert [batch.state_dir for batch in batches_of(home, "/in/copy.parquet", "x")] == [state]
    assert batches_of(home, "/in/new.csv", "new") == []
    assert len(opened) == 3  # read to index it, then as found by each lookup
