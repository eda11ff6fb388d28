"""`--resend-edited` of a row a killed run left `submitting` (the create may have left, its response id
never learned): the precheck refused it as "may still be running under its old text", though nobody can
collect or cancel a job with no id, and the run itself first recovers such a row to `orphaned` (counted:
an attempt, an orphan). The way the refusal named (resume over the earlier input) sends the old text
again, a second job, before the resend's third. Now the row is recovered and sent once under its new text:
its server jobs equal its counted attempts, the possible duplicate counted as an orphan."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import StateTable, load
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.duplicates import jobs_of
from tests.support.tickets import TEMPLATE, write_tickets


def _edit(source: Path, row: int, body: str) -> None:
    frame = pd.read_csv(source, dtype=str)
    frame.loc[row, "body"] = body
    frame.to_csv(source, index=False)


def _create_that_left(url: str, key: str, prompt: str) -> None:
    """The killed run's create: it reached the server (a job, paid for), its answer never written."""
    body = {"model": "gpt-4.1-mini", "input": prompt, "background": True, "metadata": {"rowrelay_row": key}}
    reply = httpx.post(f"{url}/responses", json=body, headers={"Authorization": "Bearer x"}, timeout=30)
    assert reply.status_code == 200, reply.text


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_row_left_submitting_by_a_kill_is_recovered_then_resent_once(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 4)
    state = tmp_path / "state"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        env = env_for(prefect_env, emu)
        trial = rowrelay([*run_args(source, tmp_path), "--limit", "3"], env)
        assert trial.returncode == 0, trial.stderr[-3000:]
        with StateTable.open(state) as table:  # the run killed between `submitting` and the create's answer
            table.transition("T-00003", "submitting")
        old = TEMPLATE.format(subject="Problem number 3", body="My order 3 did not arrive.")
        _create_that_left(emu.url, "T-00003", old)
        _edit(source, 3, "Edited after the kill: the parcel is lost.")

        again = rowrelay([*run_args(source, tmp_path), "--resend-edited"], env)
        assert again.returncode == 0, again.stderr[-3000:]
        jobs, _ = jobs_of(emu.url)
        frame = load(state).set_index("row_key")
        for key in frame.index:  # each row's jobs are the creates it counted, the lost one as an orphan
            assert jobs[key] == frame.loc[key, "attempts"], (key, dict(jobs), frame["attempts"].to_dict())
        assert jobs["T-00003"] == 2  # the old text's job, then the new text's: never a third
        assert int(frame["orphans"]["T-00003"]) == 1
        assert frame.loc["T-00003", "status"] == "completed"
        answers = [
            json.dumps(record.body["input"])
            for record in emu.emulator.records.values()
            if record.body["metadata"]["rowrelay_row"] == "T-00003"
        ]
        assert "parcel is lost" in answers[-1]
