"""From Python too, a `dask=` address where no Dask scheduler answers is refused in one line before any
row is sent (the CLI's refusals: tests/flows/test_usage_errors.py)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from rowrelay import run_batch
from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.errors import UsageError
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets


# distributed's `connect` leaves the socket of a failed handshake for the collector to close
# (distributed/comm/core.py: no close when the handshake's read raises); the warning is its, not ours.
# What the collector has not reached by the test's end, tests/conftest.py's sweep collects (the test
# meets Prefect): left over, it failed the next test of this worker (test_bank_gone.py, in CI).
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
async def test_an_http_server_given_as_the_scheduler_is_refused_naming_it(
    tmp_path: Path, emulator: RunningEmulator, prefect_api: str
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 3)
    address = f"tcp://{urlsplit(emulator.url).netloc}"  # the emulator's own HTTP port
    with pytest.raises(UsageError, match=f"^the Dask scheduler at {address}: "):
        await run_batch(str(source), **flow_args(tmp_path, emulator, dask=address))
    assert emulator.emulator.listing() == []
