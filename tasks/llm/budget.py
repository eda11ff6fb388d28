"""The rate budget: requests/min and tokens/min for creates, a separate budget for polls, a cap on what
is in flight, and pauses that 429s and exhausted `x-ratelimit-*` headers set: creates and polls each
have their own, so a create limit never stops the run noticing completions.

Limit by weight, not by count: one bucket for requests (its burst learned from the server: pacing.py),
one for tokens (taking the estimate), a semaphore for open responses. A 429 storm only
slows the batch: callers wait at the gate and retry, and no row is failed for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiolimiter import AsyncLimiter

from rowrelay.tasks.llm.bank import POLL_BURST_SECONDS, Limits
from rowrelay.tasks.llm.estimates import OutputEstimate
from rowrelay.tasks.llm.holds import Hold, Pauses
from rowrelay.tasks.llm.limit_headers import shown, wait_for_room
from rowrelay.tasks.llm.pacing import LearnedPace, even_bucket
from rowrelay.tasks.llm.poll_waits import PollWaits
from rowrelay.tasks.llm.shared import BankLink, SharedRate, SharedSlots
from rowrelay.tasks.setting_problems import option_of

log = logging.getLogger("rowrelay.budget")


@dataclass
class RateBudget:
    """Pacing for one run. Build it inside the running loop (aiolimiter binds to the loop).

    With `shared` (a link to the batch's bank, `bank.py`), the requests, tokens, polls and in-flight
    limits are the whole batch's, drawn from the bank that every worker shares; pauses are reported to
    it so that one worker's 429 slows them all."""

    rpm: int
    tpm: int
    poll_rpm: int
    max_in_flight: int
    output: OutputEstimate
    shared: BankLink | None = None
    streaming: bool = False
    """Stream mode: its polls are stream resumes and cancels only, so streaming is no way out of the poll
    budget (what the run says when polls wait on it: poll_waits.py)."""
    throttled: int = 0
    _pauses: Pauses = field(init=False, default_factory=Pauses)
    _said_over: bool = False
    _poll_waits: PollWaits = field(init=False, default_factory=PollWaits)
    _requests: LearnedPace = field(init=False)
    _tokens: LearnedPace = field(init=False)
    _polls: AsyncLimiter = field(init=False)
    in_flight: asyncio.Semaphore | SharedSlots = field(init=False)
    _shared_creates: SharedRate | None = field(init=False, default=None)
    _shared_polls: SharedRate | None = field(init=False, default=None)
    _reports: set[asyncio.Task[None]] = field(init=False, default_factory=set)
    _create_turn: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)
    _creates_waiting: int = field(init=False, default=0)
    """Creates in the line for `_create_turn`, the one at its front included."""
    _front_tokens: int | None = field(init=False, default=None)
    """The tokens charged the create at the front of the line while it waits (None: none waits)."""
    _given_back: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    """Set when tokens are given back: the create at the front, asleep until its turn, looks again."""

    def __post_init__(self) -> None:
        self._requests = LearnedPace(self.rpm)
        self._tokens = LearnedPace(self.tpm)
        self._polls = even_bucket(self.poll_rpm, POLL_BURST_SECONDS)
        if self.shared is None:
            self.in_flight = asyncio.Semaphore(self.max_in_flight)
            return
        limits = Limits(self.rpm, self.tpm, self.poll_rpm, self.max_in_flight)
        self._shared_creates = SharedRate(
            self.shared, "creates", limits.chunk("creates"), asyncio.sleep, limits.token_chunk()
        )
        self._shared_polls = SharedRate(self.shared, "polls", limits.chunk("polls"), asyncio.sleep)
        self.in_flight = SharedSlots(self.shared, limits.slot_chunk(), asyncio.sleep)

    async def aclose(self) -> None:
        """Hand the bank back the in-flight slots still held, once the pauses reported have reached it."""
        if self._reports:
            await asyncio.gather(*self._reports, return_exceptions=True)
        if isinstance(self.in_flight, SharedSlots):
            await self.in_flight.aclose()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def estimate(self, prompt_tokens: int) -> int:
        """A create's tokens as the budget charges them: a row over a whole minute is charged the minute
        (it could never fit otherwise), and the run says so once, since each such row then waits for a
        minute's refill: a 10-row run at --tpm 10 took 9 minutes, its progress line at 0.0 rows/s."""
        wanted = prompt_tokens + self.output.value()
        if wanted > self.tpm and not self._said_over:
            self._said_over = True
            log.warning(
                "a row's estimate (%d tokens: its prompt and its max output) is over %s %d: each such "
                "create waits for a whole minute of the token budget",
                wanted,
                option_of("tpm"),
                self.tpm,
            )
        return min(self.tpm, wanted)

    async def _gate(self, poll: bool) -> None:
        # Not an Event: the deadline can move later while we sleep, so re-check after waking.
        while (wait := self._pauses.until(poll) - self._now()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)

    def held(self) -> tuple[Hold, ...]:
        """What holds calls back now, for the progress line (`holds.py`)."""
        now = self._now()
        self._tell_line_waits(now)
        return self._pauses.held(now)

    async def acquire_create(self, prompt_tokens: int) -> None:
        """Wait until a create of a `prompt_tokens` prompt fits the request and token budgets, and no
        pause holds creates.

        Creates go in turn, and each is charged its estimate (`estimate`) when it reaches the front of
        the line (or, drawing on the batch's bank, when it asks), not when it began to wait: the output
        estimate falls from its opening guess once answers come back, and 256 creates queued behind the
        opening burst, each charged 1,024 output tokens where answers took 150, held a token-bound run
        at a fifth of its rate for 13 s. The one at the front waits for both buckets and the pause at
        once, taking nothing until all three let it go: a pause holds the buckets too, so when it ends
        creates leave at the burst and the rate. Checked apart (the pause, a bucket, the pause again),
        creates kept passing the bucket during a 45 s pause and all left as it ended: 189 within 10 ms,
        184 of them 429s."""
        if self._shared_creates is not None:
            await self._gate(poll=False)
            await self._shared_creates.acquire(lambda: self.estimate(prompt_tokens))
            await self._gate(poll=False)  # a 429 elsewhere may have closed the gate while we queued
            return
        self._creates_waiting += 1
        try:
            async with self._create_turn:
                await self._take_create_turn(self.estimate(prompt_tokens))
        finally:
            self._creates_waiting -= 1

    async def _take_create_turn(self, tokens: int) -> None:
        """Wait, at the front of the line, until a create of `tokens` fits; then take it."""
        try:
            while True:
                now = self._now()
                requests, tokens_due = self._requests.due(now), self._tokens.due(now, tokens)
                due = max(self._pauses.until(poll=False), requests, tokens_due)
                if due <= now:
                    break
                self._front_tokens = tokens  # a create waits at the front: `held` tells the line's wait
                # Looked at again after waking: a pause may have begun, or moved later, meanwhile.
                self._given_back.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(due - now):
                        await self._given_back.wait()
        finally:  # taken, or the create cancelled (a stop): the line no longer waits on this one
            self._front_tokens = None
        self._requests.take(now)
        self._tokens.take(now, tokens)

    def _tell_line_waits(self, now: float) -> None:
        """Tell how long the line of creates waits for the budget (`holds.Pauses.front`, which says it when
        long enough), and which bucket holds it: the front's wait, and a create's share of the bucket
        for each create behind it, charged the tokens the front is. The front's wait alone, a run held
        by --rpm 300 waited 0.2 s a create, never long enough to be said, while 190 creates waited
        behind it (38 s), and its progress line said nothing held it back."""
        if (tokens := self._front_tokens) is None:
            self._pauses.front(None)
            return
        behind = max(0, self._creates_waiting - 1)
        requests = self._requests.due(now) + behind * self._requests.interval
        tokens_due = self._tokens.due(now, tokens) + behind * tokens * self._tokens.interval
        paused = self._pauses.until(poll=False)
        if tokens_due >= requests:
            self._pauses.front(max(paused, tokens_due), "tokens", _paced_by(self._tokens, self.tpm, "tpm"))
        else:
            self._pauses.front(max(paused, requests), "requests", _paced_by(self._requests, self.rpm, "rpm"))

    def give_back_create(self, prompt_tokens: int) -> None:
        """A create refused before anything started (a 400; a 429 over the whole tokens-per-minute limit)
        took nothing from the server's bucket: ours gives the charge back and wakes the create waiting on
        it. Kept, each row too large for a 20,000/min limit held every later create a minute (a shared
        bank, `tasks.cluster`, keeps it: a wait there, not a cost)."""
        if self._shared_creates is None:
            self._tokens.give_back(self._now(), self.estimate(prompt_tokens))
            self._given_back.set()

    def slots_bind(self, rows_left: int, within: float = 0.0) -> bool:
        """Whether a create that a slot freed `within` seconds from now would start is one the rate would
        not give back later: the create bucket is full by then (its refill spills over), or holds enough
        for every row `rows_left` to create (the run stays bound by its slots to the end). Otherwise the
        creates it holds wait for later rows, and a slot freed sooner ends the batch no sooner. True
        when not known here (a shared bank: `tasks.cluster`).

        Asked as a row starts to wait, the bucket still lacks the row's own create: asked of now, a run
        bound by --max-in-flight 5 at --rpm 500 gave each row a whole median of lateness, and 30 rows
        of 6 s took 59 s where the slots allow 36."""
        if self._shared_creates is not None:
            return True
        room = self._requests.room(self._now() + max(0.0, within))
        return room >= self._requests.burst or room >= max(1, rows_left)

    async def acquire_poll(self) -> None:
        await self._gate(poll=True)
        asked = self._now()
        if self._shared_polls is not None:
            await self._shared_polls.acquire()
        else:
            await self._polls.acquire()
        now = self._now()
        self._poll_waits.note(now, now - asked, self.poll_rpm, streaming=self.streaming)

    def pause(self, seconds: float, why: str, *, poll: bool = False) -> None:
        """Hold creates (or, with `poll`, polls and resumes) for `seconds`, for the reason `why`."""
        until = self._now() + max(0.0, seconds)
        if self.shared is not None:  # every worker waits it out, not only this one
            report = asyncio.get_running_loop().create_task(
                self.shared.pause("polls" if poll else "creates", seconds)
            )
            self._reports.add(report)  # the loop holds tasks only weakly
            report.add_done_callback(self._reports.discard)
        self._pauses.extend(poll, until, why)

    def on_rate_limited(self, wait: float | None, *, poll: bool = False) -> None:
        """A 429 pauses the kind of call that earned it, for the server's retry-after; a create's 429
        also keeps the create and token bursts to half a second from then on (pacing.py).

        A 429 naming no wait (none, or 0, which the SDK does not take for one either) pauses for a
        backoff (`holds.BACKOFF_FIRST`), doubled by each such 429 that meets the calls sent once the pause
        before ended, up to `BACKOFF_MOST`; the 429s that meet calls sent before it ended (the rest
        of their burst) leave it as it is. A call the server takes (`on_taken`) ends the streak. A
        create's 429 may say more in its own `x-ratelimit-*` headers (`observe_headers`, told
        before this), and the longer pause holds."""
        self.throttled += 1
        if not poll:
            self._requests.on_rate_limited()
            self._tokens.on_rate_limited()
        if wait is None or wait <= 0:
            self.pause(self._pauses.backoff(poll, self._now()), "429, backing off", poll=poll)
        else:
            self.pause(wait, "429 retry-after", poll=poll)

    def on_taken(self, poll: bool) -> None:
        """The server took a call of this kind (a create, or with `poll` a poll or a stream resume)."""
        self._pauses.taken(poll)

    def observe_headers(self, headers: Mapping[str, str], *, tokens_needed: int) -> None:
        """Slow down before the server says no (headers of create answers, 429s' too; they pause
        creates): a limit they show (per minute) under ours lowers our rate to it, what they show of
        the server's buckets sets the bursts (pacing.py), and a limit they show spent pauses creates
        until it has room for one more (`wait_for_room`), our bucket left no fuller than the server's."""
        now = self._now()
        for unit, needed, pace in (("requests", 1, self._requests), ("tokens", tokens_needed, self._tokens)):
            seen = shown(headers, unit)
            if seen is None:
                continue
            remaining, limit = seen
            if limit is not None:
                pace.observe(remaining, limit, now)
            wait = wait_for_room(headers, unit, needed)
            if wait > 0:
                pace.spent(now, remaining)
                self.pause(wait, f"x-ratelimit: {unit} spent")


def _paced_by(pace: LearnedPace, ours: int, name: str) -> str:
    """What sets a bucket's rate: our option `name` (`--tpm`, from Python `tpm`), or a lower limit the
    server's headers showed."""
    return option_of(name) if pace.per_minute >= ours else f"the server's limit, {pace.per_minute:,}/min"
