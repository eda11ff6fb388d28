"""A batch resumes on the server its last run used, asking the same of a row, or says why not before
anything is sent.

A row holding a response id can be collected only from the server that made it: anywhere else its id
is unknown (404), the row is recorded as expired and created again, so a job already paid for is paid
for a second time and its answer lost. And a batch begun on a real model that resumes with no key or
base URL configured (a new shell, a cron job's environment) would fall back to the embedded emulator
and mix emulated answers into real ones, with nothing in the output to tell them apart; so would a
batch tried on the emulator and then run for real under the same state, whose answered rows are never
sent again. All three used to happen in silence; now the run is refused, naming what the batch last ran
on and the way out.

A run that asks something else of a row than the batch's last (another `--model`, or `ROWRELAY_MODEL` in
another shell; another `--schema`; another `--agent`) kept the first run's answers for the rows it had
answered and sent the rest the new way: an output of two kinds of answer (two models', or a typed column
empty on the rows of the first schema), nothing in it telling them apart. It is refused too while both
would be in it.

Emulators are one server here: their answers cost nothing and their ids die with them. Runs over
several endpoints (`--endpoints`) are not checked here: each row names the endpoint that created it,
and the plan refuses a row whose endpoint is not listed (`run.shards`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.flows.asked_of_a_row import changes_from, key_change
from rowrelay.flows.backends import backend_name
from rowrelay.flows.cli_errors import state_problem
from rowrelay.flows.request import BatchRequest
from rowrelay.tasks.errors import DamagedFileError, UsageError
from rowrelay.tasks.records import HOLDING_TOKEN
from rowrelay.tasks.setting_problems import one_of, option_of
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.shell_words import shell_arg
from rowrelay.tasks.state import read_run_record, read_table
from rowrelay.tasks.state.files import BATCH_FILE
from rowrelay.tasks.state.run_record import RunRecord
from rowrelay.tasks.state.schema import value_counts

log = logging.getLogger("rowrelay.resume")

__all__ = ["check_same_requests", "check_same_server", "described", "server_of_record", "server_of_run"]


def check_same_server(request: BatchRequest, state_dir: Path, keys: pa.Array[Any]) -> RunRecord | None:
    """Refuse a run on another server than the batch's last run where rows hold that server's response
    ids, that falls back to the embedded emulator on a batch that ran on a real backend, or that runs on a
    real backend a batch whose rows the emulator answered. `keys`: the input's row keys.

    A run on another server that would send nothing goes ahead (it writes the output again), but the
    batch's record keeps the server that answered its rows: returned, for the run to record (None: this
    run's server is the batch's). Recorded as the run's, a rerun with no key configured made the batch
    one of the emulator's, and the next run with rows to send mixed emulated answers into real ones."""
    if request.endpoints:
        return None
    record = _run_record(state_dir)
    if record is None:
        _warn_unrecorded(request, state_dir)
        return None
    settings = request.settings
    backend = backend_name(settings)
    was, now = _servers_of_record(record), server_of_run(settings)
    if now in was or _unrecorded_azure(record.backend, record.azure_endpoint, backend):
        return None
    table = state_rows(state_dir)
    counts = value_counts(table.column("status"))
    holding = _holding(counts)
    said = _described_all(record, was)
    if holding and not record.endpoints:  # each row names its endpoint: `check_state_rows` refuses those
        raise UsageError(
            f"{state_dir}: {_rows_holding(holding)} from {said}, where the batch last ran; this run would "
            f"use {described(now)}, which does not know them, so they would be created and paid for again. "
            f"Run on {said} to collect them, or cancel them there (`rowrelay cancel {shell_arg(state_dir)}`, "
            "with its key) and run again"
        )
    answered = counts.get("completed", 0)
    if not _left_to_send(table, keys):
        return record  # no answer of this run's server joins the others; theirs stays on record
    emulated = all(server[0] == "emulator" for server in was)
    if settings.backend == "auto" and backend == "emulator" and not emulated:
        again = (
            f"run it with its {option_of('endpoints')} again"
            if record.endpoints
            else "configure that backend again"
        )
        raise UsageError(
            f"{state_dir}: the batch last ran on {said}, and with no API key or base URL "
            "configured this run would use the embedded emulator, mixing emulated answers into its "
            f"output: {again}, or pass {one_of('backend', ('emulator',))} to mean it"
        )
    if emulated and answered:
        rows = "1 row is" if answered == 1 else f"{answered} rows are"
        raise UsageError(
            f"{state_dir}: the batch last ran on the emulator, and {rows} answered, never to be sent "
            f"again: this run on {described(now)} would keep the emulator's answers in its output. Give "
            f"it a state of its own ({option_of('state')})"
        )
    return None


def check_same_requests(request: BatchRequest, state_dir: Path, keys: pa.Array[Any]) -> None:
    """Refuse a run that asks something else of a row than the batch's last run (another model, output
    schema or agent) while rows hold that run's answers (or are on their way to them): with others left to
    send, the output would mix both runs' answers, nothing in it telling which is which; with none, the
    run would send nothing, exit 0 as if it had run the new way, and record the batch as asked the new
    way, so rows added to the input later would be sent so, beside the old answers. `keys`: the input's
    row keys."""
    record = None if request.endpoints else _run_record(state_dir)
    if record is None:
        return
    _check_same_keys(request, state_dir, record)
    changes = changes_from(request, record)
    if not changes:
        return
    table = state_rows(state_dir)
    counts = value_counts(table.column("status"))
    kept = counts.get("completed", 0) + _holding(counts)
    if not kept:
        return  # nothing of the last run's is kept
    asks = f"this run asks something else of a row: {'; '.join(changes)}"
    if not _left_to_send(table, keys):
        raise UsageError(
            f"{state_dir}: every row holds (or awaits) the answer of the batch's last run, and {asks}. It "
            f"would send nothing: run it as before, or give it a state of its own ({option_of('state')}) to "
            "send every row this way"
        )
    rows = (
        "1 row holds its answer (or awaits it)"
        if kept == 1
        else f"{kept} rows hold their answers (or await them)"
    )
    raise UsageError(
        f"{state_dir}: {rows} from the batch's last run, never to be sent again, and {asks}. Its answers "
        "would sit beside those in the output, nothing telling them apart: run it as before to finish the "
        f"batch, or give it a state of its own ({option_of('state')}) to send every row this way"
    )


def _check_same_keys(request: BatchRequest, state_dir: Path, record: RunRecord) -> None:
    """Refuse a run that keys the batch's rows otherwise than its last run (another `--id-column`, or
    one given or dropped) while the batch has sent rows: every row of the input is new to it under the
    new keys, so each one sent would be sent, and paid for, again (it went on with a warning that the
    state's rows were not in the input). The same ids written otherwise (`1` now `001`) are refused
    with the input's rows in hand, before the run starts and by its plan (`run.rekeyed_rows`)."""
    keyed = key_change(request, record)
    if keyed is None:
        return
    tried = pc.greater(state_rows(state_dir).column("attempts"), pa.scalar(0, pa.int32()))
    sent = pc.sum(pc.cast(tried, pa.int64())).as_py() or 0
    if not sent:
        return  # nothing was sent under the old keys: nothing would be paid twice
    rows = "1 row it has sent" if sent == 1 else f"the {sent} rows it has sent"
    raise UsageError(
        f"{state_dir}: this run keys rows {keyed}: every row is new to the batch under these keys, and "
        f"{rows} would be sent, and paid for, again. Run it as before to resume the batch, or give it a "
        f"state of its own ({option_of('state')}) to send every row again"
    )


def _servers_of_record(record: RunRecord) -> list[tuple[str, str | None]]:
    """The servers a recorded run talked to: its one, or each of its endpoints'."""
    if not record.endpoints:
        return [server_of_record(record)]
    return [
        _server(str(entry.get("backend")), entry.get("base_url"), entry.get("azure_endpoint"))
        for entry in record.endpoints
    ]


def _described_all(record: RunRecord, servers: list[tuple[str, str | None]]) -> str:
    if not record.endpoints:
        return described(servers[0])
    names = ", ".join(str(entry.get("name")) for entry in record.endpoints)
    return f"its endpoints ({names})"


def server_of_record(record: RunRecord) -> tuple[str, str | None]:
    """The server a recorded run talked to (`_server`)."""
    return _server(record.backend, record.base_url, record.azure_endpoint)


def server_of_run(settings: Settings) -> tuple[str, str | None]:
    """The server a run with these settings talks to (`_server`)."""
    return _server(backend_name(settings), settings.base_url, settings.azure_endpoint)


def _server(backend: str, base_url: str | None, azure_endpoint: str | None = None) -> tuple[str, str | None]:
    """What a run talks to, as far as response ids go: one identity for every emulator; an Azure
    resource by its endpoint alone (response ids of one resource are unknown to another), whatever base
    URL was set beside it: the Azure client never uses one, so a stray OPENAI_BASE_URL made every
    resource one server (a resume on another paid for its rows again), and a batch recorded with it by an
    earlier release was refused on its own resource in a shell without it; any other by its base URL."""
    if backend == "emulator":
        return (backend, None)
    where = azure_endpoint if backend == "azure" else base_url
    return (backend, where.rstrip("/") if where else None)


def _unrecorded_azure(backend: str, azure_endpoint: str | None, now: str) -> bool:
    """A batch last run on Azure by a release that did not record the endpoint (any base URL it recorded
    is not where it ran: `_server`): which resource it used is not known, so a run on Azure is let
    through as it was before."""
    return backend == now == "azure" and azure_endpoint is None


def described(server: tuple[str, str | None]) -> str:
    backend, url = server
    if backend == "emulator":
        return "the emulator"
    return f"{backend} at {url}" if url else f"{backend} (its default address)"


def _run_record(state_dir: Path) -> RunRecord | None:
    """The batch's record of its last run (None if it has none); an unreadable one is a `UsageError`
    naming it and the repair, in one line, as a damaged state file is (it was a traceback, exit 1)."""
    try:
        return read_run_record(state_dir)
    except DamagedFileError as exc:
        raise UsageError(state_problem(exc, state_dir)) from exc


def _warn_unrecorded(request: BatchRequest, state_dir: Path) -> None:
    """A batch without `run.json` (one an earlier release began, or one whose unreadable record `rowrelay
    repair` set aside) cannot say which server made its rows' response ids: said, where rows hold any,
    since on another server each would be created and paid for again."""
    if not (state_dir / BATCH_FILE).exists():
        return
    holding = _holding(value_counts(state_rows(state_dir).column("status")))
    if not holding:
        return
    log.warning(
        "%s: %s, and the batch has no run.json to say which server made them (a batch an earlier release "
        "began, or one whose record `rowrelay repair` set aside): they are collected only if this run's "
        "server, %s, made them; on any other each is created and paid for again",
        state_dir,
        _rows_holding(holding),
        described(server_of_run(request.settings)),
    )


def _holding(counts: dict[str, int]) -> int:
    """Rows holding a response id, from the table's status counts."""
    return sum(counts.get(status, 0) for status in HOLDING_TOKEN)


def _rows_holding(holding: int) -> str:
    return "1 row holds a response id" if holding == 1 else f"{holding} rows hold response ids"


def state_rows(state_dir: Path) -> pa.Table:
    """Every row's latest state; a damaged file (found past the footers `check_state_readable` reads) is
    a `UsageError` naming it and the repair, as the other checks before a run say it."""
    try:
        return read_table(state_dir)[0]
    except DamagedFileError as exc:
        raise UsageError(state_problem(exc, state_dir)) from exc


def _left_to_send(table: pa.Table, keys: pa.Array[Any]) -> bool:
    """Whether the input holds a row the batch has not completed, or has not planned yet (the input grew
    since): one this run would send. Rows of the state the input no longer holds are not sent."""
    at = pc.index_in(keys, value_set=table.column("row_key").combine_chunks())
    if at.null_count:
        return True
    statuses = table.column("status").combine_chunks().take(at)
    return not pc.all(pc.equal(statuses, pa.scalar("completed"))).as_py()
