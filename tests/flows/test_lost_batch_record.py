"""A batch whose batch.json is damaged or lost is not a dead end: every command names `rowrelay repair`,
which writes it again (the batch's id from what the damaged file still says, else the folder's name), and
the batch resumes with every row's state kept. Before, a damaged one left run, retry and cancel refusing
with no way out while repair found nothing to repair, and a lost one sent the user to a new folder, where
every row would have been paid for again."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from rowrelay.tasks.state import load
from rowrelay.tasks.state.batch import rebuilt_batch
from rowrelay.tasks.state.files import BATCH_FILE, DAMAGED
from tests.support.cli import rowrelay
from tests.support.damage import planned_batch
from tests.support.tickets import TEMPLATE

ENV = dict(os.environ)


def _one_line(args: list[str], env: dict[str, str] = ENV) -> str:
    result = rowrelay(args, env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("WARNING")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _run(source: Path, state: Path, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """`rowrelay run` of the batch, on a server and Prefect API for which nothing starts here."""
    env = {**ENV, "ROWRELAY_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "sk-unused",
           "ROWRELAY_PREFECT": "ephemeral", "ROWRELAY_HOME": str(tmp_path / "home")}  # fmt: skip
    args = ["run", str(source), "--template", TEMPLATE, "--id-column", "ticket_id", "--state", str(state),
            "--output", str(tmp_path / "out.csv")]  # fmt: skip
    return args, env


def test_a_damaged_batch_record_names_the_repair_which_writes_it_again(tmp_path: Path) -> None:
    source, state, _ = planned_batch(tmp_path)
    before = load(state)
    (state / BATCH_FILE).write_text('{"batch_id": "tickets-2024", "creat')  # torn mid-write
    said = (
        f"error: {state / BATCH_FILE}: unreadable batch file (Unterminated string starting at: line 1 column "
        f"30 (char 29)); run `rowrelay repair {state}` to write it again (no row's state is in it: every "
        "row, and the responses already paid for, are kept)"
    )
    run, env = _run(source, state, tmp_path)
    for args, env_ in ((["retry", str(state)], ENV), (["cancel", str(state)], ENV), (run, env)):
        assert _one_line(args, env_) == said, args

    dry = rowrelay(["repair", str(state), "--dry-run"], ENV)
    assert dry.returncode == 0, dry.stderr
    assert f"  {BATCH_FILE}: unreadable batch file (" in dry.stdout
    assert f"`rowrelay repair {state}` moves 1 file, writes {BATCH_FILE} again" in dry.stdout
    done = rowrelay(["repair", str(state)], ENV)
    assert done.returncode == 0, done.stderr
    assert f"wrote {BATCH_FILE} again: batch 'tickets-2024' (what the damaged file still says)" in done.stdout
    assert (state / DAMAGED / f"{BATCH_FILE}.damaged").read_text() == '{"batch_id": "tickets-2024", "creat'
    assert json.loads((state / BATCH_FILE).read_text())["batch_id"] == "tickets-2024"
    assert load(state).equals(before)  # every row as it was
    retried = rowrelay(["retry", str(state)], ENV)  # a writer opens it again
    assert retried.returncode == 0, retried.stderr


def test_a_lost_batch_record_is_not_taken_for_someone_elses_folder(tmp_path: Path) -> None:
    source, state, _ = planned_batch(tmp_path)
    before = load(state)
    (state / BATCH_FILE).unlink()
    lost = (
        f"{BATCH_FILE} is missing, but the folder holds a batch's state table: run `rowrelay repair {state}` "
        "to write it again, then run this again (every row's state, and the responses already paid for, are "
        "kept)"
    )
    for args in (["status", str(state)], ["export", str(state), "--output", str(tmp_path / "x.csv")],
                 ["retry", str(state)], ["cancel", str(state)]):  # fmt: skip
        assert _one_line(args) == f"error: {state}: {lost}", args
    run, env = _run(source, state, tmp_path)
    assert _one_line(run, env) == f"error: --state {state}: {lost}"

    done = rowrelay(["repair", str(state)], ENV)
    assert done.returncode == 0, done.stderr
    assert f"  {BATCH_FILE}: missing, though the folder holds the batch's state table" in done.stdout
    assert f"wrote {BATCH_FILE} again: batch 'state' (the folder's name" in done.stdout
    status = rowrelay(["status", str(state)], ENV)
    assert status.returncode == 0, status.stderr
    assert load(state).equals(before)


@pytest.mark.parametrize(
    ("damaged", "batch_id", "created_at"),
    [
        (
            b'{"batch_id": "b1", "created_at": "2026-01-02T03:04:05+00:00", "sch',
            "b1",
            "2026-01-02T03:04:05+00:00",
        ),
        (b'{"batch_\x00\x00', "folder", "2025-06-15T15:06:40+00:00"),
        (b"", "folder", "2025-06-15T15:06:40+00:00"),
    ],
    ids=["torn-late", "torn-early", "lost"],
)
def test_a_rebuilt_record_keeps_what_the_damaged_one_still_says(
    tmp_path: Path, damaged: bytes, batch_id: str, created_at: str
) -> None:
    first = datetime.fromisoformat("2025-06-15T15:06:40+00:00")
    record, _ = rebuilt_batch(tmp_path / "folder", damaged, first)
    assert (record["batch_id"], record["created_at"]) == (batch_id, created_at)
