"""`rowrelay run --agent module:factory` calls the factory once: its check before anything starts built
the agent the run then takes (the factory was called twice per run, 8 s each for a slow one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.counted_factory import CALLS_FILE
from tests.support.tickets import write_tickets


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_run_calls_the_agent_factory_once(prefect_env: dict[str, str], tmp_path: Path) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 4)
    calls = tmp_path / "calls"
    args = [*run_args(source, tmp_path), "--agent", "tests.support.counted_factory:make_agent"]
    with running_emulator(EmulatorConfig()) as emu:
        result = rowrelay(args, env_for(prefect_env, emu, **{CALLS_FILE: str(calls)}))
        assert result.returncode == 0, result.stderr[-3000:]
        asked = [record.body.get("instructions") for record in emu.emulator.records.values()]
    assert len(calls.read_text().splitlines()) == 1, "one call: the check's agent runs the rows"
    assert (load(tmp_path / "state")["status"] == "completed").all()
    assert "Say where the order is." in asked, "the helper built on the same client ran on the run's server"
