"""A run gives up on a server that answers nothing for `give_up_after` seconds (`run.outage`).

It stops with `OutageError` as a refused key stops it: the rows keep their response ids, nothing is
cancelled on the server, and the next run over the same table finishes each row with the one job it
paid for. Timing is on the event loop's clock: the watch alone on a virtual clock, and a run against a
port where nothing listens on one too. Where a live emulator must answer first, the outage is a relay
the test cuts, and no assertion depends on how long anything took.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rowrelay.flows.detached import free_port
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.errors import OutageError
from rowrelay.tasks.run import RunCounters, open_session
from rowrelay.tasks.run.outage import Silence, watch_for_outage
from rowrelay.tasks.state import StateTable, load
from tests.support.clock import ManualClock
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.inspection import eventually, reading
from tests.support.runs import Address, creates_per_row, new_table, prompts, running, settings_for
from tests.support.virtual_time import run_in_virtual_time


def _watched(silence: Silence, give_up_after: float, script: list[tuple[float, str]]) -> float | None:
    """Run the watch on a virtual clock while `script` moves the counters (at those seconds: `fail`, or
    `answer`); the second it gave up at, or None if it had not after the script and ten times as long."""

    async def main() -> float | None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        watch = asyncio.ensure_future(watch_for_outage(silence, give_up_after))
        ended: list[float] = []
        watch.add_done_callback(lambda _: ended.append(loop.time()))
        for at, what in script:
            await asyncio.sleep(started + at - loop.time())
            if what == "fail":
                silence.failed(ConnectionRefusedError("refused"))
            else:
                silence.answers += 1
        last = script[-1][0] if script else 0.0
        done, _ = await asyncio.wait([watch], timeout=last + 10 * give_up_after)
        if not done:
            watch.cancel()
            return None
        with pytest.raises(OutageError):
            watch.result()
        return ended[0] - started

    return run_in_virtual_time(main)


def test_failures_with_no_answer_for_the_whole_window_stop_the_run_on_time() -> None:
    # Failing from second 5.5 (the look at 5 saw none): nothing answered since that look, so it gives up
    # at 65.
    # (Half seconds: the watch looks on whole ones.)
    failures = [(5.5 + 7 * n, "fail") for n in range(12)]
    assert _watched(Silence(), 60, failures) == pytest.approx(65.0)


def test_any_answer_starts_the_window_again() -> None:
    # Failures all along, and an answer every 50 s (a 429 is one, as is any poll, event or create).
    fails = [(3.0 * n + 0.5, "fail") for n in range(100)]
    script = sorted(fails + [(50.0 * n + 0.5, "answer") for n in range(1, 6)])
    # The last answer (250.5) seen at 251, the next failure (252.5) at 253: silent since 252.
    assert _watched(Silence(), 60, script) == pytest.approx(252.0 + 60.0)


def test_a_quiet_run_is_no_outage() -> None:
    """Rows waiting on long responses send nothing for a long time: no failure, no outage."""
    assert _watched(Silence(), 60, [(1.0, "answer"), (500.0, "answer")]) is None


def test_creates_that_may_have_started_jobs_count_as_unanswered() -> None:
    silence = Silence()

    async def main() -> None:
        watch = asyncio.ensure_future(watch_for_outage(silence, 10))
        for _ in range(30):
            await asyncio.sleep(1.0)
            silence.failed("the request timed out")  # a create that may have started a job
        with pytest.raises(OutageError, match="answered no request for 10 s"):
            await watch

    run_in_virtual_time(main)


@pytest.mark.parametrize("mode", ["poll", "stream"])
def test_a_server_that_never_answers_stops_the_run_and_spends_nothing(
    tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture, dark_address: str
) -> None:
    rows, give_up_after = 8, 120.0
    url = f"{dark_address}/v1"  # nothing listens there

    async def main() -> float:
        loop = asyncio.get_running_loop()
        table = new_table(tmp_path / "batch", rows)
        settings = settings_for(Address(url), mode=mode, give_up_after=give_up_after)
        session = open_session(settings, table, prompts(rows))
        started = loop.time()
        try:
            with pytest.raises(OutageError) as stopped:
                await session.runner.run()
        finally:
            await session.aclose()
            table.close()
        assert "answered no request for 2 min (last: connection problem" in str(stopped.value)
        _crosses_to_a_coordinator(stopped.value)
        return loop.time() - started

    with caplog.at_level(logging.WARNING, logger="rowrelay.submit"):
        elapsed = run_in_virtual_time(main)
    # Not sooner. (How much later is not asserted: the virtual clock jumps on while the table's writes
    # run in their thread.)
    assert elapsed >= give_up_after
    frame = load(tmp_path / "batch")
    assert set(frame["status"]) == {"pending"}
    assert (frame["attempts"] == 0).all()
    assert (frame["orphans"] == 0).all()
    told = [r.getMessage() for r in caplog.records if r.name == "rowrelay.submit"]
    assert told[0].endswith("; the run stops if it answers nothing for 2 min"), told


def _crosses_to_a_coordinator(error: OutageError) -> None:
    """A shard's error reaches the coordinator as a Dask worker sends it: pickled with tblib's support,
    its traceback and its chain of causes and contexts with it. The runner once raised it with the task
    group holding it as its context, a cycle that recursed without end there."""
    from tblib import pickling_support  # type: ignore[import-untyped]  # no stubs; Dask depends on it

    pickling_support.install(error)
    back = pickle.loads(pickle.dumps(error))
    assert (type(back), str(back)) == (OutageError, str(error))


async def test_each_endpoint_is_watched_on_its_own(tmp_path: Path) -> None:
    """Endpoints of one batch share the run's counters (`flows.targets.open_sessions`); one endpoint's
    answers must not hide another's outage."""
    shared = RunCounters()
    table = new_table(tmp_path / "batch", 2)
    sessions = [
        open_session(
            settings_for(Address(f"http://127.0.0.1:{free_port()}/v1")), table, prompts(2), counters=shared
        )
        for _ in range(2)
    ]
    try:
        first, second = (session.driver.context for session in sessions)
        assert first.counters is second.counters
        first.silence.answers += 1
        assert second.silence.answers == 0
    finally:
        for session in sessions:
            await session.aclose()
        table.close()


def test_with_no_bound_the_run_waits_for_the_server(tmp_path: Path, dark_address: str) -> None:
    rows = 4
    url = f"{dark_address}/v1"

    async def main() -> None:
        table = new_table(tmp_path / "batch", rows)
        session = open_session(settings_for(Address(url), give_up_after=0), table, prompts(rows))
        async with running(session, table) as run:
            done, _ = await asyncio.wait([run], timeout=10 * 3600.0)  # virtual: ten hours
            assert not done

    run_in_virtual_time(main)


@pytest.mark.parametrize(("mode", "poll_streams"), [("poll", 0), ("poll", 256), ("stream", 0)])
async def test_rows_in_flight_keep_their_jobs_through_an_outage_and_the_next_run_finishes_them(
    tmp_path: Path, mode: str, poll_streams: int
) -> None:
    """Polled, followed on their create's stream in poll mode, or streamed."""
    rows = 12
    clock = ManualClock()  # the jobs run only when the test moves it: in flight throughout the outage
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:30"))
    with running_emulator(config, clock=clock) as emu:
        async with _relay(emu.url) as relay:
            table = new_table(tmp_path / "batch", rows)
            settings = settings_for(
                Address(relay.url),
                mode=mode,
                poll_streams=poll_streams,
                give_up_after=1.0,
                max_in_flight=rows,
            )
            session = open_session(settings, table, prompts(rows))
            async with running(session, table, OutageError) as run:
                await eventually(reading(lambda: len(emu.emulator.listing())), lambda n: n == rows)
                await eventually(reading(lambda: _holding(table)), lambda n: n == rows)
                await relay.cut()
                with pytest.raises(OutageError):
                    await asyncio.wait_for(run, timeout=120)
            frame = load(tmp_path / "batch")
            assert frame["response_id"].notna().all()
            assert (frame["attempts"] == 1).all()
            held = {r["status"] for r in emu.emulator.listing()}
            assert held <= {"queued", "in_progress"}, held  # none cancelled

            await relay.restore()
            clock.advance(31)
            table = new_table(tmp_path / "batch", 0)
            session = open_session(settings, table, prompts(rows))
            try:
                report = await asyncio.wait_for(session.runner.run(), timeout=120)
            finally:
                await session.aclose()
                table.close()
        jobs = creates_per_row(emu)
    assert report.counts == {"completed": rows}
    frame = load(tmp_path / "batch")
    assert (frame["attempts"] == 1).all()
    assert_every_job_is_paid_for(frame, Counter(jobs), Counter())
    assert set(jobs.values()) == {1}


def _holding(table: StateTable) -> int:
    counts = table.counts()
    return counts["queued"] + counts["in_progress"]


class _Relay:
    """A TCP relay to a server, which the test can cut (nothing listens, open connections are reset, as
    when a host goes down) and restore on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream = await asyncio.open_connection(*self.target)
        self._open |= {writer, upstream}
        await asyncio.gather(_pipe(reader, upstream), _pipe(upstream_reader, writer))
        self._open -= {writer, upstream}


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    sink.close()


@contextlib.asynccontextmanager
async def _relay(url: str) -> AsyncIterator[_Relay]:
    host, port = url.removeprefix("http://").removesuffix("/v1").split(":")
    relay = _Relay((host, int(port)))
    await relay.restore()
    try:
        yield relay
    finally:
        await relay.cut()
