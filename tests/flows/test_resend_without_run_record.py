"""`--resend-edited` on a batch folder with no `run.json` (an older batch's, or one whose record was lost):
there is no spec to compare this run's `--template`, `--instructions` and `--prompt-column` with, so a run
with other instructions and the option took every row for an edited one, and sent and paid for each again.
Now, when every row the batch sent changed input (what another template or instructions does), the run is
refused before anything is sent; a few rows edited are still sent again alone."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from rowrelay.tasks.state.files import RUN_FILE
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.duplicates import jobs_of
from tests.support.tickets import write_tickets


def _counted(state: Path) -> dict[str, int]:
    frame = load(state)
    return dict(zip(frame["row_key"], frame["attempts"], strict=True))


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_other_instructions_with_no_run_record_are_refused_and_an_edit_is_still_resent(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source, state = write_tickets(tmp_path / "tickets.csv", 4), tmp_path / "state"
    keys = [f"T-{i:05d}" for i in range(4)]
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        env = env_for(prefect_env, emu)
        first = rowrelay(run_args(source, tmp_path), env)
        assert first.returncode == 0, first.stderr[-3000:]
        (state / RUN_FILE).unlink()  # an older batch's folder, or its record lost

        other = [*run_args(source, tmp_path), "--instructions", "Be terse.", "--resend-edited"]
        refused = rowrelay(other, env)
        assert refused.returncode == 2, refused.stderr[-3000:]
        said = " ".join(refused.stderr.split())
        assert (
            f"error: {state}: the batch has no spec on record: it holds no run.json (an older batch's "
            "folder, or its record lost), so this run's --template, --prompt-column and --instructions "
            "cannot be compared with the ones it ran with, and every one of the 4 rows it sent changed "
            "input (e.g. T-00000, T-00001, T-00002, "
            "T-00003), as another template or instructions would change them: --resend-edited would send, "
            "and pay for, each again"
        ) in said, said[-2000:]
        assert jobs_of(emu.url)[0] == Counter(dict.fromkeys(keys, 1))  # nothing sent
        assert _counted(state) == dict.fromkeys(keys, 1)

        frame = pd.read_csv(source, dtype=str)
        frame.loc[2, "body"] = "Edited: the refund never came."
        frame.to_csv(source, index=False)
        edited = rowrelay([*run_args(source, tmp_path), "--resend-edited"], env)
        assert edited.returncode == 0, edited.stderr[-3000:]
        jobs, _ = jobs_of(emu.url)
        assert jobs == Counter({key: 2 if key == "T-00002" else 1 for key in keys})
        assert _counted(state) == dict(jobs)  # each row's jobs are the creates it counted
