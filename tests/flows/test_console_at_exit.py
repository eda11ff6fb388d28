"""The command's own line stays the last on the console: Prefect's exit-time notice is kept off it.

At exit, Prefect's event and log workers send what is still queued and, while they do, log a WARNING
"Still processing items: N items remaining...". On a loaded machine it came after the command's
`error: ...` line, the one a script reads last. The process below sets up the console as the command
does, queues items on a real Prefect queue service that sends them slowly, and exits; the same process
with `--verbose`'s console shows the notice, so the test is known to exercise it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.cli import ROOT

_EXIT_WITH_ITEMS_QUEUED = """
import asyncio, sys
from prefect._internal.concurrency.services import QueueService
from rowrelay.flows.cli import _log_to_console

_log_to_console(verbose=sys.argv[1] == "verbose")  # the console as the command's group callback sets it up


class SlowSender(QueueService[int]):
    async def _handle(self, item: int) -> None:
        await asyncio.sleep(0.2)


service = SlowSender.instance()
for item in range(5):
    service.send(item)
print("error: the command's last line", file=sys.stderr)
"""


def _stderr_at_exit(console: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _EXIT_WITH_ITEMS_QUEUED, console],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    return done.stderr


@pytest.mark.timeout(240)
def test_prefects_exit_notice_never_follows_the_commands_last_line() -> None:
    assert "Still processing items" in _stderr_at_exit("verbose")  # Prefect does give it, at exit
    quiet = _stderr_at_exit("default")
    assert quiet.splitlines() == ["error: the command's last line"], quiet
