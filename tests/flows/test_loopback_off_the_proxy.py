"""Behind a proxy (`HTTP_PROXY`/`HTTPS_PROXY` set, `NO_PROXY` not naming loopback), rowrelay reaches its own
servers on this machine directly.

httpx, Prefect's client, sends loopback requests to the environment's proxy unless `NO_PROXY` names them,
and a proxy elsewhere cannot reach this machine's loopback: a `rowrelay run` behind one waited minutes and
ended "the local Prefect server did not start" (or its configured API "does not answer"), every time.
The proxy here is a port that refuses every connection: what a proxy that cannot reach us amounts to.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.loopback import direct_to_loopback
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.duplicates import jobs_of
from tests.support.tickets import write_tickets

LOOPBACK = "127.0.0.1,localhost,::1"


def test_a_run_behind_a_proxy_reaches_prefect_and_the_emulator_directly(
    prefect_env: dict[str, str], emulator: RunningEmulator, tmp_path: Path, dark_address: str
) -> None:
    proxies = {"HTTP_PROXY": dark_address, "HTTPS_PROXY": dark_address}
    env = env_for(prefect_env, emulator, ROWRELAY_WARM="false", **proxies)  # the command's own imports
    for name in ("NO_PROXY", "no_proxy", "http_proxy", "https_proxy", "all_proxy", "ALL_PROXY"):
        env.pop(name, None)
    source = write_tickets(tmp_path / "tickets.csv", 3)
    done = rowrelay(run_args(source, tmp_path), env, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "EventsWorker" not in done.stderr, done.stderr[-3000:]
    frame = load(tmp_path / "state").set_index("row_key")
    assert set(frame["status"]) == {"completed"}
    started, unanswered = jobs_of(emulator.url)
    assert started == frame["attempts"].to_dict(), "each row's one job, as it counted"
    assert not sum(unanswered.values())


P = "http://proxy:3128"


@pytest.mark.parametrize(
    ("given", "changed"),
    [
        ({}, {}),  # no proxy: the environment is left alone
        ({"NO_PROXY": "corp.example"}, {}),
        ({"HTTPS_PROXY": P}, {"NO_PROXY": LOOPBACK}),
        ({"all_proxy": P, "NO_PROXY": "a, localhost"}, {"NO_PROXY": "a,localhost,127.0.0.1,::1"}),
        # urllib (and so httpx) reads the lower-case name where both are set: both are given loopback
        ({"http_proxy": P, "no_proxy": "a", "NO_PROXY": "b"},
         {"no_proxy": f"a,{LOOPBACK}", "NO_PROXY": f"b,{LOOPBACK}"}),
        ({"HTTP_PROXY": P, "NO_PROXY": "*"}, {}),  # every host bypasses the proxy already
        ({"HTTP_PROXY": "", "NO_PROXY": ""}, {}),  # set empty: no proxy
    ],
)  # fmt: skip
def test_loopback_is_named_in_no_proxy_only_where_a_proxy_is_set(
    given: dict[str, str], changed: dict[str, str]
) -> None:
    environ = dict(given)
    direct_to_loopback(environ)
    assert environ == {**given, **changed}
