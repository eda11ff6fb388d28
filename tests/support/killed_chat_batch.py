"""A `--backend chat` batch killed (SIGKILL, as `kill -9`) while every row is on the wire: what
`status` and `cancel` then say of rows that hold no response id. A chat create answers only with the
whole answer, so each takes the emulator's 60 s and the kill finds every row `submitting`."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import IN_PROCESS, ROOT, env_for, run_args
from tests.support.tickets import write_tickets


def _all_submitting(state: Path, rows: int) -> bool:
    if not (state / "batch.json").exists():
        return False
    return int(load(state)["status"].eq("submitting").sum()) == rows


@contextmanager
def chat_batch_killed_while_sending(
    prefect_env: dict[str, str], tmp_path: Path, rows: int, run_env: dict[str, str] | None = None
) -> Iterator[tuple[Path, dict[str, str], RunningEmulator]]:
    """Run `rows` tickets with `--backend chat` (the run's environment plus `run_env`) and kill it once
    every row is being sent; yields the state folder, the environment a later command takes, and the
    emulator, still serving until the block ends."""
    source = write_tickets(tmp_path / "tickets.csv", rows)
    state, args = tmp_path / "state", [*run_args(source, tmp_path), "--backend", "chat"]
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as emu:
        env = env_for(prefect_env, emu, OPENAI_API_KEY="sk-emulated")  # the emulator checks none
        with (tmp_path / "run.log").open("wb") as log:
            run = subprocess.Popen(
                [*IN_PROCESS, *args], cwd=ROOT, env={**env, **(run_env or {})}, stdout=log, stderr=log
            )
        try:
            while not _all_submitting(state, rows):  # a wait for the rows to be sent, not an assertion
                assert run.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
                time.sleep(0.1)
        finally:
            run.send_signal(signal.SIGKILL)  # as `kill -9`
            run.wait()
        yield state, env, emu
