"""`rowrelay run --agent module:function` calls the factory once before anything starts: one that raises,
returns no agent, or builds its agent on a client of its own is refused in one line, exit 2, before
Prefect starts, the state is written or a request is sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.tasks.emulator import RunningEmulator
from tests.llm.setup_factories import RAISED
from tests.support.cli import run_args
from tests.support.tickets import write_tickets


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("factory", "said"),
    [
        ("tests.llm.setup_factories:raising", f"the factory raised ValueError: {RAISED}"),
        (
            "tests.llm.agent_factories:not_an_agent",
            "the factory returned OpenAIChatClient, not an agent_framework.Agent",
        ),
        ("tests.llm.setup_factories:on_its_own_client", "the agent runs on a client of its own"),
    ],
)
def test_a_factory_that_cannot_run_rows_is_refused_in_one_line_before_anything_starts(
    tmp_path: Path, emulator: RunningEmulator, factory: str, said: str
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 3)
    args = [*run_args(source, tmp_path), "--backend", "emulator", "--base-url", emulator.url]
    result = CliRunner().invoke(app, [*args, "--agent", factory])
    assert result.exit_code == 2, result.output
    assert f"--agent {factory}: {said}" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (tmp_path / "state").exists(), "refused before the state was written"
    assert emulator.emulator.listing() == []
