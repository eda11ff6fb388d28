"""The run after `rowrelay retry` of rows held for the chat timeout says, at its close, that their earlier
creates lost their answers to a timeout while the server wrote them, and what the cost cap's figure for
them is: an estimate. It said "(a run killed or cut off while sending)", no run having been either, and
"estimated at up to $0.006573", no bound (an answer may be longer than the run's output estimate) and
fifteen times the $0.0004256 the same rows' answers cost.

Through the CLI in real processes, against the emulator over a socket, its answers slower than a small
ROWRELAY_CHAT_TIMEOUT (tests/run/test_chat_timeout.py: the cut and the hold).
"""

from __future__ import annotations

import re
from pathlib import Path

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.tickets import write_tickets

ROWS = 4
SLOW = EmulatorConfig(latency=LatencySpec.parse("fixed:1.5"), seed=4)
TIMED_OUT = (
    "possible duplicate jobs: this run sent 4 rows again whose 4 earlier creates lost their answer to a "
    "timeout while the server wrote it (the chat timeout or a gateway's), so the server most likely ran "
    "(and billed) those jobs too, which the cost shown does not include; --max-cost counts them at "
)
ESTIMATE = (
    ", an estimate (each at its row's prompt and the run's output estimate, --max-output-tokens where set: "
    "no usage came back for them); `rowrelay status "
)


def test_rows_retried_after_the_chat_timeout_are_said_cut_by_it_with_the_caps_estimate(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    args = run_args(source, tmp_path)
    state = tmp_path / "state"
    with running_emulator(SLOW) as emu:
        env = env_for(prefect_env, emu, ROWRELAY_BACKEND="chat", OPENAI_API_KEY="unused")
        cut = rowrelay(args, {**env, "ROWRELAY_CHAT_TIMEOUT": "0.3"})
        assert set(load(state)["error_code"]) == {"answer_timeout"}, cut.stdout + cut.stderr
        retried = rowrelay(["retry", str(state)], env)
        assert retried.returncode == 0, retried.stderr
        done = rowrelay(args, {**env, "ROWRELAY_CHAT_TIMEOUT": "30"})
    assert done.returncode == 0, done.stdout + done.stderr
    said = " ".join((done.stdout + done.stderr).split())  # the closing lines, as one
    assert TIMED_OUT in said, said
    assert ESTIMATE in said, said
    assert re.search(re.escape(TIMED_OUT) + r"\$[0-9.]+" + re.escape(ESTIMATE), said), said
    assert "killed or cut off" not in said
    assert "up to $" not in said
