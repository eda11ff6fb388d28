"""A server that ignores `background` (some OpenAI-compatible servers; the emulator's `ignores_background`):
each create is answered only once its response has ended, and the response says `background: false`.

Its rows complete once each, in both wait modes, and the run says once what ignoring it costs. An answer
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
STREAMED_WITHOUT = "the server streams creates without background mode"


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
    said = [r.getMessage() for r in caplog.records]
    plain = options.get("poll_streams") == 0
    # A plain create shows it by its answer's lateness; a stream's first event comes before the end
    # either way, and shows it by its response's `background: false`. Each is said once a run.
    assert sum(m.startswith(IGNORED) for m in said) == (1 if plain else 0)
    assert sum(m.startswith(STREAMED_WITHOUT) for m in said) == (0 if plain else 1)


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


async def test_a_server_that_keeps_background_mode_is_not_said_to_ignore_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.2"))
    with running_emulator(config) as emu, caplog.at_level(logging.WARNING, logger="rowrelay"):
        report = await run_batch(emu, tmp_path / "batch", rows=4, mode="stream")
        assert [r["background"] for r in emu.emulator.listing()] == [True] * 4
    assert report.counts == {"completed": 4}
    said = [r.getMessage() for r in caplog.records]
    assert not [m for m in said if m.startswith((IGNORED, STREAMED_WITHOUT))]
