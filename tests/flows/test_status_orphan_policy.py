"""`status` and `cancel` speak of the orphan policy the batch ran with, which `run.json` now records, not
of the shell's `ROWRELAY_ORPHAN_POLICY`. A batch run under `hold` and killed while its chat rows were on
the wire read, from a shell without the setting, "the next run ... sends those 3 rows again", and a
cancel from there noted them "it will be sent again". A real `--backend chat` run killed with SIGKILL
mid-send, the emulator over a real socket, status and cancel as a user runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import RUN_FILE, load
from tests.support.cli import IN_PROCESS, ROOT, env_for, rowrelay, run_args
from tests.support.tickets import write_tickets

ROWS = 3


def _all_submitting(state: Path) -> bool:
    if not (state / "batch.json").exists():
        return False
    return int(load(state)["status"].eq("submitting").sum()) == ROWS


@pytest.mark.timeout(400)
def test_a_batch_run_under_hold_is_said_held_from_a_shell_saying_resubmit(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    state, args = tmp_path / "state", [*run_args(source, tmp_path), "--backend", "chat"]
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as emu:
        env = env_for(prefect_env, emu, OPENAI_API_KEY="sk-emulated")  # the emulator checks none
        with (tmp_path / "run.log").open("wb") as log:
            run = subprocess.Popen(
                [*IN_PROCESS, *args], cwd=ROOT, env={**env, "ROWRELAY_ORPHAN_POLICY": "hold"}, stdout=log,
                stderr=log,
            )  # fmt: skip
        try:
            while not _all_submitting(state):  # a wait for the rows to be sent, not an assertion
                assert run.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
                time.sleep(0.1)
        finally:
            run.send_signal(signal.SIGKILL)  # as `kill -9`
            run.wait()
        elsewhere = {**env, "ROWRELAY_ORPHAN_POLICY": "resubmit"}
        status = rowrelay(["status", str(state)], elsewhere)
        cancel = rowrelay(["cancel", str(state)], elsewhere)
    assert status.returncode == 0, status.stderr[-3000:]
    said = " ".join(status.stdout.split())
    assert (
        f"the {ROWS} rows in flight with no response id (a --backend chat row never has one) cannot be "
        "waited on: the next run counts each as maybe sent (an attempt and an orphan) and holds those "
        f"{ROWS} rows for `rowrelay retry`"
    ) in said, said
    assert "sends those" not in said, said
    assert cancel.returncode == 0, cancel.stderr[-3000:]
    assert f"(it holds those {ROWS} rows for `rowrelay retry`" in " ".join(cancel.stdout.split()), (
        cancel.stdout
    )
    notes = set(load(state)["note"])
    assert len(notes) == 1, notes
    assert next(iter(notes)).endswith("; held for `rowrelay retry`"), notes
    assert json.loads((state / RUN_FILE).read_text())["orphan_policy"] == "hold"
