"""A real Prefect API for tests and benchmarks: `prefect server start` on a free port.

Its own PREFECT_HOME, UI and telemetry off; callers reach it through the PREFECT_API_URL in the
environment this yields.

Under pytest-xdist the workers share one server (`shared_prefect_server`), started by the first worker
that needs it and stopped by the controller once every worker is done (`stop_shared_prefect_server`).
One per worker cost each further worker a start (~4.5 CPU-seconds) and an idle server's housekeeping
(~1.7% of a core, some 18 CPU-seconds over a run): 139 CPU-seconds for the three servers of a run
against ~95 for one serving the same requests. Tests keep apart on it as they did within a worker: every
read is by the test's own flow run, state directory or deployment name (tests/support/prefect_records.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from rowrelay.flows.detached import free_port
from rowrelay.flows.prefect_seed import seed_database

_RECORD = "prefect-server.json"
_STARTED: list[subprocess.Popen[bytes]] = []
"""The shared server this worker started, held so its Popen is never collected (and warned about) while
it runs on for the other workers."""


_IDLE_SERVICES = ("FOREMAN", "PAUSE_EXPIRATIONS", "REPOSSESSOR", "CLEANUP_RECONCILER", "LATE_RUNS")
"""The server's loops that nothing in the suite needs: worker health (no work pool has a worker), paused
runs' expiry (no run pauses), concurrency leases (no limit is set) and their cleanup, and marking due
runs Late (a runner starts a due run whether it is `Scheduled` or `Late`, and no test asserts the name).
They woke every few seconds for the whole run: an idle server took 1.05, 1.24 and 1.52 CPU-s a minute
with them, 0.98 and 1.08 without (a few CPU-s a run); and `Late`'s writes met the workers' (46 'database
is locked' tracebacks in one run's server log).
The scheduler, event persister, triggers, actions and task-run recorder stay: the deployment, stored
event, automation and task-run tests rely on them."""


def _server_env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        **{f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false" for name in _IDLE_SERVICES},
    }


def _client_env(home: Path, url: str) -> dict[str, str]:
    """This process's environment pointed at the server serving `home` at `url`."""
    return {**_server_env(home), "PREFECT_API_URL": url, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}


def _start(home: Path, *, new_session: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    seed_database(home)  # as rowrelay's local server's first start: no migrations (flows/prefect_seed.py)
    with (home / "server.log").open("wb") as log:
        server = subprocess.Popen(
            command, env=_server_env(home), stdout=log, stderr=log, start_new_session=new_session
        )
    return server, url


@contextlib.contextmanager
def prefect_server(home: Path, *, startup_timeout: float = 180) -> Iterator[dict[str, str]]:
    """Serve a Prefect API until the block ends; yields the environment that points at it."""
    server, url = _start(home, new_session=False)
    try:
        _wait_healthy(server, url, home, startup_timeout)
        yield _client_env(home, url)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def shared_prefect_server(shared: Path, *, startup_timeout: float = 180) -> dict[str, str]:
    """The environment pointing at the one server of the folder `shared` (the xdist controller's), started
    now if no worker has started it yet. It outlives this worker: `stop_shared_prefect_server` ends it."""
    with (shared / "prefect-server.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other workers wait here for the one starting it
        record = shared / _RECORD
        if not record.exists():
            home = shared / "prefect-home"
            home.mkdir(exist_ok=True)
            # A session of its own: a Ctrl-C meant for this worker's tests is not the other workers' end.
            server, url = _start(home, new_session=True)
            _STARTED.append(server)
            _wait_healthy(server, url, home, startup_timeout)
            record.write_text(json.dumps({"pid": server.pid, "url": url, "home": str(home)}))
        started = json.loads(record.read_text())
    return _client_env(Path(started["home"]), started["url"])


def stop_shared_prefect_server(shared: Path) -> None:
    """Stop the server a worker started in `shared`, if any, once no worker uses it (the controller's end)."""
    record = shared / _RECORD
    if not record.exists():
        return
    pid = int(json.loads(record.read_text())["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    record.unlink()


def _alive(pid: int) -> bool:
    """Whether `pid` still runs: its starter (a worker, gone by now) cannot wait for it, so it ends as a
    zombie until init reaps it, and a zombie has stopped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _wait_healthy(server: subprocess.Popen[bytes], url: str, home: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"prefect server did not start: {(home / 'server.log').read_text()[-2000:]}")
        time.sleep(0.25)
