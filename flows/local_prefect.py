"""The Prefect server that records `rowrelay run`s when no Prefect API is configured: started once, reused.

Prefect's own answer to "no PREFECT_API_URL" is an ephemeral server started inside every process that
runs a flow: about 3 s to start against an existing database (7-11 s against a new one) and a second or
more to stop, paid by every run. So when neither the environment nor a Prefect profile names an API,
`rowrelay run` starts `prefect server start` once, as a detached process (its own session, so Ctrl-C of
the run does not reach it) on a loopback port of its own (`detached.service_port`), its database under
rowrelay's home (`HOME/prefect/prefect.db`), its output in `HOME/prefect-server.log`; it records pid,
port, URL and start time in `HOME/prefect-server.json` and says so. Later runs find the record, check
that its process is still this server and that it answers, and reuse it; a record that fails either check
is replaced (a server of ours that no longer answers is stopped first). Deciding and starting happen
under a file lock, so two runs starting at once start one server. `rowrelay services` lists it, `rowrelay
services stop prefect` stops it. `ROWRELAY_PREFECT=ephemeral` keeps a per-run server instead, owned by
the run and gone with it however it ends (flows/run_server.py).

Nothing here imports Prefect at module level: the CLI imports this before deciding anything.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from rowrelay.flows import detached
from rowrelay.flows.prefect_api import ApiProbe, configured_api
from rowrelay.flows.prefect_seed import seed_database
from rowrelay.flows.server_guard import ServerGuard
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.loopback import direct_to_loopback
from rowrelay.tasks.settings import Settings

if TYPE_CHECKING:
    from rowrelay.flows.run_server import RunServer

NAME = "prefect"
MARKER = "prefect server start"
"""What a live server's command line holds: a recorded pid without it belongs to someone else now."""
_RECORD, _LOCK, _LOG, _DATA = "prefect-server.json", "prefect-server.lock", "prefect-server.log", "prefect"
_STARTUP_SECONDS = 180.0
"""A new database is migrated at first start: 7-11 s here, much longer on a busy 2-core machine (the same
bound rowrelay gives Prefect's ephemeral server)."""
_PATIENCE_SECONDS = 10.0
"""How long a recorded server of ours that does not answer gets before it is taken to be hung."""
_HEALTH_SECONDS = 2.0
"""How long the guard's health check waits for an answer (a loopback call: milliseconds when healthy)."""
_HUNG_STOP_SECONDS = 2.0
_PORT_ATTEMPTS = 3
_ADDRESS = ("--host", "127.0.0.1", "--port")


@dataclass(frozen=True)
class ServerRecord:
    pid: int
    port: int
    url: str
    """The API, `http://127.0.0.1:PORT/api`: what PREFECT_API_URL would be."""
    ui: str
    started_at: float
    data: str
    """PREFECT_HOME of the server: its SQLite database and UI files."""
    log: str

    @classmethod
    def of(cls, record: dict[str, Any] | None) -> ServerRecord | None:
        try:
            return None if record is None else cls(**record)
        except TypeError:
            return None  # a record of another shape (an older rowrelay): replaced like a stale one


def read_server(home: Path) -> ServerRecord | None:
    return ServerRecord.of(detached.read_record(home.expanduser() / _RECORD))


def alive(record: ServerRecord) -> bool:
    return detached.runs(record.pid, MARKER)


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether the API at `url` says it is healthy. Plain HTTP on loopback: no certificate store to
    load (`verify=False` skips building one, 20-70 ms of every run's health check)."""
    try:
        return httpx.get(f"{url}/health", timeout=timeout, verify=False).status_code == 200
    except httpx.HTTPError:
        return False


def stop_server(home: Path) -> ServerRecord | None:
    """Stop the recorded server if it runs and forget it; returns what was stopped."""
    home = home.expanduser()
    with detached.exclusive(home / _LOCK):
        record = read_server(home)
        (home / _RECORD).unlink(missing_ok=True)
    return record if record is not None and detached.stop(record.pid, MARKER) else None


class PrefectTracking:
    """Where this process's flow runs are recorded. `begin` decides, and starts the local server if one
    is needed without waiting for it (it warms up while the caller imports the flow); `applied` waits
    for it and points Prefect's client at it for the block."""

    def __init__(self, home: Path | None) -> None:
        self.home = home
        self.record: ServerRecord | None = None
        self.started: subprocess.Popen[bytes] | None = None  # when this run started the server
        self.owned: RunServer | None = None  # ROWRELAY_PREFECT=ephemeral: this run's own server
        self._lock = contextlib.ExitStack()
        self._failure: Exception | None = None
        self.probe: ApiProbe | None = None  # the API the user configured, asked whether it answers
        self._waited = False

    @classmethod
    def begin(cls, settings: Settings) -> PrefectTracking:
        """Nothing to start when the user configured an API; a server for this run alone in ephemeral mode."""
        direct_to_loopback(os.environ)  # a run from Python: Prefect's client must reach our server directly
        api = configured_api()
        if api is not None:
            tracking = cls(None)
            tracking.probe = ApiProbe(api)
            return tracking
        if settings.prefect == "ephemeral":
            from rowrelay.flows.run_server import RunServer

            tracking = cls(None)
            try:
                tracking.owned = RunServer.start(settings.home.expanduser())
            except OSError as exc:  # said in `applied`, as below
                tracking._failure = exc
            return tracking
        tracking = cls(settings.home.expanduser())
        try:
            tracking._reuse_or_start()
        except Exception as exc:  # said in `applied`, where the CLI turns it into one line
            tracking._lock.close()
            tracking._failure = exc
        return tracking

    def _reuse_or_start(self) -> None:
        assert self.home is not None
        self._lock.enter_context(detached.exclusive(self.home / _LOCK))
        record = read_server(self.home)
        if record is not None and alive(record):
            patience = max(_PATIENCE_SECONDS, record.started_at + _STARTUP_SECONDS - time.time())
            if _answers_within(record, patience):
                self.record = record
                return
            detached.stop(record.pid, MARKER)  # ours, and hung: replaced, not left running
        # Back on its port: a run still holding its URL (whose guard may be starting it too) reaches it.
        self._start(None if record is None else record.port)

    def _start(self, port: int | None = None) -> tuple[subprocess.Popen[bytes], ServerRecord]:
        """Spawn the server on `port` if nothing listens there, else on a free port, and record it.
        (`_wait` takes an answer at the URL for this server's, so never a port something else holds.)"""
        assert self.home is not None
        data = self.home / _DATA
        data.mkdir(parents=True, exist_ok=True)
        # A new database starts at the head revision with the block types in it: nothing to migrate, and
        # nothing to register at this first start.
        seeded = seed_database(data)
        log = self.home / _LOG
        if port is None or not detached.port_free(port):
            port = detached.service_port(str(self.home))
        command = detached.python("-m", "prefect", "server", "start", *_ADDRESS, str(port))
        # Not rowrelay's settings nor any API key: a long-lived process has no use for them.
        env = detached.passed_on(os.environ)
        env.update(PREFECT_HOME=str(data), PREFECT_SERVER_ANALYTICS_ENABLED="false")
        if seeded:
            env["PREFECT_API_BLOCKS_REGISTER_ON_START"] = "false"
        # Prefect keeps runs, logs and artifacts for ever (25 KB a run: 215 MB a month for a job every 5
        # minutes); vacuumed, those ended past its retention go (90 days, ..._RETENTION_PERIOD). Yours wins.
        env.setdefault("PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED", "events,flow_runs")
        self.started = detached.spawn(command, log, env)
        base = f"http://127.0.0.1:{port}"
        # Recorded at once, before it answers: a run killed while waiting leaves a record, not a stray.
        self.record = ServerRecord(
            self.started.pid, port, f"{base}/api", base, time.time(), str(data), str(log)
        )
        detached.write_record(self.home / _RECORD, asdict(self.record))
        return self.started, self.record

    def _wait(self) -> None:
        """Until the server this run started answers; another port if it lost the race for its own."""
        assert self.home is not None
        for attempt in range(_PORT_ATTEMPTS):
            process, record = self._start() if attempt else (self.started, self.record)
            assert process is not None
            assert record is not None
            deadline = time.monotonic() + _STARTUP_SECONDS
            while process.poll() is None and time.monotonic() < deadline:
                if answers(record.url, timeout=1.0):
                    return
                time.sleep(0.1)
            if process.poll() is None:  # never answered: stopped rather than left starting forever
                detached.stop(record.pid, MARKER)
                break
            # It exited: most likely another process took its port meanwhile; the next try picks another.
        (self.home / _RECORD).unlink(missing_ok=True)
        raise UsageError(
            f"the local Prefect server did not start (see {self.home / _LOG}); set PREFECT_API_URL to a "
            "Prefect server, or ROWRELAY_PREFECT=ephemeral"
        )

    def ready(self) -> None:
        """Wait until a server this run started answers; then let go of the start's lock. `applied` waits
        here; a caller on an event loop (a notebook's `run_batch`) calls it first in a thread, so its loop
        goes on serving during a first start's seconds."""
        with self._lock:
            if self.started is not None and not self._waited:
                self._wait()
            self._waited = True

    def check_reachable(self) -> None:
        """Refuse (UsageError) a run whose configured Prefect API cannot be reached: Prefect's engine would
        end it at its first call with a traceback."""
        if self.probe is None:
            return
        problem = self.probe.problem()
        if problem is not None:
            raise UsageError(
                f"the Prefect API this run is configured to record in, {self.probe.url}, cannot be reached "
                f"({problem}); start that server, or point PREFECT_API_URL at one that runs (with none "
                "configured, rowrelay records runs in a Prefect server of its own); nothing was sent"
            )

    @contextlib.contextmanager
    def applied(self, say: Callable[[str], object]) -> Iterator[None]:
        """Wait for the server, say where its UI is, and point Prefect's client at it for the block."""
        if self._failure is not None:
            raise UsageError(f"could not start a Prefect server for this run: {self._failure}")
        self.check_reachable()
        if self.owned is not None:
            from prefect.settings import PREFECT_API_URL, temporary_settings

            with temporary_settings(updates={PREFECT_API_URL: self.owned.url()}):
                yield
            return
        if self.record is None:
            yield
            return
        self.ready()
        if self.started is not None:
            say(
                f"started a Prefect server for this and later runs (pid {self.record.pid}, data in "
                f"{self.record.data}); `rowrelay services stop prefect` stops it"
            )
        say(f"Prefect UI: {self.record.ui}")
        from prefect.settings import PREFECT_API_URL, temporary_settings

        guard = ServerGuard("the local Prefect server", lambda: self.record is None or alive(self.record),
                            self._revive, say, answers=self._answers)  # fmt: skip
        with temporary_settings(updates={PREFECT_API_URL: self.record.url}), guard:
            yield

    def _answers(self) -> bool:
        """Whether the server this run uses answers its health check (the guard's second question)."""
        return self.record is None or answers(self.record.url, timeout=_HEALTH_SECONDS)

    def _revive(self) -> str | None:
        """The server this run uses is gone, or hung: start it again on the same port, where this run's
        client (which holds that URL) finds it at its next retry. Under the lock, as any start: another
        run using it may have started it first. A hung one (its process there, no answer: frozen with
        SIGSTOP, say) is stopped first: its calls would never be answered, and it holds the port."""
        assert self.home is not None
        assert self.record is not None
        gone = self.record
        how = "stopped"
        with detached.exclusive(self.home / _LOCK):
            current = read_server(self.home)
            if current is not None and current.port == gone.port and alive(current):
                if answers(current.url, timeout=_HEALTH_SECONDS):
                    self.record = current
                    return None
                # SIGKILL soon after SIGTERM: a frozen process does not act on SIGTERM until resumed.
                detached.stop(current.pid, MARKER, timeout=_HUNG_STOP_SECONDS)
                how = "stopped answering"
            if not detached.port_freed(gone.port):  # a server elsewhere would not help: the URL is fixed
                raise OSError(f"another program listens on its port, {gone.port}")
            self.started, self.record = self._start(gone.port)
        return (
            f"the local Prefect server (pid {gone.pid}) {how} during this run; started it again on its "
            f"port (pid {self.record.pid}, log {self.record.log}) so the run goes on being recorded"
        )


def _answers_within(record: ServerRecord, patience: float) -> bool:
    deadline = time.monotonic() + patience
    while alive(record):
        if answers(record.url):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return False
