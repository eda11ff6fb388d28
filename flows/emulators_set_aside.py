"""Stopping the embedded emulators set aside that no batch can need any longer.

An upgrade of rowrelay, or a changed `ROWRELAY_EMULATOR_ARGS`, starts a new emulator and sets the one it
replaces aside (`embedded._clear`), still running: a batch killed mid-run against it holds response ids
only it knows, and resumes on it (its `run.json` names it by its URL: `rowrelay cancel` reaches it there,
and a run with its options again finds it). Left running until `rowrelay services stop emulator`, one more
each upgrade (45-57 MB each) ran for ever under a job that never stops its services.

The rule, checked at each run's start (`embedded._reuse_or_start`, under the emulator lock) for every
recorded emulator a run with this run's options would not use (another option set, or another release's
code): it is stopped, and its record forgotten, when both

- no rowrelay process holds a connection to its port (`service_users.users`): no run is using it; and
- it holds no response (`GET /emulator/stats`: its responses by status, those past its `--retention`
  already left out), so no batch has anything there to collect or cancel. One never sent a batch's rows
  holds none, and is stopped at once; one that was goes once its retention has passed since the last
  response it made, when a batch resuming on it would find each expired and send the row again anyway,
  as on a new one. One with no `--retention` holds its responses for ever, and so is kept.

One that cannot say what it holds (not answering, or answering unlike an emulator) is kept: stopping it
might lose what a batch waits for. A run of another release starting on it between the check and the
stop is told the emulator stopped and starts it again (its rows sent again, which costs nothing).
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx

from rowrelay.flows import detached
from rowrelay.flows.emulator_records import MARKER, is_current, record_path
from rowrelay.flows.service_users import port_of, users

log = logging.getLogger("rowrelay.services")

__all__ = ["stop_unneeded"]


def stop_unneeded(home: Path, args: str) -> list[int]:
    """Stop the running emulators recorded under `home` that a run of options `args` would not use, that
    no run uses and that hold no response; forget their records. Returns their pids. Call it holding
    the emulator lock."""
    in_use = detached.read_record(record_path(home))
    stopped = []
    for path in sorted(home.glob("emulator-*.json")):
        record = detached.read_record(path)
        if record is None or is_current(record, args):
            continue
        pid, url = int(record.get("pid", 0)), str(record.get("url", ""))
        if in_use is not None and in_use.get("pid") == pid:
            continue  # also the last started (set aside by a run that then failed to start its own)
        if not detached.runs(pid, MARKER):
            continue  # gone already: `rowrelay services` shows it as such
        port = port_of(url)
        if port is None or users(pid, port) or _holds(url) != 0:
            continue
        detached.stop(pid, MARKER)
        path.unlink(missing_ok=True)
        log.info("stopped the embedded emulator at %s (pid %d): set aside, unused, holding nothing", url, pid)
        stopped.append(pid)
    return stopped


def _holds(url: str) -> int | None:
    """How many responses the emulator at base URL `url` holds (unexpired); None if it cannot say."""
    root = url.rstrip("/").removesuffix("/v1")
    try:
        # Unkeyed: its inspection routes need no key, whatever `--api-key` it was given.
        stats = httpx.get(f"{root}/emulator/stats", timeout=2.0, verify=False).json()
        held = stats["final_status"]
        return sum(int(count) for count in held.values())
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        return None
