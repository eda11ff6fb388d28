"""Where a run stands, for the poll schedule: how late a completion may be noticed at no cost.

Noticing a completion late costs wall time only in two cases:
- at the batch's end, when that row may be the last one: with nothing left to create, the batch ends
  when its slowest response is noticed;
- when rows wait for an in-flight slot, which the finished row still holds.
While rows still wait for the rate budget, a row noticed a little late ends the batch no later: the
rows yet to be created end after it whatever the schedule does. So a run in that state polls sparsely
(`slack`), one near its end polls densely, and its last few rows at the schedule's floor (`closing`).
Polls are requests: dense polling where lag costs nothing spent about seven a row
(tests/benchmarks/bench_cli.py), where a row's create is one.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field

from rowrelay.tasks.llm import StreamUpdate
from rowrelay.tasks.run.cut_streams import CutStreams
from rowrelay.tasks.run.schedule import LatencyModel

CLOSING = 32
"""In-flight rows at or below which, with nothing left to create, each is polled at the schedule's floor:
any of them may be the batch's last, and polling a few dozen rows densely costs little."""
CROWD = 4 * CLOSING
"""In-flight rows above which a late notice of one hides behind the others still running: the batch ends
with its slowest, and with this many left that is rarely the one just finished (`Pace.slack`)."""
SCOUTS = 32
"""Rows watched while no latency is known yet: the first rows poll mode streams (`Pace.streamed`), or
polled ones. The rest wait for what these learn (see `Waiter`): a burst
of a thousand creates each polled on the blind schedule spent about three polls a row before the
first completions were seen."""
STREAM_EVENTS = 64
"""Events a poll-mode streamed row may bring on average, once `SCOUTS` of them have ended, for more rows
to be streamed: each event is read, and a long answer is hundreds of text deltas. At 800-1,000 a row a
streamed row cost the runner 12 ms of CPU against 1.8 ms polled, and 3,000 rows took 85 s instead of 16
(tests/benchmarks/bench_streamcpu.py); at the emulator's short answers (about 25 events) 1.6 against 1.3
ms, for a fifth of the polls. Past this the rows streamed so far finish and the rest are polled."""
PATIENCE = 10.0
"""Seconds a row that is not a scout waits for the first latencies before it polls blind after all (the
scouts' responses may all be slow, or fail)."""


@dataclass
class Pace:
    """Counts the runner, driver and submitter keep up to date; read by the waiter at every poll."""

    queued: int = 0
    """Rows of shards that wait for their turn to start (`flows.targets.run_shards`)."""
    unstarted: int = 0
    """Rows the runner has not started yet (of every shard running on this session)."""
    sending: int = 0
    """Rows between the start of their submit and the create's answer (rate budget included)."""
    waiting: int = 0
    """Rows waiting on a token (polled or streamed)."""
    slot_waits: int = 0
    """Shards waiting for an in-flight slot to start their next row."""
    rate_waits: int = 0
    """Rows waiting for the create budget."""
    last_create: float = 0.0
    """`time.monotonic()` of the latest create sent."""
    scouts: int = 0
    """Rows polling (or followed on a stream) while no latency is known yet (at most `SCOUTS`)."""
    streams: int = 0
    """Poll mode's rows followed on their create's stream (`Pace.streamed`)."""

    refused_streams: bool = False
    """The server refused a streamed create it then took without the stream, or cut too many streams
    before the id came (`run.cut_streams`): none is streamed again."""
    cut_streams: CutStreams = field(default_factory=CutStreams)
    """The latest streamed creates, and which were cut before the id came."""
    streams_ended: int = 0
    stream_events: int = 0
    """Events the streams that ended brought (`STREAM_EVENTS`)."""

    def take_stream(self, most: int) -> bool:
        """Whether a poll-mode create about to leave may be streamed: fewer than `most` are, the server
        takes them, and they are not long answers (`STREAM_EVENTS`). The caller passes its stream
        through `streamed`, which holds the place until the stream closes."""
        if self.streams >= most or self.refused_streams:
            return False
        return self.streams_ended < SCOUTS or self.stream_events <= STREAM_EVENTS * self.streams_ended

    async def streamed(
        self, stream: AsyncGenerator[StreamUpdate, None]
    ) -> AsyncGenerator[StreamUpdate, None]:
        """`stream`, holding one of poll mode's stream places from its first event until it closes."""
        self.streams += 1
        events = 0
        try:
            async for update in stream:
                events += update.events
                yield update
        finally:
            self.streams -= 1
            self.streams_ended += 1
            self.stream_events += events
            await stream.aclose()

    def enlist(self, model: LatencyModel) -> bool:
        """Whether a row starting to wait now is a scout (release it with `discharge`)."""
        scout = model.quantile(0.5) is None and self.scouts < SCOUTS
        self.scouts += scout
        return scout

    def discharge(self, scout: bool) -> None:
        self.scouts -= scout

    @staticmethod
    def may_poll_blind(scout: bool, elapsed: float) -> bool:
        """Whether a row may poll at a look of the blind schedule (one decided while no latency was
        known): a scout may; the others wait for what the scouts learn, for `PATIENCE` seconds at most,
        and once it is known decide their first look by it."""
        return scout or elapsed >= PATIENCE

    @property
    def creating(self) -> bool:
        """Rows of this run are still to be created."""
        return self.queued > 0 or self.unstarted > 0 or self.sending > 0

    @property
    def closing(self) -> bool:
        """Nothing left to create and at most `CLOSING` rows in flight: the batch's last rows."""
        return not self.creating and self.waiting <= CLOSING

    def slack(
        self,
        model: LatencyModel,
        at: float | None = None,
        slots_bind: Callable[[int, float], bool] | None = None,
    ) -> float:
        """Seconds by which a completion may be noticed late without delaying the batch (0: none).

        Rows waiting for a slot while none waits for the create budget: none, if a create that a slot
        freed when the row may end starts is one the rate would not give back later (`slots_bind`,
        given the rows left to create and the latencies' 10th percentile, the soonest a row usually
        ends: `RateBudget.slots_bind`; unknown, it is). Rows still to be created: as much as the
        schedule allows (the batch ends after them). With more than `CROWD` rows in flight while a scout
        still runs, the same: the estimate has not reached the tail yet (its 95th percentile is only the
        longest age seen, so the spread below would come out a fraction of the real one: a 1,000-row
        burst whose scouts were streamed polled 1.95 times a row instead of 1.15), and the last rows are
        further off than the scouts still running. Otherwise the more of:
        - with more than `CROWD` rows in flight, half the spread of the latencies seen (10th to 95th
          percentile): completions that far apart leave most of them noticed well before the last
          one, while responses that all take as long as each other leave no room;
        - half the time until the latest create's response would be done at the 95th percentile.
        Early in a batch the latencies seen are the fast ones, which errs towards polling more.
        """
        q95, q10 = model.quantile(0.95), model.quantile(0.1)
        if q95 is None or q10 is None:
            return 0.0
        slot_bound = self.slot_waits and not self.rate_waits
        if slot_bound and (slots_bind is None or slots_bind(self.queued + self.unstarted, q10)):
            return 0.0
        if self.creating:
            return math.inf
        if self.waiting > CROWD and model.scouting.unsettled:
            return math.inf
        moment = time.monotonic() if at is None else at
        hidden = 0.5 * (q95 - q10) if self.waiting > CROWD else 0.0
        return max(hidden, 0.5 * (self.last_create + q95 - moment))
