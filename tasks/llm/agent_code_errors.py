"""An exception the agent's own code raises in a row's call (its middleware, its setup of a run), said
masked of the client's keys, and whether a create may have left before it.

A middleware that raises before the agent calls its model sends nothing; the row was counted as a create
that may have started a paid job (an attempt and an orphan, "possible duplicate jobs" said on every later
run), and the exception's words, a key among them, went unmasked into the state table, the output and
Prefect's logs. Now its words are masked with the client's keys as every server's are, and the row is
counted as maybe sent only if a request may have left: the clients rowrelay builds for an agent factory
tell it of each request as it leaves (`note_request`, their connection pool's request hook), so a call
in which none left is known to have sent nothing. A caller's own agent runs on the caller's client,
which rowrelay does not hook: a create there may have left unseen, so it is counted as one that did.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

from rowrelay.tasks.errors import RowrelayError
from rowrelay.tasks.llm.calls import StreamUpdate
from rowrelay.tasks.llm.masking import ClientKeys, mask_chain_of, masked

if TYPE_CHECKING:
    import httpx2

__all__ = ["AgentCodeError", "OwnCode", "note_request", "requests_seen"]

_SEEN: ContextVar[list[str] | None] = ContextVar("rowrelay_agent_requests_seen", default=None)
"""The requests that left a watched client in the current call (`requests_seen`); None outside one. A
list, so tasks the call starts (which copy the context) note theirs in the same one."""


async def note_request(request: httpx2.Request) -> None:
    """A watched connection pool's request hook: the request is about to leave."""
    seen = _SEEN.get()
    if seen is not None:
        seen.append(request.url.path)


@contextlib.contextmanager
def requests_seen(*, watched: bool) -> Iterator[Callable[[], bool | None]]:
    """For the block: whether a request may have left the client: True or False on a `watched` client
    (its pool calls `note_request`), None (not known) on any other. A watched block runs in one task:
    the context variable it sets is reset in the same context."""
    if not watched:
        yield lambda: None
        return
    seen: list[str] = []
    token = _SEEN.set(seen)
    try:
        yield lambda: bool(seen)
    finally:
        _SEEN.reset(token)


class AgentCodeError(RowrelayError):
    """The agent's own code raised in a row's call; its words are masked of the client's keys.
    `may_have_sent`: whether a create may have left in that call (False only when the client rowrelay
    built saw no request leave: the row then sent nothing, and is not counted as maybe created)."""

    def __init__(self, said: str, *, may_have_sent: bool) -> None:
        super().__init__(said)
        self.may_have_sent = may_have_sent


class OwnCode:
    """Around each AF call of an `AgentBackend`: an exception of the agent's own code (neither the SDK's,
    which AF wraps, nor rowrelay's) is raised as an `AgentCodeError`, its words and its chain's masked of
    the client's `keys` as a server's are (a key it quotes reached the state table and Prefect's logs),
    saying whether a create may have left: not if creating on a `watched` client that saw none leave."""

    def __init__(self, keys: ClientKeys, *, watched: bool) -> None:
        self._keys = keys
        self._watched = watched

    @contextlib.asynccontextmanager
    async def around(self, *, creating: bool = False) -> AsyncIterator[None]:
        """One AF call (`creating`: one that may create)."""
        with requests_seen(watched=self._watched and creating) as seen:
            try:
                yield
            except RowrelayError:
                raise
            except Exception as exc:
                secrets = await self._keys.secrets()
                mask_chain_of(exc, secrets)
                said = masked(f"{type(exc).__name__}: {exc}", secrets)
                raise AgentCodeError(said, may_have_sent=seen() is not False) from exc

    async def stream(
        self, stream: AsyncGenerator[StreamUpdate, None], *, creating: bool
    ) -> AsyncGenerator[StreamUpdate, None]:
        """`stream`'s updates `around` one call; a create's is stepped by one task (`stepped_in_one_task`),
        in which the requests it lets leave are seen."""
        async with contextlib.aclosing(stream), self.around(creating=creating):
            async for update in stream:
                yield update
