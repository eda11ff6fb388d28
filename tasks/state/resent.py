"""The rows a batch sent again for their edited input (`--resend-edited`), noted before they are written.

A completed row was never written again, so `rowrelay repair`, counting rows whose newest readable version
is older than a version that cannot be read, left completed rows out: that lost version could not be
theirs. A resend breaks that: the plan puts a completed row back to pending and the run sends it again,
so a torn segment can hold the resend's create (paid for) while the row falls back to its old completed
version, and the repair said 0 rows may have a job on the server. The plan notes the keys it resends here,
durably, before the first of them is changed (`note_resent`); the repair counts completed rows among those
keys only (`damage.older_than`), so a million-row batch that resent 3 rows lists 3, not a million.

The note holds each key's edited input hash too: a row that falls back to a version under another hash
(or to the resend's `pending`) lost the resend's create with the damaged file, and its attempts no longer
count that job. The repair counts it (`uncounted_resends`, then `count_lost_resend`): an attempt and an
orphan, as a run counts a create it cannot see, the row `orphaned` under its edited text, so the next run
sends it again and each of its jobs stays counted. A row back under the noted hash and ended holds its
resend's version: nothing of it was lost.

    DIR/resent.json    {"keys": ["T-00001", ...], "hashes": {"T-00001": "ab12..."}, "unknown": false}

`unknown`: an earlier note could not be read when a later one was written; every completed row is then
counted as one that may have been resent, as when the note itself cannot be read. A key with no hash (a
note of an older rowrelay) is listed, never counted: the repair cannot tell whether its resend was lost.

Once the damaged file is moved aside nothing shows the loss again, so a repair that stopped between the
move and the count lost the count for good. The repair writes what it owes first (`note_owed`), with
each row's attempts on the version it falls back to; it (or the next repair, `owed_counts`) counts a row
only while its attempts are still those (`count_lost_resend`), so a count made once is never made twice,
and removes the file once every row is counted (`forget_owed`).

    DIR/resent-owed.json    {"T-00001": {"hash": "ab12...", "attempts": 1}}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rowrelay.tasks.durable import atomic_write_bytes, fsync_dir
from rowrelay.tasks.errors import DamagedFileError
from rowrelay.tasks.records import IN_FLIGHT

if TYPE_CHECKING:
    from rowrelay.tasks.state.repair import Fallback
    from rowrelay.tasks.state.table import StateTable

__all__ = [
    "OWED_FILE",
    "RESENT_FILE",
    "LostResend",
    "count_lost_resend",
    "forget_owed",
    "note_owed",
    "note_resent",
    "owed_counts",
    "resent_hashes",
    "resent_keys",
    "uncounted_resends",
]

RESENT_FILE = "resent.json"
OWED_FILE = "resent-owed.json"
EVERY_ROW = None
"""What `resent_keys` returns when the note cannot be read: any row may have been resent."""


def resent_keys(directory: Path) -> frozenset[str] | None:
    """The keys the batch at `directory` ever resent for an edited input (empty: none), or `EVERY_ROW`
    (None) when its note cannot be read, or says an earlier one could not."""
    read = _read(directory)
    return None if read is None else frozenset(read[0])


def resent_hashes(directory: Path) -> dict[str, str]:
    """Each resent key's edited input hash, as its latest resend noted it (none when the note cannot be
    read, or for a key an older rowrelay noted without one)."""
    read = _read(directory)
    return {} if read is None else read[1]


def _read(directory: Path) -> tuple[list[str], dict[str, str]] | None:
    path = directory / RESENT_FILE
    try:
        data = json.loads(path.read_bytes())
        keys, unknown, hashes = data["keys"], data["unknown"], data.get("hashes", {})
        if unknown is not False or not all(isinstance(key, str) for key in keys):
            return None
        if not all(isinstance(key, str) and isinstance(value, str) for key, value in hashes.items()):
            return keys, {}
        return keys, dict(hashes)
    except FileNotFoundError:
        return [], {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None  # read as the worst case: a repair lists too many, never too few


def note_resent(directory: Path, hashes: Mapping[str, str]) -> None:
    """Add `hashes` (each resent key's edited input hash) to the batch's note of resent rows, atomically
    and durably: called before the first of them is written back to pending, so no version of a resent
    row is on disk without its note."""
    earlier = _read(directory)
    keys, known = (earlier or ([], {}))[0], {**(earlier or ([], {}))[1], **hashes}
    record = {"keys": sorted({*keys, *hashes}), "hashes": known, "unknown": earlier is None}
    atomic_write_bytes(directory / RESENT_FILE, json.dumps(record).encode())


def uncounted_resends(
    rows: Iterable[Fallback], hashes_now: Mapping[str, str], noted: Mapping[str, str]
) -> list[str]:
    """Keys of the repair's `rows` whose resend's create a lost version may have held, uncounted by the
    version each falls back to (`hashes_now`: that version's input hash): noted with a hash (`noted`), back
    under another hash, or to the resend's own `pending`, and not in flight (a `submitting` row is counted
    by the next run's open; a `queued` one holds its own response's id). A lost version read as `pending`
    sent nothing."""
    found = []
    for row in rows:
        now, edited = row.now, noted.get(row.row_key)
        if now is None or edited is None or now.status in IN_FLIGHT:
            continue
        if row.lost is not None and row.lost.status == "pending":
            continue
        if hashes_now.get(row.row_key) != edited or now.status == "pending":
            found.append(row.row_key)
    return found


@dataclass(frozen=True, slots=True)
class LostResend:
    """A resend's create a repair found lost: the row's edited input hash, and its attempts on the version
    it falls back to, which do not count that create (while they are still these, it is owed)."""

    edited_hash: str
    attempts: int


def note_owed(directory: Path, owed: Mapping[str, LostResend]) -> None:
    """Record, durably, the counts a repair owes, before it moves the damaged files that show them."""
    record = {key: {"hash": lost.edited_hash, "attempts": lost.attempts} for key, lost in owed.items()}
    atomic_write_bytes(directory / OWED_FILE, json.dumps(record, sort_keys=True).encode())


def owed_counts(directory: Path) -> dict[str, LostResend]:
    """The counts an earlier repair recorded and did not finish (none: no file); `DamagedFileError` if
    the record cannot be read (never read as none: that loses the counts it holds)."""
    path = directory / OWED_FILE
    try:
        data = json.loads(path.read_bytes())
        return {key: LostResend(str(row["hash"]), int(row["attempts"])) for key, row in data.items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DamagedFileError(str(path), f"unreadable record of counts a repair owes ({exc})") from exc


def forget_owed(directory: Path) -> None:
    """Remove the record once every count it holds is made (durably: the next repair reads nothing)."""
    (directory / OWED_FILE).unlink(missing_ok=True)
    fsync_dir(directory)


def count_lost_resend(table: StateTable, key: str, lost: LostResend) -> bool:
    """Write row `key` as its lost resend left it, counted: under its edited input hash, `orphaned` with
    one more attempt and orphan (`orphans.orphan_changes`, how a run counts a create it cannot see), its
    earlier text's answer cleared, so the next run sends it again (its `--max-attempts` and orphan policy
    decide, as for any orphan). False, nothing written, when the row's attempts are no longer those of
    the version the repair found (the count was made, by a repair that stopped before it said so) or it
    is in flight (the next run's open counts it)."""
    from rowrelay.tasks.state.orphans import orphan_changes

    row = table.get(key)
    if row.attempts != lost.attempts or row.status in IN_FLIGHT:
        return False
    if row.status != "pending":
        table.edited_back(key, input_hash=lost.edited_hash)
    elif row.input_hash != lost.edited_hash:
        table.transition(key, "pending", input_hash=lost.edited_hash)
    sending = table.transition(key, "submitting")  # clears the earlier response, as the resend's did
    options = table.options
    [change] = orphan_changes(
        [sending],
        writer=table.writer,
        is_live=lambda _: False,
        policy=table.orphan_policy,
        max_attempts=options.max_attempts,
    )
    note = (
        "orphaned by rowrelay repair: sent again for its edited input (--resend-edited), the versions "
        "after that lost with a damaged state file; its create may have started a job rowrelay cannot "
        "see (counted here: one attempt, one orphan), and the next run sends it again"
    )
    error = "the resend's create was lost with a damaged state file (rowrelay repair)"
    table.transition(key, change.status, **{**change.fields, "note": note, "error_message": error})
    return True
