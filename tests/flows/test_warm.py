"""Warm runs (flows/warm.py): the installed `rowrelay run` handed to a runner that has imported Prefect,
pandas and the SDK already, in real processes over the real socket, against a real emulator and Prefect
API. The runner's home path is longer than a Unix socket address may be, so the relative bind and connect
are what these tests use.

A command served warm must be the command's own: its working directory, environment, umask, streams,
exit code and signals; killed outright, it takes its warm copy with it. Which runs a runner served is read
from its log (one line per command, with the command's pid).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from rowrelay.flows import detached, warm
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import INSTALLED, env_for, exit_code, rowrelay, run_args, run_until_in_flight
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.local_prefect import servers_of
from tests.support.tickets import write_tickets
from tests.support.warm import served, wait_for_runner


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as running:
        yield running


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("warm") / f"a-rowrelay-home-{'whose-path-is-too-long-for-a-socket-' * 2}"
    assert len(os.fsencode(warm.socket_path(home, "0" * 16))) > 108
    yield home
    warm.stop_runner(home)
    assert not servers_of(home)


@pytest.fixture(scope="module")
def env(prefect_env: dict[str, str], emu: RunningEmulator, home: Path) -> dict[str, str]:
    return env_for(prefect_env, emu, ROWRELAY_HOME=str(home))


@pytest.fixture(scope="module")
def first_run(
    env: dict[str, str], home: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A run in its own process (no runner yet), which leaves the runner the other tests use."""
    where = tmp_path_factory.mktemp("first")
    source = write_tickets(where / "tickets.csv", 5)
    done = rowrelay(run_args(source, where), env, command=INSTALLED)
    assert done.returncode == 0, done.stderr[-3000:]
    wait_for_runner(home)
    assert served(home) == []
    return where, done


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_run_that_ran_leaves_a_runner_and_the_next_run_is_served_by_it_with_the_same_result(
    first_run: tuple[Path, subprocess.CompletedProcess[str]], env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    where, cold = first_run
    source = write_tickets(tmp_path / "tickets.csv", 5)
    before = len(served(home))
    done = rowrelay(run_args(source, tmp_path), env, command=INSTALLED)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(served(home)) == before + 1
    assert (tmp_path / "out.csv").read_text() == (where / "out.csv").read_text()
    assert set(load(tmp_path / "state")["status"]) == {"completed"}
    assert done.stdout.replace(str(tmp_path), "DIR") == cold.stdout.replace(str(where), "DIR")
    assert "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_warm_run_has_the_commands_directory_environment_umask_and_exit_code(
    first_run: object, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    write_tickets(tmp_path / "tickets.csv", 3)
    args = ["run", "tickets.csv", "--id-column", "ticket_id", "--template", "Hi {subject}", "--state", "st"]
    before = len(served(home))

    def warm_run(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*INSTALLED, *args], cwd=tmp_path, env={**env, **extra}, capture_output=True, text=True,
            timeout=240, preexec_fn=lambda: os.umask(0o077),
        )  # fmt: skip

    refused = warm_run(ROWRELAY_RPM="-5")
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert refused.stderr.strip().splitlines()[-1] == "error: ROWRELAY_RPM: must be at least 1 (got '-5')"
    assert not (tmp_path / "st").exists()
    done = warm_run(ROWRELAY_OUTPUT_DIR="outputs")
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(served(home)) == before + 2
    outputs = list((tmp_path / "outputs").iterdir())
    assert len(outputs) == 1, outputs
    assert (tmp_path / "st").stat().st_mode & 0o777 == 0o700


@pytest.mark.timeout(120)
def test_a_command_that_ends_at_once_is_answered_whole(
    first_run: object, env: dict[str, str], home: Path
) -> None:
    """Its pid and its exit status may reach the command in one read: both must be taken from it. What
    it prints is what the command prints in its own process, to the letter (the program's name too)."""
    before = len(served(home))
    done = rowrelay(["run", "--help"], env, command=INSTALLED)
    assert len(served(home)) == before + 1
    own = rowrelay(["run", "--help"], {**env, "ROWRELAY_WARM": "false"}, command=INSTALLED)
    assert len(served(home)) == before + 1
    assert (done.returncode, done.stdout, done.stderr) == (0, own.stdout, "")
    assert "Usage: rowrelay run [OPTIONS]" in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize(
    ("signum", "code", "said"), [(signal.SIGINT, 130, "interrupted: "), (signal.SIGTERM, 143, "terminated: ")]
)
def test_ctrl_c_and_sigterm_reach_the_warm_run_which_cancels_its_work(
    first_run: object, env: dict[str, str], home: Path, tmp_path: Path, signum: int, code: int, said: str
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 6)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:120"))) as slow:
        slow_env = {**env, "ROWRELAY_BASE_URL": slow.url}
        log = tmp_path / "run.log"
        before = len(served(home))
        run = run_until_in_flight(
            run_args(source, tmp_path), slow_env, tmp_path / "state", 6, log, command=INSTALLED
        )
        assert len(served(home)) == before + 1
        run.send_signal(signum)
        assert exit_code(run, log, within=120) == code, log.read_text()[-3000:]
        assert "Traceback" not in log.read_text()
        last = log.read_text().strip().splitlines()[-1]
        assert (
            last
            == f"{said}6 in-flight responses were cancelled; run the same command to resume (it sends them "
            "again)"
        )
        assert {r["status"] for r in slow.emulator.listing()} == {"cancelled"}


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("served_warm", [True, False], ids=["warm", "own-process"])
def test_a_run_started_ignoring_hangups_and_ctrl_c_ignores_them_warm_or_not(
    first_run: object, env: dict[str, str], home: Path, tmp_path: Path, served_warm: bool
) -> None:
    """`nohup rowrelay run ... &` in a script starts the command ignoring SIGHUP (nohup) and SIGINT (a
    shell without job control): a run in its own process keeps them ignored and outlives its terminal.
    Served warm, the relay took both over and passed them on to the warm copy, which died of the hangup."""
    source = write_tickets(tmp_path / "tickets.csv", 4)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:3"))) as slowish:
        run_env = {**env, "ROWRELAY_BASE_URL": slowish.url}
        if not served_warm:
            run_env["ROWRELAY_WARM"] = "false"
        log = tmp_path / "run.log"
        before = served(home)
        run = run_until_in_flight(
            run_args(source, tmp_path), run_env, tmp_path / "state", 4, log, command=INSTALLED,
            ignoring=(signal.SIGHUP, signal.SIGINT),
        )  # fmt: skip
        copy = [pid for pid in served(home) if pid not in before]
        assert len(copy) == served_warm
        for signum in (signal.SIGHUP, signal.SIGINT):
            for pid in (run.pid, *copy):  # the terminal's, and `pkill -HUP rowrelay`'s
                os.kill(pid, signum)
        assert exit_code(run, log, within=120) == 0, log.read_text()[-3000:]
    assert set(load(tmp_path / "state")["status"]) == {"completed"}


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("group", ["job", "orphaned"])
def test_ctrl_z_stops_the_warm_run_with_its_command_and_fg_continues_both(
    first_run: object, env: dict[str, str], home: Path, tmp_path: Path, group: str
) -> None:
    """Under a shell's job control both stop, and `fg` continues both. In a process group no shell
    controls the kernel discards the stop for the command, and its warm copy must not stay stopped."""
    source = write_tickets(tmp_path / "tickets.csv", 4)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:2"))) as slowish:
        slow_env = {**env, "ROWRELAY_BASE_URL": slowish.url}
        log = tmp_path / "run.log"
        run = run_until_in_flight(
            run_args(source, tmp_path), slow_env, tmp_path / "state", 4, log, command=INSTALLED, group=group
        )
        try:
            command, client = psutil.Process(served(home)[-1]), psutil.Process(run.pid)
            run.send_signal(signal.SIGTSTP)
            if group == "job":
                _wait_for_status(command, psutil.STATUS_STOPPED)
                _wait_for_status(client, psutil.STATUS_STOPPED)
                run.send_signal(signal.SIGCONT)  # what `fg` sends
            assert exit_code(run, log, within=120) == 0, log.read_text()[-3000:]
        finally:  # a failed look left the command (stopped, or waiting on its run) behind the suite
            if run.poll() is None:
                run.kill()
                run.wait()
    assert set(load(tmp_path / "state")["status"]) == {"completed"}


def _wait_for_status(process: psutil.Process, status: str) -> None:
    for _ in range(600):  # a bound, not a wait: the status is looked at every 0.05 s
        if process.status() == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{process.pid} is {process.status()}, not {status}")


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_command_killed_outright_takes_its_warm_run_with_it_and_the_batch_resumes_paid_once(
    first_run: object, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 6)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:5"))) as slowish:
        slow_env = {**env, "ROWRELAY_BASE_URL": slowish.url}
        log = tmp_path / "run.log"
        run = run_until_in_flight(
            run_args(source, tmp_path), slow_env, tmp_path / "state", 6, log, command=INSTALLED
        )
        command = psutil.Process(served(home)[-1])
        run.kill()
        run.wait()
        command.wait(timeout=60)  # psutil.TimeoutExpired if it outlived its command
        resumed = rowrelay(run_args(source, tmp_path), slow_env, command=INSTALLED)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        listing = slowish.emulator.listing()
    frame = load(tmp_path / "state")
    assert set(frame["status"]) == {"completed"}
    jobs = Counter(r["metadata"]["rowrelay_row"] for r in listing)
    unanswered = Counter(r["metadata"]["rowrelay_row"] for r in listing if not r["answered"])
    assert_every_job_is_paid_for(frame, jobs, unanswered)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_services_lists_and_stops_the_runner_and_the_runs_it_serves_go_on(
    first_run: object, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    record = wait_for_runner(home)
    listed = rowrelay(["services"], env, command=INSTALLED)
    row = next(line.split() for line in listed.stdout.splitlines() if line.startswith("runner "))
    assert (int(row[1]), row[2], row[-1]) == (record["pid"], record["socket"], "yes")
    source = write_tickets(tmp_path / "tickets.csv", 4)
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:3"))
    with running_emulator(config) as slowish:
        slow_env = {**env, "ROWRELAY_BASE_URL": slowish.url}
        log = tmp_path / "run.log"
        run = run_until_in_flight(
            run_args(source, tmp_path), slow_env, tmp_path / "state", 4, log, command=INSTALLED
        )
        stopped = rowrelay(["services", "stop", "runner"], env, command=INSTALLED)
        assert stopped.stdout == f"stopped runner (pid {record['pid']})\n", stopped.stderr
        assert exit_code(run, log, within=120) == 0, log.read_text()[-3000:]
    assert set(load(tmp_path / "state")["status"]) == {"completed"}
    assert warm.runner_record(home) is None
    assert not Path(str(record["socket"])).exists()
    assert not detached.runs(int(str(record["pid"])), warm.MARKER)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_no_runner_is_left_by_a_refused_run_nor_a_help_nor_when_warm_runs_are_off(
    prefect_env: dict[str, str], emu: RunningEmulator, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = env_for(prefect_env, emu, ROWRELAY_HOME=str(home))
    source = write_tickets(tmp_path / "tickets.csv", 2)
    try:
        refused = rowrelay([*run_args(source, tmp_path), "--id-column", "nope"], env, command=INSTALLED)
        assert refused.returncode == 2, refused.stderr[-3000:]
        helped = rowrelay(["run", "--help"], env, command=INSTALLED)
        assert helped.returncode == 0, helped.stderr[-3000:]
        assert "Usage: rowrelay run" in helped.stdout
        assert warm.runner_record(home) is None, "asking how to run leaves no process of a few hundred MB"
        done = rowrelay(run_args(source, tmp_path), {**env, "ROWRELAY_WARM": "false"}, command=INSTALLED)
        assert done.returncode == 0, done.stderr[-3000:]
        assert warm.runner_record(home) is None
        assert not servers_of(home)
    finally:
        warm.stop_runner(home)  # had the test failed, a runner would idle on for an hour


def test_a_runner_serves_only_commands_whose_imports_it_shares() -> None:
    base = {"PATH": "/usr/bin", "HOME": "/home/u", "PREFECT_API_URL": "http://x/api"}
    print_ = warm.fingerprint(base)
    same = {**base, "OPENAI_API_KEY": "sk-1", "ROWRELAY_RPM": "5", "ROWRELAY_WARM": "true", "TERM": "xterm"}
    assert warm.fingerprint(same) == print_
    for changed in ({"PREFECT_LOGGING_LEVEL": "DEBUG"}, {"LC_ALL": "C"}, {"PYTHONHASHSEED": "1"}):
        assert warm.fingerprint({**base, **changed}) != print_, changed
    assert warm.wanted(["run", "x.csv"], base)
    assert warm.wanted(["run"], {**base, "ROWRELAY_WARM": "Yes"})
    assert warm.wanted(["-v", "run", "x.csv"], base)
    for argv, switch in (
        (["status", "st"], ""),
        (["run"], "0"),
        (["run"], "off"),
        (["run"], "maybe"),
        ([], ""),
    ):
        assert not warm.wanted(argv, {**base, "ROWRELAY_WARM": switch}), (argv, switch)


def test_a_runner_outlives_the_first_bytecode_but_not_a_package_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A venv installed without bytecode (uv's default) gets its `__pycache__` at the first import: the
    folder's change time moved, and the second run started a runner cold again."""
    packages = tmp_path / "site-packages"
    packages.mkdir()
    (packages / "six.py").write_text("")
    monkeypatch.syspath_prepend(str(packages))
    print_ = warm.fingerprint({})
    (packages / "__pycache__").mkdir()
    os.utime(packages, ns=(1, 1))  # as if the folder changed long after: only its names may count
    assert warm.fingerprint({}) == print_
    (packages / "attrs-24.2.0.dist-info").mkdir()  # installed, or upgraded: its metadata's name
    assert warm.fingerprint({}) != print_


def test_a_stale_runner_record_or_socket_runs_the_command_itself(tmp_path: Path) -> None:
    environ = {"ROWRELAY_HOME": str(tmp_path)}
    print_ = warm.fingerprint(environ)
    path = warm.socket_path(tmp_path, print_)
    record = {"pid": 999_999_999, "fingerprint": print_, "socket": str(path)}
    (tmp_path / "runner.json").write_text(json.dumps(record))
    assert warm.serve_warm(["run"], environ, print_) is None  # no socket
    with socket.socket(socket.AF_UNIX) as gone:
        gone.bind(str(path))  # bound, never listening: connections are refused
        assert warm.serve_warm(["run"], environ, print_) is None
    (tmp_path / "runner.json").write_text(json.dumps({**record, "fingerprint": "another"}))
    with socket.socket(socket.AF_UNIX) as other:
        path.unlink()
        other.bind(str(path))
        other.listen()
        assert warm.serve_warm(["run"], environ, print_) is None  # never connects to another's runner
        other.setblocking(False)
        with pytest.raises(BlockingIOError):
            other.accept()


def test_the_socket_is_reached_by_its_name_in_its_folder_when_its_path_is_too_long(tmp_path: Path) -> None:
    folder = tmp_path / ("long-" * 30)
    folder.mkdir()
    path = folder / "runner.sock"
    here = Path.cwd()
    with socket.socket(socket.AF_UNIX) as listener:
        with warm.reachable(path) as name:
            assert name == "runner.sock"
            listener.bind(name)
        assert Path.cwd() == here
        listener.listen()
        with socket.socket(socket.AF_UNIX) as client, warm.reachable(path) as name:
            client.connect(name)
    assert path.exists()


@pytest.mark.timeout(240)
def test_a_command_ended_by_an_uncaught_error_exits_1_warm_as_in_its_own_process(
    first_run: object, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    """A warm command's uncaught error rose into the runner's own catch-all, whose exit 0 told a cron job
    that every row had completed. It ends as the interpreter ends the command in its own process: its
    traceback, exit 1. (The user's schema module raises what rowrelay does not catch: a BaseException.)"""
    if warm.runner_record(home) is None:  # stopped by an earlier test: a run in its own process leaves one
        left = rowrelay(
            run_args(write_tickets(tmp_path / "one.csv", 1), tmp_path / "one"), env, command=INSTALLED
        )
        assert left.returncode == 0, left.stderr[-3000:]
        wait_for_runner(home)
    write_tickets(tmp_path / "tickets.csv", 3)
    (tmp_path / "boom.py").write_text("class Boom(BaseException):\n    pass\n\nraise Boom('at import')\n")
    args = ["run", "tickets.csv", "--id-column", "ticket_id", "--template", "{subject}", "--schema", "boom:M"]
    before = len(served(home))

    def ran(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*INSTALLED, *args],
            cwd=tmp_path,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=200,
        )

    warm_run, own = ran(), ran(ROWRELAY_WARM="false")
    assert len(served(home)) == before + 1, "the first was served warm, the second ran in its own process"
    for done in (warm_run, own):
        assert done.returncode == 1, done.stderr[-3000:]
        assert done.stderr.rstrip().endswith("boom.Boom: at import"), done.stderr[-3000:]
        assert "Traceback (most recent call last)" in done.stderr
