"""`rowrelay repair` of a batch killed while it sent edited rows again (`--resend-edited`): a completed row
was never written again, so the repair left completed rows out of those whose latest version a torn
segment may have held; a resend writes one again, and its create (a second job, paid for) was lost with
the segment while the repair said no row may have a job on the server."""

from __future__ import annotations

import os
from pathlib import Path

from rowrelay.tasks.dataset import InputSpec, prepare, read_input
from rowrelay.tasks.run import RowPolicy, plan_batch
from rowrelay.tasks.state import StateTable, load
from rowrelay.tasks.state.files import SEGMENTS
from rowrelay.tasks.state.resent import RESENT_FILE
from tests.support.cli import rowrelay
from tests.support.damage import truncate
from tests.support.state import FakeClock
from tests.support.tickets import TEMPLATE, write_tickets

ENV = dict(os.environ)
SPEC = InputSpec(template=TEMPLATE, id_column="ticket_id")


def _plan(table: StateTable, source: Path, *, resend: bool = False) -> None:
    plan_batch(table, prepare(read_input(source), SPEC), RowPolicy("b", "m"), 10, resend_edited=resend)


def _answer(state: Path, keys: list[str], clock: FakeClock, attempt: int) -> None:
    with StateTable.open(state, clock=clock) as table:
        for key in keys:
            table.transition(key, "submitting")
            table.transition(key, "queued", response_id=f"resp-{key}-{attempt}", attempts=attempt)
            table.transition(key, "completed", output_text="done")


def _listed(report: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:4] for line in report.splitlines() if line.startswith("  T-")}


def test_a_resent_row_whose_create_was_torn_may_have_a_job_and_no_other_completed_row_is_listed(
    tmp_path: Path,
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 6)
    state, clock = tmp_path / "state", FakeClock()
    with StateTable.open(state, clock=clock) as table:
        _plan(table, source)
    _answer(state, [f"T-0000{i}" for i in range(6)], clock, attempt=1)  # the batch ran: 1 job a row
    before = {path.name for path in (state / SEGMENTS).glob("*.parquet")}
    text = source.read_text().replace("Problem number 1,", "Problem number one,")
    source.write_text(text)  # a typo fixed in T-00001, sent again with --resend-edited ...
    table = StateTable.open(state, clock=clock)
    _plan(table, source, resend=True)
    table.transition("T-00001", "submitting")
    table.transition("T-00001", "queued", response_id="resp-T-00001-2", attempts=2)  # its second job
    table.flush()
    table.lease.release()  # ... and the run killed: no compaction, no close
    torn = sorted({path.name for path in (state / SEGMENTS).glob("*.parquet")} - before)
    assert torn
    for name in torn:
        truncate(state / SEGMENTS / name)

    result = rowrelay(["repair", str(state), "--dry-run"], ENV)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert (
        "1 rows may have lost their latest version to what cannot be read: 0 no readable file holds (and "
        "others not counted), 1 show an older version (0 `submitting`: a create went out, whose response id "
        "the lost version may have held; 1 `completed`, then sent again for an edited input "
        "(--resend-edited), whose new create the lost version may have held); any of them may have a job "
        "on the server (paid for)"
    ) in said, result.stdout
    assert _listed(result.stdout) == {"T-00001": ["?", "->", "completed"]}  # the 5 others never resent


def test_a_note_that_does_not_say_what_a_row_was_resent_as_is_said_and_the_count_left(tmp_path: Path) -> None:
    """A note of an older rowrelay holds the resent keys, not their edited text: the repair cannot tell a
    lost resend from a readable one, so it writes nothing of the row and says that it cannot."""
    source = write_tickets(tmp_path / "tickets.csv", 3)
    state, clock = tmp_path / "state", FakeClock()
    with StateTable.open(state, clock=clock) as table:
        _plan(table, source)
    _answer(state, ["T-00000", "T-00001", "T-00002"], clock, attempt=1)
    before = {path.name for path in (state / SEGMENTS).glob("*.parquet")}
    source.write_text(source.read_text().replace("Problem number 1,", "Problem number one,"))
    table = StateTable.open(state, clock=clock)
    _plan(table, source, resend=True)
    table.transition("T-00001", "submitting")
    table.flush()
    table.lease.release()
    for name in {path.name for path in (state / SEGMENTS).glob("*.parquet")} - before:
        truncate(state / SEGMENTS / name)
    (state / RESENT_FILE).write_text('{"keys": ["T-00001"], "unknown": false}')  # an older rowrelay's

    result = rowrelay(["repair", str(state)], ENV)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert (
        f"1 row `completed` may have been sent again for an edited input (e.g. T-00001), and "
        f"{state / RESENT_FILE} does not say under what text: a repair cannot tell whether that create was "
        "lost, and leaves their counts as they are"
    ) in said, result.stdout
    assert "counted 1 row whose resend" not in said
    row = load(state).set_index("row_key").loc["T-00001"]
    assert (row["status"], row["attempts"]) == ("completed", 1)
