"""The last progress line agrees with how a run that stops on creates refused alike ends.

A server refusing every create alike, naming nothing (`run.refused_alike`), fails the first rows
`rejected` one by one until the run stops, which sends those rows back to `pending`: nothing started.
Where stderr is not a terminal, progress is a line every 30 s at most, so the run's last line, printed
while those rows stood failed, said `rows 4/12  failed 4` just above the stop's `those rows are pending
again`; the runner's update after the stop, which had them pending, fell inside the 30 s and went unsaid.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from rowrelay.flows.console_progress import lines
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.records import RowStatus
from rowrelay.tasks.run import Progress, RunCounters
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.state import FakeClock
from tests.support.tickets import write_tickets

ROWS = 12


def test_rows_that_go_back_from_failed_are_told_at_once() -> None:
    out, clock = io.StringIO(), FakeClock(0.0)
    sink = lines(Console(file=out, width=200), clock=clock, every=30.0)
    refused: dict[RowStatus, int] = {"failed": 4, "submitting": 8}
    sink(Progress(refused, ROWS, 0.2, RunCounters()))
    clock.now = 0.5  # the stop's update, well inside the 30 s
    sink(Progress({"pending": ROWS}, ROWS, 0.5, RunCounters()))
    said = out.getvalue().splitlines()
    assert said[0].startswith("rows 4/12  failed 4  in flight 8  ")
    assert said[-1] == "rows 0/12  failed 0  in flight 0  0.0 rows/s  0:00 elapsed, eta -:--"


def test_more_rows_done_still_wait_for_the_interval() -> None:
    out, clock = io.StringIO(), FakeClock(0.0)
    sink = lines(Console(file=out, width=200), clock=clock, every=30.0)
    for second, done in ((0, 2), (5, 3), (10, 3)):
        clock.now = float(second)
        sink(Progress({"completed": done, "queued": ROWS - done}, ROWS, second, RunCounters()))
    assert len(out.getvalue().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_last_progress_line_of_a_run_stopped_by_creates_refused_alike_says_they_are_pending(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    with running_emulator(EmulatorConfig(background_refusal="unnamed")) as emu:
        stopped = rowrelay(run_args(source, tmp_path), env_for(prefect_env, emu))
    assert stopped.returncode == 2, stopped.stderr[-3000:]
    said = stopped.stderr.splitlines()
    assert "every create is refused alike" in said[-1]
    progress = [line for line in said if line.startswith("rows ")]
    assert progress, stopped.stderr[-3000:]
    assert progress[-1].startswith(f"rows 0/{ROWS}  failed 0  in flight 0  "), progress
    assert set(load(tmp_path / "state")["status"]) == {"pending"}  # as the last line says
