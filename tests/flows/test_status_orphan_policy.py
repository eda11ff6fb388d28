"""`status` and `cancel` speak of the orphan policy the batch ran with, which `run.json` now records, not
of the shell's `ROWRELAY_ORPHAN_POLICY`. A batch run under `hold` and killed while its chat rows were on
the wire read, from a shell without the setting, "the next run ... sends those 3 rows again", and a
cancel from there noted them "it will be sent again". A real `--backend chat` run killed with SIGKILL
mid-send, the emulator over a real socket, status and cancel as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rowrelay.tasks.state import RUN_FILE, load
from tests.support.cli import rowrelay
from tests.support.killed_chat_batch import chat_batch_killed_while_sending

ROWS = 3


@pytest.mark.timeout(400)
def test_a_batch_run_under_hold_is_said_held_from_a_shell_saying_resubmit(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    hold = {"ROWRELAY_ORPHAN_POLICY": "hold"}
    with chat_batch_killed_while_sending(prefect_env, tmp_path, ROWS, hold) as (state, env, _):
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
