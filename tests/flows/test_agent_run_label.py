"""An agent run is labelled the same whether `--backend agent` is given or not: its server, then the agent.
`--agent` alone on a run whose backend resolves to `openai` said `openai (agent ...)`, and with `--backend
agent` the very same run said `agent (agent ...)`, in its closing line and its Prefect tag."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.flows.run_labels import backends_said
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import rowrelay, run_args
from tests.support.tickets import write_tickets

AGENT = "tests.llm.agent_factories:make_agent"


def test_the_agent_backend_is_said_by_the_server_it_reaches() -> None:
    assert backends_said(["agent"]) == backends_said(["openai"]) == "openai"  # the Prefect tag's, too
    assert backends_said(["agent", "chat"]) == "chat+openai"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", [[], ["--backend", "agent"]], ids=["auto", "agent"])
def test_an_agent_runs_closing_line_names_its_server_and_its_agent(
    prefect_env: dict[str, str], tmp_path: Path, backend: list[str]
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 2)
    with running_emulator(EmulatorConfig()) as emu:  # reached as OpenAI is, by its base URL and a key
        env = {**prefect_env, "ROWRELAY_BASE_URL": emu.url, "OPENAI_API_KEY": "sk-test"}
        done = rowrelay([*run_args(source, tmp_path), "--agent", AGENT, *backend], env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (load(tmp_path / "state")["status"] == "completed").all()
    assert f"backend: openai (agent {AGENT})" in done.stderr, done.stderr[-3000:]
