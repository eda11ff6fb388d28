"""`rowrelay deploy` served in a subprocess for the deployment tests, and the wait for its deployment to
appear on the Prefect API."""

from __future__ import annotations

import asyncio
import fcntl
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from rowrelay.tasks.emulator import RunningEmulator
from tests.support.cli import ROOT
from tests.support.tickets import TEMPLATE, write_tickets


def serving(
    name: str,
    env: dict[str, str],
    emu_url: str,
    tmp_path: Path,
    rows: int,
    log: Path,
    options: tuple[str, ...] = (),
    terminal: int | None = None,
) -> subprocess.Popen[bytes]:
    """`rowrelay deploy` of `rows` tickets (tmp_path/tickets.csv) in a subprocess serving on `emu_url`,
    with `options` besides, its output in `log`; the state dir is tmp_path/state. Stop it with
    `stopped`. `terminal`: a pseudo-terminal's other end, made the process's controlling terminal (its
    stdin), in a session of its own whose group is that terminal's foreground one, as a shell's job."""
    source = write_tickets(tmp_path / "tickets.csv", rows)
    command = [
        sys.executable, "-P", "-m", "rowrelay.flows.cli", "deploy", str(source), "--cron", "0 3 * * *",
        "--name", name,
        "--template", TEMPLATE, "--id-column", "ticket_id", "--state", str(tmp_path / "state"),
        "--output", str(tmp_path / "out.parquet"), *options,
    ]  # fmt: skip
    run_env = {**env, "ROWRELAY_BACKEND": "emulator", "ROWRELAY_BASE_URL": emu_url}
    with log.open("wb") as out:
        if terminal is None:
            return subprocess.Popen(command, cwd=ROOT, env=run_env, stdout=out, stderr=out)
        return subprocess.Popen(
            command, cwd=ROOT, env=run_env, stdin=terminal, stdout=out, stderr=out, start_new_session=True,
            preexec_fn=_controlling_stdin,
        )  # fmt: skip


def _controlling_stdin() -> None:
    """In the new session's leader, before it runs: its stdin becomes its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def stopped(server: subprocess.Popen[bytes]) -> None:
    """Stop a serving process as a supervisor does (SIGTERM), killing it if it does not end in 30 s."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@contextmanager
def served(
    name: str,
    env: dict[str, str],
    emu: RunningEmulator,
    tmp_path: Path,
    rows: int,
    options: tuple[str, ...] = (),
) -> Iterator[tuple[str, Path]]:
    """`serving` for the block (with `options`), its output in tmp_path/serve-NAME.log; yields the
    deployment's full name and the state dir."""
    server = serving(name, env, emu.url, tmp_path, rows, tmp_path / f"serve-{name}.log", options)
    try:
        yield f"rowrelay-batch/{name}", tmp_path / "state"
    finally:
        stopped(server)


async def wait_for_deployment(full_name: str, log: Path) -> object:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + 90
    async with get_client() as client:
        while True:
            try:
                return await client.read_deployment_by_name(full_name)
            except ObjectNotFound:
                assert time.monotonic() < deadline, f"deployment never appeared; see {log}"
                await asyncio.sleep(0.5)


async def plan_runs(deployment_id: object, start: datetime, end: datetime, **limits: int) -> None:
    """Have the Prefect server plan `deployment_id`'s scheduled runs between `start` and `end` (its
    `/deployments/{id}/schedule`), through Prefect's own client, which waits out a 503: a server busy
    with its SQLite database answers one under load, and a bare POST failed the test (a run of the suite
    at load 13)."""
    from prefect.client.orchestration import get_client

    body = {"start_time": start.isoformat(), "end_time": end.isoformat(), **limits}
    async with get_client() as client:
        await client.request(
            "POST", "/deployments/{id}/schedule", path_params={"id": deployment_id}, json=body
        )  # raises for a status the client does not retry
