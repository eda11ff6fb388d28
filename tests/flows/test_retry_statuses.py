"""`rowrelay retry --status`: what it accepts, said in its help and in its refusals, on a batch whose rows
failed against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import rowrelay
from rowrelay.flows.cli import app
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.state import load
from tests.support.finished_batch import finished_batch

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
        with pytest.raises(UsageError, match=r"^--status names no status"):
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
