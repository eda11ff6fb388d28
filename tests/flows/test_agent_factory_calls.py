"""`rowrelay run --agent module:factory` builds the run's agent with the factory's own call on the run's
client, after its check on a client that sends nothing: a helper agent the factory built on the SDK
client it was given (`chat.client`) runs on the run's server. The run once took the check's agent, its
one chat client re-pointed, and left the helper on the check's placeholder address: every helper call
failed (the placeholder key is refused where a key is needed, as here) and each row completed on a
paid answer to the tool's error."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.counted_factory import CALLS_FILE, HELPER_INSTRUCTIONS, HELPER_MODEL
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.tickets import write_tickets

ROWS = 4
KEY = "sk-helper-test-0123456789"
"""The server's one key: the check's placeholder client is refused here, as a real server refuses it."""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_runs_helper_agent_built_on_the_factorys_sdk_client_runs_on_the_runs_server(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    calls = tmp_path / "calls"
    args = [*run_args(source, tmp_path), "--agent", "tests.support.counted_factory:make_agent"]
    with running_emulator(EmulatorConfig(api_key=KEY)) as emu:
        result = rowrelay(args, env_for(prefect_env, emu, ROWRELAY_API_KEY=KEY, **{CALLS_FILE: str(calls)}))
        assert result.returncode == 0, result.stderr[-3000:]
        bodies = [record.body for record in emu.emulator.records.values()]
        jobs, unanswered = jobs_of(emu.url)  # the emulator's own listing needs no key
    helpers = [body.get("model") for body in bodies if body.get("instructions") == HELPER_INSTRUCTIONS]
    assert helpers == [HELPER_MODEL] * ROWS, "each row's helper call ran on the run's server"
    frame = load(tmp_path / "state")
    assert (frame["status"] == "completed").all()
    # A tool round's follow-up is no second job of its row; the helper's own responses carry no row.
    follow_ups = Counter(
        body["metadata"]["rowrelay_row"] for body in bodies if body.get("previous_response_id")
    )
    assert_every_job_is_paid_for(frame, jobs - follow_ups, unanswered)
    assert len(calls.read_text().splitlines()) == 2, "the check's call, then the run's for its client"
