"""`run_batch` called from Python checks its input as `rowrelay run` does (`precheck.check_run`) before a
flow run exists or any server starts: a template naming a column the input lacks was refused only inside
the flow run, after Prefect (for a first call, the local server) had started and the run was recorded,
Failed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rowrelay.flows.local_prefect import read_server
from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.errors import UsageError
from tests.support.cli import ROOT
from tests.support.local_prefect import environment, servers_of, stopped_afterwards
from tests.support.prefect_records import flow_runs_on
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets

_MISSING = "template names column(s) not in the input: missing (available: ticket_id, subject, body)"


async def test_a_template_naming_an_absent_column_makes_no_flow_run(
    prefect_api: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", 3)
    with pytest.raises(UsageError) as caught:
        await run_batch(str(source), **{**flow_args(tmp_path, emulator), "template": "{missing}"})
    assert str(caught.value) == _MISSING
    assert await flow_runs_on(tmp_path / "state") == []
    assert emulator.emulator.listing() == []
    assert not (tmp_path / "state").exists()


_CALLED = """
import asyncio, sys
from rowrelay import run_batch
try:
    asyncio.run(run_batch(sys.argv[1], template="{missing}", state=sys.argv[2]))
except Exception as exc:
    print(f"raised {type(exc).__name__}: {exc}")
"""


def test_a_template_naming_an_absent_column_starts_no_local_server(tmp_path: Path) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 3)
    with stopped_afterwards(tmp_path / "home") as home:
        env = environment(home, tmp_path / "client-prefect")
        done = subprocess.run(
            [sys.executable, "-c", _CALLED, str(source), str(tmp_path / "state")],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert done.stdout == f"raised UsageError: {_MISSING}\n", done.stdout + done.stderr[-3000:]
        assert read_server(home) is None
        assert servers_of(home) == []
    assert "Prefect" not in done.stderr, done.stderr[-3000:]  # no server's UI address said, nor its start
