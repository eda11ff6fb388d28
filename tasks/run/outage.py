"""When a run stops waiting for a server that answers nothing (`give_up_after`).

Rows ride out a server that is down: creates refused at the connect spend nothing and are sent again,
polls and streams are retried (`run.submit`, `run.wait`). Without a bound, a run against a server that
never comes back (a mistyped address, an endpoint taken down) would wait for ever, holding its batch's
lease, so the next scheduled run of the batch would be refused. So a run stops, with `OutageError`, once
the server has answered none of its requests for `give_up_after` seconds while requests failed without
an answer (refused connections, timeouts, 5xx). A 429 is an answer: waiting on a rate limit is never an
outage. The run stops as for a refused key: rows keep their response ids, nothing is cancelled on the
server, and the same command resumes them.

A server that answers creates only with a gateway's page for a while (an upstream restarting) is met
by `CreateHold`: creates go one at a time, after a growing pause, until one is answered, so the rows do
not spend all their attempts on it within seconds.

Each endpoint's session keeps its own `Silence` (the run's counters are shared by every endpoint, so
one endpoint's answers would hide another's outage). The watch reads it on the event loop's clock, so a
test on a virtual clock drives it without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from rowrelay.tasks.errors import OutageError, RateLimitedError
from rowrelay.tasks.llm import MaybeSentError, NotTheApiError, RequestRejectedError, StreamCutError
from rowrelay.tasks.llm.calls import GlitchError
from rowrelay.tasks.llm.chat_timeouts import AnswerTooSlowError
from rowrelay.tasks.llm.holds import TOLD_PAUSE, Hold

log = logging.getLogger("rowrelay.outage")

_LOOKS = 10
"""Looks within `give_up_after`: the run stops at most a tenth of it (or a second) late."""
_LONGEST_LOOK = 1.0


@dataclass
class Silence:
    """What one endpoint's server answered, and what it left without an answer."""

    answers: int = 0
    """A create's job, a poll, a stream's event, a 429 or a refusal."""
    unanswered: int = 0
    """Transient failures (refused, timed out, cut, 5xx), and creates that may have started a job."""
    last_error: str | None = None
    streams_cut: int = 0
    """Of the creates that may have started a job, those whose stream opened (the server took them, 200)
    and was cut before the id came (`run.cut_streams`): no silence of the server's, which the stop says."""

    def failed(self, error: BaseException | str) -> None:
        self.unanswered += 1
        self.last_error = str(error)


async def watch_for_outage(silence: Silence, give_up_after: float, endpoint: str | None = None) -> None:
    """Return never; raise `OutageError` (naming `endpoint`, one of several) once the server has answered
    nothing for `give_up_after` seconds while requests failed. Cancel it when the run's rows are done."""
    loop = asyncio.get_running_loop()
    step = min(_LONGEST_LOOK, give_up_after / _LOOKS)
    answers, failures, cut = silence.answers, silence.unanswered, silence.streams_cut
    looked_at = loop.time()
    quiet_since: float | None = None
    cut_before = cut  # streams cut before the quiet began
    while True:
        await asyncio.sleep(step)
        now = loop.time()
        if silence.answers != answers:
            quiet_since = None
        elif quiet_since is None and silence.unanswered != failures:
            quiet_since = looked_at  # failing since the last look at the latest, with no answer since
            cut_before = cut
        if quiet_since is not None and now - quiet_since >= give_up_after:
            # Creates taken with a 200 whose streams were cut are not a server that answered nothing.
            streams_cut = silence.streams_cut - cut_before
            raise OutageError(give_up_after, silence.last_error, endpoint, streams_cut=streams_cut)
        answers, failures, cut, looked_at = silence.answers, silence.unanswered, silence.streams_cut, now


@dataclass
class Turn:
    """One create's passage through the hold: whether it went as the probe, and what it met."""

    hold: CreateHold
    probe: bool

    def met(self, error: BaseException | None) -> None:
        """The create's outcome: None for a job named. A 5xx that may have started a job (a gateway's page,
        a 500), a cut or timed-out create (maybe sent) is an answer lost; a refusal or a 429 is the API's
        answer, so the way to it is open again. Anything else (a connection refused, the API's 503 when
        overloaded) spends nothing and says neither."""
        if error is None or isinstance(error, RequestRejectedError | RateLimitedError):
            self.hold.answered()
        elif isinstance(error, MaybeSentError) and not isinstance(error, NotTheApiError):
            # A glitch (a success not the API's, `run.glitches`), an answer cut by the chat timeout
            # (`llm.chat_timeouts`) and a stream cut before its id came (`run.cut_streams`, which names
            # the gateway as the cause) are lost answers their own warnings say.
            said = isinstance(error, GlitchError | AnswerTooSlowError | StreamCutError)
            self.hold.lost(self.probe, str(error), said=said)


@dataclass
class CreateHold:
    """Creates held back while their answers are lost, so a gateway's burst of 502s does not spend every
    row's attempts within seconds.

    A create whose answer was lost (a gateway's page, a cut or timed-out create) may have started a job,
    so its row spends an attempt and counts an orphan (`run.submit`), and is sent again at once within its
    attempts: while nginx answered 502 for 20 s, its upstream restarting, a trial's 30 rows sent 90
    creates in 10 s and all ended orphaned. From the first such loss, creates go one at a time, each after
    a pause that grows with every one lost in turn (`delay`, by the count), as a 429 pauses them; the first
    create answered (a job, or the API's own refusal) lets them all go again. Each create so sent still
    counts on its row: an outage of a minute costs a few rows an attempt each, not every row all of its."""

    delay: Callable[[int], float]
    lost_in_turn: int = 0
    """Creates lost one after another: the first loss, then each probe lost (0: creates go freely)."""
    _until: float = 0.0
    _probing: bool = False
    _told: bool = False
    _line: deque[object] = field(default_factory=deque)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[Turn]:
        """Wait for this create's turn: at once while creates go freely; else in line, the first going as
        the one probe once the pause is over (and all of them freely once a create is answered), so the
        rows take turns at it rather than one row spending every attempt it has."""
        probe = await self._in_line() if self.lost_in_turn else False
        try:
            yield Turn(self, probe)
        finally:
            if probe:
                self._probing = False
                self._wake()

    async def _in_line(self) -> bool:
        """Wait in line; True when this create goes as the probe, False when creates go freely again."""
        loop, ticket = asyncio.get_running_loop(), object()
        self._line.append(ticket)
        try:
            while self.lost_in_turn:
                next_up = self._line[0] is ticket and not self._probing
                if next_up and loop.time() >= self._until:
                    self._probing = True
                    return True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait(), self._until - loop.time() if next_up else None
                    )
            return False
        finally:
            first = self._line[0] is ticket
            self._line.remove(ticket)
            if first:
                self._wake()  # the next in line looks again

    def held(self, now: float) -> Hold | None:
        """What the progress line says while creates are held back (`now` on the event loop's clock): the
        pause left, or that they go one at a time. Said in the log's one warning alone, a run sending one
        create every 30 s read as stalled."""
        if not self.lost_in_turn:
            return None
        why = f"{self.lost_in_turn} create answer{'' if self.lost_in_turn == 1 else 's'} lost in a row"
        if self._until - now >= TOLD_PAUSE:
            return Hold("creates", self._until - now, why)
        return Hold("one_by_one", 0.0, why)

    def answered(self) -> None:
        if self.lost_in_turn:
            self.lost_in_turn = 0
            self._wake()

    def lost(self, probe: bool, reason: str, *, said: bool = False) -> None:
        """A create's answer was lost. Creates in flight when the first was lost count as that one loss:
        they left before anyone knew; each probe lost makes the next pause longer. `said`: the loss was
        warned of already, in its own words (this warning is kept for the next loss of another kind)."""
        if probe or not self.lost_in_turn:
            if not self._told and not said:  # once a run: the progress line names the latest error
                self._told = True
                log.warning(
                    "a create's answer was lost (%s): while answers are lost, creates go one at a time "
                    "after a growing pause, and each one lost counts on its row as maybe sent",
                    reason,
                )
            self.lost_in_turn += 1
            self._until = asyncio.get_running_loop().time() + self.delay(self.lost_in_turn)
            self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
