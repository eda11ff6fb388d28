"""The run's story in the flow run's logs: an episode (429s, transient errors, rows ending without
completing) is one line when it starts and one when it is over, however many rows it touches."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from rowrelay.flows.narration import Narrator, log_outcome
from rowrelay.tasks.run import Progress, RunCounters


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lines() -> Iterator[list[str]]:
    kept: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append(f"{record.levelname} {record.getMessage()}")

    logger = logging.getLogger("rowrelay.flow")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield kept
    logger.removeHandler(handler)
    logger.setLevel(level)


def _progress(rate_limited: int, failed: int = 0) -> Progress:
    counts = {"completed": 10, "failed": failed, "queued": 5}
    return Progress(counts, 100, 0.0, RunCounters(creates=20, rate_limited=rate_limited))  # type: ignore[arg-type]


def test_a_storm_of_429s_is_two_lines_and_a_second_storm_two_more(lines: list[str]) -> None:
    clock = _Clock()
    narrator = Narrator(quiet=10.0, clock=clock)
    for second, throttled in enumerate([0, 3, 50, 400, 400, 400]):
        clock.now = float(second)
        narrator(_progress(throttled))
    assert lines == [
        "WARNING throttled: the server answered 429 (3 so far); creates and polls wait for its retry-after"
    ]
    clock.now = 20.0
    narrator(_progress(400))
    assert lines[-1] == "INFO throttling over: 400 rate-limited answers in 2 s"
    clock.now = 30.0
    narrator(_progress(402, failed=4))
    narrator.close()
    assert lines[2:] == [
        "WARNING throttled: the server answered 429 (2 so far); creates and polls wait for its retry-after",
        "WARNING rows are ending without completing: 4 so far (failed, incomplete or cancelled)",
        "INFO throttling over: 2 rate-limited answers in 0 s",
        "INFO 4 rows ended without completing over 0 s",
        "INFO requests: 20 creates, 0 polls, 0 stream resumes, 402 rate-limited answers, 0 transient errors "
        "retried, 0 creates whose answer was lost (counted and sent again)",
    ]


def test_the_requests_line_counts_an_agents_tool_round_creates_apart(lines: list[str]) -> None:
    """They are paid creates made inside reads: `requests: 6 creates` was all a run of 12 said."""
    narrator = Narrator(quiet=10.0, clock=_Clock())
    narrator(Progress({"completed": 6}, 6, 0.0, RunCounters(creates=6, polls=9, follow_ups=6)))
    narrator.close()
    assert lines[-1] == (
        "INFO requests: 6 creates (and 6 tool rounds' follow-up creates), 9 polls, 0 stream resumes, 0 "
        "rate-limited answers, 0 transient errors retried, 0 creates whose answer was lost (counted and "
        "sent again)"
    )


def test_rows_that_ended_before_the_run_began_are_no_episode_of_it(lines: list[str]) -> None:
    """A resumed batch holds an earlier run's failed rows and the rows a stopped run cancelled (which
    this run sends again, so their count falls): only rows that end unfinished in this run are told."""
    clock = _Clock()
    narrator = Narrator(quiet=10.0, clock=clock)
    narrator.begin({"completed": 10, "failed": 2, "cancelled": 100, "pending": 0})
    for second, (failed, cancelled) in enumerate([(2, 100), (2, 60), (2, 0), (2, 0)]):
        clock.now = float(second)
        narrator(
            Progress({"completed": 10, "failed": failed, "cancelled": cancelled}, 112, 0.0, RunCounters())
        )
    assert lines == []
    narrator(Progress({"completed": 10, "failed": 5, "cancelled": 0}, 112, 0.0, RunCounters()))
    assert lines == ["WARNING rows are ending without completing: 3 so far (failed, incomplete or cancelled)"]


def test_the_rows_that_did_not_complete_are_said_by_kind_after_the_outcome(lines: list[str]) -> None:
    kinds = [{"status": "failed", "error_type": "response_failed", "rows": 2, "example": "The model broke"}]
    summary = {"counts": {"completed": 1, "failed": 2}, "input_tokens": 3, "output_tokens": 4,
               "not_completed": kinds}  # fmt: skip
    log_outcome("b", summary, "out.csv")
    assert lines == [
        "WARNING batch b finished: 1 of 3 rows completed (1 completed, 2 failed); tokens in 3, out 4; output "
        "out.csv",
        'WARNING rows that did not complete, by kind: 2 failed/response_failed (e.g. "The model broke")',
    ]


@pytest.mark.parametrize(("held", "expected"), [(0, "WARNING"), (2, "INFO")])
def test_rows_a_limit_left_for_later_are_no_cause_for_a_warning(
    lines: list[str], held: int, expected: str
) -> None:
    summary = {"counts": {"completed": 1, "pending": 2}, "input_tokens": 3, "output_tokens": 4,
               "not_completed": []}  # fmt: skip
    log_outcome("b", summary, "out.csv", held=held)
    assert lines[0].startswith(f"{expected} batch b finished: 1 of 3 rows completed")
    assert ("2 left for a later run (--limit)" in lines[0]) == bool(held)
    assert len(lines) == 1  # rows waiting to be sent went wrong in no way: no list of kinds


def test_the_requests_line_says_a_dead_dask_workers_requests_are_not_all_counted(lines: list[str]) -> None:
    """Its creates are counted from the state table (`cluster_run.requests_sent`); its polls are known
    to nobody."""
    narrator = Narrator(quiet=10.0, clock=_Clock())
    narrator(Progress({"completed": 120}, 120, 0.0, RunCounters(creates=120, polls=90, workers_lost=1)))
    narrator.close()
    assert lines[-1].endswith(
        "0 creates whose answer was lost (counted and sent again); 1 Dask worker died mid-run: creates are "
        "counted from the state table, but a dead worker's polls, stream resumes, rate-limited and retried "
        "requests are not"
    )
