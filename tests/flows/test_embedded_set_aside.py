"""An embedded emulator set aside (another release's, or of other options) is stopped by a later run once
no run uses it and it holds no response a batch could resume: at once when it never held one, once its
retention has passed when it did, never while a rowrelay process is connected to it. Each upgrade left
one more running (45-57 MB) until `rowrelay services stop emulator`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from rowrelay.flows import detached
from rowrelay.flows.embedded import ensure_emulator, stop_emulator
from rowrelay.flows.emulator_records import MARKER, emulator_record, emulator_records

_ARGS = "--latency fixed:0"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "home"
    stop_emulator(tmp_path / "home")


def _pid(home: Path, url: str) -> int:
    return next(int(record["pid"]) for record in emulator_records(home) if record["url"] == url)


def _made_older(home: Path) -> None:
    """The last started emulator recorded as an older release's, as it would read after an upgrade."""
    record = emulator_record(home)
    assert record is not None
    (home / "emulator.json").write_text(json.dumps({**record, "code": "0.0.9+1"}))


def _hold_a_response(url: str) -> None:
    with openai.OpenAI(base_url=url, api_key="x") as client:
        client.responses.create(model="gpt-4.1-mini", input="hello")


def _held(url: str) -> int:
    stats = httpx.get(f"{url.removesuffix('/v1')}/emulator/stats", timeout=5).json()
    return sum(stats["final_status"].values())


@pytest.mark.timeout(120)
def test_an_older_releases_emulator_that_never_held_a_response_is_stopped_when_set_aside(home: Path) -> None:
    older, _ = ensure_emulator(home, _ARGS)
    pid = _pid(home, older)
    _made_older(home)
    current, started = ensure_emulator(home, _ARGS)
    assert started
    assert not detached.runs(pid, MARKER)
    assert [record["url"] for record in emulator_records(home)] == [current]


@pytest.mark.timeout(120)
def test_one_holding_a_response_is_kept_until_its_retention_has_passed(home: Path) -> None:
    first, _ = ensure_emulator(home, f"{_ARGS} --retention 1")
    pid = _pid(home, first)
    _hold_a_response(first)
    other, _ = ensure_emulator(home, _ARGS)  # another option set: the first is set aside, holding one
    assert detached.runs(pid, MARKER)
    assert ensure_emulator(home, _ARGS) == (other, False)
    assert detached.runs(pid, MARKER)  # a run reusing its own emulator kept it too
    while _held(first):  # the emulator's own retention, not a window of ours
        time.sleep(0.2)
    assert ensure_emulator(home, _ARGS) == (other, False)
    assert not detached.runs(pid, MARKER)
    assert [record["url"] for record in emulator_records(home)] == [other]


@pytest.mark.timeout(120)
def test_one_a_rowrelay_process_is_connected_to_is_kept(home: Path) -> None:
    first, _ = ensure_emulator(home, _ARGS)
    pid = _pid(home, first)
    port = urlsplit(first).port
    holder = "import socket, sys, time; s = socket.create_connection(('127.0.0.1', int(sys.argv[1]))); "
    holder += "print('connected', flush=True); time.sleep(120)"
    # A run between requests, its pooled connection open; "rowrelay" on its command line, as a run's.
    with subprocess.Popen(
        [sys.executable, "-c", holder, str(port), "rowrelay"], stdout=subprocess.PIPE, text=True
    ) as user:
        try:
            assert user.stdout is not None
            assert user.stdout.readline() == "connected\n"
            _made_older(home)
            current, started = ensure_emulator(home, _ARGS)
            assert started
            assert detached.runs(pid, MARKER)
        finally:
            user.kill()
    assert ensure_emulator(home, _ARGS) == (current, False)
    assert not detached.runs(pid, MARKER)
