"""Dask runs' shared checks: the environment of a run on an emulator process, and every job the
server started compared with what its row counted."""

from __future__ import annotations

from pathlib import Path

from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.emulator_process import EmulatorProcess


def env_on(prefect_env: dict[str, str], emu: EmulatorProcess) -> dict[str, str]:
    return {**prefect_env, "ROWRELAY_BACKEND": "emulator", "ROWRELAY_BASE_URL": emu.url}


def assert_finished_and_paid_for(state: Path, emu: EmulatorProcess, rows: int) -> None:
    frame = load(state)
    assert len(frame) == rows
    assert set(frame["status"]) == {"completed"}, frame["status"].value_counts()
    started, unanswered = jobs_of(emu.url)
    assert_every_job_is_paid_for(frame, started, unanswered)
