"""An earlier batch of a changed input whose last run read another file: it was passed over, and every row
was sent again, paid twice, without a word (a trial). Its run.json names only the file of its last run,
and the check of earlier batches asked for the same path: a batch resumed once from a Parquet copy of its
CSV, or last night's export at another dated path, was not this input's. Now the rows' input hashes
decide, whatever file the batch read, and the index keeps every file a batch ran from.

On a paid server (the emulator's address with a key, as an OpenAI-compatible one): on the emulator a
changed input is a batch of its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rowrelay.tasks.emulator import EmulatorConfig, RunningEmulator, running_emulator
from tests.support.cli import rowrelay
from tests.support.runs import creates_per_row
from tests.support.tickets import TEMPLATE, write_tickets

_ARGS = ["--id-column", "ticket_id", "--template", TEMPLATE]


@dataclass(frozen=True)
class _Paid:
    emu: RunningEmulator
    env: dict[str, str]

    def run(self, source: Path, cwd: Path, *more: str) -> tuple[int, str]:
        done = rowrelay(["run", str(source), *_ARGS, *more], self.env, cwd=cwd)
        return done.returncode, done.stderr


@contextmanager
def _paid_server(prefect_env: dict[str, str]) -> Iterator[_Paid]:
    with running_emulator(EmulatorConfig()) as emu:
        env = {**prefect_env, "ROWRELAY_BACKEND": "openai", "ROWRELAY_BASE_URL": emu.url}
        env["OPENAI_API_KEY"] = "sk-test"
        yield _Paid(emu, env)


def _parquet_copy(source: Path) -> Path:
    copy = source.with_suffix(".parquet")
    pd.read_csv(source, dtype=str).to_parquet(copy)
    return copy


def _refused_line(code: int, stderr: str) -> str:
    assert code == 2, stderr
    [line] = stderr.splitlines()
    return line


def test_a_csv_changed_after_its_batch_resumed_from_a_parquet_copy_is_refused(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """The trial: u.csv run, resumed from u.parquet (the same rows: the same batch, nothing sent), a row
    appended to u.csv and the first command run again sent all three rows again (6 jobs for 3 rows)."""
    source = write_tickets(tmp_path / "tickets.csv", 3)
    copy = _parquet_copy(source)
    folder = tmp_path / "cwd"
    folder.mkdir()
    with _paid_server(prefect_env) as paid:
        first = paid.run(source, folder)
        assert first[0] == 0, first[1]
        [earlier] = (folder / "data" / "state").iterdir()
        resumed = paid.run(copy, folder)
        assert resumed[0] == 0, resumed[1]
        assert sorted(creates_per_row(paid.emu).values()) == [1] * 3
        write_tickets(source, 4)  # a row appended
        line = _refused_line(*paid.run(source, folder))
        jobs = creates_per_row(paid.emu)
        over = paid.run(source, folder, "--state", str(earlier))  # the way on it names
        jobs_over = creates_per_row(paid.emu)
    assert line.startswith(
        f"error: 3 rows of this input were already sent by data/state/{earlier.name}, a batch of "
        f"tickets.csv before it changed (read from {copy}); as changed, the input gets a new default "
        "state (data/state/tickets-"
    ), line
    assert line.endswith(
        f"resume that batch over the changed input with --state data/state/{earlier.name} (rows are "
        "matched by key; new rows are planned), or pass --state NEW_DIR to send them again"
    ), line
    assert sorted(jobs.values()) == [1] * 3  # no row sent a second time
    assert [path.name for path in (folder / "data" / "state").iterdir()] == [earlier.name]
    assert over[0] == 0, over[1]
    assert jobs_over == {**jobs, "T-00003": 1}  # only the new row


def test_the_next_nights_export_at_another_path_is_refused_where_last_nights_batch_sent_its_rows(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """2026-12-06/tickets.csv run, then 2026-12-07/tickets.csv (the same rows and one more): the earlier
    batch beside it (the same name) was dropped for its other path, and every row was sent again."""
    monday, tuesday = tmp_path / "2026-12-06", tmp_path / "2026-12-07"
    monday.mkdir()
    tuesday.mkdir()
    folder = tmp_path / "cwd"
    folder.mkdir()
    with _paid_server(prefect_env) as paid:
        first = paid.run(write_tickets(monday / "tickets.csv", 3), folder)
        assert first[0] == 0, first[1]
        [earlier] = (folder / "data" / "state").iterdir()
        line = _refused_line(*paid.run(write_tickets(tuesday / "tickets.csv", 4), folder))
        jobs = creates_per_row(paid.emu)
    assert line.startswith(
        f"error: 3 rows of this input were already sent by data/state/{earlier.name}, a batch of "
        f"tickets.csv before it changed (read from {monday / 'tickets.csv'}); as changed, the input gets "
        "a new default state (data/state/tickets-"
    ), line
    assert line.endswith(
        f"--state data/state/{earlier.name} (rows are matched by key; new rows are planned), or pass "
        "--state NEW_DIR to send them again"
    ), line
    assert sorted(jobs.values()) == [1] * 3
    assert [path.name for path in (folder / "data" / "state").iterdir()] == [earlier.name]


def test_a_batch_begun_elsewhere_is_found_by_any_file_it_ran_from(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """From another folder the index finds a batch by its input file or contents; its note kept only the
    file of the last run, so the CSV changed after a resume from its Parquet copy was not found there."""
    source = write_tickets(tmp_path / "tickets.csv", 5)
    copy = _parquet_copy(source)
    first_folder, second_folder = tmp_path / "cwdA", tmp_path / "cwdB"
    first_folder.mkdir()
    second_folder.mkdir()
    with _paid_server(prefect_env) as paid:
        for ran in (paid.run(source, first_folder), paid.run(copy, first_folder)):
            assert ran[0] == 0, ran[1]
        [earlier] = (first_folder / "data" / "state").iterdir()
        write_tickets(source, 6)
        line = _refused_line(*paid.run(source, second_folder))
        jobs = creates_per_row(paid.emu)
    earlier = earlier.resolve()
    assert line.startswith(
        f"error: 5 rows of this input were already sent by {earlier}, a batch of tickets.csv before it "
        f"changed (read from {copy}), begun from {first_folder.resolve()}; as changed, the input gets a "
        "new default state (data/state/tickets-"
    ), line
    assert sorted(jobs.values()) == [1] * 5
    assert not (second_folder / "data").exists()
