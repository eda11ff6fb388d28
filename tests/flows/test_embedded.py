"""The embedded emulator started early (while a first run waits for its Prefect server) is the one the
run then uses: one process, its record written, and a failure to start raised where the run asks. One
emulator per option set, every one of them recorded, listed and stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import psutil
import pytest
from typer.testing import CliRunner

from rowrelay.flows import detached
from rowrelay.flows.backends import resolve_backend
from rowrelay.flows.cli import app
from rowrelay.flows.embedded import ensure_emulator, start_emulator_early, stop_emulator
from rowrelay.flows.emulator_records import MARKER, emulator_record, emulator_records
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.settings import Settings
from tests.support.key_echo import SECRET


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "home"
    stop_emulator(tmp_path / "home")


@pytest.mark.timeout(60)
def test_an_emulator_started_early_is_the_one_the_run_gets(home: Path) -> None:
    start_emulator_early(home, "--latency fixed:0")
    start_emulator_early(home, "--latency fixed:0")  # asked twice: still one start
    url, started = ensure_emulator(home, "--latency fixed:0")
    assert started
    assert httpx.get(f"{url}/models", timeout=5).status_code == 200
    record = emulator_record(home)
    assert record is not None
    assert record["url"] == url
    assert ensure_emulator(home, "--latency fixed:0") == (url, False)
    assert emulator_record(home) == record


@pytest.mark.timeout(60)
def test_an_early_start_that_fails_is_raised_where_the_run_asks(home: Path) -> None:
    start_emulator_early(home, "--no-such-option")
    with pytest.raises(UsageError, match="embedded emulator did not start"):
        ensure_emulator(home, "--no-such-option")
    assert emulator_record(home) is None


@pytest.mark.timeout(120)
def test_an_emulator_of_other_options_stays_recorded_is_found_again_and_stopped_with_the_rest(
    home: Path,
) -> None:
    first, _ = ensure_emulator(home, "--latency fixed:0")
    _hold_a_response(first)  # a batch's: one holding none is stopped once set aside (test_embedded_set_aside)
    other, started = ensure_emulator(home, "--latency fixed:0.01")
    assert started
    assert other != first
    assert emulator_record(home) is not None
    assert emulator_record(home)["url"] == other  # type: ignore[index]
    assert ensure_emulator(home, "--latency fixed:0") == (first, False)  # still running, found again
    records = emulator_records(home)
    assert sorted(record["url"] for record in records) == sorted([first, other])
    listed = CliRunner().invoke(app, ["services"], env={"ROWRELAY_HOME": str(home)})
    rows = [line.split() for line in listed.stdout.splitlines() if line.startswith("emulator ")]
    assert sorted((row[2], row[-1]) for row in rows) == sorted([(first, "yes"), (other, "yes")])
    stopped = CliRunner().invoke(app, ["services", "stop", "emulator"], env={"ROWRELAY_HOME": str(home)})
    assert sorted(stopped.stdout.splitlines()) == sorted(
        f"stopped emulator (pid {r['pid']})" for r in records
    )
    assert emulator_records(home) == []
    assert not any(detached.runs(record["pid"], MARKER) for record in records)


@pytest.mark.timeout(120)
def test_an_emulator_an_older_release_started_is_not_reused_but_set_aside_and_stopped_with_the_rest(
    home: Path,
) -> None:
    """It answers as its own code does (an upgrade's new features missing): a run starts this release's,
    and the older one, which a batch may still be waiting on, keeps running, recorded."""
    older, _ = ensure_emulator(home, "--latency fixed:0")
    _hold_a_response(older)
    record = emulator_record(home)
    assert record is not None
    (home / "emulator.json").write_text(json.dumps({**record, "code": "0.0.9+1"}))  # as an older release's
    current, started = ensure_emulator(home, "--latency fixed:0")
    assert started
    assert current != older
    assert sorted(r["url"] for r in emulator_records(home)) == sorted([older, current])
    assert ensure_emulator(home, "--latency fixed:0") == (current, False)
    pids = [r["pid"] for r in emulator_records(home)]
    assert stop_emulator(home)
    assert not any(detached.runs(pid, MARKER) for pid in pids)


def _hold_a_response(url: str) -> None:
    with openai.OpenAI(base_url=url, api_key="x") as client:
        client.responses.create(model="gpt-4.1-mini", input="hello")


@pytest.mark.timeout(60)
def test_services_shows_what_a_live_emulator_holds_in_memory_and_marks_a_dead_one(home: Path) -> None:
    """Its memory grows with the responses it holds until it is stopped: `services` is where a user sees
    it. A process that died with its record still there shows `-` and is not alive."""
    url, _ = ensure_emulator(home, "--latency fixed:0")
    pid = emulator_record(home)["pid"]  # type: ignore[index]

    def emulator_row() -> list[str]:
        listed = CliRunner().invoke(app, ["services"], env={"ROWRELAY_HOME": str(home)})
        assert listed.stdout.splitlines()[0].split() == ["name", "pid", "address", "since", "memory", "alive"]
        [row] = [line.split() for line in listed.stdout.splitlines() if line.startswith("emulator ")]
        return row

    row = emulator_row()
    assert (row[1], row[2], row[-2], row[-1]) == (str(pid), url, "MB", "yes")
    assert 10 <= int(row[-3].replace(",", "")) <= 2000, row  # an emulator holding nothing: tens of MB
    os.kill(pid, signal.SIGKILL)
    while detached.runs(pid, MARKER):  # gone within moments (the test's timeout bounds the wait)
        time.sleep(0.01)
    row = emulator_row()
    assert (row[1], row[-2], row[-1]) == (str(pid), "-", "no")


@pytest.mark.timeout(60)
def test_a_process_that_leaves_services_running_ends_without_a_warning_about_them(home: Path) -> None:
    """The emulator (and every other service) outlives the process that started it, by design. Python
    warns when it collects the `Popen` of a child still running; under `-W error`, as the tests run,
    each one printed "Exception ignored ... ResourceWarning: subprocess N is still running" at exit."""
    script = (
        "import sys; from pathlib import Path; from rowrelay.flows import detached, embedded\n"
        "home = Path(sys.argv[1]); embedded.ensure_emulator(home, '--latency fixed:0')\n"
        "print(detached.spawn(['sleep', '60'], home / 'sleep.log').pid)\n"
    )
    ended = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, str(home)], capture_output=True, text=True, timeout=50
    )
    if ended.stdout.strip().isdigit():
        os.killpg(int(ended.stdout), signal.SIGKILL)  # started in its own session, as every service is
    assert ended.returncode == 0, ended.stderr
    assert emulator_record(home) is not None  # the emulator still runs: it is left, by design
    assert ended.stderr == ""


@pytest.mark.timeout(60)
def test_chosen_beside_a_key_the_emulator_gets_its_own_key_and_holds_none_of_the_runs(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--backend emulator` with OPENAI_API_KEY set (for other runs): the key is not sent to the embedded
    emulator, nor left in the environment of that long-lived process, which is started with `-P`, its
    own modules never shadowed by the working directory's."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "uvicorn.py").write_text("raise SystemExit('imported from the working directory')\n")
    monkeypatch.chdir(work)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    resolved, url = resolve_backend(Settings(backend="emulator", api_key=SECRET, home=home))
    assert resolved.api_key is None, "the client sends the emulator's own key (client.EMULATOR_KEY)"
    assert url is not None
    assert httpx.get(f"{url}/models", timeout=5).status_code == 200
    record = emulator_record(home)
    assert record is not None
    environ = psutil.Process(record["pid"]).environ()
    assert "OPENAI_API_KEY" not in environ
    assert SECRET not in environ.values()
    assert environ["ROWRELAY_HOME"] == str(home)  # what finds it (tests/support/local_prefect.servers_of)
    assert environ["PYTHONSAFEPATH"] == "1"  # and -P for what it starts in turn
    # Given a URL, the emulator is the user's own, which may check the key it was given: it is sent.
    own, _ = resolve_backend(Settings(backend="emulator", api_key=SECRET, base_url=url, home=home))
    assert own.api_key is not None
    assert own.api_key.get_secret_value() == SECRET
