"""A real Prefect API for flow, CLI and deployment tests: one `prefect server start` per test session.

PREFECT.md §5: a server on a free port with its own PREFECT_HOME, UI and telemetry off, reached
through PREFECT_API_URL. In-process flows get it through `temporary_settings`; subprocesses (the CLI,
`flow.serve`) through their environment.
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def prefect_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    log = (home / "server.log").open("wb")
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            log.close()
            raise RuntimeError(f"prefect server did not start: {(home / 'server.log').read_text()[-2000:]}")
        time.sleep(0.25)
    try:
        yield {**env, "PREFECT_API_URL": url, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture
def prefect_api(prefect_env: dict[str, str]) -> Iterator[str]:
    """Point this process's Prefect client at the session's server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect_env["PREFECT_API_URL"]}):
        yield prefect_env["PREFECT_API_URL"]


_PREFECT_LEFTOVERS = (
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning",
    "ignore:Exception ignored in. <function _SelectorTransport.__del__"
    ":pytest.PytestUnraisableExceptionWarning",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Prefect's API client leaves keep-alive sockets and transports for the garbage collector; in
    flow tests only, those two unraisable warnings (Prefect's housekeeping, not ours) are let through."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            for spec in _PREFECT_LEFTOVERS:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture(autouse=True)
def _collect_prefect_client_leftovers() -> Iterator[None]:
    """Prefect's API client leaves keep-alive sockets and transports for the garbage collector.
    Collect them here, with ResourceWarning silenced for just this sweep, so the warning (Prefect's
    housekeeping, not ours) cannot surface as an error in whichever test the GC happens to run in."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
