"""`rowrelay status` on a `--backend chat` batch whose run was killed says what the next run does with its
rows in flight. It said "the 64 rows in flight wait for the next run": a chat row has no response id, so
nothing can wait on it; the next run counts each as maybe sent (an attempt and an orphan) and sends it
again (`state.orphans`)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import IN_PROCESS, ROOT, env_for, rowrelay, run_args
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.tickets import write_tickets

ROWS = 3


def _all_submitting(state: Path) -> bool:
    if not (state / "batch.json").exists():
        return False
    return int(load(state)["status"].eq("submitting").sum()) == ROWS


@pytest.mark.timeout(400)
def test_status_of_a_killed_chat_batch_says_its_rows_are_sent_again_not_waited_on(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    state, args = tmp_path / "state", [*run_args(source, tmp_path), "--backend", "chat"]
    # each chat completion takes 60 s: the run is killed while all of them are on the wire
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as emu:
        env = env_for(prefect_env, emu, OPENAI_API_KEY="sk-emulated")  # the emulator checks none
        with (tmp_path / "run.log").open("wb") as log:
            run = subprocess.Popen([*IN_PROCESS, *args], cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            while not _all_submitting(state):  # a wait for the rows to be sent, not an assertion
                assert run.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
                time.sleep(0.1)
        finally:
            run.send_signal(signal.SIGKILL)  # as `kill -9`
            run.wait()
        status = rowrelay(["status", str(state)], env)
        jobs, unanswered = jobs_of(emu.url)
    assert status.returncode == 0, status.stderr[-3000:]
    said = " ".join(status.stdout.split())
    assert (
        f"the {ROWS} rows in flight with no response id (a --backend chat row never has one) cannot be "
        "waited on: the next run counts each as maybe sent (an attempt and an orphan) and sends those "
        f"{ROWS} rows again within their attempts"
    ) in said, said
    assert "wait for the next run" not in said, said
    assert_every_job_is_paid_for(load(state), jobs, unanswered)
