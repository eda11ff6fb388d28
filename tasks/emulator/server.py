"""Run the emulator: as a foreground server (the CLI) or in a background thread (tests, notebooks)."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from rowrelay.tasks.emulator.app import create_app
from rowrelay.tasks.emulator.config import EmulatorConfig
from rowrelay.tasks.emulator.heap import tuned_for_serving
from rowrelay.tasks.emulator.service import Clock, Emulator


def _uvicorn(app: Starlette, *, log_level: str) -> uvicorn.Server:
    settings = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        http="httptools",
        loop="uvloop",
        lifespan="off",
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
        backlog=4096,
    )
    return uvicorn.Server(settings)


_OPEN_FILES = 65_536
"""The open-file limit a served emulator asks for: each stream holds its connection for the response's
whole life, and rowrelay alone may hold a thousand at once (its `max_in_flight`)."""


def room_for_connections() -> None:
    """Raise this process's soft open-file limit towards `_OPEN_FILES`, as servers commonly do. Many
    systems start a process at 1,024 (macOS at 256): past it the server cannot accept a connection, and a
    client streaming more responses than that at once waited for ever. The run that starts the embedded
    emulator raises its own limit only afterwards, for itself."""
    if sys.platform == "win32":
        return  # no such limit on sockets there
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _OPEN_FILES if hard == resource.RLIM_INFINITY else min(_OPEN_FILES, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):  # macOS caps it below an unlimited hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class CannotListen(Exception):
    """The emulator cannot bind its address (a port in use, a host that is not this machine's)."""


def bind(host: str, port: int) -> socket.socket:
    """Bind before serving, so port 0 resolves to a real port we can announce."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    # Listen now, not when uvicorn gets round to it: whoever reads the announced URL may connect at
    # once, and a bound socket that is not yet listening refuses the connection.
    sock.listen(4096)
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/v1"


def serve(
    config: EmulatorConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    announce: Callable[[str], None] = print,
    log_level: str = "warning",
) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn handles both and shuts down cleanly)."""
    room_for_connections()
    try:
        sock = bind(host, port)
    except OSError as exc:  # taken, not this machine's, not an address: said as the option's fault
        raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    app = create_app(config)
    app.state.emulator.heap = tuned_for_serving().report
    server = _uvicorn(app, log_level=log_level)

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    # uvicorn swaps in its own handlers while serving and, on the way out, re-raises the signal it
    # caught to the handler it found; with the default handlers that kills the process (rc -15, or a
    # KeyboardInterrupt traceback). Ours ends the server, so a signal is a clean exit with rc 0, also
    # when it lands before uvicorn has installed its handlers.
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        announce(f"rowrelay emulator listening on {base_url(sock)}")
        server.run(sockets=[sock])
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class RunningEmulator:
    """An emulator serving from a daemon thread; `url` ends in /v1, `emulator` is its live state."""

    def __init__(self, config: EmulatorConfig, host: str = "127.0.0.1", clock: Clock | None = None) -> None:
        self._sock = bind(host, 0)
        app = create_app(config, clock)
        self.emulator: Emulator = app.state.emulator
        self._server = _uvicorn(app, log_level="error")
        self.url = base_url(self._sock)
        self._thread = threading.Thread(target=self._run, name="rowrelay-emulator", daemon=True)

    def _run(self) -> None:
        # uvicorn installs no signal handlers off the main thread, so the host process keeps its own.
        self._server.run(sockets=[self._sock])

    def start(self) -> RunningEmulator:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the emulator thread died while starting")
            threading.Event().wait(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


@contextlib.contextmanager
def running_emulator(
    config: EmulatorConfig | None = None, clock: Clock | None = None
) -> Iterator[RunningEmulator]:
    """Start an emulator on a free port in a thread; yields it (`.url` is the SDK's base URL).

    `clock` replaces the real one, so a test can move time by hand instead of sleeping through a window.

    >>> with running_emulator() as emu:
    ...     client = openai.OpenAI(base_url=emu.url, api_key="unused")
    """
    running = RunningEmulator(config or EmulatorConfig(), clock=clock).start()
    try:
        yield running
    finally:
        running.stop()
