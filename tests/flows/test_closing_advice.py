"""The run's closing advice for rows that did not complete: `rowrelay retry` for rows a retry sends again,
and for rows failed for their own input (`bad_input`, never sent), to fix the input, which the same
command then sends, with no retry (a retry of such a row with its input unchanged only fails it again)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.records import rows
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of

_FIX = (
    "1 row failed for its own input, never sent (bad_input: an empty prompt, a file that cannot be read): "
    "fix it in the input and run the same command, which sends it as edited, with no retry (for a file put "
    "back under the same name: `rowrelay retry {state}`)"
)


def test_rows_failed_for_their_input_are_told_to_fix_it_and_the_others_to_retry(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source, state = tmp_path / "asks.jsonl", tmp_path / "state"
    asks = [{"id": f"r{i}", "text": f"Say {i}."} for i in range(8)]
    asks[1]["text"] = ""
    source.write_text("".join(json.dumps(row) + "\n" for row in asks))
    args = ["run", str(source), "--prompt-column", "text", "--id-column", "id", "--state", str(state),
            "--output", str(tmp_path / "out.jsonl")]  # fmt: skip
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), fail_rate=0.5, seed=3)
    with running_emulator(config) as emu:
        env = env_for(prefect_env, emu, ROWRELAY_MAX_ATTEMPTS="1")
        first = rowrelay(args, env)
        assert first.returncode == 1, first.stderr[-3000:]
        frame = load(state).set_index("row_key")
        assert frame.loc["r1", "error_type"] == "bad_input"
        others = int((frame["status"] == "failed").sum()) - 1
        assert others > 0  # the emulator failed some rows it was sent
        said = f"some rows did not complete: see `rowrelay status {state}`; {_FIX.format(state=state)}"
        assert (
            f"{said}; `rowrelay retry {state}` makes the other {rows(others)} eligible again\n"
            in first.stderr
        )
        asks[1]["text"] = "Say it now."  # as the line says: fixed, and the same command
        source.write_text("".join(json.dumps(row) + "\n" for row in asks))
        rowrelay(args, env)
        jobs, unanswered = jobs_of(emu.url)
        assert jobs["r1"] == 1  # sent, with no retry
        assert_every_job_is_paid_for(load(state), jobs, unanswered)


def test_with_only_rows_failed_for_their_input_no_retry_is_advised() -> None:
    from rowrelay.flows.batch_result import BatchResult
    from rowrelay.flows.closing_summary import closing_summary

    said = io.StringIO()
    result = BatchResult("b", "st", "out.jsonl", {"completed": 2, "failed": 1}, "emulator", None, bad_input=1)
    assert closing_summary(Console(file=said, width=80), result) == 1
    assert said.getvalue().endswith(
        f"some rows did not complete: see `rowrelay status st`; {_FIX.format(state='st')}\n"
    ), said.getvalue()
    assert "eligible again" not in said.getvalue()
