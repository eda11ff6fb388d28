"""A row's crash (rowrelay's own bug, a surprise) whose words quote the key reaches neither the state table
nor the logs with it: its words are masked of the run's credentials before the runner logs its traceback
and the row records them (its `error_message`, or the note of a row kept in flight).

Only a server's words and an agent's own code's were masked: a crash was written as
`f"{type(exc).__name__}: {exc}"`, the key in it, into the row (hence the output's `error` column and the
summary) and the runner's "row ... crashed" traceback. The crash is made where a parse or a bug would be:
rowrelay's own recording of one row raises, its message quoting the key the run sends.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm.masking import MASK
from rowrelay.tasks.run import record
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.leaks import every_log_record, files_holding
from tests.support.runs import new_table, prompts, run_table, settings_for

SECRET = "sk-test-CRASHWORDS-9f8e7d6c5b4a3210"
FRAGMENT = SECRET[8:-4]
"""A part of the key no mask leaves: found anywhere, the key leaked."""
ROWS = 4
VICTIM = "row-0002"


def _quoting_the_key() -> Exception:
    """A bug's words quoting the key, as one printing a client's or a request's repr would."""
    error = KeyError(f"no 'output' in the answer to a request signed 'Bearer {SECRET}'")
    error.add_note(f"while recording it for key {SECRET}")
    return error


def _raising_for(original: Any, crash: Callable[[], Exception] = _quoting_the_key) -> Any:
    """`original`, raising `crash()` for VICTIM (the row is the function's second argument)."""

    def patched(*args: Any, **kwargs: Any) -> Any:
        if args[1].row_key == VICTIM:
            raise crash()
        return original(*args, **kwargs)

    return patched


async def _crashed_run(
    tmp_path: Path, where: str, mode: str, crash: Callable[[], Exception] = _quoting_the_key
) -> tuple[Any, list[str]]:
    """A run whose VICTIM crashes with `crash()` in `record.<where>`, on an emulator that takes only
    SECRET; its row as recorded and every log record of the run (tracebacks included), every job checked
    as counted."""
    with running_emulator(EmulatorConfig(api_key=SECRET, latency=LatencySpec.parse("fixed:0.1"))) as emu:
        with pytest.MonkeyPatch.context() as patched, every_log_record() as logged:
            patched.setattr(record, where, _raising_for(getattr(record, where), crash))
            settings = settings_for(emu, api_key=SECRET, mode=mode, max_attempts=1)
            report = await run_table(new_table(tmp_path / "state", ROWS), settings, prompts(ROWS))
        jobs, unanswered = jobs_of(emu.url)
    assert report.crashed_rows == [VICTIM]
    frame = load(tmp_path / "state")
    assert_every_job_is_paid_for(frame, jobs, unanswered)
    assert files_holding(tmp_path, FRAGMENT) == []  # the state table's files, decoded
    return frame.set_index("row_key").loc[VICTIM], logged


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_crash_with_its_create_on_the_way_records_and_logs_its_words_masked(
    tmp_path: Path, mode: str
) -> None:
    row, logged = await _crashed_run(tmp_path, "accepted", mode)
    assert (row["status"], row["orphans"]) == ("orphaned", 1)  # counted as maybe sent, as before
    assert (
        f"KeyError: \"no 'output' in the answer to a request signed 'Bearer {MASK}'\""
        in (row["error_message"])
    )
    crashes = [line for line in logged if "row row-0002 crashed" in line]
    assert crashes, "the crash is logged, with its traceback"
    assert all("Traceback" in line and MASK in line for line in crashes)
    assert [line for line in logged if FRAGMENT in line] == []


async def test_a_crash_while_waited_on_notes_its_words_masked(tmp_path: Path) -> None:
    row, logged = await _crashed_run(tmp_path, "ended", "poll")
    assert row["response_id"] is not None  # kept in flight, for the next run to wait on
    assert row["note"].startswith("crashed while waited on (KeyError: \"no 'output' in the answer to a ")
    assert MASK in row["note"]
    assert any("row row-0002 crashed" in line for line in logged)
    assert [line for line in logged if FRAGMENT in line] == []


async def test_a_crash_quoting_no_key_keeps_its_words(tmp_path: Path) -> None:
    """Masking takes only the key's characters: a crash that quotes none is recorded word for word."""
    with running_emulator(EmulatorConfig(api_key=SECRET)) as emu, pytest.MonkeyPatch.context() as patched:
        original = record.accepted

        def raising(*args: Any, **kwargs: Any) -> Any:
            if args[1].row_key == VICTIM:
                raise ValueError("a surprise in this row's answer")
            return original(*args, **kwargs)

        patched.setattr(record, "accepted", raising)
        settings = settings_for(emu, api_key=SECRET, max_attempts=1)
        await run_table(new_table(tmp_path / "state", ROWS), settings, prompts(ROWS))
    row = load(tmp_path / "state").set_index("row_key").loc[VICTIM]
    assert "(ValueError: a surprise in this row's answer)" in row["error_message"]
    assert MASK not in row["error_message"]


class _Client:
    """An object whose repr shows the key it holds, as an SDK client's or a request's may."""

    def __repr__(self) -> str:
        return f"_Client(api_key={SECRET!r})"


class _ClientError(Exception):
    """An error that keeps the client it failed with and says it from `__str__`, not from its arguments:
    masking its arguments in place cannot reach those words."""

    def __init__(self, client: _Client) -> None:
        super().__init__()
        self.client = client

    def __str__(self) -> str:
        return f"refused by {self.client!r}"


def _group_quoting_the_key() -> Exception:
    """A TaskGroup's way of failing: the group's own words are clean, a member's quote the key."""
    return ExceptionGroup("unhandled errors in a TaskGroup", [ValueError(f"signed 'Bearer {SECRET}'")])


CRASHES: dict[str, tuple[Callable[[], Exception], str]] = {
    "a group whose member quotes the key": (
        _group_quoting_the_key,
        "ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)",
    ),
    "an error of an object whose repr shows the key": (
        lambda: ValueError(_Client()),
        f"ValueError: _Client(api_key='{MASK}')",
    ),
    "a KeyError of such an object": (lambda: KeyError(_Client()), f"KeyError: \"_Client(api_key='{MASK}')\""),
    "an error whose __str__ shows the key": (
        lambda: _ClientError(_Client()),
        f"_ClientError: refused by _Client(api_key='{MASK}')",
    ),
}
"""Crashes whose words hold the key where masking a string argument does not find it, and what their row
says: a group's member (`_chain` followed causes and contexts only; the row names the group, the
traceback its member), an argument that is no string (left as it was, its repr in `str(exc)`), an
`__str__` of the exception's own (only the words written and logged can be masked)."""


@pytest.mark.parametrize(("crash", "said"), CRASHES.values(), ids=CRASHES.keys())
async def test_a_crash_whose_key_no_string_argument_holds_is_masked_everywhere(
    tmp_path: Path, crash: Callable[[], Exception], said: str
) -> None:
    row, logged = await _crashed_run(tmp_path, "accepted", "poll", crash)
    assert (row["status"], row["orphans"]) == ("orphaned", 1)
    assert row["error_message"].endswith(f"its create was on its way ({said})")
    crashes = [line for line in logged if "row row-0002 crashed" in line]
    assert crashes, "the crash is logged, with its traceback"
    assert all("Traceback" in line and MASK in line for line in crashes)
    assert [line for line in logged if FRAGMENT in line] == []
