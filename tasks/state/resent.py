"""The rows a batch sent again for their edited input (`--resend-edited`), noted before they are written.

A completed row was never written again, so `rowrelay repair`, counting rows whose newest readable version
is older than a version that cannot be read, left completed rows out: that lost version could not be
theirs. A resend breaks that: the plan puts a completed row back to pending and the run sends it again,
so a torn segment can hold the resend's create (paid for) while the row falls back to its old completed
version, and the repair said 0 rows may have a job on the server. The plan notes the keys it resends here,
durably, before the first of them is changed (`note_resent`); the repair counts completed rows among those
keys only (`damage.older_than`), so a million-row batch that resent 3 rows lists 3, not a million.

    DIR/resent.json    {"keys": ["T-00001", ...], "unknown": false}

`unknown`: an earlier note could not be read when a later one was written; every completed row is then
counted as one that may have been resent, as when the note itself cannot be read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rowrelay.tasks.durable import atomic_write_bytes

__all__ = ["RESENT_FILE", "note_resent", "resent_keys"]

RESENT_FILE = "resent.json"
EVERY_ROW = None
"""What `resent_keys` returns when the note cannot be read: any row may have been resent."""


def resent_keys(directory: Path) -> frozenset[str] | None:
    """The keys the batch at `directory` ever resent for an edited input (empty: none), or `EVERY_ROW`
    (None) when its note cannot be read, or says an earlier one could not."""
    path = directory / RESENT_FILE
    try:
        data = json.loads(path.read_bytes())
        keys, unknown = data["keys"], data["unknown"]
        if unknown is not False or not all(isinstance(key, str) for key in keys):
            return EVERY_ROW
        return frozenset(keys)
    except FileNotFoundError:
        return frozenset()
    except (OSError, ValueError, TypeError, KeyError):
        return EVERY_ROW  # read as the worst case: a repair counts too many, never too few


def note_resent(directory: Path, keys: Sequence[str]) -> None:
    """Add `keys` to the batch's note of resent rows, atomically and durably: called before the first of
    them is written back to pending, so no version of a resent row is on disk without its note."""
    earlier = resent_keys(directory)
    known = sorted((earlier or frozenset()) | set(keys))
    record = {"keys": known, "unknown": earlier is EVERY_ROW}
    atomic_write_bytes(directory / RESENT_FILE, json.dumps(record).encode())
