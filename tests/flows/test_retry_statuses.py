"""`rowrelay retry --status`: what it accepts, said in its help and in its refusals, on a batch whose rows
failed against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import rowrelay
from rowrelay.flows.cli import app
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.state import load
from tests.support.clock import ManualClock
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.finished_batch import finished_batch
from tests.support.killed_mid_send import killed_mid_send

ACCEPTED = "failed, incomplete, cancelled, expired, orphaned"


@pytest.fixture
def failed_batch(tmp_path: Path) -> Path:
    """Three rows, every one failed (the server fails every response)."""
    with running_emulator(EmulatorConfig(fail_rate=1.0)) as emu:
        state = finished_batch(emu, tmp_path, 3)
    assert load(state)["status"].tolist() == ["failed"] * 3
    return state


@pytest.mark.parametrize("named", ["", " , ", ","])
def test_a_status_option_naming_no_status_is_refused_naming_what_it_takes(
    failed_batch: Path, named: str
) -> None:
    """`--status ''` said "no row is : nothing to make eligible again" and exited 0."""
    refused = CliRunner().invoke(app, ["retry", str(failed_batch), "--status", named])
    assert (refused.exit_code, refused.stdout) == (2, "")
    assert refused.stderr == f"error: --status names no status: give one or more of {ACCEPTED}\n"
    assert load(failed_batch)["status"].tolist() == ["failed"] * 3
    nothing: str | list[str]
    for nothing in (named, []):
        with pytest.raises(UsageError, match=r"^status names no status"):  # its parameter, from Python
            rowrelay.retry(failed_batch, nothing)


def test_the_help_lists_the_statuses_it_takes_cancelled_among_them(failed_batch: Path) -> None:
    """It said "Statuses to make eligible again.", and its default left out cancelled, which it takes."""
    shown = CliRunner().invoke(app, ["retry", "--help"])
    said = " ".join(shown.stdout.replace("│", " ").split())  # the help box's lines, as one text
    assert f"comma-separated, any of {ACCEPTED} (cancelled rows, stopped on request, only when named)" in said
    made = CliRunner().invoke(app, ["retry", str(failed_batch), "--status", "cancelled,failed"])
    assert (made.exit_code, made.stdout) == (
        0,
        "3 rows made eligible again; run the batch again to send them\n",
    )
    assert load(failed_batch)["status"].tolist() == ["pending"] * 3


async def test_retrying_orphaned_rows_says_their_creates_that_got_no_answer(tmp_path: Path) -> None:
    """`retry` on orphaned rows said only "made eligible again": a trial retried rows already paid for three
    times each without a word of it, the decision being the person's at that command."""
    state = tmp_path / "state"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30")), clock=ManualClock()) as emu:
        sending = await killed_mid_send(state, emu.url, held=1, sending=2, output=tmp_path / "out.csv")
        started, unanswered = jobs_of(emu.url)
    made = CliRunner().invoke(app, ["retry", str(state), "--status", "orphaned"])
    assert (made.exit_code, made.stdout) == (
        0,
        "2 rows made eligible again; run the batch again to send them (2 of their earlier creates got no"
        " answer: those jobs may have run and been billed, and sending them again may pay twice)\n",
    )
    frame = load(state)
    assert frame.set_index("row_key").loc[sending, "status"].tolist() == ["pending"] * 2
    assert_every_job_is_paid_for(frame, started, unanswered)  # the two lost creates are each row's orphan
