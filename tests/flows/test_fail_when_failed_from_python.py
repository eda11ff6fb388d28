"""`run_batch(..., fail_when_failed=...)` from Python, past the threshold, raises `FailWhenFailedError`: its
one line the reason (naming `fail_when_failed=`, where the CLI says `--fail-when-failed`), and on it the
run's `BatchResult`, so a notebook can still read the counts and the output. It raised `TypeError:
Unexpected result for failed state: BatchResult(...)`: Prefect raises a Failed state's data, and found the
result there instead of an exception.

Rows fail deterministically: the emulator's `fail_rate` draws from its seed and the request."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rowrelay import FailWhenFailedError, RowrelayError
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets

_ROWS = 10
_FAILING = EmulatorConfig(fail_rate=0.3, seed=5)
"""Fails some but not all of ten rows (checked: a check of nothing would pass)."""


async def test_past_the_threshold_python_gets_a_rowrelay_error_saying_why_and_holding_the_result(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", _ROWS)
    with running_emulator(_FAILING) as emu:
        args = flow_args(tmp_path, emu, max_attempts=1, fail_when_failed="0")
        with pytest.raises(FailWhenFailedError) as caught:
            await run_batch(str(source), **args)
        jobs, unanswered = jobs_of(emu.url)

    table = load(tmp_path / "state")
    assert_every_job_is_paid_for(table, jobs, unanswered)
    failed = int((table["status"] == "failed").sum())
    assert 0 < failed < _ROWS, "the seed must fail some rows, not all"
    assert isinstance(caught.value, RowrelayError)
    assert str(caught.value) == (
        f"{failed} of {_ROWS} rows did not complete ({failed} failed): past fail_when_failed='0'"
    )
    result = caught.value.result
    assert result.counts["failed"] == failed
    assert result.counts["completed"] == _ROWS - failed
    output = pd.read_parquet(result.output)  # written before the run ended Failed
    said = {status: n for status, n in result.counts.items() if n}
    assert output["rowrelay_status"].value_counts().to_dict() == said
