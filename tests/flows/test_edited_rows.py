"""A batch resumed over an input edited since it was planned, through the installed `rowrelay`, against
the emulator over a real socket: a row never sent takes its edit and is sent once, as edited; a row a
create was sent for is refused before anything starts; no completed row is sent, or paid for, again."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import creates_per_row
from tests.support.tickets import write_tickets


def _asked(emu: RunningEmulator) -> dict[str, str]:
    """The text each row's create sent, by row key (one create a row, or the test says otherwise)."""
    sent: dict[str, str] = {}
    for record in emu.emulator.records.values():
        body = record.body
        text = body["input"] if isinstance(body["input"], str) else json.dumps(body["input"])
        sent[body["metadata"]["rowrelay_row"]] = text
    return sent


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_row_edited_before_it_was_sent_is_sent_as_edited_and_no_completed_row_again(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """`--limit 4`, then a pending row's text is edited and the batch resumed: it was refused ('1 row
    changed input since this batch was planned'), and the way out it named, a new --state, sent and
    paid for the four completed rows again. A completed row edited is still refused, before anything
    is sent."""
    source = write_tickets(tmp_path / "tickets.csv", 10)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        env = env_for(prefect_env, emu)
        trial = rowrelay([*run_args(source, tmp_path), "--limit", "4"], env)
        assert trial.returncode == 0, trial.stderr[-3000:]
        frame = pd.read_csv(source, dtype=str)
        frame.loc[7, "body"] = "Edited: my parcel came twice."
        frame.to_csv(source, index=False)
        whole = rowrelay(run_args(source, tmp_path), env)
        assert whole.returncode == 0, whole.stderr[-3000:]
        assert (
            "1 row never sent took its edited input, and is sent as edited (e.g. T-00007)\n" in whole.stderr
        )
        jobs, unanswered = jobs_of(emu.url)
        assert jobs == Counter({f"T-{i:05d}": 1 for i in range(10)})
        assert "Edited: my parcel came twice." in _asked(emu)["T-00007"]
        state = load(tmp_path / "state")
        assert_every_job_is_paid_for(state, jobs, unanswered)
        out = pd.read_csv(tmp_path / "out.csv", dtype=str)
        assert set(out["rowrelay_status"]) == {"completed"}
        assert out.loc[7, "body"] == "Edited: my parcel came twice."

        frame.loc[1, "body"] = "Edited after it was answered."
        frame.to_csv(source, index=False)
        refused = rowrelay(run_args(source, tmp_path), env)
        assert refused.returncode == 2, refused.stderr[-3000:]
        assert refused.stderr.strip().splitlines()[-1] == (
            "error: 1 row changed input since this batch sent it (e.g. T-00001); use a new --state "
            "directory for the new input, or restore the old one, or --resend-edited to send only it "
            "again, as edited (paid for again)"
        )
        assert creates_per_row(emu) == Counter({f"T-{i:05d}": 1 for i in range(10)})  # nothing sent


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_row_failed_for_its_empty_prompt_is_sent_once_filled_in(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """A JSONL row with no text fails unsent (`bad_input`); filled in, the resume sends it, and only
    it: it was refused as a changed input, which only a new --state (every row paid again) got past."""
    source = tmp_path / "asks.jsonl"
    asks = [{"id": "a", "text": "Say hello."}, {"id": "b", "text": ""}, {"id": "c", "text": "Say bye."}]
    source.write_text("".join(json.dumps(row) + "\n" for row in asks))
    args = ["run", str(source), "--prompt-column", "text", "--id-column", "id", "--state",
            str(tmp_path / "state"), "--output", str(tmp_path / "out.jsonl")]  # fmt: skip
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        env = env_for(prefect_env, emu)
        first = rowrelay(args, env)
        assert first.returncode == 1, first.stderr[-3000:]  # a row did not complete
        assert load(tmp_path / "state").set_index("row_key").loc["b", "error_type"] == "bad_input"
        asks[1]["text"] = "Say it again."
        source.write_text("".join(json.dumps(row) + "\n" for row in asks))
        exported = rowrelay(["export", str(tmp_path / "state"), "--output", str(tmp_path / "now.jsonl")], env)
        assert exported.returncode == 0, exported.stderr
        assert exported.stdout.startswith(
            "1 row never sent changed since the batch ran (e.g. b): written as pending; the next run sends "
            "it as edited\n"
        )
        now = [json.loads(line) for line in (tmp_path / "now.jsonl").read_text().splitlines()]
        assert (now[1]["text"], now[1]["rowrelay_status"], now[1]["error"]) == (
            "Say it again.",
            "pending",
            None,
        )
        again = rowrelay(args, env)
        assert again.returncode == 0, again.stderr[-3000:]
        jobs, unanswered = jobs_of(emu.url)
        assert jobs == Counter({"a": 1, "b": 1, "c": 1})
        assert "Say it again." in _asked(emu)["b"]
        assert_every_job_is_paid_for(load(tmp_path / "state"), jobs, unanswered)
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row["rowrelay_status"] for row in out] == ["completed"] * 3
