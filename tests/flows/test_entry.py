"""The installed `rowrelay` command's entry point ends the process itself (skipping the interpreter's
teardown): it must still exit with the command's code, after its output and the `atexit` handlers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import ROOT

_AS_INSTALLED = (
    "import atexit, sys; atexit.register(print, 'atexit ran', file=sys.stderr); "
    "sys.argv = ['rowrelay', *sys.argv[1:]]; from rowrelay.flows.entry import main; main()"
)


def _rowrelay(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-P", "-c", _AS_INSTALLED, *args]
    env = {"ROWRELAY_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "code", "stdout", "stderr"),
    [
        (["services"], 0, "no services recorded in {home}\n", "atexit ran\n"),
        (
            ["services", "stop", "nope"],
            2,
            "",
            "error: no service named 'nope' (the services are emulator, prefect, runner)\natexit ran\n",
        ),
    ],
)
def test_the_entry_point_exits_with_the_commands_code_after_its_output_and_atexit(
    tmp_path: Path, args: list[str], code: int, stdout: str, stderr: str
) -> None:
    done = _rowrelay(args, tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (code, stdout.format(home=tmp_path), stderr)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["run", "x.csv", "--xyzzy"], "error: No such option: --xyzzy (see rowrelay run --help)"),
        (
            ["run", "x.csv", "--rpm", "abc"],
            "error: Invalid value for '--rpm': Input should be a valid integer, unable to parse string as an "
            "integer (see rowrelay run --help)",
        ),
        (["nosuch"], "error: No such command 'nosuch'. (see rowrelay --help)"),
        (["status", "--xyzzy"], "error: No such option: --xyzzy (see rowrelay status --help)"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(tmp_path: Path, args: list[str], said: str) -> None:
    """An unknown option or command, or a value of the wrong kind, is refused as every other bad option
    is: one line, exit 2 (it was click's usage box: five lines and a frame)."""
    done = _rowrelay(args, tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"{said}\natexit ran\n")


def test_the_command_alone_shows_its_help(tmp_path: Path) -> None:
    done = _rowrelay([], tmp_path)
    assert done.returncode == 2
    assert "Usage: rowrelay [OPTIONS] COMMAND [ARGS]..." in done.stdout + done.stderr
    assert "error:" not in done.stdout + done.stderr


def test_the_module_entry_refuses_a_usage_error_in_the_same_one_line(tmp_path: Path) -> None:
    """`python -m rowrelay.flows.cli`, which the README offers beside the installed command, printed
    Typer's boxed usage error (five lines and a frame) where `rowrelay` prints one `error:` line."""
    command = [sys.executable, "-P", "-m", "rowrelay.flows.cli", "run", "x.csv", "--xyzzy"]
    env = {"ROWRELAY_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    said = "error: No such option: --xyzzy (see python -m rowrelay.flows.cli run --help)\n"
    assert (done.returncode, done.stdout, done.stderr) == (2, "", said)


_IDLE_POOL_LEFT = (
    "import atexit, sys, threading; from concurrent.futures import ThreadPoolExecutor; "
    "atexit.register(print, 'atexit ran', file=sys.stderr); "
    "pool = ThreadPoolExecutor(1, thread_name_prefix='rowrelay-state'); pool.submit(int).result(); "
    "worker = threading.Thread(target=print, args=('a thread of the command ran to its end',)); "
    "from rowrelay.flows.entry import finish; worker.start(); finish(130)"
)


def test_the_entry_point_exits_past_an_idle_pool_worker_nobody_shut_down() -> None:
    """A run stopped by Ctrl-C pressed three times fast never shut its state writer's pool down (its
    cancel was cut short), and the command, having said `interrupted: ...`, hung for ever joining that
    pool's idle worker. It now waits for threads as the interpreter does: idle workers are told to end,
    a thread still working is waited for, then `atexit` runs and the command's code is the exit's."""
    command = [sys.executable, "-P", "-c", _IDLE_POOL_LEFT]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    said = (done.returncode, done.stdout, done.stderr)
    assert said == (130, "a thread of the command ran to its end\n", "atexit ran\n")
