"""A run killed while it wrote its output (`kill -9` during the export) left its temp file beside the
output for ever (`out/.w.parquet.18976.63735628.tmp`, 56 KB, still there after later runs wrote the same
output): nothing swept it. The next write of that output removes the temp files of that output whose
writer's process is gone, and no other: not one another live process is writing, not another output's."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.durable import temp_target
from rowrelay.tasks.emulator import RunningEmulator
from tests.support.cli import ROOT
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets

_WRITER = """
import sys, time
from pathlib import Path
from rowrelay.tasks.durable import atomic_write_path

def write(temp: Path) -> None:
    temp.write_bytes(b"x" * 56_000)
    print("writing", flush=True)
    time.sleep(600)  # until it is killed, mid-write

atomic_write_path(Path(sys.argv[1]), write)
"""
"""A writer of `argv[1]` through the one primitive outputs are written with, stopped half way."""


def _temps_of(output: Path) -> set[str]:
    return {path.name for path in output.parent.iterdir() if temp_target(path.name) == output.name}


@pytest.fixture
def mid_write() -> Iterator[list[subprocess.Popen[str]]]:
    """Writers started by a test, each blocked half way through its write; killed afterwards."""
    writers: list[subprocess.Popen[str]] = []
    yield writers
    for writer in writers:
        writer.kill()
        writer.wait()
        if writer.stdout is not None:
            writer.stdout.close()


def _writing(output: Path, writers: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    """A process writing `output`, returned once its temp file holds what it wrote."""
    writer = subprocess.Popen(
        [sys.executable, "-P", "-c", _WRITER, str(output)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    writers.append(writer)
    assert writer.stdout is not None
    assert writer.stdout.readline() == "writing\n"
    return writer


async def test_a_killed_writers_temp_file_is_swept_by_the_next_write_and_a_live_writers_is_not(
    prefect_api: str, emulator: RunningEmulator, tmp_path: Path, mid_write: list[subprocess.Popen[str]]
) -> None:
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", 3)
    args = flow_args(tmp_path, emulator)
    output, other = Path(args["output"]), tmp_path / "other.parquet"
    killed = _writing(output, mid_write)
    killed.send_signal(signal.SIGKILL)  # as `kill -9` during a run's export
    killed.wait()
    left = _temps_of(output)
    assert len(left) == 1  # what the bug left
    _writing(other, mid_write).send_signal(signal.SIGKILL)  # another output's: not this write's to sweep
    live = _writing(output, mid_write)  # another process writing the same output now
    writing_now = _temps_of(output) - left

    await run_batch(str(source), **args)

    assert (pd.read_parquet(output)["rowrelay_status"] == "completed").all()
    assert _temps_of(output) == writing_now
    assert len(_temps_of(other)) == 1
    assert live.poll() is None
