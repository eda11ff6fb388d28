"""`rowrelay` commands in processes where Prefect cannot be imported, each forked from one that imported
the CLI's own modules and libraries once (typer, pydantic, pandas, pyarrow, the SDK for an agent).

The usage-error tests start some sixty such commands. Started cold, each spent 0.3-1.8 s on those
imports before it refused its input; forked, 0.05-0.08 s. What a test checks is unchanged: the exit
code, stdout and stderr of the installed command's code (flows/entry.py) in a process of its own, with
`sys.modules["prefect"] = None`, so any import of Prefect fails and shows as a traceback. A command
whose import-time environment differs from the server's (PYTHONPATH, say, which sets `sys.path` only
when an interpreter starts) runs cold instead, as the warm runner decides (flows/warm.py).

`preforked(scratch, prefect=True)` serves commands whose refusals read Prefect's own rules (`deploy`'s
cron and name checks): Prefect imported once too, where a cold start spent ~2 s importing it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from rowrelay.flows import warm

_BLOCK_PREFECT = "import sys; sys.modules['prefect'] = None\n"
_PREFECT_ALLOWED = "import sys\n"
_AS_INSTALLED = "sys.argv[0] = 'rowrelay'\nfrom rowrelay.flows import entry as e\ne.finish(e.run_command())"
COLD = [sys.executable, "-P", "-c", _BLOCK_PREFECT + _AS_INSTALLED]
"""`rowrelay` in a process of its own where any import of Prefect fails: the installed command's own
start and end (flows/entry.py: the CLI, the exit handlers, a flush, the exit with the command's code),
without the warm runner it offers a `run` to."""
_COLD_WITH_PREFECT = [sys.executable, "-P", "-c", _PREFECT_ALLOWED + _AS_INSTALLED]

_PRELOADS = r"""
import json, os, select, signal
# What a refused `run` imports anyway, Agent Framework's loader included: none imports Prefect, and
# none reads the environment when imported (the warm runner relies on the same: flows/warm.py).
import rowrelay.flows.cli, rowrelay.flows.precheck, rowrelay.tasks.llm.agent_backend
from rowrelay.flows import entry
"""
_PREFECTS_RULES = """
# What `deploy` reads its refusals from (flows/deploy_checks.py): Prefect's settings are read when it
# is imported, from PREFECT_* variables a command's fingerprint holds equal to this server's.
import prefect.client.schemas.schedules, prefect.types.names
"""

_LOOP = r"""

def take(request):
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    for fd, path in ((0, os.devnull), (1, request["stdout"]), (2, request["stderr"])):
        os.dup2(os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC), fd)
    sys.stdin = open(0, closefd=False)
    sys.argv = ["rowrelay", *request["args"]]

for line in sys.stdin:
    request = json.loads(line)
    child = os.fork()
    if child == 0:
        os.setpgid(0, 0)  # a group of its own, killed whole if it hangs, with whatever it started
        take(request)
        entry.finish(entry.run_command())  # as COLD ends
    ended = os.pidfd_open(child)
    if not select.select([ended], [], [], request["timeout"])[0]:
        os.killpg(child, signal.SIGKILL)  # reported as killed (-9): the test fails with its output
    os.close(ended)
    _, status = os.waitpid(child, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""


_TIMEOUT = 60.0
"""Seconds a command may take, forked or cold: a refusal takes well under one."""


class Preforked:
    """One forking server, for one test module's commands at a time."""

    def __init__(self, scratch: Path, *, prefect: bool = False) -> None:
        self._scratch = scratch
        self._print = warm.fingerprint(os.environ)  # a command's own environment replaces the rest
        self._cold = _COLD_WITH_PREFECT if prefect else COLD
        source = _PREFECT_ALLOWED + _PRELOADS + _PREFECTS_RULES if prefect else _BLOCK_PREFECT + _PRELOADS
        self._server = subprocess.Popen(
            [sys.executable, "-P", "-c", source + _LOOP], cwd=scratch,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._count = 0

    def run(self, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
        """`rowrelay ARGS` with `env` in `cwd`, to its end."""
        if warm.fingerprint(env) != self._print:
            return subprocess.run(
                [*self._cold, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=_TIMEOUT
            )
        self._count += 1
        out, err = (self._scratch / f"{self._count}.{name}" for name in ("out", "err"))
        request = {
            "args": args, "env": env, "cwd": str(cwd), "stdout": str(out), "stderr": str(err),
            "timeout": _TIMEOUT,
        }  # fmt: skip
        assert self._server.stdin is not None
        assert self._server.stdout is not None
        self._server.stdin.write(json.dumps(request) + "\n")
        self._server.stdin.flush()
        code = int(self._server.stdout.readline())
        return subprocess.CompletedProcess(args, code, out.read_text(), err.read_text())

    def close(self) -> None:
        try:
            self._server.communicate(timeout=30)  # its stdin closed, its loop ends
        except subprocess.TimeoutExpired:  # a command that hung (its test timed out): not left running
            self._server.kill()
            self._server.communicate()


@contextlib.contextmanager
def preforked(scratch: Path, *, prefect: bool = False) -> Iterator[Preforked]:
    """A forking server for `rowrelay` commands; `prefect`: where Prefect may be imported (and is, once)."""
    server = Preforked(scratch, prefect=prefect)
    try:
        yield server
    finally:
        server.close()
