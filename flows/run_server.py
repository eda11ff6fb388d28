"""`ROWRELAY_PREFECT=ephemeral`: a Prefect server for one run only, owned by it and gone when it ends.

Prefect's own ephemeral server (a `uvicorn` subprocess the client starts when no API is configured) is
stopped by an `atexit` hook, which a SIGKILL of the run (an OOM killer, `kill -9`) never runs: each such
kill left a ~200 MB server running for ever. So rowrelay starts that per-run server itself, in the
client's PREFECT_HOME as Prefect would (the same database), leashed to the run (flows/leash.py: the kernel
sends it SIGTERM when the run dies, however it dies), in its own session (a Ctrl-C of the run does not
stop it while the run still reports its final state), and points Prefect's client at it. A normal exit
stops it at `atexit`, registered before Prefect's log and event workers register theirs, so (hooks run
last-registered first) the run's last logs reach it before it stops.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import time
from pathlib import Path

from rowrelay.flows import detached
from rowrelay.flows.leash import leashed
from rowrelay.flows.local_prefect import answers
from rowrelay.tasks.errors import UsageError

_STARTUP_SECONDS = 180.0
_STOP_SECONDS = 10.0
_PORT_ATTEMPTS = 3
LOG = "prefect-run-server.log"


class RunServer:
    """A `prefect server start` owned by this process: `start` spawns it, `url` waits until it answers."""

    def __init__(self, log: Path) -> None:
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None
        self._api = ""

    @classmethod
    def start(cls, home: Path) -> RunServer:
        """Spawn it (call from the main thread: see flows/leash.py); it warms up while the caller works."""
        home.mkdir(parents=True, exist_ok=True)
        server = cls(home / LOG)
        server._spawn()
        atexit.register(server.stop)
        return server

    def _spawn(self) -> None:
        port = detached.free_port()
        address = ["--host", "127.0.0.1", "--port", str(port)]
        command = detached.python("-m", "prefect", "server", "start", *address)
        env = detached.passed_on(os.environ)
        env.update(PREFECT_UI_ENABLED="false", PREFECT_SERVER_ANALYTICS_ENABLED="false")
        with self._log.open("ab") as sink:
            self._process = subprocess.Popen(
                leashed(command), stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True,
            )  # fmt: skip
        self._api = f"http://127.0.0.1:{port}/api"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def url(self) -> str:
        """The API's URL once it answers; another port if it lost the race for its own."""
        for attempt in range(_PORT_ATTEMPTS):
            if attempt:
                self._spawn()
            process = self._process
            assert process is not None
            deadline = time.monotonic() + _STARTUP_SECONDS
            while process.poll() is None and time.monotonic() < deadline:
                if answers(self._api, timeout=1.0):
                    return self._api
                time.sleep(0.1)
            if process.poll() is None:
                break  # never answered: stopped below rather than left starting
        self.stop()
        raise UsageError(
            f"this run's Prefect server did not start (see {self._log}); set PREFECT_API_URL to a Prefect "
            "server, or leave ROWRELAY_PREFECT unset for rowrelay's local one"
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
