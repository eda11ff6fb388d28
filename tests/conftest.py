"""Shared fixtures: a real emulator over a real socket, one per test unless a test configures its own;
a real Prefect API for flow, CLI, deployment and notebook tests, one `prefect server start` per run
(shared by pytest-xdist's workers: tests/prefect_server.py says why).

The server runs on a free port with its own PREFECT_HOME, UI and telemetry off, reached
through PREFECT_API_URL. In-process flows get it through `temporary_settings` (`prefect_api`);
subprocesses (the CLI, `flow.serve`, a notebook's kernel) through their environment (`prefect_env`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, RunningEmulator, running_emulator
from tests.prefect_server import prefect_server, shared_prefect_server, stop_shared_prefect_server
from tests.support.dark_port import dark_port
from tests.support.local_prefect import stopped_afterwards
from tests.support.warm import start_runner

_PREFECT_LEFTOVERS = (
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning",
    "ignore:Exception ignored in. <function _SelectorTransport.__del__"
    ":pytest.PytestUnraisableExceptionWarning",
)
"""Sockets and transports left for the garbage collector by libraries the test drives: Prefect's clients
(its engine's own sync client did, per flow run, before flows/tracked_flow.py gave the run one), and
distributed's connect, which leaves the socket of a failed handshake (tests/cluster/test_address.py)."""
_FLOW_TESTS = Path(__file__).parent / "flows"
_SHARED = pytest.StashKey[Path]()
"""The xdist controller's folder for what its workers share: the run's one Prefect server."""
_SHARED_INPUT = "rowrelay_shared"


def _meets_prefect(item: pytest.Item) -> bool:
    """Whether the test may run Prefect's client in this process: a flow or CLI test, or any test on the
    session's Prefect API (the Dask and notebook tests too)."""
    return "prefect_env" in getattr(item, "fixturenames", ()) or _FLOW_TESTS in Path(str(item.path)).parents


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with slow tests first. A worker takes a whole file at a time (`--dist loadfile`), so a slow
    file collected late (alphabetically) ran while the other workers, done with theirs, sat idle. xdist
    then hands files out by their number of tests, most first (this order breaks its ties). Holding this
    order instead (`--no-loadscope-reorder`) gained nothing measured: 937 s against 946 s for the
    default, back to back on a machine that had slowed (643 s for the default two hours before).

    In tests that meet Prefect, the two unraisable warnings its leftovers raise when collected (Prefect's
    housekeeping, not ours) are let through."""
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow)  # stable: each file's tests keep their order
    for item in items:
        if _meets_prefect(item):
            for spec in _PREFECT_LEFTOVERS:
                item.add_marker(pytest.mark.filterwarnings(spec))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Leave what collection built out of every later garbage collection. A worker collects the whole
    suite (every test module, Prefect, pandas, Dask and the SDK imported: some 420,000 objects), and each
    full collection walked all of it again: 0.2 s for each sweep below, after each of some 650 tests,
    besides the interpreter's own full collections. Objects made from here on, which is all a test can
    leave behind, are collected as before (and what lives on when a test ends is frozen in turn if that
    test's run unfroze the heap: `_collect_prefect_leftovers`)."""
    gc.collect()  # garbage made while collecting is freed, not frozen
    gc.freeze()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist's controller, for each worker it starts: the folder the workers start the run's one
    Prefect server in (`prefect_env`)."""
    config: pytest.Config = node.config
    if _SHARED not in config.stash:
        config.stash[_SHARED] = Path(tempfile.mkdtemp(prefix="rowrelay-tests-"))
    node.workerinput[_SHARED_INPUT] = str(config.stash[_SHARED])


def pytest_unconfigure(config: pytest.Config) -> None:
    """The controller, its workers all ended: stop the server one of them started, and remove its files."""
    shared = config.stash.get(_SHARED, None)
    if shared is not None:
        stop_shared_prefect_server(shared)
        shutil.rmtree(shared, ignore_errors=True)


@pytest.fixture(autouse=True)
def _collect_prefect_leftovers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Collect those leftovers when a test that met Prefect ends, with ResourceWarning silenced for just
    this sweep. Left to the collector, they surfaced in whichever later test it happened to run: in CI,
    test_bank_gone.py (no Prefect in it) failed on the socket test_address.py had left. Then freeze the
    heap again if the test's run unfroze it (`pytest_collection_finish` says why it is frozen)."""
    yield
    if _meets_prefect(request.node):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
        if gc.get_freeze_count() == 0:
            # An in-process run ends by unfreezing the whole heap (tasks/run/frozen_heap.py: gc has one
            # frozen generation, so what collection froze went back with the run's own), and each later
            # sweep here walked all of it again, 0.14-0.2 s, until the worker's last test. What lives on
            # now, the garbage just freed, is frozen in its place.
            gc.freeze()


@pytest.fixture(autouse=True)
def _environment_kept() -> Iterator[None]:
    """Each test ends with the environment it began with. Libraries the tests drive in this process
    write into it: a Dask nanny sets PYTHONHASHSEED (and thread counts) for the workers it spawns. Left
    for every later test of the worker, that seed made the usage-error commands' import-time environment
    differ from their preforked server's, so some sixty of them (tests/support/preforked.py) started cold."""
    kept = dict(os.environ)
    yield
    if os.environ != kept:
        os.environ.clear()
        os.environ.update(kept)


@pytest.fixture
def dark_address() -> Iterator[str]:
    """`http://127.0.0.1:PORT`, where every connection is refused for the whole test and no other
    process (another test worker's server) can start listening (`tests/support/dark_port.py`)."""
    with dark_port() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """A default emulator (zero latency, no limits, no faults) on a free port."""
    with running_emulator(EmulatorConfig()) as running:
        yield running


@pytest.fixture(scope="session")
def prefect_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The run's Prefect API (an xdist worker's is the one all workers share), and a rowrelay home of
    the session's own (never the user's) with a warm runner started in it, as the installed `rowrelay
    run` leaves one, which serves this worker's runs, as it serves a user's, and is stopped when the
    session ends (tests/support/warm.py)."""
    shared = getattr(request.config, "workerinput", {}).get(_SHARED_INPUT)
    with contextlib.ExitStack() as stack:
        if shared is not None:
            env = shared_prefect_server(Path(shared))
        else:
            env = stack.enter_context(prefect_server(tmp_path_factory.mktemp("prefect-home")))
        home = stack.enter_context(stopped_afterwards(tmp_path_factory.mktemp("rowrelay-home")))
        start_runner({**env, "ROWRELAY_HOME": str(home)})  # importing while the first tests run
        yield {**env, "ROWRELAY_HOME": str(home)}


@pytest.fixture
def prefect_api(prefect_env: dict[str, str]) -> Iterator[str]:
    """Point this process's Prefect client at the session's server, and its result storage (where
    Prefect writes every failed flow's exception) into the session's Prefect home, not the user's
    `~/.prefect/storage`, which the suite's in-process flows filled with a few hundred files a run."""
    from prefect.settings import PREFECT_API_URL, PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings

    storage = Path(prefect_env["PREFECT_HOME"]) / "storage"
    updates = {PREFECT_API_URL: prefect_env["PREFECT_API_URL"], PREFECT_RESULTS_LOCAL_STORAGE_PATH: storage}
    with temporary_settings(updates=updates):
        yield prefect_env["PREFECT_API_URL"]
