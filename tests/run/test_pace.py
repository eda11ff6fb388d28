"""Polls where a late look costs nothing: a run over the real emulator, its polls counted by the server.

The schedule's arithmetic is replayed in tests/run/test_schedule.py; this checks the run keeps the
counts it is built on (rows to create, rows waiting, scouts) and spends the polls the replay predicts.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openai

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.run import open_session
from rowrelay.tasks.run.pace import SCOUTS
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.runs import creates_per_row, new_table, prompts, run_batch, settings_for

RETRIEVE = "GET /v1/responses/{response_id}"


async def test_a_burst_is_polled_about_once_a_row_once_its_scouts_have_seen_the_latency(
    tmp_path: Path,
) -> None:
    """Every row is created at once and each response takes 1 s. Only `SCOUTS` rows poll on the blind
    schedule (0.25, 0.65, 1.3 s: three polls each); the others wait for what the scouts learn and look
    once, after the fastest completions seen. Every row polling blind spent three polls a row.

    Once, or twice: the scouts learn the midpoint of their last two looks (0.65 and 1.3 s), 0.97 s, and
    a row's first look at that estimate can come just before its response ends; the next, a quarter
    second later, finds it done. On an idle machine every row but the scouts looked once (320 polls,
    1.25 a row); in one suite run on a loaded machine 127 of them looked twice (447)."""
    rows = 8 * SCOUTS
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:1"), seed=3)) as emu:
        report = await run_batch(emu, tmp_path / "batch", rows, max_in_flight=rows, poll_streams=0)
        polls = emu.emulator.routes[RETRIEVE]
        jobs = Counter(creates_per_row(emu))
    assert report.counts == {"completed": rows}
    assert rows <= polls <= (3 * SCOUTS + 2 * (rows - SCOUTS)), polls  # 1.25-2.1 a row; blind, 3
    assert report.counters.polls == polls
    assert_every_job_is_paid_for(load(tmp_path / "batch"), jobs, Counter())


async def test_a_burst_learns_its_latency_from_every_scout_not_only_the_fastest(tmp_path: Path) -> None:
    """Latencies spread (lognormal, median 3 s): at the scouts' fourth look (2.3 s) about a quarter of
    them have ended, the fastest. Learned alone, those said the median was under 2 s: every other row
    looked early and again every quarter second. Counting the scouts still running, the median is
    unknown until their next look (3.9 s), and most rows are found done at their first look.

    Measured on an idle machine: 1.95-1.96 polls a row before, 1.50 after (2.6 and 1.3 in 1,000-row
    runs of the CLI). The server's clock now also tells how long each response took, where half a
    first look's time was learned before."""
    rows = 8 * SCOUTS
    latency = LatencySpec.parse("lognormal:3,0.4")
    with running_emulator(EmulatorConfig(latency=latency, seed=5)) as emu:
        report = await run_batch(emu, tmp_path / "batch", rows, max_in_flight=rows, poll_streams=0)
        polls = emu.emulator.routes[RETRIEVE]
        jobs = Counter(creates_per_row(emu))
    assert report.counts == {"completed": rows}
    assert polls <= 1.75 * rows, polls
    assert_every_job_is_paid_for(load(tmp_path / "batch"), jobs, Counter())


async def test_poll_mode_follows_a_few_rows_on_their_streams_and_polls_the_rest_by_them(
    tmp_path: Path,
) -> None:
    """Poll mode streams up to `poll_streams` creates at once: those rows cost no poll, and the first of
    them are the scouts, watched all the time, whose latencies tell every other row when to look. The
    place is held until the stream closes, so no more responses are ever streamed at once.

    Measured on an idle machine, 256 rows, 128 in flight at most: with 64 streamed at most, 135 rows
    streamed and 239-249 polls (about 2 a polled row: rows waiting for a slot are polled densely);
    with none streamed, 565 polls. Under load polled rows are looked at more often: 257-287 polls beside
    four busy processes, 344 in a CI run of the whole suite. The bound sits between that and what no
    streams cost (2.2 a row)."""
    rows, streams = 8 * SCOUTS, 2 * SCOUTS
    latency = LatencySpec.parse("lognormal:3,0.4")
    with running_emulator(EmulatorConfig(latency=latency, seed=5)) as emu:
        report = await run_batch(emu, tmp_path / "batch", rows, max_in_flight=rows // 2, poll_streams=streams)
        polls = emu.emulator.routes[RETRIEVE]
        listing = emu.emulator.listing()
        jobs = Counter(creates_per_row(emu))
    assert report.counts == {"completed": rows}
    streamed = [(r["created_at_precise"], r["completed_at_precise"]) for r in listing if r["stream"]]
    moments = sorted([(start, 1) for start, _ in streamed] + [(end, -1) for _, end in streamed])
    open_at_once = max(itertools.accumulate(change for _, change in moments))
    assert open_at_once == streams  # all taken by the burst's first creates, never more
    assert streams < len(streamed) < rows  # freed places went to later creates; the rest polled
    assert polls <= 1.6 * rows, polls
    assert report.counters.polls == polls
    assert_every_job_is_paid_for(load(tmp_path / "batch"), jobs, Counter())


async def test_shards_run_at_once_on_one_session_leave_its_pace_at_rest(tmp_path: Path) -> None:
    """Two shards on one session, as `flows.targets.run_shards` runs them, share its pace; once every
    row has ended its counts are back to zero: none leaks a row to create, one waiting or sending, a
    scout or a slot wait (a leak would hold later rows blind, or poll them densely to the end)."""
    rows = 80
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.3"), seed=4)) as emu:
        table = new_table(tmp_path / "batch", rows)
        session = open_session(settings_for(emu, max_in_flight=20), table, prompts(rows))
        keys = table.keys_with_status(["pending"])
        try:
            reports = await asyncio.gather(
                session.runner.run(keys[: rows // 2]), session.runner.run(keys[rows // 2 :])
            )
            pace = session.runner.pace
            assert table.counts()["completed"] == rows
        finally:
            await session.aclose()
            table.close()
    assert all(sum(report.counts.values()) == rows for report in reports)
    left = (pace.unstarted, pace.sending, pace.waiting, pace.scouts, pace.slot_waits, pace.rate_waits)
    assert left == (0, 0, 0, 0, 0, 0)


async def test_rows_resumed_from_an_earlier_run_teach_the_schedule_no_latency(tmp_path: Path) -> None:
    """Half the rows hold responses an earlier run created an hour before it crashed (as the table
    says); they are done on the server. What they took is no latency of this run: learned, an hour
    would hold every new row's first look back about as long. The new rows teach it theirs."""
    rows, resumed = 40, 20
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.1"), seed=6)) as emu:
        client = openai.AsyncOpenAI(base_url=emu.url, api_key="x")
        table = new_table(tmp_path / "batch", rows)
        for key in [f"row-{i:04d}" for i in range(resumed)]:
            created = await client.responses.create(
                model="gpt-4.1-mini", input=f"earlier {key}", background=True, metadata={"rowrelay_row": key}
            )
            table.transition(key, "submitting", attempts=1)
            table.transition(key, "queued", response_id=created.id, submitted_at=an_hour_ago)
        await client.close()
        session = open_session(settings_for(emu), table, prompts(rows))
        try:
            report = await session.runner.run()
            learned = list(session.runner.driver.latencies.samples)
        finally:
            await session.aclose()
            table.close()
        jobs = Counter(creates_per_row(emu))
    assert report.counts == {"completed": rows}
    assert len(learned) == rows - resumed
    assert max(learned) < 60, learned
    assert_every_job_is_paid_for(load(tmp_path / "batch"), jobs, Counter())
