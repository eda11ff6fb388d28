"""A Ctrl-C of a run with Chat Completions creates on the wire: their answers are waited for, not cut.

A chat create (`--backend chat`: vLLM, Ollama, a gateway) is its whole answer: the server writes it, and a
paid gateway bills it, whether or not the connection is still there to take it. A stop gave such creates
the same 5 s a background create gets to answer (`submit.STOP_GRACE`), then cut them: with answers of
30 s every row in flight (up to --max-in-flight) was cut, counted as an orphan and sent again by the next
run, each paid twice. Now the first Ctrl-C of `rowrelay run` sends no new row and waits for the creates
on the wire, saying so at once and as their answers come; the second cuts them as before. A background
create is unchanged: answered within moments, its response is cancelled on the server at the first
Ctrl-C. A run over both kinds of endpoint does each its own way (a session, and a runner, per endpoint).

Only Ctrl-C waits. SIGTERM keeps the grace: it comes from a supervisor (Docker, systemd, Kubernetes) that
follows it with SIGKILL after its own grace period (10 s for Docker, 30 s for Kubernetes, 90 s for
systemd), which no one is there to shorten with a second signal: a run waiting out answers of minutes
would be killed mid-wait, and the answers that came in before the kill would be lost with the state
table's last write. Neither does a run stopped by an error (a refused key: the next creates would meet
it too), a Prefect cancel, or a notebook's interrupt, whose second interrupt is no one's signal to cut.

    waits = AnswersAwaited()
    token = answers_awaited.set(waits)   # from the CLI's loop, before the run (flows/run_loop.py)
    waits.asked(loop)                    # from its SIGINT handler, at the first Ctrl-C
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from dataclasses import dataclass, field

from rowrelay.tasks.records import rows

log = logging.getLogger("rowrelay.runner")

__all__ = ["AnswersAwaited", "answers_awaited"]


@dataclass
class AnswersAwaited:
    """The process's Chat Completions creates on the wire (every runner's), and whether Ctrl-C asked the
    run to wait for them. Touched only on the loop, but for `stop_asked`, a bool the handler sets."""

    stop_asked: bool = False
    on_wire: set[str] = field(default_factory=set)
    awaited: set[str] = field(default_factory=set)
    """The creates on the wire as the stop was asked: what its line counts, and its progress."""
    answered: int = 0

    def asked(self, loop: asyncio.AbstractEventLoop) -> None:
        """The first Ctrl-C: from a signal handler, so it only marks the stop and leaves its words to
        the loop (a handler may land inside a write to stderr)."""
        self.stop_asked = True
        loop.call_soon_threadsafe(self._say_waiting)

    def sent(self, key: str) -> None:
        """A chat create leaves (`submit`): it is on the wire until `back`."""
        self.on_wire.add(key)

    def back(self, key: str, *, answered: bool) -> None:
        """A chat create is off the wire: `answered` (its answer or its error came), or cut (a second
        Ctrl-C); an awaited one's answer is said."""
        self.on_wire.discard(key)
        if key not in self.awaited:
            return
        self.awaited.discard(key)
        if not answered:
            return  # cut by the second Ctrl-C, which the closing line says
        self.answered += 1
        waited = self.answered + len(self.awaited)
        # At most about ten lines: every tenth of them, and the last.
        if not self.awaited:
            log.warning("interrupted: all %s answers came in and are kept; ending the run", f"{waited:,}")
        elif self.answered % max(1, waited // 10) == 0:
            log.warning("interrupted: %s of %s answers in", f"{self.answered:,}", f"{waited:,}")

    def waits(self, foreground: bool) -> bool:
        """Whether a create on the wire as its run stops is waited for rather than given the grace: a
        Chat Completions one (`foreground`), the stop a Ctrl-C's."""
        return foreground and self.stop_asked

    def _say_waiting(self) -> None:
        if not self.on_wire or self.awaited:
            return  # no chat create on the wire: the stop says what it does as it always has
        self.awaited = set(self.on_wire)
        many = len(self.awaited)
        what, they = ("the answer of 1 row", "it") if many == 1 else (f"the answers of {rows(many)}", "them")
        log.warning(
            "interrupted: waiting for %s being written (no new row is sent); Ctrl-C again cuts %s, and the "
            "server may bill %s again when the next run resends %s",
            what, they, they, they,
        )  # fmt: skip


answers_awaited: contextvars.ContextVar[AnswersAwaited | None] = contextvars.ContextVar(
    "rowrelay_answers_awaited", default=None
)
"""Set by a caller whose Ctrl-C waits for chat answers (the CLI's loop), before the run's task starts."""
