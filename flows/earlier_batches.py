"""A changed input under its default state: refused when it would send rows an earlier batch of it sent.

A batch's default state is named by the input's contents (`BatchRequest.state_dir`: the input's name and
its fingerprint) under the working folder, so the same file resumes the same batch. Once the file
changes (rows appended, one edited, the whole sorted), or the same command is run from another folder (a
cron job from $HOME), it names a new batch, which sent every row again: rows an earlier batch of that
file had sent were created and paid for a second time, without a word, and its rows in flight were never
collected. Now a run under a default state that does not exist yet looks for earlier batches of the same
input beside it (a file of the same name, wherever it was read from, or any DataFrame for a DataFrame)
and, through the index of default states (`batch_index`), begun from other folders (a file any of its
runs read, or the same contents), on the same
server, asking the same of a row (model, schema, agent), and refuses, in one line, when any of them
already sent one of this input's requests (the same prompt and instructions), naming that batch and the
ways on: resume it (`--state` it; or run from its folder), or send them again (`--state` a new
directory). A changed input that holds the earlier batch's rows under ids written otherwise (`1` now
`001`) is told to give them their earlier ids first: resumed over the input as it is, that batch refuses
them (`run.rekeyed_rows`), where the advice to resume it had sent them again, paid twice. A given
`--state` is never second-guessed, and on an emulator, where nothing is paid, the input is a batch of
its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.flows.asked_of_a_row import changes_from, key_change
from rowrelay.flows.batch_index import batches_of, note_batch
from rowrelay.flows.request import BatchRequest
from rowrelay.flows.same_server import server_of_record, server_of_run
from rowrelay.tasks.dataset import PreparedInput
from rowrelay.tasks.errors import StateError, UsageError
from rowrelay.tasks.run.rekeyed_rows import REKEY_FACTS, Rekeyed, rekeyed_examples, rekeyed_rows
from rowrelay.tasks.setting_problems import given_as
from rowrelay.tasks.state import read_run_record, read_table
from rowrelay.tasks.state.run_record import RunRecord

__all__ = ["check_earlier_batches"]

_FINGERPRINT_DIGITS = 10
"""Hex digits of the fingerprint in a default state's name (`BatchRequest.state_dir`)."""


@dataclass(frozen=True, slots=True)
class _Earlier:
    """A batch that may have sent this input's rows."""

    state_dir: Path
    folder: Path | None = None
    """The working folder it was begun from, when that is another than this run's (`batch_index`)."""
    elsewhere: bool = False
    """Whether its default state is in another state folder than this run's (begun from another folder)."""
    same_contents: bool = False
    """Whether it is of the same contents (fingerprint): then its input may be a copy at another path."""


@dataclass(frozen=True, slots=True)
class _Sent:
    earlier: _Earlier
    rows: int
    """Rows of this input whose request the earlier batch sent."""
    keyed: str | None
    """How this run keys rows otherwise than the earlier batch (`asked_of_a_row.key_change`), or None."""
    rekeyed: Rekeyed
    """This input's rows that are rows the earlier batch sent, under other ids (`rekeyed_rows`)."""
    read_from: str | None
    """The input file of the earlier batch's last run (None for a DataFrame)."""


def check_earlier_batches(request: BatchRequest, prepared: PreparedInput, state_dir: Path) -> None:
    """Refuse a first run under a default state when an earlier batch of the same input (beside it, or
    begun from another folder: `batch_index`), on the same server and asking the same of a row, has
    already sent some of its rows' requests: they would be sent, and paid for, again. A default state
    let through is noted in the index, for a run from another folder to find."""
    if request.state is not None:
        return  # a given state is the user's choice
    if not state_dir.exists() and server_of_run(request.settings)[0] != "emulator":  # emulator: unpaid
        _refuse_sending_again(request, prepared, state_dir)
    relative = not request.settings.state_dir.expanduser().is_absolute()
    home = request.settings.home
    note_batch(home, state_dir, request.input_path(), prepared.fingerprint, relative=relative)


def _refuse_sending_again(request: BatchRequest, prepared: PreparedInput, state_dir: Path) -> None:
    earlier = [*_beside(state_dir), *_begun_elsewhere(request, prepared, state_dir)]
    found = [sent for batch in earlier if (sent := _sent_before(request, prepared, batch))]
    if not found:
        return
    most = max(found, key=lambda sent: sent.rows)
    batch, them = most.earlier, _them(most.rows)
    rows = "1 row of this input was" if most.rows == 1 else f"{most.rows} rows of this input were"
    path = request.input_path()
    name = "a DataFrame" if path is None else Path(path).name
    begun = _begun(batch)
    resume, anew = given_as("state", str(batch.state_dir)), given_as("state", "NEW_DIR")  # `state=...`
    if most.keyed is not None:  # the input may be the same: its rows' keys are not
        raise UsageError(
            f"{rows} already sent by {batch.state_dir}, a batch of {name}{begun}; this run keys rows "
            f"{most.keyed}, so it gets a new default state ({state_dir}) that would send {them} again, "
            f"paid twice: run it as that batch ran, or pass {anew} to send {them} again"
        )
    if batch.same_contents and not batch.elsewhere:  # the very rows, under another name in this folder
        raise UsageError(
            f"{rows} already sent by {batch.state_dir}, a batch of the same contents under another name; "
            f"as {name}, they get a new default state ({state_dir}) that would send {them} again, paid "
            f"twice: resume that batch with {resume}, or pass {anew} to send "
            f"{them} again"
        )
    if batch.elsewhere and batch.same_contents:  # the very input, run from another folder
        there = f" or run from {batch.folder}" if batch.folder else ""
        raise UsageError(
            f"{rows} already sent by {batch.state_dir}, a batch of {name}{begun}; from this folder, "
            f"the same input gets a new default state ({state_dir}) that would send {them} again, paid "
            f"twice: resume that batch with {resume}{there}, or pass {anew} to "
            f"send {them} again"
        )
    of = "an earlier DataFrame" if path is None else f"{name} before it changed{_read_from(most, path)}"
    if most.rekeyed.refused:  # resumed over this input, they would be refused: their ids changed form
        raise UsageError(
            f"{rows} already sent by {batch.state_dir}, a batch of {of}{begun}, under other ids "
            f"({rekeyed_examples(most.rekeyed)}); "
            f"as changed, the input gets a new default state ({state_dir}) that would send {them} again, "
            f"paid twice: give the input its earlier ids and resume that batch with "
            f"{resume}, or pass {anew} to send {them} again"
        )
    raise UsageError(
        f"{rows} already sent by {batch.state_dir}, a batch of {of}{begun}; as changed, the input gets a "
        f"new default state ({state_dir}) that would send {them} again, paid twice: resume that batch "
        f"over the changed input with {resume} (rows are matched by key; new rows are "
        f"planned), or pass {anew} to send {them} again"
    )


def _read_from(sent: _Sent, path: str) -> str:
    """Which file the earlier batch last read, as the refusal says it when it is not this input's path."""
    return "" if sent.read_from in (None, path) else f" (read from {sent.read_from})"


def _begun(batch: _Earlier) -> str:
    """Where a batch in another state folder was begun, as the refusal says it."""
    if not batch.elsewhere:
        return ""
    return f", begun from {batch.folder}" if batch.folder else ", begun under another state folder"


def _them(rows: int) -> str:
    return "it" if rows == 1 else "them"


def _begun_elsewhere(request: BatchRequest, prepared: PreparedInput, state_dir: Path) -> list[_Earlier]:
    """The batches of the same input file or contents that the index holds and `_beside` does not list: in
    another state folder (a default state is under the working folder, so the same command run from
    elsewhere names a new one), or beside this one under another name (the same contents as a copy of
    the file, or as a DataFrame: its name is part of the default state's)."""
    here = state_dir.resolve().parent
    stem = _stem(state_dir)
    return [
        _Earlier(batch.state_dir, batch.folder, elsewhere, batch.fingerprint == prepared.fingerprint)
        for batch in batches_of(request.settings.home, request.input_path(), prepared.fingerprint)
        if (elsewhere := batch.state_dir.parent != here) or not _default_state_of(batch.state_dir.name, stem)
    ]


def _stem(state_dir: Path) -> str:
    """The input's name in a default state's name (`<name>-<fingerprint>`)."""
    return state_dir.name[: -_FINGERPRINT_DIGITS - 1]


def _beside(state_dir: Path) -> list[_Earlier]:
    """The other default states of the same input name beside `state_dir` (`<name>-<fingerprint>`)."""
    stem = _stem(state_dir)
    parent = state_dir.parent
    if not parent.is_dir():
        return []
    return [
        _Earlier(path)
        for path in sorted(parent.iterdir())
        if path.name != state_dir.name and _default_state_of(path.name, stem) and path.is_dir()
    ]


def _default_state_of(name: str, stem: str) -> bool:
    head, dash, digits = name.rpartition("-")
    return (
        head == stem
        and bool(dash)
        and len(digits) == _FINGERPRINT_DIGITS
        and all(c in "0123456789abcdef" for c in digits)
    )


def _sent_before(request: BatchRequest, prepared: PreparedInput, batch: _Earlier) -> _Sent | None:
    """How many of this input's requests `earlier` sent, if it is a batch of the same input asking the
    same of a row on the same server; None otherwise, or when it cannot be read (it is not the batch
    being run, and a damaged file of its own is found when it runs)."""
    earlier = batch.state_dir
    try:
        record = read_run_record(earlier)
        if record is None or not _same_requests(request, record, batch.same_contents):
            return None
        table, _damaged = read_table(earlier, skip_damaged=True)
    except (StateError, OSError):
        return None
    tried = pc.greater(table.column("attempts"), pa.scalar(0, pa.int32()))
    sent = table.filter(tried).column("input_hash").combine_chunks()
    rows = len(prepared.hashes.filter(pc.is_in(prepared.hashes, value_set=sent))) if len(sent) else 0
    if not rows:
        return None
    rekeyed = rekeyed_rows(table.select(list(REKEY_FACTS)), prepared.planned())
    return _Sent(batch, rows, key_change(request, record), rekeyed, record.input)


def _same_requests(request: BatchRequest, record: RunRecord, same_contents: bool) -> bool:
    """Whether the earlier batch's requests of a prompt are this run's: an input of the same kind (files,
    or both DataFrames; or the same contents), asking the same of a row (model, schema, agent), on the
    same server (every emulator being one).

    Not the same input path: a batch is found as this input's by its name beside this run's default
    state or by the index (`batch_index`), and whether it sent this input's requests is what its rows'
    input hashes say. Its run.json names only the file of its last run: a batch resumed once from a
    Parquet copy of its CSV, or tonight's export at a new dated path, was passed over, and every row was
    sent again, paid twice (a trial)."""
    same_input = same_contents or (record.input is None) == (request.input_path() is None)
    if not same_input or bool(record.endpoints) != bool(request.endpoints):
        return False
    if request.endpoints:
        return True  # several servers: a row names its own; taken to be the same rather than pay twice
    same_server = server_of_record(record) == server_of_run(request.settings)
    return same_server and not changes_from(request, record)
