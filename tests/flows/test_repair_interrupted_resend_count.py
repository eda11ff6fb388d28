"""`rowrelay repair` stopped between setting the damaged files aside and counting a lost resend: once the
files were moved nothing showed the loss, so the next repair found nothing to repair and the count was
lost for good (the row one attempt short of its jobs on the server). What a repair will count is now
recorded before anything is moved, and counted by the next repair; a repair stopped after counting and
before forgetting that record does not count it twice. Each row's server jobs are compared with its
attempts after each step. A real CLI resend on the emulator, SIGKILLed and its segments torn."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.flows.repair_command import repair
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load, resent
from rowrelay.tasks.state.files import SEGMENTS
from tests.support.cli import env_for, exit_code, rowrelay, run_args, run_until_in_flight
from tests.support.damage import truncate
from tests.support.duplicates import jobs_of
from tests.support.tickets import write_tickets


class _Stopped(Exception):
    """The repair's process dying at that point."""


def _stop(*_: object) -> bool:
    raise _Stopped


def _counted(state: Path) -> dict[str, int]:
    frame = load(state)
    return dict(zip(frame["row_key"], frame["attempts"], strict=True))


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_repair_stopped_before_it_counted_a_lost_resend_leaves_the_count_to_the_next(
    prefect_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, state = write_tickets(tmp_path / "tickets.csv", 4), tmp_path / "state"
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
        for path in sorted(set((state / SEGMENTS).glob("*.parquet")) - before):
            truncate(path)
        jobs, _ = jobs_of(emu.url)
        assert jobs["T-00001"] == 2  # the old text's job, and the resend's

        with monkeypatch.context() as dying:  # stopped after the files are moved, before the count
            dying.setattr(resent, "count_lost_resend", _stop)
            with pytest.raises(_Stopped):
                repair(state)
        assert _counted(state)["T-00001"] == 1  # the files moved, the count not made

        with monkeypatch.context() as dying:  # stopped after counting, before forgetting what it owed
            dying.setattr(resent, "forget_owed", _stop, raising=False)
            with contextlib.suppress(_Stopped):  # (a repair with nothing to count is not stopped)
                repair(state)
        assert _counted(state) == dict(jobs)  # each row's jobs are the creates it counts

        again = rowrelay(["repair", str(state)], env)
        assert again.returncode == 0, again.stderr
        said = " ".join(again.stdout.split())
        assert "counted" not in said, said  # counted once, not twice
        assert _counted(state) == dict(jobs)
        row = load(state).set_index("row_key").loc["T-00001"]
        assert (row["status"], row["orphans"]) == ("orphaned", 1)
        assert not (state / "resent-owed.json").exists()

        rerun = rowrelay([*run_args(source, tmp_path), "--resend-edited"], env)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        jobs, _ = jobs_of(emu.url)
        assert jobs["T-00001"] == 3  # sent again under its edited text
        assert _counted(state) == dict(jobs)
