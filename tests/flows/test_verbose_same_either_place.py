"""`-v` means the same before the command and after it: before, it showed 21 `INFO httpx: HTTP Request:`
lines (one a `422 Unprocessable Entity` that read as an error); after, neither those nor any INFO line
of a logger without its own level (basicConfig set the root's level on its first call only). Now both
show rowrelay's INFO lines and a library's, and neither httpx's line per request.

In a child process: the console's logging is the root logger's, which pytest's own handlers hold here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_CHILD = """
import logging, sys
from rowrelay.flows.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
except Exception:
    pass
logging.getLogger("httpx").info('HTTP Request: GET http://127.0.0.1:1/api/csrf-token "HTTP/1.1 422"')
logging.getLogger("httpx").warning("a transport warning")
logging.getLogger("rowrelay.story").info("a row was sent")
logging.getLogger("some.library").info("a library's info")
"""


def _logged(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, timeout=120, check=True
    )
    return [line for line in done.stderr.splitlines() if line.startswith(("INFO", "WARNING"))]


def test_verbose_before_and_after_the_command_log_the_same(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-batch")
    before, after = _logged("-v", "status", missing), _logged("status", missing, "-v")
    assert (
        before
        == after
        == [
            "WARNING httpx: a transport warning",
            "INFO rowrelay.story: a row was sent",
            "INFO some.library: a library's info",
        ]
    )
    assert _logged("status", missing) == ["WARNING httpx: a transport warning"]
