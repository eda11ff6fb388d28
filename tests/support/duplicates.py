"""The never-pay-twice invariant, checked row by row against the server's own count of jobs."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import pandas as pd


def assert_every_job_is_paid_for(frame: pd.DataFrame, jobs: Counter[str], unanswered: Counter[str]) -> None:
    """For every row of `frame` (the state table, a `row_key` column): the jobs the server started are at
    most the attempts the row spent, and every job beyond the first, and every job whose create went
    unanswered, is a counted possible duplicate (`orphans`) of that row."""
    for key, attempts, orphans in zip(frame["row_key"], frame["attempts"], frame["orphans"], strict=True):
        assert jobs[key] <= attempts, (key, jobs[key], attempts)
        assert jobs[key] - 1 <= orphans, (key, jobs[key], orphans)
        assert unanswered[key] <= orphans, (key, unanswered[key], orphans)


def jobs_of(url: str) -> tuple[Counter[str], Counter[str]]:
    """Jobs the emulator at `url` (ending in /v1) started per row, and those whose create it never
    answered."""
    root = url.removesuffix("/v1")
    listing: list[dict[str, Any]] = httpx.get(f"{root}/emulator/jobs", timeout=30).json()["data"]
    started = Counter(job["metadata"].get("rowrelay_row") for job in listing)
    unanswered = Counter(job["metadata"].get("rowrelay_row") for job in listing if not job["answered"])
    return started, unanswered
