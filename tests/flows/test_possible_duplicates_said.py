"""A run whose creates lost their answer says so as it closes: how many creates of how many rows, that the
server may have run those jobs, that the cost shown leaves them out, and where to look.

In a trial, such a run ended with counts and `cost:` alone; only `rowrelay status` said `orphans 3 (...
possible duplicate jobs)`, and a run whose such rows all completed in the end exited 0 without a word.
The line is the run's own: said of the batch's every orphan, it came again at the close of each later
run, one that sent nothing included (a scheduled deployment's log, every night).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow as pa

from rowrelay.flows.narration import log_outcome
from rowrelay.flows.run_orphans import LostAnswers, lost_this_run
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.said import Said

ROWS = 12


def test_a_run_whose_rows_completed_after_lost_answers_names_the_possible_duplicates_once(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source, state = tmp_path / "asks.jsonl", tmp_path / "state"
    source.write_text("".join(json.dumps({"id": f"r{i}", "text": f"Say {i}."}) + "\n" for i in range(ROWS)))
    args = ["run", str(source), "--prompt-column", "text", "--id-column", "id", "--state", str(state),
            "--output", str(tmp_path / "out.jsonl")]  # fmt: skip
    # a gateway's 502 page answers some creates whose job started: each counted on its row, sent again
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), gateway_error_rate=0.5, seed=5)
    with running_emulator(config) as emu:
        env = {**env_for(prefect_env, emu), "ROWRELAY_MAX_ATTEMPTS": "8"}
        run = rowrelay(args, env)
        jobs, unanswered = jobs_of(emu.url)
        # the same command again, as a schedule runs it: every row completed, nothing sent, nothing lost
        again = rowrelay(args, env)
        assert jobs_of(emu.url) == (jobs, unanswered), "the second run sent nothing"
    frame = load(state)
    assert_every_job_is_paid_for(frame, jobs, unanswered)
    assert (frame["status"] == "completed").all(), run.stderr[-3000:]
    assert run.returncode == 0, "every row completed: the line is said, the exit code is still 0"
    creates, rows = int(frame["orphans"].sum()), int((frame["orphans"] > 0).sum())
    assert creates == sum(unanswered.values()) > 1, "the emulator answered some creates with a 502 page"
    said = (
        f"possible duplicate jobs: {creates} creates of {rows} row{'' if rows == 1 else 's'} lost their "
        f"answer in this run, so the server may have run (and billed) {creates} jobs no answer named, "
        f"which the cost shown does not include: `rowrelay status {state}` counts them (orphans); the "
        "provider's usage page says what was billed\n"
    )
    assert said in run.stderr, run.stderr[-3000:]
    assert again.returncode == 0, again.stderr[-3000:]
    assert "possible duplicate jobs" not in again.stderr, again.stderr[-3000:]


def test_the_run_log_names_them_and_a_run_that_lost_none_says_nothing(tmp_path: Path) -> None:
    """Watched by a handler on the flow's logger itself: caplog's, on the root logger, is dropped by
    Prefect's logging setup when a test earlier in the same worker first imported Prefect."""
    base: dict[str, object] = {"counts": {"completed": 3}, "input_tokens": 30, "output_tokens": 15}
    said, logger = Said(), logging.getLogger("rowrelay.flow")
    logger.addHandler(said)
    try:
        # the batch holds orphans of an earlier run (its summary's count), this run lost none
        log_outcome("b", {**base, "orphans": 3}, "out.csv", state=tmp_path, lost=LostAnswers())
        assert not [line for line in said.messages if "possible duplicate jobs" in line], said.messages
        log_outcome("b", {**base, "orphans": 3}, "out.csv", state=tmp_path, lost=LostAnswers(1, 1))
    finally:
        logger.removeHandler(said)
    assert (
        f"possible duplicate jobs: 1 create of 1 row lost its answer in this run, so the server may have run "
        f"(and billed) 1 job no answer named, which the cost shown does not include: `rowrelay status "
        f"{tmp_path}`"
    ) in "\n".join(said.messages)


def _orphans(held: dict[str, int]) -> pa.Table:
    """Rows' latest state, as far as `lost_this_run` reads it."""
    return pa.table({"row_key": list(held), "orphans": pa.array(list(held.values()), pa.int64())})


def test_a_runs_lost_answers_are_those_its_rows_counted_since_the_open() -> None:
    at_open = pa.table({"row_key": ["a", "b"], "orphans_at_open": pa.array([2, 1], pa.int64())})
    assert lost_this_run(at_open, _orphans({"a": 2, "b": 1, "c": 0})) == LostAnswers(0, 0)
    assert lost_this_run(at_open, _orphans({"a": 3, "b": 1, "c": 2})) == LostAnswers(3, 2)
    assert lost_this_run(at_open.slice(0, 0), _orphans({"a": 1})) == LostAnswers(1, 1)
