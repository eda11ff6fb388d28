"""A server that ignores `background` (some OpenAI-compatible servers; the emulator's `ignores_background`):
each create is answered only once its response has ended, and the response says `background: false`.

Its rows complete once each, in both wait modes, and the run says once why its creates are slow. An answer
slower than the request timeout is cut: such a create may have started a paid job, so every one is
counted on its row, and the jobs the server started never outnumber what the rows counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import run_batch

ROWS = 12
IGNORED = (
    "the server answered a background create only once its response had ended: it ignores background mode"
)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"mode": "poll", "poll_streams": 0}, id="poll-plain-creates"),
        pytest.param({"mode": "poll"}, id="poll-streamed-scouts"),
        pytest.param({"mode": "stream"}, id="stream"),
    ],
)
async def test_every_row_completes_once_on_a_server_that_ignores_background(
    options: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = EmulatorConfig(ignores_background=True, latency=LatencySpec.parse("fixed:0.2"))
    with running_emulator(config) as emu, caplog.at_level(logging.WARNING, logger="rowrelay"):
        report = await run_batch(emu, tmp_path / "batch", rows=ROWS, **options)
        held = emu.emulator.listing()
        started, unanswered = jobs_of(emu.url)
    assert [r["background"] for r in held] == [False] * ROWS, "the server really ignored it"
    assert report.counts == {"completed": ROWS}
    frame = load(tmp_path / "batch")
    assert started == Counter(dict.fromkeys(frame["row_key"], 1))
    assert (frame["attempts"] == 1).all()
    assert_every_job_is_paid_for(frame, started, unanswered)
    warned = [r.getMessage() for r in caplog.records if r.getMessage().startswith(IGNORED)]
    # Only a plain create shows it: a stream's first event comes before the end either way.
    assert len(warned) == (1 if options.get("poll_streams") == 0 else 0)


async def test_answers_slower_than_the_request_timeout_are_counted_and_never_paid_twice_silently(
    tmp_path: Path,
) -> None:
    """Each create waits 1.5 s for its answer and gives up at 0.5 s: every one may have started a job (it
    did), so each spends an attempt and counts an orphan, and the rows end `orphaned` after two."""
    config = EmulatorConfig(ignores_background=True, latency=LatencySpec.parse("fixed:1.5"))
    with running_emulator(config) as emu:
        report = await run_batch(
            emu, tmp_path / "batch", rows=4, mode="poll", poll_streams=0, request_timeout=0.5, max_attempts=2,
        )  # fmt: skip
        started, unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "batch")
    assert report.counts == {"orphaned": 4}
    assert frame["attempts"].tolist() == [2] * 4
    assert frame["orphans"].tolist() == [2] * 4
    assert sum(unanswered.values()) == report.counters.maybe_created == 8, "the timeouts really happened"
    assert_every_job_is_paid_for(frame, started, unanswered)
