"""A stop whose words name their own way on is said with that one: the command line added "; fix that,
then run it again" to every `BackendRefusedError`, after a server refusing background mode (whose way
out is `--backend chat`: nothing to fix) as after a TLS failure, whose line also began "the backend
refused this batch" though no server had refused anything. A stop naming none still ends "fix that"
(tests/flows/test_cli.py: a mistyped model)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.runs import creates_per_row
from tests.support.tickets import write_tickets

ROWS = 3
FIX_THAT = "fix that, then run it again"


def _stopped(env: dict[str, str], tmp_path: Path, *extra: str) -> str:
    """The last line of a `rowrelay run` that stops with exit 2."""
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    stopped = rowrelay([*run_args(source, tmp_path), *extra], env)
    assert stopped.returncode == 2, stopped.stderr[-3000:]
    return stopped.stderr.splitlines()[-1]


def _nothing_spent(state: Path, jobs: Counter[str]) -> None:
    frame = load(state)
    assert (set(frame["status"]), set(frame["attempts"]), set(frame["orphans"])) == ({"pending"}, {0}, {0})
    assert_every_job_is_paid_for(frame, jobs, Counter())


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_server_refusing_background_mode_is_said_with_its_one_way_out(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    with running_emulator(EmulatorConfig(background_refusal="param")) as emu:
        last = _stopped(env_for(prefect_env, emu), tmp_path)
        jobs = creates_per_row(emu)
    assert last.startswith("error: the backend refused this batch, so the run stopped: every create is ")
    assert last.endswith("--backend chat sends Chat Completions, which need none, to a server that has them")
    assert FIX_THAT not in last
    assert sum(jobs.values()) == 0
    _nothing_spent(tmp_path / "state", jobs)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_an_https_address_for_a_plain_http_server_is_no_refusal_and_says_its_way_out(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    with running_emulator(EmulatorConfig()) as emu:
        https = emu.url.replace("http://", "https://")
        env = {**env_for(prefect_env, emu), "ROWRELAY_BASE_URL": https}
        last = _stopped(env, tmp_path)
        jobs = creates_per_row(emu)
    assert last == (
        f"error: the run stopped: {https.removesuffix('/v1')} does not speak TLS (WRONG_VERSION_NUMBER): is "
        "the server https? One serving plain http answers so; give its address as http://; nothing was sent"
    )
    assert sum(jobs.values()) == 0
    _nothing_spent(tmp_path / "state", jobs)
