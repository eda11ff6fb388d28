"""`--resend-edited` on a batch whose `run.json` names no spec (an older release's record, or one edited):
the refusal of a run in which every row the batch sent changed input said the batch "holds no run.json",
though it holds one; it says there is no spec on record, and which options the record does not name. A
record that names a template but no instructions is refused alike (it let other instructions send, and
pay for, every row again). Each row's server jobs stay its attempts. Against the emulator over a real
socket."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.state import load
from rowrelay.tasks.state.files import RUN_FILE
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.tickets import TEMPLATE, write_tickets

ROWS = 3


@pytest.mark.parametrize(
    ("unrecorded", "said"),
    [
        (
            ["template", "prompt_column", "instructions"],
            "its run.json records no template, prompt_column or instructions (an older release's "
            "record, or one edited), so this run's template, prompt_column and instructions cannot "
            "be compared",
        ),
        (["instructions"], "its run.json records no instructions (an older release's record, or one "),
    ],
)
async def test_a_record_naming_no_spec_is_refused_as_no_spec_on_record_naming_what_it_lacks(
    prefect_api: str,
    tmp_path: Path,
    emulator: RunningEmulator,
    unrecorded: list[str],
    said: str,
) -> None:
    from rowrelay.flows.batch import run_batch

    source, state = write_tickets(tmp_path / "tickets.csv", ROWS), tmp_path / "state"
    arguments = {
        "template": TEMPLATE,
        "id_column": "ticket_id",
        "state": str(state),
        "output": str(tmp_path / "out.csv"),
        "backend": "emulator",
        "base_url": emulator.url,
    }
    await run_batch(str(source), **arguments)
    record = json.loads((state / RUN_FILE).read_text())
    record["spec"] = {name: value for name, value in record["spec"].items() if name not in unrecorded}
    (state / RUN_FILE).write_text(json.dumps(record))

    with pytest.raises(UsageError) as refused:
        await run_batch(str(source), **arguments, instructions="Be terse.", resend_edited=True)
    words = " ".join(str(refused.value).split())
    assert f"{state}: the batch has no spec on record: {said}" in words, words
    assert "holds no run.json" not in words
    rows = load(state)
    jobs, unanswered = jobs_of(emulator.url)
    assert jobs == Counter(dict.fromkeys(rows["row_key"], 1))  # nothing sent again
    assert rows["attempts"].tolist() == [1] * ROWS
    assert_every_job_is_paid_for(rows, jobs, unanswered)
