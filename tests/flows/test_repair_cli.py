"""A damaged state table through the real CLI: `status` and `export` refuse it in one line, `repair` sets
the damaged files aside and says what each row falls back to, and then everything reads and runs again."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.state import load
from rowrelay.tasks.state.files import DAMAGED, RUN_FILE, SEGMENTS
from rowrelay.tasks.state.lease import LEASE_TIMEOUT, Lease
from tests.support.cli import env_for, rowrelay
from tests.support.damage import planned_batch, truncate, wrong_type
from tests.support.tickets import TEMPLATE

ENV = dict(os.environ)


def refused(args: list[str]) -> str:
    """Run a command that must refuse: exit 2, one line on stderr, no traceback; returns that line."""
    result = rowrelay(args, ENV)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr.strip()


def listing(state: Path) -> set[str]:
    return {str(path.relative_to(state)) for path in state.rglob("*") if path.is_file()}


def test_status_and_export_refuse_a_damaged_table_naming_the_file_and_the_repair(tmp_path: Path) -> None:
    _, state, [_, last] = planned_batch(tmp_path)
    truncate(last)
    for args in (["status", str(state)], ["export", str(state), "--output", str(tmp_path / "x.csv")]):
        line = refused(args)
        assert line.startswith(f"error: {last}: torn, corrupt or of the wrong schema ("), line
        assert line.endswith(f"run `rowrelay repair {state}` to move damaged files aside "
                             "(`--dry-run` first shows which rows fall back to what)")  # fmt: skip
    assert not (tmp_path / "x.csv").exists()


def test_export_refuses_a_damaged_run_record_the_same_way(tmp_path: Path) -> None:
    _, state, _ = planned_batch(tmp_path)
    (state / RUN_FILE).write_text('{"output": ')
    line = refused(["export", str(state), "--output", str(tmp_path / "x.csv")])
    assert line.startswith(f"error: {state / RUN_FILE}: unreadable run record (")
    assert f"run `rowrelay repair {state}`" in line


def test_repair_says_what_each_row_falls_back_to_moves_only_without_dry_run(tmp_path: Path) -> None:
    _, state, damaged = planned_batch(tmp_path)
    for path in damaged:
        wrong_type(path)  # its key columns still read: the report is exact
    before = listing(state)
    dry = rowrelay(["repair", str(state), "--dry-run"], ENV)
    assert dry.returncode == 0, dry.stderr
    assert listing(state) == before  # nothing moved, no lease taken
    report = dry.stdout
    for path in damaged:
        assert f"{SEGMENTS}/{path.name}: torn, corrupt or of the wrong schema (" in report
    assert "5 rows lose their latest version: 3 fall back to an earlier one, 2 are absent" in report
    assert "2 were in flight, 1 of them may have a job on the server" in report
    rows = {
        line.split()[0]: line.split(None, 5)[1:] for line in report.splitlines() if line.startswith("  T-")
    }
    assert rows["T-00000"][:4] == ["in_progress", "->", "queued", "resp-0"]
    assert "the next run resumes it" in rows["T-00000"][4]
    assert rows["T-00001"] == ["completed", "->", "queued", "resp-1"]
    assert rows["T-00002"][:4] == ["submitting", "->", "pending", "-"]
    assert "a job may exist on the server" in rows["T-00002"][4]
    for key in ("T-00004", "T-00005"):
        assert rows[key][:3] == ["pending", "->", "absent"]
        assert "planned again as pending by the next run" in rows[key][4]
    assert f"dry run: nothing moved; `rowrelay repair {state}` moves 2 files" in report

    done = rowrelay(["repair", str(state)], ENV)
    assert done.returncode == 0, done.stderr
    said = report.splitlines()[:-1]
    assert done.stdout.splitlines()[: len(said)] == said  # the same report, then what was done
    assert f"moved 2 files into {state / DAMAGED}" in done.stdout
    assert not any(path.exists() for path in damaged)
    for path in damaged:
        assert (state / DAMAGED / SEGMENTS / f"{path.name}.damaged").exists()
    assert not (state / "leases" / "main.json").exists()  # the repair's lease is given back
    status = rowrelay(["status", str(state)], ENV)
    assert status.returncode == 0, status.stderr
    frame = load(state).set_index("row_key")
    assert frame["status"].to_dict() == {
        f"T-0000{n}": s for n, s in enumerate(["queued", "queued", "pending", "pending"])
    }
    assert frame.loc["T-00000", "response_id"] == "resp-0"


def test_repair_of_unreadable_files_lists_the_rows_it_can_from_the_input(tmp_path: Path) -> None:
    _, state, damaged = planned_batch(tmp_path)
    for path in damaged:
        truncate(path)
    result = rowrelay(["repair", str(state)], ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("its rows cannot be read") == 2
    said = " ".join(result.stdout.split())
    # T-00004 and T-00005 only the torn files held; the others show versions older than them, which may
    # not be their latest (T-00000 was in progress, T-00001 completed, T-00002 submitting).
    assert (
        "6 rows may have lost their latest version to what cannot be read: 2 no readable file holds, 4 show "
        "an older version that had not completed (0 `submitting`: a create went out, whose response id the "
        "lost version may have held); any of them may have a job on the server (paid for) that the table no "
        "longer names: the next run waits on the 2 holding a response id, creating nothing for them and "
        "sends again the 4 without one (a second job for any the lost version had sent)" in said
    )
    absent = [line.split()[0] for line in result.stdout.splitlines() if "? -> absent" in line]
    assert absent == ["T-00004", "T-00005"]
    listed = [line.split()[:4] for line in result.stdout.splitlines() if line.startswith("  T-")]
    older = [row for row in listed if row[3] != "absent"]
    assert older == [["T-00000", "?", "->", "queued"], ["T-00001", "?", "->", "queued"],
                     ["T-00002", "?", "->", "pending"], ["T-00003", "?", "->", "pending"]]  # fmt: skip
    notes = [line for line in result.stdout.splitlines() if "? -> absent" in line]
    assert all(
        "what it was cannot be read: if it was sent, a job may exist on the server" in n for n in notes
    )
    exported = rowrelay(["export", str(state), "--output", str(tmp_path / "x.csv")], ENV)
    assert exported.returncode == 0, exported.stderr
    out = pd.read_csv(tmp_path / "x.csv")
    assert list(out["ticket_id"]) == [f"T-0000{n}" for n in range(6)]
    # absent rows are exported as what the next run makes them: pending (the repair's report says so)
    assert list(out["rowrelay_status"]) == ["queued"] * 2 + ["pending"] * 4


def test_repair_sets_a_damaged_run_record_aside(tmp_path: Path) -> None:
    _, state, _ = planned_batch(tmp_path)
    (state / RUN_FILE).write_bytes(b"\x00\x01")
    result = rowrelay(["repair", str(state)], ENV)
    assert result.returncode == 0, result.stderr
    assert f"{RUN_FILE}: unreadable run record (" in result.stdout
    assert "the next `rowrelay run` writes it again" in result.stdout
    assert (state / DAMAGED / f"{RUN_FILE}.damaged").read_bytes() == b"\x00\x01"
    assert not (state / RUN_FILE).exists()


def test_repair_of_a_healthy_table_changes_nothing(tmp_path: Path) -> None:
    _, state, _ = planned_batch(tmp_path)
    before = listing(state)
    result = rowrelay(["repair", str(state)], ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"no damaged files in {state}: nothing to repair"
    assert listing(state) - before <= {"leases/main.lock"}


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_repair_refuses_while_a_live_runner_holds_the_lease(tmp_path: Path, dry_run: list[str]) -> None:
    _, state, [_, last] = planned_batch(tmp_path)
    truncate(last)
    lease = Lease.acquire(state, "main", timeout=LEASE_TIMEOUT, clock=time.time)  # this live process
    try:
        line = refused(["repair", str(state), *dry_run])
    finally:
        lease.release()
    assert f"writer 'main' is held by a live runner (host={lease.info.host} pid={os.getpid()} since=" in line
    assert line.endswith("a repair needs the batch to itself: let that run end (or stop it) first")
    assert last.exists()
    assert not (state / DAMAGED).exists()


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_after_a_repair_the_same_run_finishes_the_batch(prefect_env: dict[str, str], tmp_path: Path) -> None:
    source, state, [_, last] = planned_batch(tmp_path)
    truncate(last)
    args = ["run", str(source), "--template", TEMPLATE, "--id-column", "ticket_id", "--state", str(state),
            "--output", str(tmp_path / "out.csv")]  # fmt: skip
    with running_emulator(EmulatorConfig()) as emu:
        env = env_for(prefect_env, emu)
        assert rowrelay(["repair", str(state)], env).returncode == 0
        run = rowrelay(args, env)
        assert run.returncode == 0, run.stderr[-3000:]
    assert set(load(state)["status"]) == {"completed"}
    assert list(pd.read_csv(tmp_path / "out.csv")["rowrelay_status"]) == ["completed"] * 6


def test_a_deleted_segment_is_refused_by_name_and_repair_accepts_the_loss_knowingly(tmp_path: Path) -> None:
    """A deleted state file read as a smaller table: `status` exited 0 on the rows left, `export` wrote
    the rest empty and `run` sent again rows the lost file held, some already answered (paid twice)."""
    source, state, _ = planned_batch(tmp_path)
    first = state / SEGMENTS / "main-0000000001.parquet"  # T-00000..T-00003 planned; T-00003 only here
    first.unlink()
    said = (
        f"error: {state}: no state file holds version 1 of the table (a segment or snapshot deleted or "
        "lost): rows whose latest version was there would read as an older one, or be missing; run `rowrelay "
        f"repair {state}` to accept the loss knowingly (`--dry-run` first shows which rows may have lost "
        "their latest version, and may have a job on the server)"
    )
    nothing_started = {"ROWRELAY_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "sk-unused",
                       "ROWRELAY_PREFECT": "ephemeral", "ROWRELAY_HOME": str(tmp_path / "home")}  # fmt: skip
    run = ["run", str(source), "--template", TEMPLATE, "--id-column", "ticket_id", "--state", str(state),
           "--output", str(tmp_path / "out.csv")]  # fmt: skip
    for args, env in (
        (["status", str(state)], ENV),
        (["export", str(state), "--output", str(tmp_path / "x.csv")], ENV),
        (run, {**ENV, **nothing_started}),
    ):
        result = rowrelay(args, env)
        assert (result.returncode, result.stderr.strip()) == (2, said), result.stderr
    assert not (tmp_path / "x.csv").exists()
    assert not (tmp_path / "out.csv").exists()

    dry = rowrelay(["repair", str(state), "--dry-run"], ENV)
    assert dry.returncode == 0, dry.stderr
    assert "  version 1: held by no state file (a segment or snapshot deleted or lost)" in dry.stdout
    absent = [line.split()[:4] for line in dry.stdout.splitlines() if line.startswith("  T-")]
    assert absent == [["T-00003", "?", "->", "absent"]]
    assert f"dry run: nothing moved; `rowrelay repair {state}` accepts the loss of version 1" in dry.stdout
    assert not (state / DAMAGED).exists()

    done = rowrelay(["repair", str(state)], ENV)
    assert done.returncode == 0, done.stderr
    assert f"recorded the loss of version 1 as accepted, in {state / DAMAGED}" in done.stdout
    status = rowrelay(["status", str(state)], ENV)
    assert status.returncode == 0, status.stderr
    assert len(load(state)) == 5  # T-00003 is absent: the next run plans it again as pending
    assert (
        rowrelay(["repair", str(state)], ENV).stdout.strip()
        == f"no damaged files in {state}: nothing to repair"
    )
