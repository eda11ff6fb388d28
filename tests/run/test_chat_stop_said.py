"""A Chat Completions run stopped (Ctrl-C, a notebook's interrupt) with its rows' creates on the wire.

A chat create is its whole answer, so every row in flight is a create the server is still writing; the
stop cuts those that do not answer within its grace, and counts each on its row as maybe created (an
attempt and an orphan), as the README says. But the closing line read only what the stop's cancels did,
and a chat run has no response to cancel: a trial's run on an OpenAI-compatible server stopped with 92
such creates cut said `interrupted: nothing was in flight; run the same command to resume`, while the
server wrote and billed the 92 answers and the next run sent the 92 rows again. The stop now says them."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.run import open_session, submit
from rowrelay.tasks.run.stops import Cancelled, said_on_stop, stops_seen
from rowrelay.tasks.state import load
from tests.support.inspection import eventually, reading
from tests.support.runs import new_table, prompts, running, settings_for

ROWS = 6


def _chat_jobs(emu: RunningEmulator) -> int:
    listing = httpx.get(emu.url.removesuffix("/v1") + "/emulator/jobs", timeout=30).json()["data"]
    return sum(1 for job in listing if job["kind"] == "chat.completion")


async def test_a_stopped_chat_run_says_the_creates_it_cut_on_the_wire(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submit, "STOP_GRACE", 0.2)  # the answers take a minute: any grace ends the same
    directory, stops = tmp_path / "batch", list[Cancelled]()
    stops_seen.set(stops)  # as the CLI's closing line and a notebook's interrupt collect the stop's words
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as emu:
        table = new_table(directory, ROWS)
        settings = settings_for(emu, backend="chat", api_key="unused", max_in_flight=ROWS)
        session = open_session(settings, table, prompts(ROWS))
        async with running(session, table) as run:
            await eventually(reading(lambda: _chat_jobs(emu)), lambda jobs: jobs == ROWS)
            run.cancel()  # Ctrl-C
            with pytest.raises(asyncio.CancelledError):
                await run
    frame = load(directory)
    assert Counter(frame["status"]) == {"orphaned": ROWS}  # each counted on its row, as before
    assert (frame["orphans"] == 1).all()
    said = said_on_stop(stops)
    assert "nothing was in flight" not in said
    assert said.startswith(f"{ROWS} rows were being sent as the run stopped, with no answer yet"), said
    assert "may still run, and be paid for" in said
    assert sum(stops, Cancelled()).cut == ROWS


def test_a_stop_that_cancelled_some_and_cut_others_says_both() -> None:
    said = said_on_stop([Cancelled(cancelled=3), Cancelled(cut=1)])
    assert said.startswith(
        "3 in-flight responses were cancelled, but 1 row was being sent as the run stopped"
    )
    assert "a job its create may have started" in said
    assert said_on_stop([Cancelled()]) == "nothing was in flight"
