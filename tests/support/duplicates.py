"""The never-pay-twice invariant, checked row by row against the server's own count of jobs."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

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
