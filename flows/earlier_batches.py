"""A changed input under its default state: refused when it would send rows an earlier batch of it sent.

A batch's default state is named by the input's contents (`BatchRequest.state_dir`: the input's name and
its fingerprint), so the same file resumes the same batch. Once the file changes (rows appended, one
edited, the whole sorted), the same command names a new batch, which sent every row again: rows an
earlier batch of that file had answered were created and paid for a second time, without a word. Now a
run under a default state that does not exist yet looks for earlier batches of the same input beside it
(the same file, or any DataFrame for a DataFrame), on the same server, asking the same of a row (model,
schema, agent), and refuses, in one line, when any of them already sent one of this input's requests
(the same prompt and instructions), naming that batch and both ways on: resume it over the changed input
(`--state` it), or send them again (`--state` a new directory). A given `--state` is never
second-guessed, and on an emulator, where nothing is paid, the changed input is a batch of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.flows.request import BatchRequest
from rowrelay.flows.same_server import changes_from, key_change, server_of_record, server_of_run
from rowrelay.tasks.dataset import PreparedInput
from rowrelay.tasks.errors import StateError, UsageError
from rowrelay.tasks.state import read_run_record, read_table
from rowrelay.tasks.state.run_record import RunRecord

__all__ = ["check_earlier_batches"]

_FINGERPRINT_DIGITS = 10
"""Hex digits of the fingerprint in a default state's name (`BatchRequest.state_dir`)."""


@dataclass(frozen=True, slots=True)
class _Sent:
    state_dir: Path
    rows: int
    """Rows of this input whose request the earlier batch sent."""
    keyed: str | None
    """How this run keys rows otherwise than the earlier batch (`same_server.key_change`), or None."""


def check_earlier_batches(request: BatchRequest, prepared: PreparedInput, state_dir: Path) -> None:
    """Refuse a first run under a default state when an earlier batch of the same input, on the same server
    and asking the same of a row, has already sent some of its rows' requests: they would be sent, and
    paid for, again."""
    if request.state is not None or state_dir.exists() or server_of_run(request.settings)[0] == "emulator":
        return  # a given state is the user's choice; on an emulator, nothing is paid
    found = [sent for earlier in _earlier(state_dir) if (sent := _sent_before(request, prepared, earlier))]
    if not found:
        return
    most = max(found, key=lambda sent: sent.rows)
    rows = "1 row of this input was" if most.rows == 1 else f"{most.rows} rows of this input were"
    path = request.input_path()
    of = "an earlier DataFrame" if path is None else f"{Path(path).name} before it changed"
    if most.keyed is not None:  # the input may be the same: its rows' keys are not
        name = "a DataFrame" if path is None else Path(path).name
        raise UsageError(
            f"{rows} already sent by {most.state_dir}, a batch of {name}; this run keys rows {most.keyed}, "
            f"so it gets a new default state ({state_dir}) that would send {_them(most.rows)} again, paid "
            f"twice: run it as that batch ran, or pass --state NEW_DIR to send {_them(most.rows)} again"
        )
    raise UsageError(
        f"{rows} already sent by {most.state_dir}, a batch of {of}; as changed, the input gets a new "
        f"default state ({state_dir}) that would send {_them(most.rows)} again, paid twice: resume that "
        f"batch over the changed input with --state {most.state_dir} (rows are matched by key; new rows "
        f"are planned), or pass --state NEW_DIR to send {_them(most.rows)} again"
    )


def _them(rows: int) -> str:
    return "it" if rows == 1 else "them"


def _earlier(state_dir: Path) -> list[Path]:
    """The other default states of the same input name beside `state_dir` (`<name>-<fingerprint>`)."""
    stem = state_dir.name[: -_FINGERPRINT_DIGITS - 1]
    parent = state_dir.parent
    if not parent.is_dir():
        return []
    return sorted(
        path
        for path in parent.iterdir()
        if path.name != state_dir.name and _default_state_of(path.name, stem) and path.is_dir()
    )


def _default_state_of(name: str, stem: str) -> bool:
    head, dash, digits = name.rpartition("-")
    return (
        head == stem
        and bool(dash)
        and len(digits) == _FINGERPRINT_DIGITS
        and all(c in "0123456789abcdef" for c in digits)
    )


def _sent_before(request: BatchRequest, prepared: PreparedInput, earlier: Path) -> _Sent | None:
    """How many of this input's requests `earlier` sent, if it is a batch of the same input asking the
    same of a row on the same server; None otherwise, or when it cannot be read (it is not the batch
    being run, and a damaged file of its own is found when it runs)."""
    try:
        record = read_run_record(earlier)
        if record is None or not _same_requests(request, record):
            return None
        table, _damaged = read_table(earlier, skip_damaged=True)
    except (StateError, OSError):
        return None
    tried = pc.greater(table.column("attempts"), pa.scalar(0, pa.int32()))
    sent = table.filter(tried).column("input_hash").combine_chunks()
    rows = len(prepared.hashes.filter(pc.is_in(prepared.hashes, value_set=sent))) if len(sent) else 0
    return _Sent(earlier, rows, key_change(request, record)) if rows else None


def _same_requests(request: BatchRequest, record: RunRecord) -> bool:
    """Whether the earlier batch's requests of a prompt are this run's: the same input file (or both
    DataFrames), asking the same of a row (model, schema, agent), on the same server (every emulator
    being one)."""
    if record.input != request.input_path() or bool(record.endpoints) != bool(request.endpoints):
        return False
    if request.endpoints:
        return True  # several servers: a row names its own; taken to be the same rather than pay twice
    same_server = server_of_record(record) == server_of_run(request.settings)
    return same_server and not changes_from(request, record)
