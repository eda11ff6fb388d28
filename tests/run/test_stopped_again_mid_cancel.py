"""A run stopped, then stopped again while its cancels are on the wire: the server has cancelled those
responses, but their answers never reach the run. The rows were marked interrupted only once the cancel's
answer came, so they stayed queued or in progress, unmarked; the next run found their responses cancelled,
took that for a cancel the user asked for (`rowrelay cancel`), and kept them `cancelled`, never sent again,
though the run had said the next run waits on them. A row is now marked before its cancel goes out, so the
next run sends it again, each job counted on its row."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm import RowRequest, make_backend
from rowrelay.tasks.records import HOLDING_TOKEN
from rowrelay.tasks.run import cancel_in_flight, open_session
from rowrelay.tasks.run.cancel import CANCEL_CONCURRENCY, end_recorder
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.state import load
from tests.support.clock import ManualClock
from tests.support.duplicates import jobs_of
from tests.support.held_cancels import holding_cancel_answers
from tests.support.inspection import eventually, reading
from tests.support.runs import Address, left_in_flight, new_table, prompts, running, settings_for

ROWS = 6


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_rows_whose_cancel_reached_the_server_before_a_second_stop_are_sent_again(
    tmp_path: Path, mode: str
) -> None:
    directory, clock = tmp_path / "batch", ManualClock()  # the jobs end only when the test moves it
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30")), clock=clock) as emu:
        async with holding_cancel_answers(emu.url) as proxy:
            table = new_table(directory, ROWS)
            settings = settings_for(Address(proxy.url), mode=mode, max_in_flight=ROWS)
            session = open_session(settings, table, prompts(ROWS))
            async with running(session, table) as run:

                def holding() -> int:
                    return sum(n for status, n in table.counts().items() if status in HOLDING_TOKEN)

                await eventually(reading(holding), lambda n: n == ROWS)
                run.cancel()  # Ctrl-C
                await eventually(reading(lambda: len(proxy.carried)), lambda n: n == ROWS)
                run.cancel()  # Ctrl-C again: every cancel carried out, none of their answers heard
                with pytest.raises(asyncio.CancelledError):
                    await run
        stopped = load(directory)
        assert {job["status"] for job in emu.emulator.listing()} == {"cancelled"}

        table = new_table(directory, 0)
        session = open_session(settings_for(emu, mode=mode), table, prompts(ROWS))
        async with running(session, table) as run:
            # Either it sends the rows again or (the old code) ends at once, having sent nothing.
            sent_again = reading(lambda: run.done() or len(emu.emulator.listing()) == 2 * ROWS)
            await eventually(sent_again, bool)
            clock.advance(31)
            report = await asyncio.wait_for(run, timeout=120)
        started, unanswered = jobs_of(emu.url)
    assert report.counts == {"completed": ROWS}, "cut short by the stop, sent again"
    assert set(stopped["status"]) <= HOLDING_TOKEN, "kept with their tokens: no answer said cancelled"
    assert set(stopped["error_type"]) == {"interrupted"}, "marked as the stop's before the cancel went"
    frame = load(directory)
    # Each row's two jobs are its two counted attempts: the first cancelled as the run stopped (its end
    # known, so not a possible duplicate), the second its answer.
    assert started == Counter(dict(zip(frame["row_key"], frame["attempts"], strict=True)))
    assert set(started.values()) == {2}
    assert (frame["orphans"] == 0).all()
    assert sum(unanswered.values()) == 0


async def test_every_row_is_marked_durably_before_its_first_cancel_goes_out(tmp_path: Path) -> None:
    """More rows than cancels go at once (`CANCEL_CONCURRENCY`): each row was marked in its turn, with a
    write of its own, as a slot came free, so a stop of 10,000 rows in flight waited on hundreds of
    writes, and the rows past the first slots were unmarked while the first cancels were on the wire.
    Now one write marks them all before any cancel leaves: read from disk as the first cancel reaches
    the server, every row is marked."""
    rows = CANCEL_CONCURRENCY + 8
    directory = tmp_path / "batch"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30")), clock=ManualClock()) as emu:
        table = new_table(directory, rows)
        asked = prompts(rows)
        requests = [RowRequest(k, asked[k], None, "gpt-4.1-mini", {"rowrelay_row": k}) for k in asked]
        await left_in_flight(table, emu.url, requests)
        await table.commit()
        async with holding_cancel_answers(emu.url) as proxy:
            backend = make_backend(settings_for(Address(proxy.url)))
            record_end = end_recorder(table, Spend.unpriced(), max_attempts=3, output_schema=None)
            cancelling = asyncio.ensure_future(
                cancel_in_flight(table, backend, record_end=record_end, stopping=True)
            )
            try:
                await eventually(reading(lambda: len(proxy.carried)), lambda n: n >= 1)
                on_disk = load(directory)
            finally:
                cancelling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await cancelling
                await backend.aclose()
                table.close()
    assert len(on_disk) == rows
    assert (on_disk["error_type"] == "interrupted").all(), on_disk["error_type"].value_counts()
