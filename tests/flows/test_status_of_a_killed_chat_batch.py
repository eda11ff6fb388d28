"""`rowrelay status` on a `--backend chat` batch whose run was killed says what the next run does with its
rows in flight. It said "the 64 rows in flight wait for the next run": a chat row has no response id, so
nothing can wait on it; the next run counts each as maybe sent (an attempt and an orphan) and sends it
again (`state.orphans`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.state import load
from tests.support.cli import rowrelay
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.killed_chat_batch import chat_batch_killed_while_sending

ROWS = 3


@pytest.mark.timeout(400)
def test_status_of_a_killed_chat_batch_says_its_rows_are_sent_again_not_waited_on(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    with chat_batch_killed_while_sending(prefect_env, tmp_path, ROWS) as (state, env, emu):
        status = rowrelay(["status", str(state)], env)
        jobs, unanswered = jobs_of(emu.url)
    assert status.returncode == 0, status.stderr[-3000:]
    said = " ".join(status.stdout.split())
    assert (
        f"the {ROWS} rows in flight with no response id (a --backend chat row never has one) cannot be "
        "waited on: the next run counts each as maybe sent (an attempt and an orphan) and sends those "
        f"{ROWS} rows again within their attempts"
    ) in said, said
    assert "wait for the next run" not in said, said
    assert_every_job_is_paid_for(load(state), jobs, unanswered)
