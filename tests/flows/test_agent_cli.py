"""`rowrelay run --agent module:function`: rows run by a user's Agent Framework agent."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from tests.llm.agent_factories import INSTRUCTIONS
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.tickets import write_tickets


@pytest.mark.parametrize(
    ("spec", "message"),
    [("no_colon", "module:function"), ("tests.llm.nowhere:f", "cannot import")],
)
def test_a_bad_agent_exits_2_and_sends_nothing(
    tmp_path: Path, emulator: RunningEmulator, spec: str, message: str
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 3)
    result = CliRunner().invoke(
        app,
        [*run_args(source, tmp_path), "--backend", "emulator", "--base-url", emulator.url, "--agent", spec],
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert emulator.emulator.listing() == []


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_run_with_an_agent_factory(prefect_env: dict[str, str], tmp_path: Path) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 10)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("uniform:0.05,0.3"))) as emu:
        args = [*run_args(source, tmp_path), "--agent", "tests.llm.agent_factories:make_agent"]
        result = rowrelay(args, env_for(prefect_env, emu))
        bodies = [record.body for record in emu.emulator.records.values()]
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(bodies) == 10
    assert {body["instructions"] for body in bodies} == {INSTRUCTIONS}
    assert pd.read_csv(tmp_path / "out.csv")["rowrelay_status"].eq("completed").all()
    # the closing line says whose calls they were, not only the backend the agent's client reached
    assert "backend: emulator (agent tests.llm.agent_factories:make_agent)" in result.stderr, result.stderr
