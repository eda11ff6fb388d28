"""A bug that meets every row stops the run's creates, where each row failing alone sent and paid for all.

A trial's bug made reading every row's create stream raise: all 100 creates went out and started jobs,
each row logged its own traceback (4,072 console lines), the run ended Completed with 100 orphans, and
the next run sent 50 of them again. Now the run stops sending once its first rows crash alike
(`run.crashed_alike`), each crash still recorded on its row; the first traceback is logged once.

The crash is made where such a bug would be: rowrelay's own recording of a row's accepted create raises.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.errors import CrashedAlikeError
from rowrelay.tasks.run import record
from rowrelay.tasks.run.alike import ALIKE
from rowrelay.tasks.run.crashed_alike import CrashedAlike
from rowrelay.tasks.state import load
from tests.support.crashing_cli import BUG, crashing
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.leaks import every_log_record
from tests.support.runs import run_batch

ROWS = 40
AT_ONCE = 4
"""Rows in flight at once: the creates that may be on their way as the run stops."""
TRACEBACK = "Traceback (most recent call last)"


def _tracebacks(logged: list[str]) -> list[str]:
    return [line for line in logged if TRACEBACK in line]


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_crash_that_meets_every_row_stops_the_creates_and_is_told_once(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record, "accepted", crashing)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.1"))) as emu:
        with every_log_record() as logged, pytest.raises(CrashedAlikeError) as stopped:
            await run_batch(emu, tmp_path / "batch", rows=ROWS, mode=mode, max_in_flight=AT_ONCE)
        started, unanswered = jobs_of(emu.url)
    said = str(stopped.value)
    assert said.startswith(f"every row crashes alike, so the run stopped sending: its first {ALIKE} rows ")
    assert f"AttributeError: {BUG} (raised at tests.support.crashing_cli:" in said
    frame = load(tmp_path / "batch")
    # Creates stopped: the first rows', and those already on their way as it stopped, no more.
    assert ALIKE <= sum(started.values()) < ALIKE + AT_ONCE, started
    # Every job the server started is counted on its row, once: none was lost by stopping.
    attempts = zip(frame["row_key"], frame["attempts"], strict=True)
    assert started == Counter({key: n for key, n in attempts if n})
    assert_every_job_is_paid_for(frame, started, unanswered)
    sent = frame[frame["attempts"] > 0]
    assert set(sent["status"]) == {"orphaned"}  # maybe created: the next run counts them as such
    assert sent["error_message"].str.contains(f"AttributeError: {BUG}").all()
    unsent = frame[frame["attempts"] == 0]
    assert len(unsent) > ROWS - ALIKE - AT_ONCE
    assert set(unsent["status"]) == {"pending"}
    assert len(_tracebacks(logged)) == 1, _tracebacks(logged)
    crashes = [line for line in logged if line.startswith("rowrelay.runner ERROR row ")]
    assert crashes[0].startswith(f"rowrelay.runner ERROR row {sent['row_key'].iloc[0]} crashed")
    assert all(" crashed as row " in line and TRACEBACK not in line for line in crashes[1:])
    assert len(crashes) == len(sent)


async def test_crashes_of_some_rows_while_others_end_never_stop_the_run_and_are_each_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every other row crashes, one row at a time: rows end between the crashes, so they are those rows'
    own, each recorded, the batch goes on; only the first is told with its traceback."""
    original = record.accepted

    def every_other(*args: Any, **kwargs: Any) -> Any:
        if int(args[1].row_key[-4:]) % 2 == 0:
            return crashing(*args, **kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(record, "accepted", every_other)
    rows = 4 * ALIKE
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        with every_log_record() as logged:
            report = await run_batch(emu, tmp_path / "batch", rows=rows, max_in_flight=1, max_attempts=1)
        started, unanswered = jobs_of(emu.url)
    assert len(report.crashed_rows) == rows // 2
    assert report.counts == {"completed": rows // 2, "orphaned": rows // 2}
    assert_every_job_is_paid_for(load(tmp_path / "batch"), started, unanswered)
    assert len(_tracebacks(logged)) == 1
    crashes = [line for line in logged if line.startswith("rowrelay.runner ERROR row ")]
    assert len(crashes) == rows // 2
    assert all(" crashed as row row-0000 did: AttributeError: " in line for line in crashes[1:])


def _raised(error: Exception) -> Exception:
    try:
        raise error
    except Exception as caught:
        return caught


def _raised_elsewhere(error: Exception) -> Exception:
    try:
        raise error
    except Exception as caught:
        return caught


def test_only_the_first_crashes_of_one_kind_and_place_with_none_ended_stop_the_run() -> None:
    rows = [f"row-{i}" for i in range(ALIKE)]
    alike = CrashedAlike()
    assert [alike.crashed(key, _raised(AttributeError(key))) for key in rows[:-1]] == [None] * (ALIKE - 1)
    assert alike.crashed(rows[0], _raised(AttributeError("again"))) is None  # a row twice is one row
    assert isinstance(alike.crashed(rows[-1], _raised(AttributeError("last"))), CrashedAlikeError)
    assert alike.crashed("row-late", _raised(AttributeError("late"))) is None  # stopped once

    for unlike in (_raised(KeyError("other type")), _raised_elsewhere(AttributeError("other place"))):
        spoiled = CrashedAlike()
        spoiled.crashed("row-a", _raised(AttributeError("a")))
        spoiled.crashed("row-x", unlike)
        assert [spoiled.crashed(key, _raised(AttributeError(key))) for key in rows] == [None] * ALIKE

    ended = CrashedAlike()
    ended.crashed("row-a", _raised(AttributeError("a")))
    ended.ended()  # a row's drive ended without a crash: these crashes are not every row's
    assert [ended.crashed(key, _raised(AttributeError(key))) for key in rows] == [None] * ALIKE
