"""`rowrelay repair STATE [--dry-run]`: set a batch's damaged files aside, so it can be read and run again.

The repair holds the batch's lease (a live runner is refused, by name), moves each damaged file into
`STATE/damaged/` (never deleting one) and says, for each row whose latest version was in one, what it
falls back to: an earlier version from the other files (its response id kept), or nothing, in which case
the next run plans it again as `pending`. `--dry-run` says the same and moves nothing (and takes no lease).

Like the other state commands, each function imports the state and dataset modules it uses when it runs,
so building the CLI (`rowrelay --help`, `status`) does not import pandas.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from rowrelay.flows.cli_errors import fail, said_by_the_command
from rowrelay.flows.default_batch import the_batch
from rowrelay.flows.repair_resends import count_lost_resends, lost_resends, owed_before, rows_said
from rowrelay.flows.state_commands import StateArg, existing
from rowrelay.tasks.errors import LeaseHeldError, StateError, UsageError
from rowrelay.tasks.shell_words import shell_arg

if TYPE_CHECKING:
    from rowrelay.tasks.state.damage import DamagedFile, Scan
    from rowrelay.tasks.state.repair import Fallback, Version

out = Console(soft_wrap=True, markup=False)  # plain text: paths and reasons may hold `[...]`
_LISTED = 50
"""Rows listed one by one; the counts cover the rest."""


def repair(
    state: StateArg = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be moved; move nothing.")
    ] = False,
) -> None:
    """Move damaged state files aside into STATE/damaged/ and say which rows fall back to what."""
    state = the_batch(state, "repair", changes_it=True)
    from rowrelay.tasks.state.damage import move_aside, rebuild_batch, scan
    from rowrelay.tasks.state.files import BATCH_FILE, DAMAGED
    from rowrelay.tasks.state.resent import note_owed
    from rowrelay.tasks.state.versions import accept, said

    try:
        with _alone(existing(state, or_its_table=True), dry_run=dry_run):
            owed = owed_before(state, out)
            found = scan(state)
            if not found.damaged and not found.missing and not found.batch_missing:
                out.print(f"no damaged files in {state}: nothing {'else ' if owed else ''}to repair")
                if not dry_run:
                    count_lost_resends(state, owed, out)
                return
            uncounted = owed | lost_resends(state, found, _report(state, found), out)
            paths = [damaged.path for damaged in found.damaged]
            if dry_run:
                counts = f", counts {rows_said(len(uncounted))} resent (above)" if uncounted else ""
                out.print(
                    f"dry run: nothing moved; `rowrelay repair {shell_arg(state)}` {_what(found)}{counts}"
                )
                return
            if uncounted:  # first: once the damaged files are moved, nothing shows what was lost
                note_owed(state, uncounted)
            moved = dict(zip(paths, move_aside(state, paths), strict=True))
            accept(state, found.missing)
            if found.batch_lost:
                record, source = rebuild_batch(state, found, moved.get(state / BATCH_FILE))
            count_lost_resends(state, uncounted, out)
    except LeaseHeldError as exc:
        fail(exc.said("a repair needs the batch to itself: let that run end (or stop it) first"))
    except StateError as exc:
        fail(said_by_the_command(exc))  # a full or read-only folder in the repair's words
    if paths:
        out.print(f"moved {_files(len(paths))} into {state / DAMAGED} (kept, never deleted)")
    if found.missing:
        out.print(
            f"recorded the loss of {said(found.missing)} as accepted, in {state / DAMAGED} (the table no "
            "longer refuses to be read for it)"
        )
    if found.batch_lost:
        out.print(f"wrote {BATCH_FILE} again: batch {record['batch_id']!r} ({source}); no row was changed")
    out.print("`rowrelay status`, `export` and `run` read the batch again")
    if not found.run_record_readable:
        out.print(
            "run.json was set aside: the next `rowrelay run` writes it again (till then, export --input)"
        )


def _files(n: int) -> str:
    return "1 file" if n == 1 else f"{n} files"


def _what(found: Scan) -> str:
    """What a repair of `found` does, as its dry run says it."""
    from rowrelay.tasks.state.files import BATCH_FILE
    from rowrelay.tasks.state.versions import said

    moves = f"moves {_files(len(found.damaged))}" if found.damaged else ""
    accepts = f"accepts the loss of {said(found.missing)}" if found.missing else ""
    writes = f"writes {BATCH_FILE} again" if found.batch_lost else ""
    return ", ".join(part for part in (moves, accepts, writes) if part)


@contextmanager
def _alone(state: Path, *, dry_run: bool) -> Iterator[None]:
    """Hold the batch's lease (the one `run` takes) while repairing, with no other writer live either;
    a dry run only checks that nobody holds one, writing nothing."""
    from rowrelay.tasks.state.files import MAIN_WRITER
    from rowrelay.tasks.state.lease import LEASE_TIMEOUT, Lease, held_error, live_holders

    if dry_run:
        holders = live_holders(state, time.time())
        if holders:
            raise held_error(state, holders[0])
        yield
        return
    lease = Lease.acquire(state, MAIN_WRITER, timeout=LEASE_TIMEOUT, clock=time.time)
    try:
        others = [h for h in live_holders(state, time.time()) if h.token != lease.info.token]
        if others:
            raise held_error(state, others[0])
        yield
    finally:
        lease.release()


def _report(state: Path, found: Scan) -> list[Fallback]:
    from rowrelay.tasks.state.damage import remaining_versions
    from rowrelay.tasks.state.files import BATCH_FILE
    from rowrelay.tasks.state.repair import fallbacks
    from rowrelay.tasks.state.versions import said

    out.print(f"damaged files in {state}:")
    for damaged in found.damaged:
        unreadable = "; its rows cannot be read" if damaged.rows is None and _holds_rows(damaged) else ""
        out.print(f"  {damaged.path.relative_to(state)}: {damaged.reason}{unreadable}")
    for gap in found.missing:
        out.print(f"  {said([gap])}: held by no state file (a segment or snapshot deleted or lost)")
    if found.batch_missing:
        out.print(f"  {BATCH_FILE}: missing, though the folder holds the batch's state table")
    data_files = [d for d in found.damaged if _holds_rows(d)]
    if not data_files and not found.missing:
        return []  # only run.json: no row loses anything
    expected, unknown = _input_keys(state, found)
    lost = [(str(d.path.relative_to(state)), v) for d in data_files for v in d.rows or ()]
    rows = fallbacks(remaining_versions(found), lost, expected, _unread(state, found, data_files))
    if any(d.rows is None for d in data_files) or found.missing:
        out.print(
            "a row whose latest version cannot be read shows an older one once the repair is done, or, "
            "where no readable file holds it, is absent"
            + (f" (such rows cannot be listed: {unknown})" if unknown else "")
            + ": the next run plans it again as pending"
        )
    _rows(rows, unknown)
    return rows


def _unread(state: Path, found: Scan, data_files: list[DamagedFile]) -> list[tuple[str, Version]]:
    """Rows whose newest readable version is older than a version that cannot be read (an unreadable
    file's, or versions no file holds), and not `completed` unless the batch resent it for an edited
    input (`damage.older_than`): that version may have been a later one of theirs. A torn segment that
    held the only response ids of 2 rows `submitting`, or the latest versions of 7, read as "0 rows lose
    their latest version". Each counted once, against the newest."""
    from rowrelay.tasks.state.damage import older_than
    from rowrelay.tasks.state.files import version_in_name
    from rowrelay.tasks.state.versions import said

    sources = [(said([gap]), gap[1]) for gap in found.missing] + [
        (str(d.path.relative_to(state)), version_in_name(d.path)) for d in data_files if d.rows is None
    ]
    if not sources:
        return []
    name, newest = max(sources, key=lambda source: source[1])
    return [(name, row) for row in older_than(found, newest)]


def _holds_rows(damaged: DamagedFile) -> bool:
    return damaged.path.suffix == ".parquet"


def _input_keys(state: Path, found: Scan) -> tuple[list[tuple[str, int]] | None, str | None]:
    """(key, row_index) of every input row, from the input `run.json` names, or None and why not."""
    from rowrelay.flows.input_reading import reading_of
    from rowrelay.tasks.dataset import InputSpec, read_prepared
    from rowrelay.tasks.state import read_run_record

    if not found.run_record_readable:
        return None, "run.json, which names the input, is damaged"
    record = read_run_record(state)
    if record is None or record.input is None:
        return None, "the input is unknown (a DataFrame, or the batch never ran)"
    try:
        prepared = read_prepared(Path(record.input), InputSpec(**record.spec), reading_of(record))
    except UsageError as exc:
        return None, f"its input cannot be read ({exc})"
    keys: list[Any] = prepared.keys.to_pylist()
    return list(zip(keys, range(len(keys)), strict=True)), None


def _rows(rows: list[Fallback], unknown: str | None) -> None:
    """The counts, then the rows (the first `_LISTED`). Rows whose lost version was read are known to lose
    it; of the rest (`lost` None) only that they may have is known, and that any of them the lost version
    sent has a job on the server: each may have been sent, answered and paid for (all 300 of a trial's)."""
    known = [row for row in rows if row.lost is not None]
    if known or len(known) == len(rows):
        absent = sum(1 for row in known if row.now is None)
        in_flight = sum(1 for row in known if row.from_in_flight)
        maybe = sum(1 for row in known if row.job_may_exist)
        out.print(
            f"{len(known)} rows lose their latest version: {len(known) - absent} fall back to an earlier "
            f"one, {absent} are absent (planned again as pending by the next run); {in_flight} were in "
            f"flight, {maybe} of them may have a job on the server that the table no longer names"
        )
    unread = [row for row in rows if row.lost is None]
    if unread:
        absent = sum(1 for row in unread if row.now is None)
        sending = sum(1 for row in unread if row.now is not None and row.now.status == "submitting")
        resent = sum(1 for row in unread if row.now is not None and row.now.status == "completed")
        uncounted = " (and others not counted)" if unknown else ""
        older = "an older version" if resent else "an older version that had not completed"
        again = (  # a completed row is written again only when sent again for an edited input
            f"; {resent} `completed`, then sent again for an edited input (--resend-edited), whose new "
            "create the lost version may have held"
            if resent
            else ""
        )
        out.print(
            f"{len(unread)} rows may have lost their latest version to what cannot be read: {absent} no "
            f"readable file holds{uncounted}, {len(unread) - absent} show {older} ({sending} `submitting`: "
            f"a create went out, whose response id the lost version may have held{again}); any of them "
            f"may have a job on the server (paid for) that the table no longer names{_next_run(unread)}"
        )
    lines = [("row", "was -> now", "response id kept", "note"), *(_line(row) for row in rows[:_LISTED])]
    widths = [max(len(line[i]) for line in lines) for i in range(3)]
    for line in lines if rows else ():
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        out.print("  " + "  ".join([*cells, line[3]]).rstrip())
    if len(rows) > _LISTED:
        out.print(f"  ... and {len(rows) - _LISTED} more")


def _next_run(rows: list[Fallback]) -> str:
    """What the next run does with `rows` as they fall back (`: ...`, '' when nothing is left to say):
    waits on those holding a response id, sends again those without one, leaves the ended ones be (a
    `completed` row falls back so only from a resend, which the lines after this one speak of). It said
    "the next run sends those again" of all of them: a user trial's 40 rows fell back to `queued` with
    their ids, and the next run sent none of them again."""
    from rowrelay.tasks.records import HOLDING_TOKEN, NOT_COMPLETED

    now = [row.now for row in rows]
    waits = sum(1 for v in now if v is not None and v.status in HOLDING_TOKEN and v.response_id is not None)
    sends = sum(1 for v in now if v is None or v.status in ("pending", "submitting", "orphaned"))
    ended = sum(1 for v in now if v is not None and v.status in NOT_COMPLETED and v.status != "orphaned")
    parts = [f"waits on the {waits} holding a response id, creating nothing for them"] if waits else []
    if sends:
        parts.append(f"sends again the {sends} without one (a second job for any the lost version had sent)")
    if ended:
        parts.append(f"leaves the {ended} that ended as they are")
    return f": the next run {', '.join(parts[:-1])}{' and ' if parts[1:] else ''}{parts[-1]}" if parts else ""


def _line(row: Fallback) -> tuple[str, str, str, str]:
    was = "?" if row.lost is None else row.lost.status
    now = "absent" if row.now is None else row.now.status
    return row.row_key, f"{was} -> {now}", row.kept_response_id or "-", _note(row)


def _note(row: Fallback) -> str:
    notes = []
    if row.now is None:
        notes.append("planned again as pending by the next run")
    if row.lost is None and row.now is None:
        notes.append("what it was cannot be read: if it was sent, a job may exist on the server")
    elif row.lost is None:
        notes.append("a later version may be lost: if it sent the row, a job may exist on the server")
    if row.job_may_exist:
        assert row.lost is not None
        lost = f" (response {row.lost.response_id})" if row.lost.response_id else ""
        notes.append(f"was in flight{lost}: a job may exist on the server")
    elif row.from_in_flight:
        notes.append("was in flight: its response id is kept, the next run resumes it")
    return "; ".join(notes)
