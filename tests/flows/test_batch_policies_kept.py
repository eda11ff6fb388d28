"""A resumed batch keeps its own --max-attempts and orphan policy unless its run is given others.

A run took both from its own settings alone, though `status` and `cancel` spoke of the batch's recorded
ones: a `--backend chat` batch run under ROWRELAY_ORPHAN_POLICY=hold with --max-attempts 5, killed while
its rows were on the wire, was said by `status` to hold them for `rowrelay retry`, and the same command
from a shell without the variable sent them again, each paid for again; resumed without --max-attempts,
it gave its rows up at their third attempt. One such batch, killed once (a real run, SIGKILL), is copied
by each test and resumed by the CLI as users run it; the server's jobs per row are counted against the
rows' attempts. Resends go to a second, fast emulator (a chat create on the first takes 60 s).
"""

from __future__ import annotations

import functools
import json
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from rowrelay.tasks.dataset import InputSpec, prepare, read_input
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.state import RUN_FILE, load
from tests.support.cli import IN_PROCESS, ROOT, env_for, rowrelay, run_args
from tests.support.tickets import TEMPLATE, write_tickets

ROWS = 3
HOLD = {"ROWRELAY_ORPHAN_POLICY": "hold"}
RESUBMIT = {"ROWRELAY_ORPHAN_POLICY": "resubmit"}
SAID = "given: this run takes it over"


@dataclass(frozen=True)
class Killed:
    source: Path
    state: Path
    env: dict[str, str]
    """The environment of a later command: the killed run's, without ROWRELAY_ORPHAN_POLICY."""
    slow: RunningEmulator
    """The emulator the run was killed on, its jobs still running."""
    jobs: Counter[str]
    """The jobs the killed run started there, per row."""


@pytest.fixture(scope="module")
def killed(prefect_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Killed]:
    """The batch: run under hold with --max-attempts 5, killed once the server has started a job for
    every row (a chat create answers only with the whole answer, 60 s on)."""
    where = tmp_path_factory.mktemp("killed")
    source = write_tickets(where / "tickets.csv", ROWS)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as slow:
        env = env_for(prefect_env, slow, OPENAI_API_KEY="sk-emulated")  # the emulator checks none
        args = [*_command(source, where), "--max-attempts", "5"]
        _killed_once_sent(args, {**env, **HOLD}, where / "run.log", lambda: _each_row(slow, source, 1))
        yield Killed(source, where / "state", env, slow, jobs_of(slow.url, source))


def jobs_of(url: str, source: Path) -> Counter[str]:
    """The jobs the emulator at `url` started per row of the tickets at `source`, told by their prompts
    (a chat create carries no row key)."""
    prepared = prepare(read_input(source), InputSpec(TEMPLATE, None, "ticket_id", None))
    keys: list[str] = prepared.planned().column("row_key").to_pylist()  # type: ignore[assignment]
    rows = {prepared.prompt(key): key for key in keys}
    listing = httpx.get(f"{url.removesuffix('/v1')}/emulator/jobs", timeout=30).json()["data"]
    return Counter(rows[job["prompt"]] for job in listing)


def _copy(killed: Killed, tmp_path: Path) -> Path:
    """The killed batch, as the kill left it, in this test's own state folder."""
    state = tmp_path / "state"
    shutil.copytree(killed.state, state)
    return state


def _command(source: Path, tmp_path: Path) -> list[str]:
    """The batch's command (the killed run's, its --max-attempts left out), on `tmp_path`'s state."""
    return [*run_args(source, tmp_path), "--backend", "chat"]


def _each_row(emu: RunningEmulator, source: Path, jobs: int, before: Counter[str] | None = None) -> bool:
    """Whether the emulator has started `jobs` jobs for every row since `before` (None: ever)."""
    started = jobs_of(emu.url, source) - (before or Counter())
    return all(started[f"T-{row:05d}"] >= jobs for row in range(ROWS))


def _resumed(killed: Killed, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The same command, `rowrelay run` on this test's copy, in `env`."""
    done = rowrelay(_command(killed.source, tmp_path), env)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done


def _on(emu: RunningEmulator, env: dict[str, str]) -> dict[str, str]:
    return {**env, "ROWRELAY_BASE_URL": emu.url}


def _since(killed: Killed, before: Counter[str]) -> Counter[str]:
    """The jobs started on the slow emulator since `before` (other tests' copies send the same rows)."""
    now = jobs_of(killed.slow.url, killed.source)
    return now - before


def _rows(state: Path) -> dict[str, tuple[str, int, str]]:
    frame = load(state)
    return {
        key: (status, attempts, note)
        for key, status, attempts, note in zip(
            frame["row_key"], frame["status"], frame["attempts"], frame["note"], strict=True
        )
    }


def _recorded(state: Path) -> tuple[object, object]:
    record = json.loads((state / RUN_FILE).read_text())
    return record.get("max_attempts"), record.get("orphan_policy")


@pytest.mark.timeout(400)
def test_a_hold_batch_resumed_from_a_plain_shell_holds_its_rows(killed: Killed, tmp_path: Path) -> None:
    state = _copy(killed, tmp_path)
    before = jobs_of(killed.slow.url, killed.source)
    run = _resumed(killed, tmp_path, killed.env)
    rows = _rows(state)
    assert set(rows) == set(killed.jobs)
    for key, (status, attempts, note) in rows.items():
        assert (status, attempts) == ("orphaned", 1), (key, rows[key], run.stderr[-3000:])
        assert note.endswith("held for `rowrelay retry`"), note
        assert killed.jobs[key] + _since(killed, before)[key] == attempts == 1  # no job beyond the kill's
    assert SAID not in run.stderr + run.stdout
    assert _recorded(state) == (5, "hold")


@pytest.mark.timeout(400)
def test_a_resubmit_given_on_the_resume_sends_them_again_and_says_it_differs(
    killed: Killed, tmp_path: Path
) -> None:
    state = _copy(killed, tmp_path)
    before = jobs_of(killed.slow.url, killed.source)
    with running_emulator(EmulatorConfig()) as fast:
        run = _resumed(killed, tmp_path, _on(fast, {**killed.env, **RESUBMIT}))
        sent = jobs_of(fast.url, killed.source)
    assert run.returncode == 0, run.stderr[-3000:]
    for key, (status, attempts, _note) in _rows(state).items():
        assert status == "completed", key
        assert killed.jobs[key] + _since(killed, before)[key] + sent[key] == attempts == 2, key
    said = " ".join((run.stderr + run.stdout).split())
    line = (
        "ROWRELAY_ORPHAN_POLICY=resubmit given: this run takes it over hold, the orphan policy this batch "
        "ran with (its later runs keep what this run takes, unless given another)"
    )
    assert said.count(line) == 1, said
    assert _recorded(state) == (5, "resubmit")


@pytest.mark.timeout(400)
def test_max_attempts_5_is_kept_by_a_resume_without_it(killed: Killed, tmp_path: Path) -> None:
    """Two more runs of the copy, given resubmit and no --max-attempts, killed as they send its rows
    again: each row has spent 3 attempts, which the batch's 5 sends again and the default 3 gave up."""
    state = _copy(killed, tmp_path)
    before = jobs_of(killed.slow.url, killed.source)
    env = {**killed.env, **RESUBMIT}
    for again in (1, 2):
        resent = functools.partial(_each_row, killed.slow, killed.source, again, before)
        _killed_once_sent(_command(killed.source, tmp_path), env, tmp_path / f"run{again}.log", resent)
    with running_emulator(EmulatorConfig()) as fast:
        run = _resumed(killed, tmp_path, _on(fast, env))
        sent = jobs_of(fast.url, killed.source)
    assert run.returncode == 0, run.stderr[-3000:]
    for key, (status, attempts, _note) in _rows(state).items():
        assert status == "completed", (key, run.stderr[-3000:])
        assert killed.jobs[key] + _since(killed, before)[key] + sent[key] == attempts == 4, key
    assert SAID not in run.stderr + run.stdout
    assert _recorded(state) == (5, "resubmit")


def _killed_once_sent(args: list[str], env: dict[str, str], log: Path, sent: Callable[[], bool]) -> None:
    """`rowrelay ARGS` in a process of its own, killed (SIGKILL, as `kill -9`) once `sent()`."""
    with log.open("wb") as out:
        run = subprocess.Popen([*IN_PROCESS, *args], cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        while not sent():  # a wait for the creates to reach the server, not an assertion
            assert run.poll() is None, log.read_text()[-3000:]
            time.sleep(0.1)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()


@pytest.mark.timeout(400)
def test_a_record_without_the_policies_falls_back_to_the_environment_then_keeps_it(
    killed: Killed, tmp_path: Path
) -> None:
    """A record of a release before the fields: the run takes the environment's policy, records it, and
    the batch's next run, from a plain shell, keeps it."""
    state = _copy(killed, tmp_path)
    record = json.loads((state / RUN_FILE).read_text())
    for field in ("max_attempts", "orphan_policy"):
        del record[field]
    (state / RUN_FILE).write_text(json.dumps(record))
    before = jobs_of(killed.slow.url, killed.source)
    first = _resumed(killed, tmp_path, {**killed.env, **HOLD})
    assert _recorded(state) == (3, "hold")  # the default attempts, the environment's policy
    then = _resumed(killed, tmp_path, killed.env)
    for key, (status, attempts, note) in _rows(state).items():
        assert (status, attempts) == ("orphaned", 1), (key, first.stderr[-2000:], then.stderr[-2000:])
        assert note.endswith("held for `rowrelay retry`"), note
        assert killed.jobs[key] + _since(killed, before)[key] == attempts, key
    assert SAID not in first.stderr + then.stderr
    assert _recorded(state) == (3, "hold")


def test_retry_notes_the_rows_it_finds_being_sent_by_the_batchs_policy(
    killed: Killed, tmp_path: Path
) -> None:
    """`rowrelay retry` opens the table, which makes the killed run's rows orphans: their note says what
    the next run does with them, by the batch's hold (it said "it will be sent again")."""
    state = _copy(killed, tmp_path)
    retry = rowrelay(["retry", str(state), "--status", "failed"], killed.env)
    assert retry.returncode == 0, retry.stderr[-3000:]
    for key, (status, attempts, note) in _rows(state).items():
        assert (status, attempts) == ("orphaned", 1), key
        assert note.endswith("held for `rowrelay retry`"), note
