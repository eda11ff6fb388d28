"""The `rowrelay` CLI in a real process: the command line, its environment, and what to wait for."""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rowrelay.flows import warm
from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.state import load
from tests.support.tickets import TEMPLATE
from tests.support.warm import ready_if_starting

ROOT = Path(__file__).resolve().parents[2]
"""The checkout: subprocesses run here, so `-m tests...` and `-m rowrelay...` resolve."""
IN_PROCESS = [sys.executable, "-P", "-m", "rowrelay.flows.cli"]
"""The CLI run by its module: always in its own process, never handed to a warm runner."""
INSTALLED = [str(Path(sys.executable).with_name("rowrelay"))]
"""The installed command, as users run it: `run` may be served by a warm runner (flows/warm.py)."""


def rowrelay(
    args: list[str],
    env: dict[str, str],
    *,
    timeout: float = 240,
    command: list[str] = INSTALLED,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """`rowrelay ARGS` to its end. By default the installed command, as users run it: a `run` is served
    by the warm runner an earlier run left in `env`'s ROWRELAY_HOME (`prefect_env` has one per session),
    whose import-time environment matches, once it is ready, else runs in its own process and leaves one."""
    if command == INSTALLED and warm.wanted(args, env):  # a run that may leave a runner behind
        assert "ROWRELAY_HOME" in env, "a test's run leaves its warm runner in a home of the test's own"
        ready_if_starting(env)
    command = [*command, *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def run_args(source: Path, tmp_path: Path) -> list[str]:
    return [
        "run", str(source), "--template", TEMPLATE, "--id-column", "ticket_id",
        "--state", str(tmp_path / "state"), "--output", str(tmp_path / "out.csv"),
    ]  # fmt: skip


def env_for(prefect_env: dict[str, str], emu: RunningEmulator, **extra: str) -> dict[str, str]:
    return {**prefect_env, "ROWRELAY_BACKEND": "emulator", "ROWRELAY_BASE_URL": emu.url, **extra}


def holds_tokens(state: Path, rows: int) -> bool:
    """Whether all `rows` rows of the batch at `state` hold a durable response id still in flight."""
    if not (state / "batch.json").exists():
        return False
    frame = load(state)
    waiting = frame["status"].isin(["queued", "in_progress"]) & frame["response_id"].notna()
    return int(waiting.sum()) == rows


def run_until_in_flight(
    args: list[str],
    env: dict[str, str],
    state: Path,
    rows: int,
    log: Path,
    *,
    within: float = 120,
    command: list[str] = IN_PROCESS,
    group: str = "inherit",
    ignoring: tuple[int, ...] = (),
) -> subprocess.Popen[bytes]:
    """`rowrelay ARGS` started as a process of its own (its output in `log`), returned once all `rows`
    rows of the batch at `state` hold a durable response id: mid-run, for a test to kill or signal.
    `group`: "job" puts it in a process group of its own, as a shell with job control starts a command
    (a stop signal stops it); "orphaned" in a session of its own, a group no shell controls (the kernel
    discards a terminal stop sent to it); "inherit" leaves it in the test's. `ignoring`: signals it is
    started ignoring, as `nohup` (SIGHUP) or a shell without job control (SIGINT) starts a command."""
    if command == IN_PROCESS:  # SIGABRT prints every thread's stack (see exit_code); not for a warm run,
        env = {**env, "PYTHONFAULTHANDLER": "1"}  # which a runner serves only with its own PYTHON* settings
    with log.open("wb") as out:
        run = subprocess.Popen(
            [*command, *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
            preexec_fn=functools.partial(_started_ignoring, ignoring),
            process_group=0 if group == "job" else None,
            start_new_session=group == "orphaned",
        )
    try:
        wait_until(lambda: holds_tokens(state, rows), run, log, within=within)
    except AssertionError:
        run.kill()  # not left running into later tests (a ResourceWarning there, failing one of them)
        run.wait()
        raise
    return run


def wait_until(
    condition: Callable[[], bool], run: subprocess.Popen[bytes], log: Path, *, within: float = 300
) -> None:
    """Until `condition()` holds, failing the test with the end of the run's output if the run ends
    first, or `within` seconds pass (a bound against a hang, not a window the test measures)."""
    deadline = time.monotonic() + within
    while not condition():
        assert run.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)


def exit_code(run: subprocess.Popen[bytes], log: Path, *, within: float) -> int:
    """The code `run` (started by `run_until_in_flight`) exits with. A run still going after `within`
    seconds is aborted and fails the test with the end of its output: the stack of each of its threads,
    which says where it waited."""
    try:
        return run.wait(timeout=within)
    except subprocess.TimeoutExpired:
        run.send_signal(signal.SIGABRT)
        run.wait(timeout=30)
        raise AssertionError(f"still running after {within:.0f} s:\n{log.read_text()[-12000:]}") from None


def sigint_as_from_a_terminal() -> None:
    """A `preexec_fn`: SIGINT at its default in the child, as a command a terminal starts has it. A test
    worker started in the background (`make test &`, `nohup`, a CI runner's shell without job control)
    ignores SIGINT, and its children inherit that; a command that inherits it ignored rightly keeps it
    so, and took no notice of the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _started_ignoring(ignoring: tuple[int, ...]) -> None:
    sigint_as_from_a_terminal()
    for signum in ignoring:
        signal.signal(signum, signal.SIG_IGN)
