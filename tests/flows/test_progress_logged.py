"""A run no caller shows progress for logs the CLI's progress line, at its pace, through `rowrelay.progress`.

A deployment's console printed `batch minute: 40 rows ... 40 to send` and then nothing for minutes, and
`asyncio.run(run_batch(...))` in a script was silent for 50 s of a 100-row run, while `rowrelay run`
with stderr to a file printed `rows 20/40 ... eta 0:30` every 30 s. The flow now logs that same line
(`console_progress.logged`) where no progress sink is set, so it reaches the console and the flow run's
logs in Prefect; never where one is (the CLI's own line, a notebook's bar): not twice.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from rich.console import Console

from rowrelay.flows.console_progress import LINE_EVERY, lines, logged
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.records import RowStatus
from rowrelay.tasks.run import Progress, RunCounters
from tests.support.leaks import every_log_record
from tests.support.prefect_records import flow_run_on, logs_of
from tests.support.runs import flow_args
from tests.support.said import Said
from tests.support.state import FakeClock
from tests.support.tickets import write_tickets

ROWS = 40


def _moments() -> list[tuple[float, Progress]]:
    """A run's updates: every 5 s, a row done each time."""
    moments = []
    for second in range(0, 70, 5):
        done = second // 5
        counts: dict[RowStatus, int] = {"completed": done, "queued": ROWS - done}
        moments.append((float(second), Progress(counts, ROWS, float(second), RunCounters())))
    return moments


def test_the_logged_line_is_the_consoles_at_its_pace() -> None:
    logger = logging.getLogger("tests.progress_logged")
    logger.setLevel(logging.INFO)
    said = Said()
    said.setLevel(logging.INFO)
    logger.addHandler(said)
    out = io.StringIO()
    clock, console_clock = FakeClock(0.0), FakeClock(0.0)
    to_log = logged(logger, clock=clock)
    to_console = lines(Console(file=out, width=300), clock=console_clock)
    try:
        for second, update in _moments():
            clock.now = console_clock.now = second
            to_log(update)
            to_console(update)
    finally:
        logger.removeHandler(said)
    assert said.messages == out.getvalue().splitlines()  # the same words, the same moments
    assert [message.split("  ")[0] for message in said.messages] == ["rows 0/40", "rows 6/40", "rows 12/40"]
    assert LINE_EVERY == 30.0
    assert said.messages[1].endswith("0:30 elapsed, eta 2:50")


def _progress_lines(logged_lines: list[str]) -> list[str]:
    return [line for line in logged_lines if line.startswith("rowrelay.progress INFO rows ")]


async def test_run_batch_with_no_sink_logs_progress_to_the_console_and_prefect_and_with_one_does_not(
    prefect_api: str, tmp_path: Path
) -> None:
    from prefect.logging.handlers import APILogHandler

    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.processing import progress_sink

    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.2"))) as emu:
        with every_log_record() as logged_lines:  # what reaches the root logger's handlers: the console's
            result = await run_batch(str(source), **flow_args(tmp_path / "quiet", emu))
        assert result.all_completed
        told: list[Progress] = []
        token = progress_sink.set(told.append)
        try:
            with every_log_record() as shown_lines:
                await run_batch(str(source), **flow_args(tmp_path / "shown", emu))
        finally:
            progress_sink.reset(token)
    lines_logged = _progress_lines(logged_lines)
    assert lines_logged, logged_lines[-20:]
    assert lines_logged[0].startswith(f"rowrelay.progress INFO rows 0/{ROWS}  failed 0  in flight ")
    assert told, "the caller's sink was given progress"
    assert _progress_lines(shown_lines) == []  # its caller shows progress: not said twice
    await APILogHandler.aflush()
    stored = [log.message for log in await logs_of((await flow_run_on(tmp_path / "quiet" / "state")).id)]
    assert any(message.startswith(f"rows 0/{ROWS}  ") for message in stored), stored
