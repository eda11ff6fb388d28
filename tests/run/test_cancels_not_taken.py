"""A row whose cancel did not take is left saying so, not as cancelled, and is still never lost.

A stop (Ctrl-C) or `rowrelay cancel` marks each row in flight with whose cancel it is about to get before
any cancel goes out ('cancelled on request', or 'cancelled as its run stopped ...'), so that a cancel the
server carried out while its answer went unheard is read right by the next run (54d62b4). That mark's
words stayed on rows whose cancel did not take: an export meanwhile said 'cancelled on request' in the
`error` column of a row whose job still ran. Now, once the cancels are answered, such a row's error goes
and a note says a cancel was asked and why it has not taken; its status is the server's; the mark's type
stays wherever the cancel may still take, so a stop's row found cancelled later is still sent again.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.llm import RowRequest, make_backend
from rowrelay.tasks.run import cancel_in_flight
from rowrelay.tasks.run.cancel import end_recorder
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.run.stops import Cancelled
from rowrelay.tasks.state import load, results_frame_of
from tests.support.dark_port import dark_port
from tests.support.duplicates import jobs_of
from tests.support.lost_cancels import losing_cancel_answers
from tests.support.runs import Address, left_in_flight, new_table, prompts, run_batch, settings_for

ROWS = 3
SLOW = LatencySpec.parse("fixed:2")
"""Long enough that no response ends before its cancel is answered, short enough for the next run."""
WHOSE = {True: "as its run stopped", False: "on request"}
MARK_TYPE = {True: "interrupted", False: "cancelled"}


async def _cancelled(emu: RunningEmulator, directory: Path, cancel_at: str, *, stopping: bool) -> Cancelled:
    """`ROWS` rows left in flight on `emu`, then cancelled through `cancel_at` (the emulator, a proxy to
    it, or a dead address) as a stopping run (`stopping`) or `rowrelay cancel` does."""
    table = new_table(directory, ROWS)
    asked = prompts(ROWS)
    requests = [RowRequest(key, asked[key], None, "gpt-4.1-mini", {"rowrelay_row": key}) for key in asked]
    backend = make_backend(settings_for(Address(cancel_at), transport_retries=0))
    try:
        await left_in_flight(table, emu.url, requests)
        record_end = end_recorder(table, Spend.unpriced(), max_attempts=3, output_schema=None)
        return await cancel_in_flight(table, backend, record_end=record_end, stopping=stopping)
    finally:
        await backend.aclose()
        table.close()


def _read(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The batch's rows as stored, and as an export writes them (`error` column)."""
    frame = load(directory).set_index("row_key")
    return frame, results_frame_of(directory, list(frame.index)).set_index(frame.index)


@pytest.mark.parametrize("stopping", [True, False], ids=["stop", "cancel"])
async def test_a_cancel_the_server_answers_with_the_response_still_running(
    tmp_path: Path, stopping: bool
) -> None:
    with running_emulator(EmulatorConfig(cancels_later=True, latency=SLOW)) as emu:
        cancelled = await _cancelled(emu, tmp_path / "batch", emu.url, stopping=stopping)
    assert cancelled.cancelling == ROWS
    rows, exported = _read(tmp_path / "batch")
    assert exported["error"].isna().all(), exported["error"].tolist()  # no 'cancelled on request'
    for key, row in rows.iterrows():
        assert row["status"] in ("queued", "in_progress"), key  # as the server answered the cancel
        assert row["note"] == (
            f"a cancel was asked {WHOSE[stopping]}, but the server answered it with its response "
            f"{row['status']}; the next run collects what it became"
        )
        assert row["error_type"] == MARK_TYPE[stopping]  # read by the next run if it finds it cancelled


async def test_a_stop_whose_cancel_answer_was_lost_after_it_took_is_still_sent_again(tmp_path: Path) -> None:
    """The money: the server cancelled each response, every answer lost (502). The rows say no answer
    said it took, and keep the stop's mark, so the next run, finding them cancelled, sends them again,
    each create counted; and never as a duplicate."""
    directory = tmp_path / "batch"
    with running_emulator(EmulatorConfig(latency=SLOW)) as emu:
        async with losing_cancel_answers(emu.url) as proxy:
            cancelled = await _cancelled(emu, directory, proxy, stopping=True)
        rows, exported = _read(directory)
        assert {r["status"] for r in emu.emulator.listing()} == {"cancelled"}  # the cancels took, unheard
        report = await run_batch(emu, directory, rows=ROWS, max_attempts=3)
        started, unanswered = jobs_of(emu.url)
    assert (cancelled.unreached, cancelled.cancelled) == (ROWS, 0)
    assert exported["error"].isna().all(), exported["error"].tolist()
    assert (
        rows["note"].str.startswith("a cancel was asked as its run stopped, but no answer said it took").all()
    )
    assert (rows["error_type"] == "interrupted").all()
    assert report.counts == {"completed": ROWS}, "found cancelled: the stopped work was sent again"
    frame = load(directory)
    assert started == Counter(dict.fromkeys(frame["row_key"], 2))
    assert (frame["attempts"] == 2).all()
    assert (frame["orphans"] == 0).all()
    assert sum(unanswered.values()) == 0


async def test_a_cancel_that_never_reached_the_server_leaves_the_rows_running_and_unmarked_in_words(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "batch"
    with running_emulator(EmulatorConfig(latency=SLOW)) as emu, dark_port() as port:
        cancelled = await _cancelled(emu, directory, f"http://127.0.0.1:{port}/v1", stopping=False)
        rows, exported = _read(directory)
        report = await run_batch(emu, directory, rows=ROWS, max_attempts=3)
        started, _ = jobs_of(emu.url)
    assert cancelled.unreached == ROWS
    assert exported["error"].isna().all(), exported["error"].tolist()
    assert set(rows["status"]) <= {"queued", "in_progress"}
    assert rows["note"].str.startswith("a cancel was asked on request, but no answer said it took").all()
    assert report.counts == {"completed": ROWS}, "collected as the server ran them, never sent again"
    assert started == Counter(dict.fromkeys(load(directory)["row_key"], 1))


@pytest.mark.parametrize("refusal", [400, 405])
async def test_a_cancel_the_server_refuses_is_said_and_the_rows_keep_running(
    tmp_path: Path, refusal: int
) -> None:
    """A server that cannot cancel (400, 405): the refusal escaped the cancelling (the stop's closing
    line, `rowrelay cancel`, the flow's hook all ended on it); now those rows could not be cancelled."""
    directory = tmp_path / "batch"
    with running_emulator(EmulatorConfig(latency=SLOW, cancel_refusal=refusal)) as emu:
        cancelled = await _cancelled(emu, directory, emu.url, stopping=True)
    rows, exported = _read(directory)
    assert cancelled.unreached == ROWS
    assert f"({refusal})" in str(cancelled.last_error)
    assert exported["error"].isna().all(), exported["error"].tolist()
    assert (
        rows["note"].str.startswith("a cancel was asked as its run stopped, but no answer said it took").all()
    )
