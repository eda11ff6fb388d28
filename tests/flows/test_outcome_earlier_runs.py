"""A run past `--fail-when-failed` whose rows not completed ended in earlier runs says so, and the way on.

The threshold counts the batch's rows not completed at the end (the batch is still incomplete), so a
nightly deployment whose run failed rows ended `Failed` again every later night, having sent nothing,
with the very message of the night they failed: the alert read as a new failure each time. The message
now says how many of them ended in earlier runs and that `rowrelay retry STATE` makes them pending again.

Rows fail deterministically: the emulator's `fail_rate` draws from its seed and the request."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay import FailWhenFailedError
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.state import load
from tests.support.duplicates import jobs_of
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets

_ROWS = 10
_FAILING = EmulatorConfig(fail_rate=0.3, seed=5)
"""Fails some but not all of ten rows (checked: a check of nothing would pass)."""


async def test_a_run_that_sent_nothing_says_its_rows_not_completed_ended_in_earlier_runs(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", _ROWS)
    state = (tmp_path / "state").resolve()
    with running_emulator(_FAILING) as emu:
        args = flow_args(tmp_path, emu, max_attempts=1, fail_when_failed="0")
        with pytest.raises(FailWhenFailedError) as first:
            await run_batch(str(source), **args)
        sent = len(jobs_of(emu.url)[0])
        with pytest.raises(FailWhenFailedError) as again:
            await run_batch(str(source), **args)
        assert len(jobs_of(emu.url)[0]) == sent  # the second run sent nothing

    failed = int((load(state)["status"] == "failed").sum())
    assert 1 < failed < _ROWS, "the seed must fail some rows, not all"
    counted = f"{failed} of {_ROWS} rows did not complete ({failed} failed): past fail_when_failed='0'"
    assert str(first.value) == counted  # the run that failed them says nothing more
    assert str(again.value) == (
        f"{counted}; all {failed} ended in earlier runs, this run sent none of them again "
        f"(`rowrelay retry {state}` makes them pending for the next run to send)"
    )


async def test_a_run_that_failed_rows_of_its_own_says_how_many_ended_in_earlier_runs(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", _ROWS)
    state = (tmp_path / "state").resolve()
    with running_emulator(_FAILING) as emu:
        args = flow_args(tmp_path, emu, max_attempts=1, fail_when_failed="0")
        with pytest.raises(FailWhenFailedError):
            await run_batch(str(source), **args)
        before = int((load(state)["status"] == "failed").sum())
        write_tickets(source, 2 * _ROWS)  # ten rows more, of which this run fails some
        with pytest.raises(FailWhenFailedError) as caught:
            await run_batch(str(source), **args)

    failed = int((load(state)["status"] == "failed").sum())
    assert 0 < before < failed, "the seed must fail some of the new rows too"
    assert str(caught.value) == (
        f"{failed} of {2 * _ROWS} rows did not complete ({failed} failed): past fail_when_failed='0'; "
        f"{before} of them ended in earlier runs "
        f"(`rowrelay retry {state}` makes them pending for the next run to send)"
    )
