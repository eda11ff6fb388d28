"""What each row falls back to when a batch's damaged files are moved aside: pure, no I/O.

The latest version of a row is its highest `version` across the files. Once a damaged file is set aside,
a row whose latest version lived there shows the newest version left in the other files, or, when no
other file holds it, is absent: the next run's plan adds it again as `pending` and sends it.

Moving a file aside rewrites no row: a fallback version keeps everything it had, its response id above
all, so a row that falls back to `queued`/`in_progress` is still resumed rather than sent again. A row
whose lost version was in flight (`submitting`, `queued`, `in_progress`) may have a job running on the
server that the table no longer names; those rows are marked (`job_may_exist`) so a person hears of them.

    plan = fallbacks(remaining, lost=[("segments/main-3.parquet", v) ...], expected=[("T-1", 0), ...])
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from rowrelay.tasks.records import IN_FLIGHT, RowStatus

__all__ = ["Fallback", "Version", "fallbacks"]


@dataclass(frozen=True, slots=True)
class Version:
    """One version of one row: as much of it as a repair needs."""

    row_key: str
    row_index: int
    status: RowStatus
    response_id: str | None
    version: int


@dataclass(frozen=True, slots=True)
class Fallback:
    """A row whose latest version was in a damaged file, and what it shows once that file is set aside.

    `lost` is that latest version (None when it cannot be read: the row is one of the input's rows that
    no readable file holds, or its newest readable version is older than what cannot be read); `now` is the
    version it falls back to (None: absent, planned again as `pending` by the next run).
    """

    row_key: str
    row_index: int
    source: str | None
    lost: Version | None
    now: Version | None

    @property
    def from_in_flight(self) -> bool:
        """The lost version was in flight (`submitting`, `queued`, `in_progress`)."""
        return self.lost is not None and self.lost.status in IN_FLIGHT

    @property
    def job_may_exist(self) -> bool:
        """It fell back from in flight to a version that does not lead to the lost version's response:
        a job may run on the server that the table no longer names."""
        if not self.from_in_flight:
            return False
        assert self.lost is not None
        return (
            self.now is None or self.now.response_id is None or self.now.response_id != self.lost.response_id
        )

    @property
    def kept_response_id(self) -> str | None:
        """The response id the fallback version holds, kept as it was."""
        return None if self.now is None else self.now.response_id


def fallbacks(
    remaining: Mapping[str, Version],
    lost: Iterable[tuple[str, Version]],
    expected: Collection[tuple[str, int]] | None = None,
    unread: Iterable[tuple[str, Version]] = (),
) -> list[Fallback]:
    """Every row whose latest version was (or may have been) in a damaged file, by row_index.

    `remaining`: the latest version of each row in the readable files. `lost`: (damaged file, version)
    for each row version read out of a damaged file (`damage.salvage`). `expected`: (key, row_index) of
    every input row, when the input is known: a key no readable file holds lost its only versions to a
    damaged file, even one whose rows cannot be read. `unread`: (source, remaining version) of rows whose
    newest readable version is older than a source whose rows cannot be read (an unreadable file, versions
    no file holds), which may have held a later one: they are reported with `lost` None.
    """
    newest: dict[str, tuple[str, Version]] = {}
    for source, version in lost:
        held = newest.get(version.row_key)
        if held is None or version.version > held[1].version:
            newest[version.row_key] = (source, version)
    found: dict[str, Fallback] = {}
    for key, (source, version) in newest.items():
        now = remaining.get(key)
        if now is None or now.version < version.version:
            found[key] = Fallback(key, version.row_index, source, version, now)
    for key, index in expected or ():
        if key not in remaining and key not in found:
            found[key] = Fallback(key, index, None, None, None)
    for source, now in unread:
        if now.row_key not in found:
            found[now.row_key] = Fallback(now.row_key, now.row_index, source, None, now)
    return sorted(found.values(), key=lambda fallback: (fallback.row_index, fallback.row_key))
