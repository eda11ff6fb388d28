"""The note of rows a batch resent for an edited input (`state.resent`), which `rowrelay repair` reads to
count a completed row whose later version may be lost: keys add up over runs, and a note that cannot be
read is read as the worst case (any row may have been resent), never as none."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.errors import DamagedFileError
from rowrelay.tasks.state.resent import (
    EVERY_ROW,
    OWED_FILE,
    RESENT_FILE,
    LostResend,
    forget_owed,
    note_owed,
    note_resent,
    owed_counts,
    resent_hashes,
    resent_keys,
)


def test_no_note_is_no_row_and_notes_add_up(tmp_path: Path) -> None:
    assert resent_keys(tmp_path) == frozenset()
    note_resent(tmp_path, {"T-1": "h1", "T-3": "h3"})
    note_resent(tmp_path, {"T-2": "h2", "T-3": "h3b"})
    assert resent_keys(tmp_path) == frozenset({"T-1", "T-2", "T-3"})
    assert resent_hashes(tmp_path) == {"T-1": "h1", "T-2": "h2", "T-3": "h3b"}  # the latest resend's text


def test_a_note_of_an_older_rowrelay_lists_its_keys_with_no_hash(tmp_path: Path) -> None:
    (tmp_path / RESENT_FILE).write_bytes(b'{"keys": ["T-1"], "unknown": false}')
    assert resent_keys(tmp_path) == frozenset({"T-1"})
    assert (
        resent_hashes(tmp_path) == {}
    )  # listed by the repair, never counted: what it was sent as is unknown


def test_a_note_that_cannot_be_read_is_every_row_and_stays_so_when_added_to(tmp_path: Path) -> None:
    (tmp_path / RESENT_FILE).write_bytes(b'{"keys": ["T-1"')  # torn
    assert resent_keys(tmp_path) is EVERY_ROW
    note_resent(tmp_path, {"T-2": "h2"})  # the earlier keys are unknown: the note must not forget that
    assert resent_keys(tmp_path) is EVERY_ROW


def test_counts_a_repair_owes_are_kept_until_forgotten_and_never_read_as_none_when_torn(
    tmp_path: Path,
) -> None:
    assert owed_counts(tmp_path) == {}
    note_owed(tmp_path, {"T-1": LostResend("h1", 1)})
    assert owed_counts(tmp_path) == {"T-1": LostResend("h1", 1)}
    forget_owed(tmp_path)
    assert owed_counts(tmp_path) == {}
    (tmp_path / OWED_FILE).write_bytes(b'{"T-1": {"hash"')  # torn: its counts would be lost
    with pytest.raises(DamagedFileError, match="unreadable record of counts a repair owes"):
        owed_counts(tmp_path)
