"""A cancel answered 404 on a response made moments ago: a server that loses the responses it makes (vLLM
replicas behind a load balancer, the emulator's `replicas`), not one that let it expire.

The cancel path took every 404 for an expiry: a stopping run recorded such rows `expired` ("gone when
cancelling"), counted them as settled, and said only how many it cancelled; the next run sent each again
while its first job still ran, two paid jobs at once (a reviewer's 10 rows: 4 expired, still in progress
on the server, then two jobs each). A poll's 404 was already judged by age (`record.unfound`); a cancel's
now is too (`record.lost_young`): a young one is not reached, its row keeps its token, and the stop's
words say its response may still run; only an old one is an expiry."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm import BackendRefusedError, RowRequest, make_backend
from rowrelay.tasks.records import HOLDING_TOKEN
from rowrelay.tasks.run import cancel_in_flight, open_session
from rowrelay.tasks.run.cancel import end_recorder
from rowrelay.tasks.run.record import RETAINED_AT_LEAST
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.run.stops import Cancelled, said_on_stop, stops_seen
from rowrelay.tasks.state import load
from tests.support.clock import ManualClock
from tests.support.duplicates import jobs_of
from tests.support.inspection import eventually, reading
from tests.support.runs import left_in_flight, new_table, prompts, running, settings_for

ROWS = 10
SLOW = LatencySpec.parse("fixed:60")
"""The jobs run only when the test moves the emulator's clock: in flight throughout."""


async def test_a_stop_whose_cancels_meet_young_404s_keeps_the_rows_and_the_next_run_sends_none_again(
    tmp_path: Path,
) -> None:
    directory, stops = tmp_path / "batch", list[Cancelled]()
    stops_seen.set(stops)  # as the CLI's closing line collects the stop's words
    with running_emulator(EmulatorConfig(replicas=2, latency=SLOW), clock=ManualClock()) as emu:
        # A paid server's (an emulator's responses cost nothing: a 404 there is an expiry at any age).
        settings = settings_for(emu, backend="openai", api_key="sk-test")
        table = new_table(directory, ROWS)
        session = open_session(settings, table, prompts(ROWS))
        async with running(session, table) as run:

            def holding() -> int:
                return sum(n for status, n in table.counts().items() if status in HOLDING_TOKEN)

            await eventually(reading(holding), lambda n: n == ROWS)
            run.cancel()  # Ctrl-C
            with pytest.raises(asyncio.CancelledError):
                await run
        stopped = load(directory).set_index("row_key")
        (stop,) = stops  # what the stop did, as the CLI's closing line says it
        running_jobs = {
            job["metadata"]["rowrelay_row"]
            for job in emu.emulator.listing()
            if job["status"] in ("queued", "in_progress")
        }
        assert 0 < len(running_jobs) < ROWS, "some cancels met the replica that did not make the response"

        table = new_table(directory, 0)
        session = open_session(settings, table, prompts(ROWS))
        cancelled = ROWS - len(running_jobs)  # cut short by the stop: sent again
        async with running(session, table, BackendRefusedError) as rerun:
            # Sends the stop's cancelled rows again, then (once the waits meet a 404 on a young response)
            # stops; the old code sent the rows it had taken for expired again too.
            sent_again = reading(lambda: rerun.done() or len(emu.emulator.listing()) >= ROWS + cancelled)
            await eventually(sent_again, bool)
        started, unanswered = jobs_of(emu.url)
    assert stop.unreached == len(running_jobs)
    assert stop.cancelled == cancelled
    kept = stopped.loc[sorted(running_jobs)]
    assert set(kept["status"]) <= HOLDING_TOKEN, kept["status"].tolist()  # not expired
    assert kept["response_id"].notna().all()  # for the next run to wait on
    assert set(kept["error_type"]) == {"interrupted"}  # the stop's mark, read if found cancelled later
    assert kept["note"].str.contains("too young to have expired: its response may still run").all()
    said = said_on_stop([stop])
    assert said.startswith(f"{cancelled} in-flight responses were cancelled, but {len(running_jobs)} rows ")
    assert "could not be cancelled (last: " in said
    assert "too young to have expired" in said
    assert said.endswith("their responses may still run, and be paid for")
    for key in running_jobs:
        assert started[key] == 1, (key, started[key])  # no second job while the first runs
    # Each job is its row's counted attempt: the stop's cancelled ones (their end known, so no possible
    # duplicate) and their second; the kept ones' first, waited on.
    frame = load(directory)
    assert started == Counter(dict(zip(frame["row_key"], frame["attempts"], strict=True)))
    assert (frame["orphans"] == 0).all()
    assert sum(unanswered.values()) == 0


async def _cancel_asked(directory: Path, *, made: datetime | None, emulated: bool) -> Cancelled:
    """`ROWS` rows left in flight (sent at `made`: now if None) on a two-replica server, then cancelled as
    `rowrelay cancel` does (`emulated`: as for a batch run on the emulator backend)."""
    with running_emulator(EmulatorConfig(replicas=2, latency=SLOW), clock=ManualClock()) as emu:
        table = new_table(directory, ROWS)
        asked = prompts(ROWS)
        requests = [RowRequest(k, asked[k], None, "gpt-4.1-mini", {"rowrelay_row": k}) for k in asked]
        await left_in_flight(table, emu.url, requests, submitted_at=made)
        backend = make_backend(settings_for(emu, backend="openai", api_key="sk-test"))
        record_end = end_recorder(table, Spend.unpriced(), max_attempts=3, output_schema=None)
        try:
            return await cancel_in_flight(table, backend, record_end=record_end, emulated=emulated)
        finally:
            await backend.aclose()
            table.close()


async def test_a_cancel_asked_for_keeps_rows_whose_young_responses_were_not_found(tmp_path: Path) -> None:
    cancelled = await _cancel_asked(tmp_path / "batch", made=None, emulated=False)
    frame = load(tmp_path / "batch")
    assert cancelled.unreached > 0
    assert cancelled.cancelled + cancelled.unreached == ROWS
    assert "expired" not in set(frame["status"])
    holding = frame[frame["status"].isin(HOLDING_TOKEN)]
    assert len(holding) == cancelled.unreached
    lost = "a cancel was asked on request, but the server did not find it, made "
    assert holding["note"].str.startswith(lost).all(), holding["note"].tolist()
    assert holding["note"].str.contains("ago, too young to have expired").all()


@pytest.mark.parametrize(
    ("made_ago", "emulated"),
    [(RETAINED_AT_LEAST + 60, False), (0.0, True)],
    ids=["old", "emulator"],
)
async def test_an_old_or_emulated_response_not_found_by_its_cancel_is_expired(
    tmp_path: Path, made_ago: float, emulated: bool
) -> None:
    made = datetime.now(UTC) - timedelta(seconds=made_ago)
    cancelled = await _cancel_asked(tmp_path / "batch", made=made, emulated=emulated)
    frame = load(tmp_path / "batch")
    expired = frame[frame["status"] == "expired"]
    assert cancelled.unreached == 0
    assert len(expired) > 0
    assert cancelled.cancelled + len(expired) == ROWS
    assert (expired["note"] == "gone when cancelling").all()
