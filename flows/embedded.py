"""The embedded default backend: a local emulator in its own detached process, reused across runs.

Detached (a new session, its own log) so that a crash or Ctrl-C of `rowrelay run` does not take the
server-side work with it, exactly as with a real API: the next run finds the same emulator, holding the
same responses, and resumes them. Its address and pid are kept in `<home>/emulator.json`, written
atomically: a run starting meanwhile reads the previous record or the new one, never half of one.
"""

from __future__ import annotations

import json
import select
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx

from rowrelay.flows import detached
from rowrelay.tasks.durable import atomic_write_bytes
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.processes import pid_alive

_STARTUP_SECONDS = 30.0
_PREFIX = "rowrelay emulator listening on "
MARKER = "rowrelay.tasks.emulator"
"""What the emulator's command line holds (`detached.runs`)."""


def _answers(url: str) -> bool:
    try:
        # Plain HTTP on loopback: verify=False spares building a certificate store (up to 0.1 s a run).
        return httpx.get(f"{url}/models", timeout=2.0, verify=False).status_code == 200
    except httpx.HTTPError:
        return False


def running_emulator_url(home: Path, args: str) -> str | None:
    """The URL of an embedded emulator started earlier with the same options, if it still answers."""
    info_path = home.expanduser() / "emulator.json"
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        return None
    if info.get("args") != args or not pid_alive(int(info.get("pid", 0))):
        return None
    url = str(info.get("url"))
    return url if _answers(url) else None


_outliving: list[subprocess.Popen[bytes]] = []
"""Emulators started by this process, which outlive it by design: held so that collecting a `Popen` of a
child still running does not warn (it would, once the thread that started it is gone)."""
_early: dict[tuple[Path, str], Future[tuple[str, bool]]] = {}
_early_lock = threading.Lock()


def start_emulator_early(home: Path, args: str) -> None:
    """Reuse or start the embedded emulator in a thread now, for a run that will ask `ensure_emulator` for
    it later: a first run then starts it while waiting for its new Prefect server, not after (~1.5 s)."""
    key = (home.expanduser(), args)
    with _early_lock:
        if key in _early:
            return
        _early[key] = started = Future[tuple[str, bool]]()

    def start() -> None:
        try:
            started.set_result(_reuse_or_start(home, args))
        except BaseException as exc:  # handed to `ensure_emulator`, which raises it where a run expects
            started.set_exception(exc)

    threading.Thread(target=start, name="rowrelay-emulator-start", daemon=True).start()


def ensure_emulator(home: Path, args: str) -> tuple[str, bool]:
    """Reuse the embedded emulator or start one (or take the one `start_emulator_early` is starting);
    returns (base URL, whether it was started by this process)."""
    with _early_lock:
        early = _early.pop((home.expanduser(), args), None)
    return _reuse_or_start(home, args) if early is None else early.result()


def _reuse_or_start(home: Path, args: str) -> tuple[str, bool]:
    url = running_emulator_url(home, args)
    if url is not None:
        return url, False
    home = home.expanduser()
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "emulator.log").open("ab")
    command = [sys.executable, "-P", "-m", "rowrelay.tasks.emulator", "--port", "0", *shlex.split(args)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
    )
    log.close()
    url = _read_url(process)
    _outliving.append(process)
    info = {"url": url, "pid": process.pid, "args": args, "started_at": time.time()}
    atomic_write_bytes(home / "emulator.json", json.dumps(info).encode())
    return url, True


def _read_url(process: subprocess.Popen[bytes]) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], _STARTUP_SECONDS)
    line = process.stdout.readline().decode().strip() if ready else ""
    process.stdout.close()  # the emulator prints only this line; its logs go to the log file
    if not line.startswith(_PREFIX):
        process.kill()
        process.wait()  # reaped: no zombie, and no warning that it still runs when its Popen goes
        raise UsageError(f"the embedded emulator did not start (it said {line!r}); see its emulator.log")
    return line.removeprefix(_PREFIX)


def emulator_record(home: Path) -> dict[str, Any] | None:
    """The embedded emulator's record (url, pid, args, started_at), if one was written."""
    return detached.read_record(home.expanduser() / "emulator.json")


def stop_emulator(home: Path) -> bool:
    """Stop the embedded emulator if one is running (it holds the batch's in-flight work!) and forget it.
    False if none was running (a recorded pid now held by another program is left alone)."""
    record = emulator_record(home)
    (home.expanduser() / "emulator.json").unlink(missing_ok=True)
    stopped = record is not None and detached.stop(int(record.get("pid", 0)), MARKER)
    for process in [p for p in _outliving if record is not None and p.pid == record.get("pid")]:
        process.poll()  # stopped here, and our child: reaped, not left a zombie till this process ends
        _outliving.remove(process)
    return stopped
