"""Dask runs' shared checks: the environment of a run on an emulator process, and every job the
server started compared with what its row counted."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.emulator_process import EmulatorProcess


def env_on(prefect_env: dict[str, str], emu: EmulatorProcess) -> dict[str, str]:
    return {**prefect_env, "ROWRELAY_BACKEND": "emulator", "ROWRELAY_BASE_URL": emu.url}


def jobs_of(emu: EmulatorProcess) -> tuple[Counter[str], Counter[str]]:
    """Jobs the server started per row, and those whose create it never answered."""
    listing: list[dict[str, Any]] = emu.get("/emulator/jobs")["data"]
    started = Counter(job["metadata"].get("rowrelay_row") for job in listing)
    unanswered = Counter(job["metadata"].get("rowrelay_row") for job in listing if not job["answered"])
    return started, unanswered


def assert_finished_and_paid_for(state: Path, emu: EmulatorProcess, rows: int) -> None:
    frame = load(state)
    assert len(frame) == rows
    assert set(frame["status"]) == {"completed"}, frame["status"].value_counts()
    started, unanswered = jobs_of(emu)
    assert_every_job_is_paid_for(frame, started, unanswered)
