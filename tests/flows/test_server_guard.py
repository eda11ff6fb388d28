"""The guard that starts a server again when it stops mid-run: how often, and what it says. The server
here is a flag; `test_local_prefect.py` kills a real Prefect server under a real run."""

from __future__ import annotations

import threading
import time

from rowrelay.flows.server_guard import RESTARTS, ServerGuard


class Server:
    """A server whose process is up or down, revived by flipping it up (or not, or failing to)."""

    def __init__(self, *, comes_back: bool = True, fails: bool = False, says: bool = True) -> None:
        self.up = True
        self.comes_back, self.fails, self.says = comes_back, fails, says
        self.revived = 0
        self.said: list[str] = []
        self.quiet = threading.Event()  # set when the guard gives up (or says it could not)
        self._checks, self._enough = 0, threading.Event()
        self._wanted: int | None = None

    def is_up(self) -> bool:
        self._checks += 1
        if self._wanted is not None and self._checks >= self._wanted:
            self._enough.set()
        return self.up

    def checked(self, times: int) -> bool:
        """Wait until the guard has looked `times` more times."""
        self._wanted = self._checks + times
        return self._enough.wait(60)

    def revive(self) -> str | None:
        self.revived += 1
        if self.fails:
            raise OSError("port taken")
        self.up = self.comes_back
        return f"started again ({self.revived})" if self.says else None

    def say(self, line: str) -> None:
        self.said.append(line)
        if "not starting it again" in line or "could not be started again" in line:
            self.quiet.set()


def _guard(server: Server) -> ServerGuard:
    return ServerGuard("the test server", server.is_up, server.revive, server.say, every=0.001)


def test_a_server_that_stops_is_started_again_once_and_then_left_alone_while_it_runs() -> None:
    server = Server()
    with _guard(server):
        server.up = False
        assert server.checked(50)  # it went down, came back, and stayed up for all these
    assert (server.revived, server.said) == (1, ["started again (1)"])


def test_a_server_that_keeps_dying_is_started_at_most_restarts_times() -> None:
    server = Server(comes_back=False)
    with _guard(server):
        server.up = False
        assert server.quiet.wait(60)
    assert server.revived == RESTARTS
    assert server.said == [
        *(f"started again ({n})" for n in range(1, RESTARTS + 1)),
        f"the test server stopped {RESTARTS + 1} times during this run; not starting it again",
    ]


def test_a_start_that_fails_is_said_once_and_not_tried_again() -> None:
    server = Server(fails=True)
    with _guard(server):
        server.up = False
        assert server.quiet.wait(60)
    assert server.revived == 1
    assert server.said == [
        "the test server stopped during this run and could not be started again: port taken"
    ]


def test_nothing_is_said_when_another_process_had_started_it_first() -> None:
    server = Server(says=False)
    with _guard(server):
        server.up = False
        assert server.checked(50)
    assert (server.revived, server.said) == (1, [])


def test_a_server_up_but_silent_for_its_patience_is_started_again() -> None:
    server = Server()
    silent = threading.Event()

    def answers() -> bool:
        return not silent.is_set() or server.revived > 0  # silent until started again

    guard = ServerGuard(
        "the test server",
        server.is_up,
        server.revive,
        server.say,
        answers=answers,
        every=0.001,
        patience=0.05,
    )
    with guard:
        assert server.checked(20)
        assert server.revived == 0  # answering: left alone
        silent.set()  # its process still there (`is_up`), but no answer
        deadline = time.monotonic() + 60  # a hang guard only
        while not server.said and time.monotonic() < deadline:
            time.sleep(0.01)
    assert (server.revived, server.said) == (1, ["started again (1)"])
