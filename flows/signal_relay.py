"""The signals a `rowrelay run` handed to the warm runner (flows/warm.py) receives, passed on to the
command the runner runs for it: Ctrl-C, SIGTERM, SIGHUP and SIGQUIT, and Ctrl-Z and `fg` as a job's.
Standard library only, as flows/warm.py is: the command reads it before it imports anything else."""

from __future__ import annotations

import contextlib
import os
import signal
from types import FrameType
from typing import Any

RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class SignalRelay:
    """While entered, the signals a terminal or a supervisor sends this process go to the command:
    held until its pid is known. Ctrl-Z stops the command, then this process; `fg` continues both.

    A signal this process was started ignoring (`nohup` ignores SIGHUP; a shell without job control, as
    in `rowrelay run ... &` in a script or a cron line, ignores SIGINT and SIGQUIT) stays ignored, here
    and in the command (`ignored`, which the runner applies), as a run in its own process keeps it: the
    relay had taken them over, so a `nohup rowrelay run` served warm died of the hangup it was started to
    survive. SIGTERM is relayed even so: a run takes it over in its own process too (flows/termination.py)."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.pending: list[int] = []
        self.ignored: list[int] = []
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalRelay:
        for signum in (*RELAYED, signal.SIGTSTP, signal.SIGCONT):
            if signum != signal.SIGTERM and signal.getsignal(signum) == signal.SIG_IGN:
                self.ignored.append(signum)
            else:
                self._previous[signum] = signal.signal(signum, self._on)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def target(self, pid: int) -> None:
        self.pid = pid
        for signum in self.pending:
            self._send(signum)

    def _on(self, signum: int, _frame: FrameType | None) -> None:
        if self.pid is None:
            self.pending.append(signum)
            return
        self._send(signum)
        if signum == signal.SIGTSTP:
            signal.signal(signal.SIGTSTP, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTSTP)  # stopped here until SIGCONT
            signal.signal(signal.SIGTSTP, self._on)
            # Continued, or never stopped: the kernel discards a terminal stop for a process group no
            # shell controls (an orphaned one), and the command must not stay stopped on its own.
            self._send(signal.SIGCONT)

    def _send(self, signum: int) -> None:
        assert self.pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGSTOP if signum == signal.SIGTSTP else signum)
