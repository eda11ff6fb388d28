"""`rowrelay repair` of a batch whose `--resend-edited` run was killed mid-resend, its new segments torn:
the resent row falls back to its old completed version, whose attempts do not count the resend's create
(a job on the server, paid for). The repair said so and left the count short, so each later job of the
row went uncounted too. Now it counts it: the row is written as `orphaned` under its edited text, one more
attempt and orphan, as a run counts a create it cannot see, and the next run sends it again. Each row's
jobs on the server are compared with its counts after the repair, and after that next run."""

from __future__ import annotations

import signal
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from rowrelay.tasks.state.files import SEGMENTS
from tests.support.cli import env_for, exit_code, rowrelay, run_args, run_until_in_flight
from tests.support.damage import truncate
from tests.support.duplicates import jobs_of
from tests.support.tickets import write_tickets


def _counted(state: Path) -> dict[str, int]:
    frame = load(state)
    return dict(zip(frame["row_key"], frame["attempts"], strict=True))


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_resend_killed_and_torn_is_counted_by_the_repair(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source, state = write_tickets(tmp_path / "tickets.csv", 6), tmp_path / "state"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:3"))) as emu:
        env = env_for(prefect_env, emu)
        first = rowrelay(run_args(source, tmp_path), env)
        assert first.returncode == 0, first.stderr[-3000:]
        before = set((state / SEGMENTS).glob("*.parquet"))
        frame = pd.read_csv(source, dtype=str)
        frame.loc[1, "body"] = "Edited: my parcel came twice."
        frame.to_csv(source, index=False)
        log = tmp_path / "resend.log"
        resend = run_until_in_flight([*run_args(source, tmp_path), "--resend-edited"], env, state, 1, log)
        resend.send_signal(signal.SIGKILL)  # killed while T-00001's resend waits on the server
        assert exit_code(resend, log, within=60) == -signal.SIGKILL
        torn = sorted(set((state / SEGMENTS).glob("*.parquet")) - before)
        assert torn
        for path in torn:
            truncate(path)

        looked = rowrelay(["repair", str(state), "--dry-run"], env)
        assert looked.returncode == 0, looked.stderr
        assert (
            "1 row sent again for an edited input (--resend-edited) may have lost the resend's create with "
            "what cannot be read (e.g. T-00001): a job on the server the row's attempts do not count; a "
            "repair writes each `orphaned` under its edited text, one more attempt and orphan"
        ) in " ".join(looked.stdout.split()), looked.stdout

        repaired = rowrelay(["repair", str(state)], env)
        assert repaired.returncode == 0, repaired.stderr
        said = " ".join(repaired.stdout.split())
        jobs, _ = jobs_of(emu.url)
        assert jobs["T-00001"] == 2  # the old text's job, and the resend's
        assert _counted(state) == dict(jobs), said  # each row's jobs are the creates it counts
        row = load(state).set_index("row_key").loc["T-00001"]
        assert (row["status"], row["orphans"]) == ("orphaned", 1)
        assert "counted 1 row whose resend" in said, said

        again = rowrelay([*run_args(source, tmp_path), "--resend-edited"], env)
        assert again.returncode == 0, again.stderr[-3000:]
        jobs, _ = jobs_of(emu.url)
        assert jobs["T-00001"] == 3  # sent again under its edited text, as the repair said
        assert _counted(state) == dict(jobs)
        assert set(load(state)["status"]) == {"completed"}
