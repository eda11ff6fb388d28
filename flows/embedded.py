"""The embedded default backend: a local emulator in its own detached process, reused across runs.

Detached (a new session, its own log) so that a crash or Ctrl-C of `rowrelay run` does not take the
server-side work with it, exactly as with a real API: the next run finds the same emulator, holding the
same responses, and resumes them. Its address, pid and options are kept in `<home>/emulator.json`,
written atomically: a run starting meanwhile reads the previous record or the new one, never half of one.

One emulator per option set (`ROWRELAY_EMULATOR_ARGS`) and version of the emulator's code: a run with
other options, or after an upgrade (or an edit of a checkout's emulator), starts its own, and the one it
replaces in `emulator.json` is not stopped (a batch may be running against it) but set aside, still
recorded, as `emulator-<hash of its options and code>.json`, where a run with those finds it again.
`rowrelay services` lists them all and `services stop emulator` stops them all; a run stops one set
aside once no run uses it and it holds no response a batch could resume (`emulators_set_aside`).
Deciding and starting happen under a file lock, so two runs starting at once start one emulator. Where
each is recorded, and which record is the one a run would start now, is `emulator_records`'.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import select
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from rowrelay.flows import detached
from rowrelay.flows.emulator_records import (
    MARKER,
    emulator_code,
    emulator_records,
    emulator_runs_at,
    is_current,
    record_path,
)
from rowrelay.flows.emulators_set_aside import stop_unneeded
from rowrelay.flows.server_guard import ServerGuard
from rowrelay.tasks.durable import atomic_write_bytes
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.processes import pid_alive
from rowrelay.tasks.records import rows

RESPONSES_LOST = "the responses it held are gone, so their rows are sent again (the emulator charges nothing)"
"""What a run says of the embedded emulator that made its batch's responses and stopped, however it finds
it so: during the run (`kept_up`) or since the batch's last run (`stopped_since`)."""
_STARTUP_SECONDS = 30.0
_PREFIX = "rowrelay emulator listening on "
_FRAME = " \u2500\u2502\u256d\u256e\u256f\u2570"
"""The box its command line's errors come framed in (rich's), stripped from the line a failed start says."""


def _answers(url: str) -> bool:
    try:
        # Plain HTTP on loopback: verify=False spares building a certificate store (up to 0.1 s a run).
        # One told to require a key (`--api-key`) answers this keyless request 401: it answers. Taken for
        # hung, it was stopped by the next run, the responses it held for a batch gone with it.
        return httpx.get(f"{url}/models", timeout=2.0, verify=False).status_code in (200, 401)
    except httpx.HTTPError:
        return False


def running_emulator_url(home: Path, args: str) -> str | None:
    """The URL of an embedded emulator started earlier with the same options, if it still answers."""
    home = home.expanduser()
    for path in (record_path(home), record_path(home, args)):
        info = detached.read_record(path)
        if info is None or not is_current(info, args) or not pid_alive(int(info.get("pid", 0))):
            continue
        url = str(info.get("url"))
        if _answers(url):
            return url
    return None


_early: dict[tuple[Path, str], Future[tuple[str, bool]]] = {}
_EARLY_START_PATIENCE = 60.0
"""Seconds a process leaving waits, at most, for an emulator it began starting to be recorded."""
_early_lock = threading.Lock()


def start_emulator_early(home: Path, args: str) -> None:
    """Reuse or start the embedded emulator in a thread now, for a run that will ask `ensure_emulator` for
    it later: a first run then starts it while waiting for its new Prefect server, not after (~1.5 s)."""
    key = (home.expanduser(), args)
    with _early_lock:
        if key in _early:
            return
        _early[key] = started = Future[tuple[str, bool]]()
    # Only while the start runs: a warm runner serves run after run, and a waiter kept per run would pile up.
    waiter = functools.partial(_finish_starting, started)
    atexit.register(waiter)

    def start() -> None:
        try:
            started.set_result(_reuse_or_start(home, args))
        except BaseException as exc:  # handed to `ensure_emulator`, which raises it where a run expects
            started.set_exception(exc)
        finally:
            atexit.unregister(waiter)  # this partial alone: partials compare by identity

    threading.Thread(target=start, name="rowrelay-emulator-start", daemon=True).start()


def _finish_starting(started: Future[tuple[str, bool]]) -> None:
    """At exit, let an early start end. A run refused once the start was under way (a configured address
    that is no Prefect API, found by Prefect's engine) left the process spawned but its record unwritten,
    as the starting thread died with the command: an emulator no `rowrelay services stop` could find."""
    with contextlib.suppress(Exception):
        started.exception(timeout=_EARLY_START_PATIENCE)


def ensure_emulator(home: Path, args: str) -> tuple[str, bool]:
    """Reuse the embedded emulator or start one (or take the one `start_emulator_early` is starting);
    returns (base URL, whether it was started by this process)."""
    with _early_lock:
        early = _early.pop((home.expanduser(), args), None)
    return _reuse_or_start(home, args) if early is None else early.result()


def _reuse_or_start(home: Path, args: str) -> tuple[str, bool]:
    home = home.expanduser()
    with detached.exclusive(home / "emulator.lock"):
        url, started = running_emulator_url(home, args), False
        if url is None:
            for path in (record_path(home), record_path(home, args)):
                _clear(path, args)
            url, started = str(_start(home, args)["url"]), True
        # Those set aside (another release's, other options) that no batch can need any longer: else one
        # more ran for ever with each upgrade, under a job that never stops its services.
        stop_unneeded(home, args)
        return url, started


def _clear(path: Path, args: str) -> None:
    """Make way for a new emulator of options `args`. One of these options recorded at `path` no longer
    answers: stopped (it is hung) and forgotten. One of other options that still runs stays running, and
    recorded: set aside under its own options' name."""
    record = detached.read_record(path)
    if record is None:
        return
    pid = int(record.get("pid", 0))
    if is_current(record, args):
        detached.stop(pid, MARKER)
        path.unlink(missing_ok=True)
    elif detached.runs(pid, MARKER):
        aside = record_path(path.parent, str(record.get("args")), str(record.get("code")))
        detached.write_record(aside, record)


def _start(home: Path, args: str, port: int = 0) -> dict[str, Any]:
    """Start an emulator (on `port`, or a free one) and record it; returns its record."""
    log_path = home / "emulator.log"
    log = log_path.open("ab")
    start_of_ours = log.seek(0, os.SEEK_END)  # what this start writes there begins here
    command = detached.python("-m", "rowrelay.tasks.emulator", "--port", str(port), *shlex.split(args))
    # Long-lived, as the Prefect server: no key of this run's (`passed_on`); its home, to be found by.
    env = {**detached.passed_on(os.environ), "ROWRELAY_HOME": str(home)}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True, env=env
    )
    log.close()
    url = _read_url(process, log_path, start_of_ours)
    detached.outlive(process)
    info = {"url": url, "pid": process.pid, "args": args, "code": emulator_code(), "started_at": time.time()}
    atomic_write_bytes(record_path(home), json.dumps(info).encode())
    return info


def _read_url(process: subprocess.Popen[bytes], log_path: Path, start_of_ours: int) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], _STARTUP_SECONDS)
    line = process.stdout.readline().decode().strip() if ready else ""
    process.stdout.close()  # the emulator prints only this line; its logs go to the log file
    if not line.startswith(_PREFIX):
        process.kill()
        process.wait()  # reaped: no zombie, and no warning that it still runs when its Popen goes
        raise UsageError(f"the embedded emulator did not start ({_why(line, log_path, start_of_ours)})")
    return line.removeprefix(_PREFIX)


def _why(line: str, log_path: Path, start_of_ours: int) -> str:
    """Why an emulator did not start, in its words: the last line its stderr wrote to the log (only its
    stdout's first line was said, empty for a bad option), framing stripped; and the log's full path."""
    with contextlib.suppress(OSError), log_path.open("rb") as log:
        log.seek(start_of_ours)
        said = [text.strip(_FRAME) for text in log.read().decode(errors="replace").splitlines()]
        line = next((text for text in reversed(said) if text), line)
    return f"it said {line!r}; see {log_path}" if line else f"it said nothing; see {log_path}"


@contextlib.contextmanager
def kept_up(home: Path, args: str, url: str, say: Callable[[str], object]) -> Iterator[None]:
    """While the block runs, start the embedded emulator at `url` again whenever its process is gone
    (stopped from another terminal, killed, crashed), on the same port: the run's clients hold that URL.
    Left alone, every row waited out `--give-up-after` (an hour) on a server that was never coming
    back, the run's warning saying it would send them once the server answered. The responses the
    emulator held are gone with it: their rows find them unknown, are recorded expired and sent again,
    which on the emulator costs nothing."""

    def revive() -> str | None:
        expanded = home.expanduser()
        with detached.exclusive(expanded / "emulator.lock"):
            if emulator_runs_at(expanded, url):
                return None  # another run started it first
            port = int(urlsplit(url).port or 0)
            if not detached.port_freed(port):  # one elsewhere would not help: the URL is fixed
                raise OSError(f"another program listens on its port, {port}")
            paths = (record_path(expanded), record_path(expanded, args))
            for record in filter(None, map(detached.read_record, paths)):
                pid = int(record.get("pid", 0))
                if is_current(record, args) and record.get("url") != url and detached.runs(pid, MARKER):
                    # `_clear` would stop it, and some other run may be using it.
                    raise OSError(
                        f"another embedded emulator of the same options now runs, at {record['url']}"
                    )
            for path in paths:
                _clear(path, args)
            started = _start(expanded, args, port)
        return (
            f"the embedded emulator stopped during this run; started it again at {url} (pid "
            f"{started['pid']}): {RESPONSES_LOST}"
        )

    with ServerGuard("the embedded emulator", lambda: emulator_runs_at(home, url), revive, say):
        yield


def stopped_since(home: Path, url: str, made_before: Callable[[float], int]) -> str | None:
    """The line for a run whose batch's rows hold responses made before the embedded emulator now at `url`
    started: an earlier one's (killed, stopped by `services stop`, a reboot since the batch's last run),
    gone with it, so those rows find them unknown, are recorded expired and are sent again, as after a
    restart during a run, which alone was said. `made_before(t)`: how many rows hold a response made
    before the epoch time `t`. None when none does (or no running emulator is recorded at `url`)."""
    for record in emulator_records(home):
        pid = int(record.get("pid", 0))
        if record.get("url") != url or not detached.runs(pid, MARKER):
            continue
        lost = made_before(float(record.get("started_at", 0.0)))
        if not lost:
            return None
        return (
            f"the embedded emulator stopped after this batch's last run left {rows(lost)} in flight; it now "
            f"runs at {url} (pid {pid}): {RESPONSES_LOST}"
        )
    return None


def stop_emulator(home: Path) -> bool:
    """Stop every recorded embedded emulator still running (they hold batches' in-flight work!) and
    forget them. False if none was running (a recorded pid now held by another program is left alone)."""
    home = home.expanduser()
    with detached.exclusive(home / "emulator.lock"):
        records = emulator_records(home)
        for path in [record_path(home), *home.glob("emulator-*.json")]:
            path.unlink(missing_ok=True)
    stopped = False
    for record in records:
        stopped = detached.stop(int(record.get("pid", 0)), MARKER) or stopped
    return stopped
