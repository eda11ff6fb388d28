"""Agent rows through the runner when their tool rounds meet trouble: a run stopped while a tool runs, a
cancel that finds a response asking for tools, a create stream cut after it named its job, a run killed
while a follow-up create is on the wire, a follow-up stuck in the queue, a failed response carrying a
function call, and a follow-up the server refuses.

Every test that may pay twice compares the server's jobs for the row with what the row counted: each job
is a response on record (`previous_response_ids` and `response_id`) or a counted orphan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, RunningEmulator, running_emulator
from rowrelay.tasks.llm import RowRequest, make_backend
from rowrelay.tasks.run import cancel_in_flight, open_session
from rowrelay.tasks.run.cancel import end_recorder
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.run.stops import said_on_stop
from rowrelay.tasks.state import load
from tests.llm.agent_factories import ANSWER, CountingTool, make_agent
from tests.run.agent_faults import KEY, FaultyRounds, finish, row_of
from tests.support.runs import creates_per_row, new_table, prompts, running, settings_for


def assert_jobs_counted(row: pd.Series[Any], jobs: int) -> None:
    """Every job the server started for the row is a response on record or a counted orphan."""
    on_record = len((row["previous_response_ids"] or "").split()) + 1
    assert jobs <= on_record + row["orphans"], (jobs, on_record, row["orphans"])


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_run_stopped_while_a_tool_runs_keeps_the_row_to_run_its_round_again(
    emulator: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    """Ctrl-C while the tools run: the response that asked for them ended `completed` (with function
    calls for output), and the stopping run's cancel finds it so. It was recorded as the row's end:
    completed, with empty output, the answer lost for good."""
    directory = tmp_path / "batch"
    held = FaultyRounds(hold=True)
    table = new_table(directory, 1)
    session = open_session(settings_for(emulator, mode=mode), table, prompts(1), agent=held.factory)
    async with running(session, table) as run:
        await held.entered.wait()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    stopped = row_of(directory)
    assert stopped["status"] in ("queued", "in_progress")
    assert stopped["response_id"] is not None
    assert creates_per_row(emulator)[KEY] == 1  # the tool never finished: no follow-up was sent

    resumed = CountingTool()
    report = await finish(emulator, directory, resumed.factory, mode=mode)
    row = row_of(directory)
    assert report.counts == {"completed": 1}
    assert ANSWER in row["output_text"]
    assert resumed.calls == 1  # the round is made again, from the response that asked for it
    assert creates_per_row(emulator)[KEY] == 2
    assert (row["attempts"], row["orphans"]) == (1, 0)
    assert row["previous_response_ids"] == stopped["response_id"]


async def test_a_cancel_that_finds_a_response_asking_for_tools_keeps_its_row(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """`rowrelay cancel` after the run died (kill -9): it cancels with the plain backend, which reads
    the response that asked for tools as completed, with no text."""
    directory = tmp_path / "batch"
    table = new_table(directory, 1)
    agent = make_backend(settings_for(emulator), agent=CountingTool().factory)
    plain = make_backend(settings_for(emulator))
    try:
        request = RowRequest(KEY, prompts(1)[KEY], None, "gpt-4.1-mini", {"rowrelay_row": KEY})
        created = await agent.create(request)
        assert created.response_id is not None
        table.transition(KEY, "submitting", attempts=1)
        table.transition(KEY, created.status, response_id=created.response_id)
        # the server ends it on its own time: polled, as a client does (no event to wait on in-process)
        while not (seen := await plain.retrieve(created.response_id)).terminal:  # type: ignore[attr-defined]  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        assert seen.status == "completed"
        assert seen.output_text == ""  # its answer is function calls
        record_end = end_recorder(table, Spend.unpriced(), max_attempts=3, output_schema=None)
        cancelled = await cancel_in_flight(table, plain, record_end=record_end)
    finally:
        await agent.aclose()
        await plain.aclose()
        table.close()
    assert row_of(directory)["status"] == "queued"
    assert (cancelled.cancelled, cancelled.ended, cancelled.awaiting_tools) == (0, 0, 1)
    assert "1 row had asked for its agent's tools, which the next run runs" in said_on_stop([cancelled])

    report = await finish(emulator, directory, CountingTool().factory)
    assert report.counts == {"completed": 1}
    assert ANSWER in row_of(directory)["output_text"]


async def test_a_create_stream_cut_after_it_named_its_job_is_resumed_not_counted_as_lost(
    tmp_path: Path,
) -> None:
    """Every stream is cut after 8 events, long after `response.created` named the job: a dropped
    stream to resume, not a create whose answer was lost (each row was counted an orphan, and failed
    `maybe_created` once its attempts were spent, after the server had completed it)."""
    rows = 4
    with running_emulator(EmulatorConfig(drop_stream_after=8)) as emu:
        table = new_table(tmp_path / "batch", rows)
        session = open_session(settings_for(emu, mode="stream"), table, prompts(rows), agent=make_agent)
        try:
            report = await session.runner.run()
        finally:
            await session.aclose()
            table.close()
        jobs = creates_per_row(emu)
    frame = load(tmp_path / "batch")
    assert report.counts == {"completed": rows}
    assert report.counters.maybe_created == 0
    assert set(jobs.values()) == {1}
    assert (frame["attempts"] == 1).all()
    assert (frame["orphans"] == 0).all()


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_run_killed_while_a_follow_up_create_is_on_the_wire_has_counted_it(
    emulator: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    """The follow-up's job starts and its answer never comes (the emulator holds it), then the process
    dies. The next run makes the round again, paying a second follow-up: the lost one was on no record,
    so the row said attempts 1, orphans 0 over three paid jobs."""
    directory = tmp_path / "batch"
    hanging = FaultyRounds(follow_up_fault="hang")
    table = new_table(directory, 1)
    session = open_session(settings_for(emulator, mode=mode), table, prompts(1), agent=hanging.factory)
    driving = asyncio.ensure_future(session.driver.drive(KEY))
    while creates_per_row(emulator)[KEY] < 2:  # the follow-up's job has started: its answer hangs
        assert not driving.done(), "the row ended before its follow-up was sent"
        await asyncio.sleep(0.01)
    # "Die": the driver stops mid-create and the table is abandoned without a close, as SIGKILL leaves it.
    driving.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await driving
    await session.aclose()
    table.lease.release()

    resumed = CountingTool()
    report = await finish(emulator, directory, resumed.factory, mode=mode)
    row = row_of(directory)
    jobs = creates_per_row(emulator)[KEY]
    assert report.counts == {"completed": 1}
    assert ANSWER in row["output_text"]
    assert jobs == 3  # the first response, the lost follow-up, the one made again
    assert (row["attempts"], row["orphans"]) == (2, 1)
    assert_jobs_counted(row, jobs)
    assert report.counters.maybe_created == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_follow_up_stuck_in_the_queue_meets_the_queued_deadline(
    emulator: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    """Every follow-up stays `queued` until cancelled: the row is cancelled and sent again at its queued
    deadline, as a row whose own response is stuck (the row waited on the follow-up for ever)."""
    rows = 2
    stuck = FaultyRounds(follow_up_fault="stuck")
    table = new_table(tmp_path / "batch", rows)
    settings = settings_for(emulator, mode=mode, queued_timeout=0.5, max_attempts=2)
    session = open_session(settings, table, prompts(rows), agent=stuck.factory)
    try:
        report = await session.runner.run()
    finally:
        await session.aclose()
        table.close()
    frame = load(tmp_path / "batch")
    assert report.counts == {"failed": rows}
    assert (frame["error_type"] == "queued_timeout").all()
    assert (frame["attempts"] == 2).all()
    assert set(creates_per_row(emulator).values()) == {4}  # two attempts, each a response and its follow-up
    listing = emulator.emulator.listing()
    assert {r["status"] for r in listing if r["id"] in set(frame["response_id"])} == {"cancelled"}


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_failed_response_carrying_a_function_call_is_retried_without_running_the_tool(
    emulator: RunningEmulator, tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every row's own response fails with a partial function call in its output. AF ran the tool on it
    and sent a follow-up, which the server refused (the call was never made), and the row "crashed"."""
    rows = 2
    failing = FaultyRounds(first_fault="fail")
    table = new_table(tmp_path / "batch", rows)
    session = open_session(settings_for(emulator, mode=mode), table, prompts(rows), agent=failing.factory)
    with caplog.at_level(logging.WARNING):
        try:
            report = await session.runner.run()
        finally:
            await session.aclose()
            table.close()
    frame = load(tmp_path / "batch")
    assert report.counts == {"failed": rows}
    assert report.crashed_rows == []
    assert (frame["error_type"] == "response_failed").all()
    assert (frame["error_code"] == "server_error").all()
    assert (frame["attempts"] == 3).all()  # retried by policy, as any server_error
    assert failing.calls == 0
    assert set(creates_per_row(emulator).values()) == {3}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_follow_up_the_server_refuses_fails_its_row_in_one_line(
    emulator: RunningEmulator, tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The tool returns more than the model's window: the server refuses the follow-up (400). The row
    failed `internal` with a 90-line traceback; it fails `rejected`, as a refused create does."""
    huge = FaultyRounds(output="lorem " * 150_000)  # 225,000 tokens, over gpt-4o's 128,000
    table = new_table(tmp_path / "batch", 1)
    session = open_session(
        settings_for(emulator, mode=mode, model="gpt-4o"), table, prompts(1), agent=huge.factory
    )
    with caplog.at_level(logging.WARNING):
        try:
            report = await session.runner.run()
        finally:
            await session.aclose()
            table.close()
    row = row_of(tmp_path / "batch")
    assert report.counts == {"failed": 1}
    assert report.crashed_rows == []
    assert row["error_type"] == "rejected"
    assert "context window" in row["error_message"]
    assert huge.calls == 1  # refused as invalid: not sent again
    said = [r for r in caplog.records if r.name.startswith("rowrelay") and r.levelno >= logging.WARNING]
    assert len(said) == 1
    assert said[0].exc_info is None
    assert "refused its tool round's follow-up" in said[0].getMessage()
