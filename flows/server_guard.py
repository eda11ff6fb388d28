"""Keep a detached server up for as long as a run uses it: a thread that checks the server's process every
second and, when it is gone (killed, crashed, stopped from another terminal) or no longer answers (frozen,
hung), has it started again.

Why again, and at the same address: the run's Prefect client holds the server's URL. Left alone, every
call it makes (task states, logs, the flow run's end) retries for a minute and gives up, one after the
other: a run whose rows had all completed was still waiting out those retries five minutes later, and
never wrote its output. A server back on the same port within a few seconds answers one of those retries,
and the run goes on as if nothing happened.

A server whose process lives but does not answer (stopped with SIGSTOP, hung) held the run just as long, and
longer: each call waited for its answer a minute before each retry, and the process, being there, was
never started again (a run whose 60 rows had all completed printed nothing for over ten minutes, SIGTERM
included). So a server that has not answered its health check for `PATIENCE` seconds is taken to be down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
"""How often the server's process is looked at (a read of /proc: nothing on the wire)."""
RESTARTS = 3
"""Starts a run makes before it gives up: a server that keeps dying has a cause a restart will not fix,
and its log says which."""
PATIENCE = 10.0
"""How long a live server may go without answering before it is taken to be hung: a busy server on a
loaded 2-core machine answers its health check within a second or two."""


class ServerGuard:
    """While the block runs, `revive` the server `name`s whenever `is_up` says it is gone, or `answers`
    (when given) has said no for `patience` seconds, at most `RESTARTS` times. `revive` returns what to
    tell the user (None: another process had started it), and stops a server that is up but silent."""

    def __init__(
        self,
        name: str,
        is_up: Callable[[], bool],
        revive: Callable[[], str | None],
        say: Callable[[str], object],
        *,
        answers: Callable[[], bool] | None = None,
        every: float = CHECK_SECONDS,
        patience: float = PATIENCE,
    ) -> None:
        self._name, self._is_up, self._revive, self._say, self._every = name, is_up, revive, say, every
        self._answers, self._patience = answers, patience
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="rowrelay-server-guard", daemon=True)

    def __enter__(self) -> ServerGuard:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        restarts = 0
        silent_since: float | None = None  # when the server, up, last began not answering
        while not self._stop.wait(self._every):
            if self._is_up():
                if self._answers is None or self._answers():
                    silent_since = None
                    continue
                now = time.monotonic()
                silent_since = now if silent_since is None else silent_since
                if now - silent_since < self._patience:
                    continue
            silent_since = None
            if restarts == RESTARTS:
                self._say(f"{self._name} stopped {RESTARTS + 1} times during this run; not starting it again")
                return
            restarts += 1
            try:
                said = self._revive()
            except Exception as exc:  # a thread's error would vanish: say it, and stop guarding
                log.info("could not start %s again", self._name, exc_info=True)  # the why, for --verbose
                self._say(f"{self._name} stopped during this run and could not be started again: {exc}")
                return
            if said is not None:
                self._say(said)
