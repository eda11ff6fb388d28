"""A stopping run's cancel on a server whose cancel is asynchronous (it answers with the response still
`in_progress` and cancels it after): the closing line said "nothing was in flight" with every response
just cancelled, and the rows, left holding their tokens unmarked, were found `cancelled` by the next run
and kept so, never sent again, though a stopped run's work is sent again. Now the line says they were
still ending, and the next run collects them and sends them again, each create counted."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.llm import RowRequest, make_backend
from rowrelay.tasks.run import cancel_in_flight
from rowrelay.tasks.run.cancel import end_recorder
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.run.stops import Cancelled, said_on_stop
from rowrelay.tasks.state import load
from tests.support.duplicates import jobs_of
from tests.support.runs import left_in_flight, new_table, prompts, run_batch, settings_for

ROWS = 3
CONFIG = EmulatorConfig(cancels_later=True, latency=LatencySpec.parse("fixed:0.3"))


async def cancelled_in_flight(
    emu: RunningEmulator, directory: Path, *, stopping: bool, marked: dict[str, str] | None = None
) -> Cancelled:
    """`ROWS` rows left in flight on `emu` (each field of `marked` set on them, as a stop leaves them),
    then cancelled as a stopping run (`stopping`) or `rowrelay cancel` does."""
    table = new_table(directory, ROWS)
    asked = prompts(ROWS)
    requests = [RowRequest(key, asked[key], None, "gpt-4.1-mini", {"rowrelay_row": key}) for key in asked]
    backend = make_backend(settings_for(emu))
    try:
        await left_in_flight(table, emu.url, requests)
        for key in asked:
            table.update(key, **(marked or {}))
        record_end = end_recorder(table, Spend.unpriced(), max_attempts=3, output_schema=None)
        return await cancel_in_flight(table, backend, record_end=record_end, stopping=stopping)
    finally:
        await backend.aclose()
        table.close()


async def test_a_cancel_the_server_carries_out_later_is_said_and_its_rows_are_sent_again(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "batch"
    with running_emulator(CONFIG) as emu:
        cancelled = await cancelled_in_flight(emu, directory, stopping=True)
        held = load(directory)
        report = await run_batch(emu, directory, rows=ROWS, max_attempts=3)
        started, unanswered = jobs_of(emu.url)
    assert cancelled.cancelling == ROWS
    assert said_on_stop([cancelled]) == (
        "3 rows were still ending when the server took the cancel (it cancels later): kept with their "
        "responses, which the next run collects"
    )
    assert set(held["status"]) <= {"queued", "in_progress"}, "kept with their tokens"
    assert report.counts == {"completed": ROWS}, "found cancelled, the stopped work was sent again"
    frame = load(directory)
    assert started == Counter(dict.fromkeys(frame["row_key"], 2))
    # Each row's two jobs are its two counted attempts: the first cancelled as the run stopped (not a
    # possible duplicate: its end is known), the second its answer.
    assert (frame["attempts"] == 2).all()
    assert (frame["orphans"] == 0).all()
    assert sum(unanswered.values()) == 0


async def test_a_cancel_asked_for_after_a_stop_keeps_the_rows_from_being_sent_again(tmp_path: Path) -> None:
    """A run stopped, its rows marked as interrupted work with their responses still ending, then
    `rowrelay cancel` asked for, the server still ending them: the rows kept the stop's mark, and the
    next run, finding them cancelled, sent them again, against the user's cancel. The cancel asked for is
    what the next run reads now."""
    directory = tmp_path / "batch"
    with running_emulator(CONFIG) as emu:
        # As a stop whose cancel the server took, to carry it out later, leaves them.
        stopped = {"error_type": "interrupted", "error_message": "cancelled as its run stopped"}
        asked_for = await cancelled_in_flight(emu, directory, stopping=False, marked=stopped)
        report = await run_batch(emu, directory, rows=ROWS, max_attempts=3)
        started, unanswered = jobs_of(emu.url)
    assert asked_for.cancelling == ROWS
    assert report.counts == {"cancelled": ROWS}, "cancelled as asked, not sent again"
    frame = load(directory)
    assert set(frame["error_type"]) == {"cancelled"}
    assert started == Counter(dict.fromkeys(frame["row_key"], 1))
    assert (frame["attempts"] == 1).all()
    assert sum(unanswered.values()) == 0
