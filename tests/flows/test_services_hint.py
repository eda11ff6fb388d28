"""`rowrelay services` tells how to point Prefect's CLI at the local Prefect server only where the shell's
Prefect settings do not point there already (it printed `export PREFECT_API_URL=X` to a user whose
environment held that very X), and says so where they point at another server, which that shell's
`prefect` commands reach instead.

The local server listed is a real `prefect server start` (the session's, recorded under a home of the
test's own as rowrelay records its server): the listing only reads it, and nothing here stops it.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from rowrelay.flows import detached
from rowrelay.flows.local_prefect import ServerRecord, read_server
from rowrelay.flows.services import UNTOLD_PREFECT_CLI, what_they_are
from tests.support.cli import rowrelay

_ELSEWHERE = "http://127.0.0.1:9/api"


def _listening_pid(port: int) -> int:
    pids = {
        connection.pid
        for connection in psutil.net_connections(kind="tcp")
        if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port
    }
    assert len(pids) == 1, pids
    (pid,) = pids
    assert pid is not None
    return pid


def _recorded_server(home: Path, url: str) -> ServerRecord:
    """The session's Prefect server, recorded under `home` as rowrelay records the local server."""
    port = urlsplit(url).port
    assert port is not None
    record = ServerRecord(
        pid=_listening_pid(port), port=port, url=url, ui=url.removesuffix("/api"), started_at=time.time(),
        data=str(home / "prefect"), log=str(home / "prefect-server.log"),
    )  # fmt: skip
    home.mkdir(parents=True)
    detached.write_record(home / "prefect-server.json", asdict(record))
    assert read_server(home) == record
    return record


@pytest.mark.timeout(120)
def test_the_export_hint_is_said_only_where_prefect_points_elsewhere_or_nowhere(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    record = _recorded_server(home, prefect_env["PREFECT_API_URL"])
    plain = {key: value for key, value in prefect_env.items() if key != "PREFECT_API_URL"}
    plain |= {"ROWRELAY_HOME": str(home), "PREFECT_HOME": str(tmp_path / "client-prefect")}

    pointed = rowrelay(["services"], {**plain, "PREFECT_API_URL": record.url})
    assert pointed.returncode == 0, pointed.stderr
    assert pointed.stdout.splitlines()[1].split()[0] == "prefect"  # listed, alive
    assert pointed.stdout.splitlines()[1].split()[-1] == "yes"
    said = what_they_are(["prefect"]) + "\n"  # what the process listed is for, and how to stop it
    assert pointed.stderr == said  # it was: export PREFECT_API_URL=<the address already set>

    unset = rowrelay(["services"], plain)
    assert unset.returncode == 0, unset.stderr
    assert unset.stderr == said + (
        f"to point Prefect's CLI at the local Prefect server: export PREFECT_API_URL={record.url} "
        f"({UNTOLD_PREFECT_CLI})\n"
    )

    elsewhere = rowrelay(["services"], {**plain, "PREFECT_API_URL": _ELSEWHERE})
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert elsewhere.stderr.removeprefix(said).replace("\n", " ").strip() == (
        f"note: Prefect's settings here name another API, {_ELSEWHERE}: Prefect's CLI in this shell (and a "
        f"rowrelay run started from it) reaches that server, not the local Prefect server; to reach this "
        f"one: export PREFECT_API_URL={record.url}"
    )
