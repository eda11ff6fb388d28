"""`python -m tasks.emulator` and `rowrelay emulator`: announce the URL first, serve, exit cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
MODULE = [sys.executable, "-m", "tasks.emulator"]
SCRIPT = [str(Path(sys.executable).parent / "rowrelay"), "emulator"]


def start(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [*command, "--port", "0", "--latency", "fixed:0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline().rstrip("\n")
    match = re.fullmatch(r"rowrelay emulator listening on (http://127\.0\.0\.1:(\d+)/v1)", first)
    if match is None:
        process.kill()
        _, err = process.communicate(timeout=10)
        raise AssertionError(f"first line {first!r}; stderr {err!r}")
    assert int(match.group(2)) > 0
    return process, match.group(1)


def test_cli_serves_and_exits_cleanly_on_sigterm_and_sigint() -> None:
    """Both entry points, both signals; the four servers run side by side to keep the suite fast."""
    cases = [(command, signum) for command in (MODULE, SCRIPT) for signum in (signal.SIGTERM, signal.SIGINT)]
    processes = [start(command) for command, _ in cases]
    try:
        for process, url in processes:
            reply = httpx.post(f"{url}/responses", json={"model": "o3", "input": "hi"}, timeout=10)
            assert reply.status_code == 200
            assert reply.json()["status"] == "completed"
            assert process.poll() is None
    finally:
        for (process, _), (_, signum) in zip(processes, cases, strict=True):
            process.send_signal(signum)
    for (process, _), (command, signum) in zip(processes, cases, strict=True):
        _, err = process.communicate(timeout=15)
        assert process.returncode == 0, (command, signum, err)
        assert "Traceback" not in err


BAD_OPTIONS = [
    (["--latency", "bogus"], "latency 'bogus'"),
    (["--fail-rate", "2"], "fail_rate must be between 0 and 1"),
    (["--output-tokens", "x"], "expected A,B"),
    (["--store-policy", "sometimes"], "expected legacy or current"),
]


def test_bad_options_exit_2_with_a_clear_message() -> None:
    runs = [
        subprocess.Popen(
            [*MODULE, *option], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for option, _ in BAD_OPTIONS
    ]
    for run, (option, message) in zip(runs, BAD_OPTIONS, strict=True):
        out, err = run.communicate(timeout=30)
        assert run.returncode == 2, option
        assert message in " ".join(err.replace("│", " ").split()), (option, err)
        assert out == ""
