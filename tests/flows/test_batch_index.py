"""The same `rowrelay run` from another folder: its default state is under the working folder, so the
command named a new batch and sent every row again, paid twice, without a word (a cron job runs from
$HOME; a user `cd`s elsewhere to resume). Now the index of default states (flows/batch_index.py) finds
the batch begun elsewhere and the run is refused before anything is sent."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from rowrelay.flows.batch_index import batches_of, note_batch
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import rowrelay
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.runs import creates_per_row
from tests.support.tickets import TEMPLATE, write_tickets


def test_the_same_command_from_another_folder_is_refused_naming_the_batch_begun_in_the_first(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """On a paid server (the emulator's address with a key, as an OpenAI-compatible one): the run from
    the second folder sent all 6 rows again (12 jobs). Now it exits 2 in one line, makes no state, and
    sends nothing; resumed there with --state, it sends nothing again either. An edited input from the
    second folder is refused as earlier_batches refuses one beside its batch."""
    source = write_tickets(tmp_path / "tickets.csv", 6)
    first_folder, second_folder = tmp_path / "cwdA", tmp_path / "cwdB"
    first_folder.mkdir()
    second_folder.mkdir()
    args = ["run", str(source), "--id-column", "ticket_id", "--template", TEMPLATE]
    with running_emulator(EmulatorConfig()) as emu:
        env = {**prefect_env, "ROWRELAY_BACKEND": "openai", "ROWRELAY_BASE_URL": emu.url}
        env["OPENAI_API_KEY"] = "sk-test"
        first = rowrelay(args, env, cwd=first_folder)
        assert first.returncode == 0, first.stderr
        [earlier] = (first_folder / "data" / "state").iterdir()
        earlier = earlier.resolve()
        again = rowrelay(args, env, cwd=second_folder)
        jobs_after_refusal = creates_per_row(emu)
        made = list(second_folder.iterdir())
        resumed = rowrelay([*args, "--state", str(earlier)], env, cwd=second_folder)
        jobs = creates_per_row(emu)
        write_tickets(source, 8)  # two rows added: the earlier batch sent the first six
        edited = rowrelay(args, env, cwd=second_folder)
        assert creates_per_row(emu) == jobs
    assert again.returncode == 2, again.stderr
    assert again.stdout == ""
    assert again.stderr.splitlines() == [
        f"error: 6 rows of this input were already sent by {earlier}, a batch of tickets.csv, begun from "
        f"{first_folder.resolve()}; from this folder, the same input gets a new default state "
        f"(data/state/{earlier.name}) that would send them again, paid twice: resume that batch with "
        f"--state {earlier} or run from {first_folder.resolve()}, or pass --state NEW_DIR to send them "
        "again"
    ]
    assert made == []  # no state, no output
    assert sorted(jobs_after_refusal.values()) == [1] * 6
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(jobs.values()) == [1] * 6
    assert_every_job_is_paid_for(load(earlier), jobs, Counter())
    assert edited.returncode == 2, edited.stderr
    [line] = edited.stderr.splitlines()
    assert line.startswith(
        f"error: 6 rows of this input were already sent by {earlier}, a batch of tickets.csv before it "
        f"changed, begun from {first_folder.resolve()}; as changed, the input gets a new default state "
    ), line
    assert line.endswith(
        f"resume that batch over the changed input with --state {earlier} (rows are matched by key; new "
        "rows are planned), or pass --state NEW_DIR to send them again"
    ), line
    assert not (second_folder / "data" / "state").exists()


def test_the_index_lists_only_batches_that_exist_and_a_damaged_one_fails_nothing(tmp_path: Path) -> None:
    """The index only helps a run: a torn or foreign note is skipped, a batch whose state directory was
    deleted is not named, and a home that cannot be written leaves the run without its note."""
    home, states = tmp_path / "home", tmp_path / "states"
    kept, deleted, other = states / "t-0000000001", states / "t-0000000002", states / "u-0000000003"
    for state in (kept, other):
        state.mkdir(parents=True)
    note_batch(home, kept, "/in/t.csv", "f1", relative=True)
    note_batch(home, deleted, "/in/t.csv", "f2", relative=False)
    note_batch(home, other, "/in/u.csv", "f3", relative=True)
    note_batch(home, kept, "/in/t.csv", "f1", relative=True)  # run again: the same note, not a second
    notes = home / "batches"
    assert len(list(notes.iterdir())) == 3
    (notes / "torn.json").write_text('{"state_dir": "/x')
    (notes / "foreign.json").write_text(json.dumps(["not", "a", "note"]))
    (notes / "relative.json").write_text(json.dumps({"state_dir": "data/state/t", "fingerprint": "f1"}))
    [found] = batches_of(home, "/in/t.csv", "none")
    assert (found.state_dir, found.folder, found.input, found.fingerprint) == (
        kept,
        Path.cwd(),
        "/in/t.csv",
        "f1",
    )
    assert [batch.state_dir for batch in batches_of(home, None, "f3")] == [other]  # by contents alone
    assert batches_of(tmp_path / "no-home", "/in/t.csv", "f1") == []
    unwritable = tmp_path / "file-home"
    unwritable.write_text("a file where the home should be")
    note_batch(unwritable, kept, "/in/t.csv", "f1", relative=True)  # no error: the run goes on


def test_a_copy_of_the_input_in_the_same_folder_is_refused_naming_the_batch_of_the_original(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """The same rows under another name (a copied file; a DataFrame of the file, whose default state is
    named `dataframe-...`) get a default state of their own beside the first: the run sent every row
    again, paid twice, as neither the states of the same name beside it nor the index's batches of other
    folders covered it. On a paid server (the emulator's address with a key) it is refused in one line."""
    source = write_tickets(tmp_path / "tickets.csv", 5)
    copy = tmp_path / "tickets-copy.csv"
    copy.write_bytes(source.read_bytes())
    folder = tmp_path / "cwd"
    folder.mkdir()
    args = ["--id-column", "ticket_id", "--template", TEMPLATE]
    with running_emulator(EmulatorConfig()) as emu:
        env = {**prefect_env, "ROWRELAY_BACKEND": "openai", "ROWRELAY_BASE_URL": emu.url}
        env["OPENAI_API_KEY"] = "sk-test"
        first = rowrelay(["run", str(source), *args], env, cwd=folder)
        assert first.returncode == 0, first.stderr
        [earlier] = (folder / "data" / "state").iterdir()
        again = rowrelay(["run", str(copy), *args], env, cwd=folder)
        jobs = creates_per_row(emu)
    earlier = earlier.resolve()
    assert again.returncode == 2, again.stderr
    assert again.stdout == ""
    [line] = again.stderr.splitlines()
    assert line.startswith(
        f"error: 5 rows of this input were already sent by {earlier}, a batch of the same contents under "
        "another name; as tickets-copy.csv, they get a new default state (data/state/tickets-copy-"
    ), line
    assert line.endswith(
        f"resume that batch with --state {earlier}, or pass --state NEW_DIR to send them again"
    ), line
    assert sorted(jobs.values()) == [1] * 5
    assert [path.name for path in (folder / "data" / "state").iterdir()] == [earlier.name]
